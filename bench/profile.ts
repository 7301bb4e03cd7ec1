/**
 * `npx tsx bench/profile.ts [out-dir]`: runs the bridge under `node --cpu-prof` with the load of bench figure 1
 * (autocannon, unique signed ReferralCandy webhooks, delivery off) and prints where the HTTP thread's time
 * went while under load (start-up samples are left out): self time by package/file and by function.
 * PROFILE_DATABASE_URL picks the store (default: a fresh SQLite file), PROFILE_SECONDS (10),
 * BENCH_CONNECTIONS (50).
 */
import autocannon from 'autocannon'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { freePort, healthy, stop, referralCandyBody } from './lib.ts'

const out = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'rb-profile-'))
const seconds = Number(process.env.PROFILE_SECONDS ?? 10)
const dir = mkdtempSync(join(tmpdir(), 'rb-prof-db-'))
const port = await freePort()
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${out}`, 'bin/referral-bridge.js', 'serve'], {
  env: {
    ...process.env, LOG_LEVEL: 'error', PORT: String(port), HOST: '127.0.0.1', REFERRALCANDY_API_SECRET: 'profile-secret',
    DATABASE_URL: process.env.PROFILE_DATABASE_URL ?? `sqlite:${join(dir, 'profile.sqlite')}`, DELIVERY: 'off', DESTINATIONS: 'segment'
  },
  stdio: ['ignore', 'ignore', 'inherit']
})
const spawnedAt = Date.now()
await healthy(`http://127.0.0.1:${port}`)
const loadFromMs = Date.now() - spawnedAt
let i = 0
const r = await autocannon({
  url: `http://127.0.0.1:${port}/webhooks/referralcandy`,
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  duration: seconds,
  requests: [{ method: 'POST', setupRequest: (req: any) => ({ ...req, ...referralCandyBody(i++, 'profile-secret', 'prof') }) }]
})
console.log(`${Math.round(r['2xx'] / seconds)} acks/s, ${r.non2xx} non-2xx, p99 ${r.latency.p99} ms; profiles in ${out}`)
await stop(child)

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
for (const file of readdirSync(out).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(out, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] }
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const byFile = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let elapsed = 0
  let busy = 0
  let idle = 0
  profile.samples.forEach((id, k) => {
    const dt = profile.timeDeltas[k] ?? 0
    elapsed += dt / 1000
    if (elapsed < loadFromMs) return // start-up: module loading, plan compilation
    const cf = nodes.get(id)!.callFrame
    if (cf.functionName === '(idle)') return void (idle += dt)
    busy += dt
    const where = (cf.url || '(native)').replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')
    const pkg = where.startsWith('src/') || where.startsWith('node:') || where === '(native)' ? where : where.split('/').slice(0, where.startsWith('@') ? 2 : 1).join('/')
    byFile.set(pkg, (byFile.get(pkg) ?? 0) + dt)
    const fn = `${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt)
  })
  if (busy < 1000) continue // a thread that did nothing under load (tsx's loader thread)
  const pct = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)} %`
  console.log(`\n${file}: ${(busy / 1e6).toFixed(1)} s busy, ${((100 * idle) / (busy + idle)).toFixed(0)} % idle under load`)
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(v)}  ${k}`)
  console.log('  top functions (self time):')
  for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(v)}  ${k}`)
}
