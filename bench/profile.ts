// see header
import autocannon from 'autocannon'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { freePort, healthy, stop, referralCandyBody } from './lib.ts'
const out = process.argv[2]
const dir = mkdtempSync(join(tmpdir(), 'rb-prof-'))
const port = await freePort()
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${out}`, 'bin/referral-bridge.js', 'serve'], {
  env: { ...process.env, LOG_LEVEL: 'error', PORT: String(port), HOST: '127.0.0.1', REFERRALCANDY_API_SECRET: 's', DATABASE_URL: `sqlite:${dir}/p.sqlite`, DELIVERY: 'off', DESTINATIONS: 'segment' },
  stdio: ['ignore', 'ignore', 'inherit']
})
await healthy(`http://127.0.0.1:${port}`)
let i = 0
const r = await autocannon({ url: `http://127.0.0.1:${port}/webhooks/referralcandy`, connections: 50, duration: 10, requests: [{ method: 'POST', setupRequest: (req: any) => { const { body, headers } = referralCandyBody(i++, 's', 'p'); return { ...req, body, headers } } }] })
console.log('acks/s', r['2xx'] / 10, 'non2xx', r.non2xx, 'p99', r.latency.p99)
await stop(child)
// summarize main-thread profile: self time by function and by file
const files = readdirSync(out).filter((f) => f.endsWith('.cpuprofile'))
for (const f of files) {
  const p = JSON.parse(readFileSync(join(out, f), 'utf8'))
  const self = new Map<number, number>()
  const dt = p.timeDeltas as number[]
  p.samples.forEach((id: number, k: number) => self.set(id, (self.get(id) ?? 0) + (dt[k] ?? 0)))
  const byFn = new Map<string, number>(), byFile = new Map<string, number>()
  let total = 0, idle = 0
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0
    total += t
    const cf = n.callFrame
    if (cf.functionName === '(idle)') idle += t
    const file = (cf.url || '(native)').replace(/^.*node_modules\//, 'nm/').replace(/^.*\/i18\//, '')
    const key = `${cf.functionName || '(anon)'} ${file}:${cf.lineNumber}`
    byFn.set(key, (byFn.get(key) ?? 0) + t)
    const pkg = file.startsWith('nm/') ? file.split('/').slice(0, file.split('/')[1].startsWith('@') ? 3 : 2).join('/') : file
    byFile.set(pkg, (byFile.get(pkg) ?? 0) + t)
  }
  console.log(`\n${f}: total ${(total / 1e6).toFixed(1)} s, idle ${(100 * idle / total).toFixed(1)} %`)
  const busy = total - idle
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(100 * v / busy).toFixed(1).padStart(5)} %  ${k}`)
  console.log('  -- functions')
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${(100 * v / busy).toFixed(1).padStart(5)} %  ${k}`)
}
