/**
 * PostgreSQL queue figures for `npm run bench`: our store's accept and lease+complete throughput against
 * Graphile Worker (a dev dependency, used here only) on the same database server, same machine, same run.
 * Both sides get the same call pattern: CONCURRENCY callers in a loop, each call carrying one webhook's worth of
 * work (3 jobs whose payload is the Segment message our normalizer builds for a ReferralCandy referral).
 */
import pg from 'pg'
import { Logger, makeWorkerUtils, run, type AddJobsJobSpec } from 'graphile-worker'
import { PostgresStore } from '../src/queue/postgres.ts'
import type { NewInboxItem, WebhookToAccept } from '../src/queue/store.ts'

/** Drops and creates `name` on the server of `url`; returns the URL of the new database. */
export async function freshDatabase(url: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  return url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`)
}

function message(prefix: string, n: number, k: number) {
  return {
    type: 'track' as const,
    event: 'Referral Created',
    messageId: `${prefix}-${n}-${k}`,
    userId: `friend${n}@example.com`,
    timestamp: new Date(1_700_000_000_000 + n).toISOString(),
    context: { library: { name: 'referral-bridge', version: '0.1.0' } },
    properties: { referral_id: `r${n}`, friend_email: `friend${n}@example.com`, advocate_email: `adv${n % 200}@example.com`, program: 'referralcandy' }
  }
}

/** One ReferralCandy referral as the ingest route hands it to the store: 1 inbox row, 3 messages, 3 jobs. */
export function benchWebhook(prefix: string, n: number): WebhookToAccept {
  const item: NewInboxItem = {
    id: `referralcandy:${prefix}-${n}`,
    eventType: 'referral',
    payload: { referral_email: `friend${n}@example.com`, referral_timestamp: 1600000000 + n, referring_email: `adv${n % 200}@example.com` },
    status: 'routed',
    messages: [0, 1, 2].map((k) => ({ message: message(prefix, n, k), destinations: [{ destination: 'segment' }] }))
  }
  const rawBody = JSON.stringify(item.payload)
  return { source: 'referralcandy', requestId: `req-${n}`, receivedAt: Date.now(), rawBody, headers: { 'content-type': 'application/json' }, items: [item] }
}

async function loop(concurrency: number, seconds: number, call: (n: number) => Promise<unknown>): Promise<number> {
  let n = 0
  let calls = 0
  const until = Date.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        await call(n++)
        calls++
      }
    })
  )
  return calls / seconds
}

export interface AcceptComparison { oursPerSecond: number; graphilePerSecond: number }

/** Webhooks accepted per second (3 jobs each) vs Graphile Worker `addJobs` calls of 3 jobs per second. */
export async function compareAccept(url: string, concurrency: number, seconds: number): Promise<AcceptComparison> {
  const oursUrl = await freshDatabase(url, 'rb_bench_ours')
  const store = new PostgresStore(oursUrl)
  await store.init()
  const oursPerSecond = await loop(concurrency, seconds, (n) => store.accept(benchWebhook('acc', n)))
  await store.close()

  const theirsUrl = await freshDatabase(url, 'rb_bench_graphile')
  const utils = await makeWorkerUtils({ connectionString: theirsUrl, logger: quietLogger() })
  await utils.migrate()
  const graphilePerSecond = await loop(concurrency, seconds, (n) => utils.addJobs(graphileSpecs(n)))
  await utils.release()
  return { oursPerSecond, graphilePerSecond }
}

function graphileSpecs(n: number): AddJobsJobSpec[] {
  return [0, 1, 2].map((k) => ({ identifier: 'deliver', payload: message('g', n, k) }))
}

export interface DeliveryComparison { jobs: number; oursPerSecond: number; graphilePerSecond: number; lanes: number; leaseSize: number; graphileConcurrency: number }

/**
 * Jobs leased and completed per second, the destination doing nothing, vs Graphile Worker running a no-op task
 * over the same number of jobs. Ours: `lanes` loops of lease(100) then complete each (what the delivery worker
 * does around a vendor call). Theirs: `run` with concurrency = lanes × leaseSize capped at its pool.
 */
export async function compareDelivery(url: string, webhooks: number, lanes = 2, leaseSize = 100): Promise<DeliveryComparison> {
  const jobs = webhooks * 3
  const oursUrl = await freshDatabase(url, 'rb_bench_ours')
  const store = new PostgresStore(oursUrl)
  await store.init()
  for (let i = 0; i < webhooks; i += 500) await Promise.all(Array.from({ length: Math.min(500, webhooks - i) }, (_, k) => store.accept(benchWebhook('del', i + k))))
  let started = Date.now()
  let done = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (;;) {
        const leased = await store.lease('segment', leaseSize, 60_000, Date.now())
        if (!leased.length) return
        await Promise.all(leased.map((job) => store.complete(job, { startedAt: Date.now(), finishedAt: Date.now(), outcome: 'delivered', statusCode: 200 })))
        done += leased.length
      }
    })
  )
  const oursPerSecond = done / ((Date.now() - started) / 1000)
  await store.close()
  if (done !== jobs) throw new Error(`our queue delivered ${done} of ${jobs} jobs`)

  const theirsUrl = await freshDatabase(url, 'rb_bench_graphile')
  const utils = await makeWorkerUtils({ connectionString: theirsUrl, logger: quietLogger() })
  await utils.migrate()
  for (let i = 0; i < webhooks; i += 500) await utils.addJobs(Array.from({ length: Math.min(500, webhooks - i) }, (_, k) => graphileSpecs(i + k)).flat())
  await utils.release()
  // Graphile Worker holds one connection per concurrent job; its pool defaults to 10.
  const graphileConcurrency = 10
  let ran = 0
  let allRan!: () => void
  const finished = new Promise<void>((resolve) => (allRan = resolve))
  started = Date.now()
  const runner = await run({
    connectionString: theirsUrl,
    concurrency: graphileConcurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: quietLogger(),
    taskList: {
      deliver: async () => {
        if (++ran === jobs) allRan()
      }
    }
  })
  await finished
  // stop() waits for the last completions to be written.
  await runner.stop()
  const graphilePerSecond = jobs / ((Date.now() - started) / 1000)
  return { jobs, oursPerSecond, graphilePerSecond, lanes, leaseSize, graphileConcurrency }
}

function quietLogger(): Logger {
  // graphile-worker's Logger takes a factory of scoped log functions; the bench keeps only errors.
  return new Logger(() => (level, message) => {
    if (level === 'error') process.stderr.write(`  graphile-worker: ${message}\n`)
  })
}
