/** Progress for long CLI work: a line per step on a pipe, an updating line on a terminal. */
export function progress(label: string, out: NodeJS.WriteStream = process.stderr) {
  let last = 0
  return (done: number, total: number) => {
    const now = Date.now()
    if (done !== total && now - last < 200) return
    last = now
    const pct = total ? Math.floor((done / total) * 100) : 100
    const line = `${label}: ${done}/${total} (${pct}%)`
    if (out.isTTY) out.write(`\r${line}${done === total ? '\n' : ''}`)
    else out.write(`${line}\n`)
  }
}
