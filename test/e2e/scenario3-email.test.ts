import { describe, it, expect, afterEach, afterAll } from 'vitest'
import express, { type Request, type Response, type NextFunction } from 'express'
import type { ChildProcess } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Webhook } from 'standardwebhooks'
import { testBridge, postWebhook, until, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady, holdFirstAnswer } from '../helpers/process.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import { createKlaviyoSandbox, klaviyoProfileByEmail } from '../../src/sandboxes/klaviyo.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { systemClock, type Clock } from '../../src/clock.ts'
import type { JobRow, NewInboxItem } from '../../src/queue/store.ts'

/**
 * Scenario 3, friend email half: a referred friend signs up → a `Referred Friend Signed Up` Klaviyo event (its
 * metric triggers the personalised welcome flow) within the 5-minute SLA, exactly once, through Klaviyo outages, a
 * backlog and a SIGKILL. The Klaviyo sandbox runs in this process; the bridge delivers through the BUILT Klaviyo
 * destination function. SLA figures come from the store (job createdAt = webhook received, deliveredAt) and from
 * /metrics, never from wall-clock sleeps.
 */
const SW_SECRET = `whsec_${randomBytes(24).toString('base64')}`
const SHOPIFY_SECRET = 'shpss_scenario3'
const SEGMENT_SECRET = 'segment-scenario3'
const SIGN_UP = 'Referred Friend Signed Up'
const SLA_MS = 5 * 60 * 1000

/** A Standard Webhooks `referral.friend_signed_up`, signed (webhook-id is the idempotency key). */
function friendSignUp(friend: string, id = `msg_${randomBytes(8).toString('hex')}`, at = new Date()) {
  const body = JSON.stringify({
    type: 'referral.friend_signed_up',
    timestamp: at.toISOString(),
    data: {
      referral_id: `ref_${friend}`,
      referral_code: 'jb007',
      advocate_email: 'sarah@example.com',
      advocate_name: 'Sarah Advocate',
      friend_id: friend,
      friend_email: friend,
      friend_first_name: 'John',
      discount_code: 'WELCOME-7P9A',
      discount_expires_at: '2026-12-01T00:00:00Z'
    }
  })
  return {
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(SW_SECRET).sign(id, at, body)
    }
  }
}

/**
 * Simulated time: `now()` is what the test says; `sleep()` yields for a few real ms (the worker's polls and the
 * rate limit keep running) while the test moves time on with `advance()`. Backoff, retry times, the SLA deadline,
 * the sandbox's outage window and its clock all read this clock, so a 3-minute outage takes a few real seconds.
 */
class SimClock implements Clock {
  constructor(private t: number) {}
  now = () => this.t
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(Math.min(ms, 5), signal)
  }
  advance(ms: number): void {
    this.t += ms
  }
}

const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function klaviyoJob(bridge: TestBridge, status: 'delivered' | 'pending' = 'delivered'): Promise<JobRow | undefined> {
  return (await bridge.store.listJobs(status, { destination: 'klaviyo', event: SIGN_UP }))[0]
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text()
}

function expectPersonalised(properties: Record<string, unknown>) {
  expect(properties).toMatchObject({
    friend_first_name: 'John',
    advocate_name: 'Sarah Advocate',
    discount_code: 'WELCOME-7P9A',
    discount_expires_at: '2026-12-01T00:00:00.000Z'
  })
}

describe('scenario 3: friend sign-up → Klaviyo within the SLA, once', () => {
  let bridge: TestBridge | undefined
  const closers: Array<() => Promise<void>> = []
  afterEach(async () => {
    await bridge?.close()
    bridge = undefined
    for (const c of closers.splice(0)) await c()
  })

  it('normal path: Standard Webhooks, Shopify customers/create and a forwarded Segment event each give one personalised event, within the SLA', async () => {
    const kv = createKlaviyoSandbox()
    const served = await serveSandbox(kv.router)
    closers.push(served.close)
    bridge = await testBridge({
      env: { STANDARD_WEBHOOK_SECRET: SW_SECRET, SHOPIFY_WEBHOOK_SECRET: SHOPIFY_SECRET, SEGMENT_WEBHOOK_SECRET: SEGMENT_SECRET },
      destinations: async () => [await functionFolderDestination('klaviyo', { env: { KLAVIYO_BASE_URL: served.url }, sandboxBase: 'unused' })]
    })

    // 1. Standard Webhooks sign-up, redelivered once (same webhook-id).
    const sw = friendSignUp('john@example.com', 'msg_scenario3_normal')
    for (let i = 0; i < 2; i++) expect((await bridge.post('standard', sw.body, sw.headers)).status).toBe(200)
    // 2. Shopify customers/create with the referral metafields.
    const customer = JSON.stringify({
      id: 7064055069303,
      email: 'Jane@Example.com',
      first_name: 'Jane',
      last_name: 'Friend',
      created_at: new Date().toISOString(),
      tags: '',
      metafields: [
        { namespace: 'referral', key: 'code', value: 'jb007' },
        { namespace: 'referral', key: 'advocate_email', value: 'sarah@example.com' },
        { namespace: 'referral', key: 'advocate_name', value: 'Sarah Advocate' },
        { namespace: 'referral', key: 'discount_code', value: 'WELCOME-JANE' },
        { namespace: 'referral', key: 'discount_expires_at', value: '2026-12-01T00:00:00Z' }
      ]
    })
    const shopifyHeaders = {
      'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(customer).digest('base64'),
      'x-shopify-topic': 'customers/create',
      'x-shopify-webhook-id': 'scenario3-customer-1'
    }
    expect((await bridge.post('shopify', customer, shopifyHeaders)).status).toBe(200)
    // 3. A Segment event forwarded by a Segment Webhooks destination.
    const forwarded = JSON.stringify({
      type: 'track',
      event: SIGN_UP,
      messageId: 'ajs-scenario3-forwarded',
      userId: 'max@example.com',
      timestamp: new Date().toISOString(),
      properties: { friend_email: 'max@example.com', friend_first_name: 'Max', advocate_name: 'Sarah Advocate', discount_code: 'WELCOME-MAX', discount_expires_at: '2026-12-01T00:00:00Z' }
    })
    expect((await bridge.post('segment', forwarded, { 'x-signature': createHmac('sha1', SEGMENT_SECRET).update(forwarded).digest('hex') })).status).toBe(200)

    await until(async () => (await bridge!.store.listJobs('delivered', { destination: 'klaviyo', event: SIGN_UP })).length === 3, 10_000, 'three sign-ups delivered')
    const events = kv.state.events.get(SIGN_UP)!
    expect(events).toHaveLength(3)
    const byEmail = (email: string) => events.find((e) => e.profileId === klaviyoProfileByEmail(kv.state, email)?.id)!
    expectPersonalised(byEmail('john@example.com').properties)
    expect(byEmail('jane@example.com').properties).toMatchObject({ friend_first_name: 'Jane', advocate_name: 'Sarah Advocate', discount_code: 'WELCOME-JANE', discount_expires_at: '2026-12-01T00:00:00.000Z' })
    expect(byEmail('max@example.com').properties).toMatchObject({ friend_first_name: 'Max', discount_code: 'WELCOME-MAX' })
    expect(klaviyoProfileByEmail(kv.state, 'john@example.com')!.attributes.first_name).toBe('John')
    // unique_id = the bridge's messageId, so any redelivery would be dropped by Klaviyo.
    expect(events.every((e) => e.uniqueId.startsWith('rb-'))).toBe(true)

    const jobs = await bridge.store.listJobs('delivered', { destination: 'klaviyo', event: SIGN_UP })
    const latencies = jobs.map((j) => j.deliveredAt! - j.createdAt)
    for (const j of jobs) {
      expect(j.priority).toBe(10)
      expect(j.deadlineAt).toBe(j.createdAt + SLA_MS)
      expect(j.deliveredAt!).toBeLessThanOrEqual(j.deadlineAt!)
    }
    const metrics = await metricsText(bridge.url)
    expect(metrics).toMatch(/bridge_sla_latency_seconds_count\{destination="klaviyo"\} 3/)
    expect(metrics).not.toMatch(/bridge_sla_past_deadline_total\{destination="klaviyo"/)
    console.log(`scenario 3 normal path: received → delivered ${latencies.map((l) => `${l} ms`).join(', ')} (SLA ${SLA_MS / 1000} s)`)
  })

  it('Klaviyo down (503, then timeouts, then 503) for 3 simulated minutes → delivered within seconds of recovery, inside the SLA, once', async () => {
    const clock = new SimClock(Date.now())
    const t0 = clock.now()
    const kv = createKlaviyoSandbox({ now: clock.now })
    const served = await serveSandbox(kv.router)
    closers.push(served.close)
    const unavailable = { errors: [{ id: 'x', status: 503, code: 'service_unavailable', title: 'Service unavailable.', detail: 'Klaviyo is temporarily unavailable.', source: { pointer: '/data/' } }] }
    kv.faults.add({ kind: 'status', status: 503, body: unavailable, until: t0 + 60_000 })
    kv.faults.add({ kind: 'timeout', until: t0 + 120_000 })
    kv.faults.add({ kind: 'status', status: 503, body: unavailable, until: t0 + 180_000 })

    bridge = await testBridge({
      clock,
      env: { STANDARD_WEBHOOK_SECRET: SW_SECRET },
      // Backoff at its real scale: time is simulated, so the SLA maths are the production ones.
      worker: { pollMs: 20, backoffScale: 1 },
      // The runtime's per-call limit is real time (Segment: 5 s); 100 ms keeps the hung calls short.
      destinations: async () => [await functionFolderDestination('klaviyo', { env: { KLAVIYO_BASE_URL: served.url, KLAVIYO_TIMEOUT_MS: '100' }, sandboxBase: 'unused' })]
    })
    const sw = friendSignUp('down@example.com')
    const posted = await bridge.post('standard', sw.body, sw.headers)
    expect(posted.status).toBe(200)

    // Move simulated time on in 500 ms steps (~100x real time) until the email event is delivered.
    while (!(await klaviyoJob(bridge)) && clock.now() - t0 < 2 * SLA_MS) {
      clock.advance(500)
      await realSleep(5)
    }
    const job = (await klaviyoJob(bridge))!
    expect(job, 'delivered within 10 simulated minutes').toBeDefined()
    const latency = job.deliveredAt! - job.createdAt
    expect(latency).toBeGreaterThanOrEqual(180_000 - (job.createdAt - t0)) // not before Klaviyo came back
    expect(job.deliveredAt! - (t0 + 180_000)).toBeLessThan(30_000) // within seconds of recovery (≤ 5 s backoff cap + a hung call)
    expect(latency).toBeLessThan(SLA_MS)

    // Once: one event in Klaviyo, and no duplicate reached it (the hung calls were never answered).
    expect(kv.state.events.get(SIGN_UP)).toHaveLength(1)
    expectPersonalised(kv.state.events.get(SIGN_UP)![0]!.properties)
    expect(kv.state.duplicateEvents).toBe(0)
    const detail = (await bridge.store.getEvent(job.inboxId))!
    const attempts = detail.attempts.filter((a) => a.jobId === job.id)
    expect(attempts.filter((a) => a.outcome === 'delivered')).toHaveLength(1)
    expect(attempts.some((a) => a.statusCode === 503)).toBe(true)
    expect(attempts.some((a) => /timeout/.test(a.error ?? ''))).toBe(true)
    // The urgent backoff cap held: no gap between attempts far above 5 s (slack for polling in simulated time);
    // uncapped, attempt 10+ of an ordinary job waits up to 10 minutes.
    const gaps = attempts.slice(1).map((a, i) => a.startedAt - attempts[i]!.finishedAt)
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5_000 + 10_000)

    const metrics = await metricsText(bridge.url)
    expect(metrics).toMatch(/bridge_sla_latency_seconds_count\{destination="klaviyo"\} 1/)
    expect(metrics).not.toMatch(/bridge_sla_past_deadline_total\{destination="klaviyo"/)
    console.log(
      `scenario 3 Klaviyo down 3 simulated min: received → delivered ${(latency / 1000).toFixed(1)} s (SLA 300 s), ` +
        `${((job.deliveredAt! - (t0 + 180_000)) / 1000).toFixed(1)} s after recovery, ${attempts.length} attempts, 1 event`
    )
  }, 60_000)

  it.each([
    ['send-late', 'delivered late and flagged'],
    ['expire', 'expired and recorded dead']
  ])('Klaviyo down 6 simulated minutes, late policy %s → %s, never dropped silently', async (policy) => {
    const clock = new SimClock(Date.now())
    const t0 = clock.now()
    const kv = createKlaviyoSandbox({ now: clock.now })
    const served = await serveSandbox(kv.router)
    closers.push(served.close)
    kv.faults.add({ kind: 'status', status: 503, until: t0 + 6 * 60_000 })
    bridge = await testBridge({
      clock,
      env: { STANDARD_WEBHOOK_SECRET: SW_SECRET },
      worker: { pollMs: 20, backoffScale: 1 },
      destinations: async () => [await functionFolderDestination('klaviyo', { env: { KLAVIYO_BASE_URL: served.url, KLAVIYO_LATE_POLICY: policy }, sandboxBase: 'unused' })]
    })
    const sw = friendSignUp('late@example.com')
    expect((await bridge.post('standard', sw.body, sw.headers)).status).toBe(200)
    const settled = async () =>
      (await bridge!.store.listJobs('delivered', { destination: 'klaviyo', event: SIGN_UP }))[0] ?? (await bridge!.store.listJobs('dead', { destination: 'klaviyo', event: SIGN_UP }))[0]
    while (!(await settled()) && clock.now() - t0 < 3 * SLA_MS) {
      clock.advance(500)
      await realSleep(5)
    }
    const job = (await settled())!
    const detail = (await bridge.store.getEvent(job.inboxId))!
    const last = detail.attempts.filter((a) => a.jobId === job.id).at(-1)!
    const metrics = await metricsText(bridge.url)
    if (policy === 'send-late') {
      expect(job.status).toBe('delivered')
      expect(job.deliveredAt!).toBeGreaterThan(job.deadlineAt!)
      expect(job.deliveredAt! - (t0 + 6 * 60_000)).toBeLessThan(15_000)
      expect(last.error).toMatch(/^delivered late by \d+ s/)
      expect(kv.state.events.get(SIGN_UP)).toHaveLength(1)
      expect(metrics).toMatch(/bridge_sla_past_deadline_total\{destination="klaviyo",action="delivered_late"\} 1/)
    } else {
      expect(job.status).toBe('dead')
      expect(job.lastError).toMatch(/expired: deadline .* \(late policy: expire\)/)
      expect(kv.state.events.get(SIGN_UP)).toBeUndefined()
      expect(metrics).toMatch(/bridge_sla_past_deadline_total\{destination="klaviyo",action="expired"\} 1/)
    }
  }, 60_000)

  it('a backlog of 2,000 ordinary Klaviyo jobs does not delay the friend email (priority lane)', async () => {
    const kv = createKlaviyoSandbox()
    // Profile imports (the backlog) take 3 s each, so every ordinary lane is busy when the sign-up arrives.
    let importsInFlight = 0
    const slow = express.Router()
    slow.use((req: Request, res: Response, next: NextFunction) => {
      if (req.path !== '/api/profile-import') return next()
      importsInFlight++
      res.on('close', () => importsInFlight--)
      setTimeout(next, 3_000)
    })
    slow.use(kv.router)
    const served = await serveSandbox(slow)
    closers.push(served.close)
    bridge = await testBridge({
      env: { STANDARD_WEBHOOK_SECRET: SW_SECRET },
      destinations: async () => [await functionFolderDestination('klaviyo', { env: { KLAVIYO_BASE_URL: served.url }, sandboxBase: 'unused' })]
    })
    const ordinaryLanes = bridge.destinations[0]!.policy.concurrency

    // 2,000 ordinary jobs (profile upserts), committed the way the ingest path commits them.
    const now = Date.now()
    const items: NewInboxItem[] = Array.from({ length: 2_000 }, (_, i) => ({
      id: `backlog:${i}`,
      eventType: 'backlog',
      payload: {},
      status: 'routed',
      messages: [
        {
          message: { type: 'identify', messageId: `rb-backlog-${i}-identify`, userId: `b${i}@example.com`, timestamp: new Date(now).toISOString(), context: {}, traits: { email: `b${i}@example.com`, referral_role: 'advocate', source_platform: 'backlog' } },
          destinations: [{ destination: 'klaviyo' }]
        }
      ]
    }))
    await bridge.store.accept({ source: 'backlog', requestId: 'backlog', receivedAt: now, rawBody: '{}', headers: {}, items })
    bridge.worker.notify()
    await until(() => importsInFlight >= ordinaryLanes, 10_000, 'every ordinary lane busy with the backlog')

    const sw = friendSignUp('urgent@example.com')
    expect((await bridge.post('standard', sw.body, sw.headers)).status).toBe(200)
    await until(async () => !!(await klaviyoJob(bridge!)), 10_000, 'friend email delivered')
    const job = (await klaviyoJob(bridge))!
    const latency = job.deliveredAt! - job.createdAt
    const backlogLeft = (await bridge.store.stats(Date.now())).jobs
      .filter((j) => j.destination === 'klaviyo' && (j.status === 'pending' || j.status === 'leased'))
      .reduce((n, j) => n + j.count, 0)
    // Every ordinary lane was still inside a 3 s call: only the priority lane can have sent it this fast.
    expect(latency).toBeLessThan(1_500)
    expect(backlogLeft).toBeGreaterThan(1_950)
    expect(kv.state.events.get(SIGN_UP)).toHaveLength(1)
    console.log(`scenario 3 backlog: friend email received → delivered ${latency} ms with ${backlogLeft} ordinary Klaviyo jobs still queued`)
  }, 60_000)
})

// ---- the bridge killed mid-way (child process, SIGKILL) ----------------------------------------------------------


function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill(signal)
  return exited
}

describe('scenario 3: the bridge killed mid-delivery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-s3-crash-'))
  const children: ChildProcess[] = []
  const output: string[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('SIGKILL after Klaviyo accepted the event but before the bridge saw the 202 → redelivered after restart, deduped: one event, within the SLA', async () => {
    const kv = createKlaviyoSandbox()
    // Klaviyo processes the first event at once but holds its 202 back: the kill lands between the two.
    // Klaviyo processes the first event at once but holds its 202 back: the kill lands between the two.
    const hold = holdFirstAnswer((req) => req.method === 'POST' && req.path === '/api/events', 2_000)
    const router = express.Router()
    router.use(hold.middleware)
    router.use(kv.router)
    const served = await serveSandbox(router)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = {
      ...process.env,
      ...SECRETS,
      STANDARD_WEBHOOK_SECRET: SW_SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`,
      DESTINATIONS: 'klaviyo',
      KLAVIYO_BASE_URL: served.url,
      // Short lease: the job the killed process held comes back soon after the restart.
      KLAVIYO_LEASE_MS: '1500',
      LOG_LEVEL: 'warn'
    }
    const start = () => {
      const child = bridgeProcess(env, output)
      children.push(child)
      return child
    }
    // /healthz turns 200 only once the destinations exist (the Klaviyo function is compiled at startup).
    const ready = () => waitReady(url)
    const admin = async (path: string) => (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${SECRETS.BRIDGE_ADMIN_TOKEN}` } })).json() as Promise<any>

    let child = start()
    await ready()
    const sw = friendSignUp('crash@example.com')
    const res = await postWebhook(url, 'standard', sw.body, sw.headers)
    expect(res.status).toBe(200)
    const inboxId = res.body.ids[0] as string
    const stalled = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no Klaviyo event within 30 s. Bridge output:\n${output.join('').slice(-3000)}`)), 30_000).unref()
    )
    await Promise.race([hold.applied, stalled])
    await kill(child, 'SIGKILL')
    expect(kv.state.events.get(SIGN_UP)).toHaveLength(1) // Klaviyo has it; the bridge never recorded it

    child = start()
    await ready()
    const deliveredJob = async () => ((await admin(`/admin/events/${encodeURIComponent(inboxId)}`)).jobs as JobRow[]).find((j) => j.destination === 'klaviyo' && j.status === 'delivered')
    await until(async () => !!(await deliveredJob()), 30_000, 'the job redelivered after restart').catch((err) => {
      throw new Error(`${err.message}. Bridge output:\n${output.join('').slice(-3000)}`)
    })
    const job = (await deliveredJob())!
    expect(kv.state.events.get(SIGN_UP)).toHaveLength(1)
    expect(kv.state.duplicateEvents).toBe(1) // the redelivery reached Klaviyo and was dropped on unique_id
    expectPersonalised(kv.state.events.get(SIGN_UP)![0]!.properties)
    const latency = job.deliveredAt! - job.createdAt
    expect(latency).toBeLessThan(SLA_MS)
    console.log(`scenario 3 SIGKILL mid-delivery: received → delivered ${latency} ms after restart (SLA 300 s), 1 event, 1 duplicate dropped by Klaviyo`)
    await kill(child, 'SIGTERM')
    await served.close()
  }, 90_000)
})
