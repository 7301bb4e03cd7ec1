import { spawn, fork, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export function startBridge(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['bin/referral-bridge.js', 'serve'], { env: { ...process.env, LOG_LEVEL: 'error', SANDBOX_PORT: 'off', ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  return child
}

export async function startBare(port: number): Promise<ChildProcess> {
  const child = fork('bench/bare-server.ts', [], { env: { ...process.env, PORT: String(port) }, execArgv: ['--import', 'tsx'], stdio: 'inherit' })
  await new Promise<void>((resolve) => child.once('message', () => resolve()))
  return child
}

export async function healthy(url: string, timeoutMs = 30_000) {
  await waitFor(async () => fetch(`${url}/healthz`).then((r) => r.ok).catch(() => false), timeoutMs, `${url} healthy`)
}

export async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))])
  if (child.exitCode === null) child.kill('SIGKILL')
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(kb[1]) * 1024
}

/** CPU time (user + system, every thread) a process has used so far, in ms, from /proc (Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces) start at state; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // USER_HZ is 100 on Linux
}

export function referralCandyBody(i: number, secret: string, prefix = 'bench'): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ referral_email: `${prefix}${i}@example.com`, referral_timestamp: 1600000000 + i, referring_email: `adv${i % 200}@example.com` })
  return { body, headers: { 'content-type': 'application/json', 'x-referral-candy-signature': createHash('md5').update(secret + body).digest('hex') } }
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}
