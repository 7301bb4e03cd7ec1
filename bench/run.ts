/**
 * `npm run bench`: figures as ratios against baselines measured in the same run, on loopback, bounded in
 * requests and time. Prints a table, writes bench/results/<time>.json and bench/results/latest.json, and exits 1
 * naming any figure it could not take. Knobs: BENCH_SECONDS (per load run, default 10), BENCH_CONNECTIONS (50),
 * BENCH_DRAIN_REFERRALS (2000), BENCH_QUEUED_JOBS (1000000), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_PG_DELIVERY_WEBHOOKS (5000, ×3 jobs, for the lease+complete comparison), BENCH_ROUNDS (3 alternating
 * bare/bridge rounds for the ack figures).
 */
import autocannon from 'autocannon'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort, startBridge, startBare, healthy, stop, rss, cpuMs, referralCandyBody, waitFor, percentile } from './lib.ts'
import { serveSandbox } from '../src/sandboxes/serve.ts'
import { createSegmentSandbox } from '../src/sandboxes/segment.ts'
import { createHubspotSandbox } from '../src/sandboxes/hubspot.ts'
import { SqliteStore } from '../src/queue/sqlite.ts'
import { PostgresStore } from '../src/queue/postgres.ts'
import type { Store, NewInboxItem } from '../src/queue/store.ts'
import { compareAccept, compareDelivery, freshDatabase } from './postgres-queue.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const DRAIN_REFERRALS = Number(process.env.BENCH_DRAIN_REFERRALS ?? 2000)
const QUEUED_JOBS = Number(process.env.BENCH_QUEUED_JOBS ?? 1_000_000)
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const PG_DELIVERY_WEBHOOKS = Number(process.env.BENCH_PG_DELIVERY_WEBHOOKS ?? 5000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECRET = 'bench-secret'

interface Figure { name: string; value: number; unit: string; detail: string }
const figures: Figure[] = []
const failures: string[] = []
const dir = mkdtempSync(join(tmpdir(), 'rb-bench-'))

// BENCH_ONLY=acks,drain,latency,memory takes a subset (the JSON then holds only those figures).
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim())
async function figure(name: string, take: () => Promise<Omit<Figure, 'name'>>, key = name) {
  if (ONLY && !ONLY.some((k) => key.includes(k))) return
  process.stderr.write(`\n▶ ${name}\n`)
  try {
    const f = { name, ...(await take()) }
    figures.push(f)
    process.stderr.write(`  ${f.value} ${f.unit} — ${f.detail}\n`)
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message}`)
    process.stderr.write(`  FAILED: ${(err as Error).message}\n`)
  }
}

/** autocannon with a unique signed ReferralCandy body per request (duplicates would skip the write). */
async function load(url: string, opts: { seconds: number; rate?: number; prefix: string; onSent?: (i: number, at: number) => void }) {
  let i = 0
  const result = await autocannon({
    url: `${url}/webhooks/referralcandy`,
    connections: CONNECTIONS,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req: any) => {
          const n = i++
          const { body, headers } = referralCandyBody(n, SECRET, opts.prefix)
          opts.onSent?.(n, Date.now())
          return { ...req, body, headers }
        }
      }
    ]
  })
  const ok = result['2xx']
  if (result.non2xx || result.errors) throw new Error(`${result.non2xx} non-2xx answers and ${result.errors} errors under load`)
  return { perSecond: ok / opts.seconds, sent: i, ok, latencyP99: result.latency.p99 }
}

function bridgeEnv(port: number, extra: Record<string, string>) {
  return { PORT: String(port), HOST: '127.0.0.1', REFERRALCANDY_API_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, `b-${port}.sqlite`)}`, ...extra }
}

// 1. Durable acks/s vs a bare Express handler ------------------------------------------------------------------
/**
 * The bridge against the bare handler, alternating ROUNDS times (bare, bridge, bare, bridge, ...) with both
 * processes started once: on a shared machine whose load drifts, each round's ratio compares two runs a few
 * seconds apart, and the median round is reported.
 */
async function versusBare(env: Record<string, string>, port: number, prefix: string) {
  const barePort = await freePort()
  const bare = await startBare(barePort)
  const bridge = startBridge(env)
  try {
    await healthy(`http://127.0.0.1:${port}`)
    const rounds: Array<{ bare: Awaited<ReturnType<typeof load>>; durable: Awaited<ReturnType<typeof load>>; ratio: number; cpu: { bare: number; durable: number } }> = []
    // CPU ms per answered request, all threads of the process: unlike req/s, it hardly moves with the machine's load.
    const cpuPer = async (pid: number, run: () => Promise<Awaited<ReturnType<typeof load>>>) => {
      const before = cpuMs(pid)
      const result = await run()
      return { result, cpu: (cpuMs(pid) - before) / result.ok }
    }
    for (let r = 0; r < ROUNDS; r++) {
      const b = await cpuPer(bare.pid!, () => load(`http://127.0.0.1:${barePort}`, { seconds: SECONDS, prefix: `bare${r}-` }))
      const d = await cpuPer(bridge.pid!, () => load(`http://127.0.0.1:${port}`, { seconds: SECONDS, prefix: `${prefix}${r}-` }))
      const [baseline, durable] = [b.result, d.result]
      rounds.push({ bare: baseline, durable, ratio: durable.perSecond / baseline.perSecond, cpu: { bare: b.cpu, durable: d.cpu } })
      process.stderr.write(`  round ${r + 1}: ${round(durable.perSecond)} acks/s (p99 ${durable.latencyP99} ms) vs ${round(baseline.perSecond)} bare (p99 ${baseline.latencyP99} ms) = ${round(durable.perSecond / baseline.perSecond, 3)}×\n`)
    }
    const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]
    return { median, rounds }
  } finally {
    await Promise.all([stop(bare), stop(bridge)])
  }
}

function ackDetail(what: string, m: Awaited<ReturnType<typeof versusBare>>) {
  const { median, rounds } = m
  const cpu = (k: 'bare' | 'durable') => round(rounds.reduce((n, r) => n + r.cpu[k], 0) / rounds.length, 2)
  return `CPU per request ${cpu('durable')} ms bridge vs ${cpu('bare')} ms bare; median of ${rounds.length} alternating rounds: ${round(median.durable.perSecond)} ${what} (p99 ${median.durable.latencyP99} ms) vs ${round(median.bare.perSecond)} req/s bare (p99 ${median.bare.latencyP99} ms); all rounds ${rounds.map((r) => round(r.ratio, 2)).join(' / ')}×, bridge p99 ${rounds.map((r) => r.durable.latencyP99).join(' / ')} ms; ${CONNECTIONS} connections, ${SECONDS} s per run`
}

let maxAcks = 0
await figure('durable acks/s ÷ bare Express JSON handler', async () => {
  const port = await freePort()
  const m = await versusBare(bridgeEnv(port, { DELIVERY: 'off', DESTINATIONS: 'segment' }), port, 'ack')
  maxAcks = m.median.durable.perSecond
  return { value: round(m.median.ratio, 3), unit: '×', detail: ackDetail('durable acks/s', m) }
})

// 1b-1d. PostgreSQL: acks vs bare Express, and the queue against Graphile Worker on the same server -------------
await figure('durable acks/s on PostgreSQL ÷ bare Express JSON handler', async () => {
  const databaseUrl = await freshDatabase(PG_URL, 'rb_bench_acks')
  const port = await freePort()
  const m = await versusBare(bridgeEnv(port, { DATABASE_URL: databaseUrl, DELIVERY: 'off', DESTINATIONS: 'segment' }), port, 'pgack')
  return { value: round(m.median.ratio, 3), unit: '×', detail: ackDetail('durable acks/s on PostgreSQL', m) }
}, 'postgres-acks')

await figure('PostgreSQL accept/s ÷ Graphile Worker addJobs/s (3 jobs per call)', async () => {
  const r = await compareAccept(PG_URL, CONNECTIONS, SECONDS)
  return {
    value: round(r.oursPerSecond / r.graphilePerSecond, 3),
    unit: '×',
    detail: `${round(r.oursPerSecond)} webhooks/s (inbox + 3 messages + 3 jobs each) vs ${round(r.graphilePerSecond)} addJobs calls/s of 3 jobs (${round(3 * r.graphilePerSecond)} jobs/s), ${CONNECTIONS} concurrent callers, ${SECONDS} s each, same server`
  }
}, 'postgres-accept')

await figure('PostgreSQL lease+complete jobs/s ÷ Graphile Worker jobs processed/s', async () => {
  const r = await compareDelivery(PG_URL, PG_DELIVERY_WEBHOOKS)
  return {
    value: round(r.oursPerSecond / r.graphilePerSecond, 3),
    unit: '×',
    detail: `${round(r.oursPerSecond)} jobs/s (${r.lanes} lanes × lease ${r.leaseSize}, complete each) vs ${round(r.graphilePerSecond)} jobs/s (run, concurrency ${r.graphileConcurrency}, no-op task), ${r.jobs} jobs each, same server`
  }
}, 'postgres-delivery')

let drain: { rate: number; ceiling: number; rateLimited: number; seconds: number } | undefined

// 2 + 3. HubSpot drain: records per API call, and drain rate vs the sandbox's rate-limit ceiling ---------------
await figure('HubSpot records delivered per API call (drain)', async () => {
  const hubspot = createHubspotSandbox()
  const sandbox = await serveSandbox(hubspot.router)
  const port = await freePort()
  const env = bridgeEnv(port, { DESTINATIONS: 'hubspot', HUBSPOT_ACCESS_TOKEN: 'bench-token', HUBSPOT_BASE_URL: sandbox.url })
  // Fill the backlog with delivery off, then time the drain alone.
  let bridge = startBridge({ ...env, DELIVERY: 'off' })
  const url = `http://127.0.0.1:${port}`
  await healthy(url)
  for (let i = 0; i < DRAIN_REFERRALS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, DRAIN_REFERRALS - i) }, async (_, k) => {
      const { body, headers } = referralCandyBody(i + k, SECRET, 'drain')
      const res = await fetch(`${url}/webhooks/referralcandy`, { method: 'POST', headers, body })
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`)
    }))
  }
  await stop(bridge)
  const callsBefore = hubspot.faults.counters.requests
  const started = Date.now()
  bridge = startBridge(env)
  const friends = () => [...hubspot.state.contacts.values()].filter((c: any) => String(c.properties?.email ?? '').startsWith('drain')).length
  await waitFor(() => friends() === DRAIN_REFERRALS, 300_000, `${DRAIN_REFERRALS} friend contacts in the HubSpot sandbox`)
  const seconds = (Date.now() - started) / 1000
  await stop(bridge)
  await sandbox.close()
  const calls = hubspot.faults.counters.requests - callsBefore
  const records = DRAIN_REFERRALS * 3 // identify advocate + identify friend + Referral Created per referral
  const ceiling = (100 / 10) * 100 // sandbox: 100 calls per 10 s, 100 records per batch call
  drain = { rate: records / seconds, ceiling, rateLimited: hubspot.faults.counters.rateLimited, seconds }
  return { value: round(records / calls, 1), unit: 'records/call', detail: `${records} records in ${calls} HubSpot calls (batch limit 100)` }
})
await figure('HubSpot backlog drain rate ÷ sandbox rate-limit ceiling', async () => {
  if (!drain) throw new Error('the drain run above failed')
  return {
    value: round(drain.rate / drain.ceiling, 3),
    unit: '×',
    detail: `${round(drain.rate)} records/s vs ceiling ${drain.ceiling} records/s (100 calls/10 s × 100), ${drain.rateLimited} × 429 received, ${round(drain.seconds, 1)} s`
  }
})

// 4. End-to-end latency at 50 % of max load -----------------------------------------------------------------------
await figure('webhook → Segment sandbox latency p50/p99 at 50 % of max load', async () => {
  if (!maxAcks) throw new Error('max load unknown (figure 1 failed)')
  const segment = createSegmentSandbox()
  const sandbox = await serveSandbox(segment.router)
  const port = await freePort()
  const bridge = startBridge(bridgeEnv(port, { DESTINATIONS: 'segment', SEGMENT_WRITE_KEY: 'bench', SEGMENT_HOST: sandbox.url }))
  const url = `http://127.0.0.1:${port}`
  await healthy(url)
  const sentAt = new Map<string, number>()
  const rate = Math.max(1, Math.floor(maxAcks / 2))
  const run = await load(url, { seconds: SECONDS, rate, prefix: 'lat', onSent: (i, at) => sentAt.set(`lat${i}@example.com`, at) })
  await waitFor(() => [...segment.state.messages.values()].filter((m) => m.type === 'track').length >= run.ok, 120_000, 'every acknowledged webhook at Segment')
  const latencies: number[] = []
  for (const [id, m] of segment.state.messages) {
    if (m.type !== 'track') continue
    const sent = sentAt.get(String((m.properties as any).friend_email))
    if (sent) latencies.push(segment.state.firstSeenAt.get(id)! - sent)
  }
  latencies.sort((a, b) => a - b)
  await stop(bridge)
  await sandbox.close()
  return { value: percentile(latencies, 50), unit: 'ms p50', detail: `p99 ${percentile(latencies, 99)} ms over ${latencies.length} webhooks at ${rate} req/s (max ${round(maxAcks)} acks/s)` }
})

// 5. Memory with a deep queue ------------------------------------------------------------------------------------
async function fill(store: Store, jobs: number) {
  const perCall = 1000
  const started = Date.now()
  for (let done = 0; done < jobs; done += perCall) {
    const items: NewInboxItem[] = Array.from({ length: Math.min(perCall, jobs - done) }, (_, k) => {
      const n = done + k
      return {
        id: `referralcandy:mem-${n}`,
        eventType: 'referred_purchase',
        payload: { n },
        status: 'routed',
        messages: [{ message: { type: 'track', event: 'Referral Created', messageId: `mem-${n}`, userId: `f${n}@example.com`, timestamp: new Date().toISOString(), context: {}, properties: { referral_id: `r${n}` } }, destinations: [{ destination: 'segment' }] }]
      }
    })
    await store.accept({ source: 'referralcandy', requestId: 'bench', receivedAt: Date.now(), rawBody: '{}', headers: {}, items })
    if ((done / perCall) % 100 === 0) process.stderr.write(`  queued ${done}/${jobs} (${round((Date.now() - started) / 1000, 1)} s)\n`)
  }
}

async function memoryFigure(backend: 'sqlite' | 'postgres') {
  await figure(`resident memory with ${QUEUED_JOBS} queued jobs ÷ idle (${backend})`, async () => {
    let databaseUrl: string
    let store: Store
    if (backend === 'sqlite') {
      databaseUrl = `sqlite:${join(dir, 'memory.sqlite')}`
      store = new SqliteStore(databaseUrl.slice(7))
    } else {
      const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 })
      await admin.connect()
      await admin.query('DROP DATABASE IF EXISTS rb_bench')
      await admin.query('CREATE DATABASE rb_bench')
      await admin.end()
      databaseUrl = PG_URL.replace(/\/[^/?]*(\?|$)/, '/rb_bench$1')
      store = new PostgresStore(databaseUrl)
    }
    await store.init()
    const port = await freePort()
    // Delivery on, pointed at a Segment that is down: the worker keeps leasing and failing, the realistic worst case.
    const bridge = startBridge(bridgeEnv(port, { DATABASE_URL: databaseUrl, DESTINATIONS: 'segment', SEGMENT_WRITE_KEY: 'bench', SEGMENT_HOST: 'http://127.0.0.1:9', SEGMENT_MAX_ATTEMPTS: '1000000' }))
    const url = `http://127.0.0.1:${port}`
    await healthy(url)
    await fetch(`${url}/metrics`)
    await new Promise((r) => setTimeout(r, 2000))
    const idle = rss(bridge.pid!)
    await fill(store, QUEUED_JOBS)
    for (let i = 0; i < 5; i++) await fetch(`${url}/metrics`)
    await new Promise((r) => setTimeout(r, 3000))
    const loaded = rss(bridge.pid!)
    await stop(bridge)
    await store.close()
    return { value: round(loaded / idle, 2), unit: '×', detail: `${mb(loaded)} MB with ${QUEUED_JOBS} jobs queued vs ${mb(idle)} MB idle` }
  })
}
await memoryFigure('sqlite')
await memoryFigure('postgres')

// Report -----------------------------------------------------------------------------------------------------------
rmSync(dir, { recursive: true, force: true })
const when = new Date().toISOString()
console.log(`\nreferral-bridge benchmarks, ${when}, node ${process.version}\n`)
console.log(['figure', 'value', 'detail'].join(' | '))
console.log('--- | --- | ---')
for (const f of figures) console.log(`${f.name} | ${f.value} ${f.unit} | ${f.detail}`)
mkdirSync('bench/results', { recursive: true })
const report = JSON.stringify({ when, node: process.version, figures, failures }, null, 2)
writeFileSync(`bench/results/${when.replace(/[:.]/g, '-')}.json`, report)
writeFileSync('bench/results/latest.json', report)
if (failures.length) {
  console.error(`\n${failures.length} figure(s) could not be taken:\n- ${failures.join('\n- ')}`)
  process.exit(1)
}

function round(n: number, digits = 0) {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
function mb(bytes: number) {
  return round(bytes / 1024 / 1024, 1)
}
