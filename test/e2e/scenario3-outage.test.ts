import { describe, it, expect, afterAll } from 'vitest'
import express, { type Router } from 'express'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { startBridge, type Bridge } from '../../src/bridge.ts'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { systemClock, type Clock } from '../../src/clock.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createKlaviyoSandbox } from '../../src/sandboxes/klaviyo.ts'
import { createSegmentSandbox } from '../../src/sandboxes/segment.ts'
import { createMixpanelSandbox } from '../../src/sandboxes/mixpanel.ts'
import { createAppSandbox } from '../../src/sandboxes/app.ts'
import { postWebhook, SECRETS } from '../helpers/bridge.ts'
import type { JobRow } from '../../src/queue/store.ts'

/**
 * Scenario 3 through a real outage, with THE DEFAULTS (no policy env var set, production backoff, simulated time):
 * a referred friend signs up in the shop (Shopify customers/create with the referral metafields) and then buys
 * (Shopify orders/create, which knows nothing about referrals). Klaviyo, the shop's app, Segment and Mixpanel are
 * all down for 10 simulated minutes, and the bridge "dies" at minute 4 and is restarted on the same store.
 *
 * Expected: nothing is dead-lettered; the friend's email (Klaviyo) and the advocate's webhook (the app) each arrive
 * once, within seconds of recovery; the order is attributed to the advocate from the stored sign-up, so the
 * advocate's in-app notification is stored once, at once; every other delivery also lands within seconds of
 * recovery (the failing destination's probe gets through, the backed-off retries are made due).
 *
 * The crash is emulated in process, because a child process cannot share the simulated clock: the first bridge's
 * store handle is closed under it (no release, no further write: its leases stay as a SIGKILL leaves them) and
 * its clock never wakes it again; the second bridge opens the same SQLite file.
 */
const SHOPIFY_SECRET = 'shpss_outage'
const APP_SECRET = `whsec_${randomBytes(32).toString('base64')}`
const SIGN_UP = 'Referred Friend Signed Up'
const OUTAGE_MS = 10 * 60_000
const CRASH_AT_MS = 4 * 60_000
const WITHIN_SECONDS_MS = 15_000

class SimClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(Math.min(ms, 5), signal)
  }
}

/** The first bridge's view of time: once it has "died", nothing wakes it again. */
class MortalClock implements Clock {
  dead = false
  constructor(private readonly sim: SimClock) {}
  now = () => this.sim.now()
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.dead ? new Promise(() => {}) : this.sim.sleep(ms, signal)
  }
}

const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every request answers 503 until the outage ends (simulated time). */
function downUntil(clock: SimClock, until: number, router: Router): Router {
  const r = express.Router()
  r.use((req, res, next) => (clock.now() < until ? res.status(503).json({ error: 'service_unavailable', message: 'down for the test' }) : next()))
  r.use(router)
  return r
}

function shopify(topic: string, id: string, body: object) {
  const raw = JSON.stringify(body)
  return {
    raw,
    headers: {
      'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(raw).digest('base64'),
      'x-shopify-topic': topic,
      'x-shopify-webhook-id': id
    }
  }
}

describe('scenario 3 through a 10-minute outage of every downstream and a crash, with the defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-s3-outage-'))
  const closers: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })

  it('dead-letters nothing; the email and the advocate webhook arrive once, within seconds of recovery', async () => {
    const sim = new SimClock(Date.now())
    const t0 = sim.now()
    const recovery = t0 + OUTAGE_MS
    const kv = createKlaviyoSandbox({ now: sim.now })
    const seg = createSegmentSandbox({ writeKey: 'outage-key' })
    const mp = createMixpanelSandbox({ token: 'outage-token', now: sim.now })
    const app = createAppSandbox({ secret: APP_SECRET })
    const served = {
      klaviyo: await serveSandbox(downUntil(sim, recovery, kv.router)),
      segment: await serveSandbox(downUntil(sim, recovery, seg.router)),
      mixpanel: await serveSandbox(downUntil(sim, recovery, mp.router)),
      app: await serveSandbox(downUntil(sim, recovery, app.router))
    }
    for (const s of Object.values(served)) closers.push(s.close)

    // Credentials and URLs only: every delivery policy is the default one.
    const env = {
      ...SECRETS,
      DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`,
      PORT: '0',
      HOST: '127.0.0.1',
      SHOPIFY_WEBHOOK_SECRET: SHOPIFY_SECRET,
      DESTINATIONS: 'segment,mixpanel,klaviyo,in_app,app_webhook',
      KLAVIYO_API_KEY: 'pk_outage',
      KLAVIYO_BASE_URL: served.klaviyo.url,
      SEGMENT_WRITE_KEY: 'outage-key',
      SEGMENT_HOST: served.segment.url,
      MIXPANEL_TOKEN: 'outage-token',
      MIXPANEL_HOST: served.mixpanel.url,
      APP_WEBHOOK_URL: `${served.app.url}/webhooks/referral-bridge`,
      APP_WEBHOOK_SECRET: APP_SECRET
    }
    const logs: string[] = []
    const start = (clock: Clock): Promise<Bridge> =>
      startBridge({
        config: loadConfig(env),
        clock,
        logger: createLogger('info', new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) })),
        sandboxes: false,
        // Fast idle polling only; backoff at its production scale (time is simulated).
        worker: { pollMs: 20, backoffScale: 1 }
      })

    const mortal = new MortalClock(sim)
    const first = await start(mortal)
    closers.push(() => first.stop(0))

    // The friend signs up in the shop; the shop's referral app set the referral metafields.
    const customer = shopify('customers/create', 'outage-customer-1', {
      id: 7064055069303,
      email: 'amy@example.com',
      first_name: 'Amy',
      created_at: new Date(t0).toISOString(),
      metafields: [
        { namespace: 'referral', key: 'code', value: 'sarah-ref' },
        { namespace: 'referral', key: 'advocate_email', value: 'sarah@example.com' },
        { namespace: 'referral', key: 'advocate_name', value: 'Sarah' },
        { namespace: 'referral', key: 'discount_code', value: 'WELCOME-AMY' }
      ]
    })
    expect((await postWebhook(first.url, 'shopify', customer.raw, customer.headers)).status).toBe(200)

    const advance = async (until: number, done: () => Promise<boolean> = async () => false) => {
      while (sim.now() < until && !(await done())) {
        // ~100x real time through the outage; ~10x after it, so the real-time parts of a call (analytics-node's
        // flush interval and its one in-library retry) do not count as a minute of simulated latency.
        sim.t += sim.now() < recovery ? 500 : 50
        await realSleep(5)
      }
    }
    await advance(t0 + 30_000)

    // 30 s later she buys with her welcome code; the order names no advocate.
    const order = (id: string, email: string, code?: string) =>
      shopify('orders/create', id, {
        id: Number(`8209829119${id.length}`),
        email,
        created_at: new Date(sim.now()).toISOString(),
        total_price: '25.00',
        currency: 'USD',
        financial_status: 'paid',
        discount_codes: code ? [{ code, amount: '5.00', type: 'fixed_amount' }] : [],
        customer: { id: 7064055069303, email }
      })
    const purchase = order('outage-order-1', 'amy@example.com', 'WELCOME-AMY')
    const accepted = await postWebhook(first.url, 'shopify', purchase.raw, purchase.headers)
    expect(accepted.status).toBe(200)
    const stranger = order('outage-order-22', 'walk-in@example.com')
    expect((await postWebhook(first.url, 'shopify', stranger.raw, stranger.headers)).status).toBe(200)

    const purchaseEvent = (await first.store.getEvent('shopify:outage-order-1'))!
    expect(purchaseEvent.inbox.reason).toMatch(/^attributed to sarah@example\.com by (referral_code|discount_code) welcome-amy/)
    expect(purchaseEvent.messages.find((m) => m.message.type === 'track' && m.message.event === 'Order Completed')!.message).toMatchObject({ properties: { advocate_id: 'sarah@example.com', advocate_email: 'sarah@example.com', referral_code: 'WELCOME-AMY' } })
    expect(purchaseEvent.jobs.map((j) => j.destination)).toEqual(expect.arrayContaining(['app_webhook', 'in_app', 'segment', 'mixpanel']))
    const strangerEvent = (await first.store.getEvent('shopify:outage-order-22'))!
    expect(strangerEvent.inbox.reason).toMatch(/^not attributed: no stored referral matches email walk-in@example\.com/)
    expect(strangerEvent.jobs.map((j) => j.destination)).toEqual(expect.arrayContaining(['segment', 'mixpanel']))
    expect(strangerEvent.jobs.map((j) => j.destination)).not.toContain('app_webhook')
    expect(strangerEvent.jobs.map((j) => j.destination)).not.toContain('in_app')

    // Minute 4: the bridge dies mid-outage (leases and scheduled retries left as they are) and is started again.
    await advance(t0 + CRASH_AT_MS)
    mortal.dead = true
    await first.store.close()
    const second = await start(sim)
    closers.push(() => second.stop(2_000))

    const jobs = async (status: JobRow['status']) => second.store.listJobs(status, {})
    const settled = async () => (await jobs('pending')).length === 0 && (await jobs('leased')).length === 0
    await advance(t0 + 2 * OUTAGE_MS, settled)
    expect(await settled(), `everything delivered by ${(sim.now() - t0) / 60_000} simulated minutes`).toBe(true)

    // Nothing dead-lettered, with the defaults.
    expect(await jobs('dead')).toEqual([])
    const delivered = await jobs('delivered')
    // Every delivery within seconds of recovery (the in-app notification, whose store never went down, at once).
    const lateness = delivered.map((j) => ({ id: j.id, after: j.deliveredAt! - Math.max(recovery, j.createdAt) }))
    for (const l of lateness) expect(l.after, l.id).toBeLessThan(WITHIN_SECONDS_MS)
    const inApp = delivered.find((j) => j.destination === 'in_app')!
    expect(inApp.deliveredAt! - inApp.createdAt).toBeLessThan(WITHIN_SECONDS_MS)

    // The friend's email: one Klaviyo event; the advocate's webhook: one, verified by the app.
    expect(kv.state.events.get(SIGN_UP)).toHaveLength(1)
    expect(kv.state.duplicateEvents).toBe(0)
    expect(app.state.webhooks.size).toBe(1)
    const [webhook] = [...app.state.webhooks.values()]
    expect(webhook.payload).toMatchObject({ type: 'advocate.friend_purchased', data: { advocate_id: 'sarah@example.com', order_id: expect.any(String) } })
    const notifications = await second.notifications.store.list('sarah@example.com')
    expect(notifications).toHaveLength(1)
    // Segment got the attributed order (once per messageId: the sandbox keys on it).
    const orders = [...seg.state.messages.values()].filter((m) => m.event === 'Order Completed')
    expect(orders.map((m) => (m.properties as Record<string, unknown>).advocate_id ?? null).sort()).toEqual([null, 'sarah@example.com'].sort())

    const email = delivered.find((j) => j.destination === 'klaviyo' && j.event === SIGN_UP)!
    const appJob = delivered.find((j) => j.destination === 'app_webhook')!
    const attemptsOf = async (j: JobRow) => (await second.store.getEvent(j.inboxId))!.attempts.filter((a) => a.jobId === j.id).length
    console.log(
      `scenario 3 outage (10 simulated min, every downstream, crash at minute 4, defaults): ${delivered.length} deliveries, 0 dead; ` +
        `Klaviyo email ${((email.deliveredAt! - recovery) / 1000).toFixed(1)} s after recovery (${await attemptsOf(email)} attempts), ` +
        `app webhook ${((appJob.deliveredAt! - recovery) / 1000).toFixed(1)} s after recovery (${await attemptsOf(appJob)} attempts), ` +
        `in-app ${((inApp.deliveredAt! - inApp.createdAt) / 1000).toFixed(1)} s after the order; ` +
        `slowest delivery ${(Math.max(...lateness.map((l) => l.after)) / 1000).toFixed(1)} s after recovery`
    )
  }, 180_000)
})
