import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import express from 'express'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { SqliteStore } from '../../src/queue/sqlite.ts'
import { DeliveryWorker } from '../../src/queue/worker.ts'
import { systemClock } from '../../src/clock.ts'
import { createLogger } from '../../src/log.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createAppSandbox } from '../../src/sandboxes/app.ts'
import { createNotificationParts, type NotificationParts } from '../../src/notifications/wiring.ts'
import type { Destination } from '../../src/destinations/types.ts'
import type { Message } from '../../src/messages.ts'
import { ADVOCATE, openStream, orderCompleted, until, sleep } from './support.ts'

const KEY = 'app-e2e-key'
const SECRET = `whsec_${Buffer.from('e2e-secret-e2e-secret-e2e-secret').toString('base64')}`

/** What ingest does (src/ingest/normalize.ts): one job per accepting destination, with its priority and deadline. */
function accept(store: SqliteStore, destinations: Destination[], m: Message, receivedAt = Date.now()) {
  return store.accept({
    source: 'shopify',
    requestId: `req-${m.messageId}`,
    receivedAt,
    rawBody: '{}',
    headers: {},
    items: [{
      id: `shopify:${m.messageId}`,
      eventType: 'orders/create',
      payload: {},
      status: 'routed',
      messages: [{ message: m, destinations: destinations.filter((d) => d.accepts(m)).map((d) => ({ destination: d.name, ...(d.priorityOf?.(m, receivedAt) ?? {}) })) }]
    }]
  })
}

const quietLogger = () => createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }))
const newWorker = (store: SqliteStore, destinations: Destination[]) =>
  new DeliveryWorker(store, destinations, { clock: systemClock, logger: quietLogger(), pollMs: 20, backoffScale: 0.001 })

/** The bridge's side, as the lead wires it: notifications router + /sandbox/app on one loopback server. */
async function serveParts(parts: NotificationParts) {
  const router = express.Router()
  router.use(parts.router)
  if (parts.sandbox) router.use(`/sandbox/${parts.sandbox.vendor}`, parts.sandbox.router)
  return serveSandbox(router)
}

describe('advocate notified in-app and at the shop’s app, through an app outage (real queue)', () => {
  let dir: string
  let cleanup: Array<() => Promise<unknown> | unknown>
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rb-notif-e2e-'))
    cleanup = []
  })
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn()
    rmSync(dir, { recursive: true, force: true })
  })

  it('app down (503 × 6, some with Retry-After) → one notification, one SSE event, one unique webhook; redelivery changes nothing', async () => {
    const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`
    let base = ''
    const parts = await createNotificationParts({ env: { BRIDGE_APP_API_KEY: KEY }, databaseUrl, sandboxBase: () => base })
    const server = await serveParts(parts)
    base = `${server.url}/sandbox`
    const store = new SqliteStore(join(dir, 'bridge.sqlite'))
    await store.init()
    cleanup.push(() => server.close(), () => parts.close(), () => store.close())

    expect(parts.destinations.map((d) => [d.name, d.sandboxed])).toEqual([['in_app', false], ['app_webhook', true]])
    expect(parts.destinations[1].target).toBe(`${server.url}/sandbox/app/webhooks/referral-bridge`)
    const app = parts.sandbox!
    app.faults.add({ kind: 'status', status: 503, retryAfterSeconds: 1, count: 2 })
    app.faults.add({ kind: 'status', status: 503, count: 4 })

    const sse = await openStream(`${server.url}/api/advocates/${encodeURIComponent(ADVOCATE)}/notifications/stream`, { 'x-api-key': KEY })
    cleanup.push(() => sse.close())
    await until(() => parts.hub.subscriberCount(ADVOCATE) === 1)

    const m = orderCompleted(42)
    const accepted = await accept(store, parts.destinations, m)
    expect(accepted.stored).toHaveLength(1)
    const worker = newWorker(store, parts.destinations)
    cleanup.unshift(() => worker.stop(2_000))
    worker.start()

    await until(async () => (await store.listJobs('delivered', {})).length === 2, 15_000, 'both jobs delivered')
    const jobs = await store.listJobs('delivered', {})
    const byName = Object.fromEntries(jobs.map((j) => [j.destination, j]))
    expect(byName.in_app.priority).toBe(5)
    expect(byName.in_app.attempts).toBe(1)
    expect(byName.app_webhook.attempts).toBe(7)
    expect(byName.app_webhook.deadlineAt).not.toBeNull()
    expect(app.faults.counters.faulted).toBe(6)

    expect(app.state.received).toBe(1)
    expect(app.state.webhooks.size).toBe(1)
    expect(app.state.webhooks.get(m.messageId)!.payload.data).toMatchObject({ advocate_id: ADVOCATE, order_id: '10042', body: 'Your friend f*** bought — order #10042, $25.00' })
    await until(() => sse.notifications().length === 1, 5_000, 'SSE event')

    const listed = await (await fetch(`${server.url}/api/advocates/${encodeURIComponent(ADVOCATE)}/notifications`, { headers: { authorization: `Bearer ${KEY}` } })).json()
    expect(listed.notifications.map((n: any) => n.id)).toEqual([m.messageId])
    expect(listed.unread).toBe(1)

    // The platform redelivers the webhook (deduped at the inbox), and an operator replays both delivered jobs.
    expect((await accept(store, parts.destinations, m)).duplicates).toHaveLength(1)
    expect(await store.replay(jobs.map((j) => j.id), Date.now())).toBe(2)
    worker.notify()
    await until(async () => (await store.listJobs('delivered', {})).length === 2 && app.state.received === 2, 10_000, 'replayed jobs delivered')
    await sleep(100)
    expect(await parts.store.list(ADVOCATE)).toHaveLength(1)
    expect(sse.notifications()).toHaveLength(1)
    expect(app.state.webhooks.size).toBe(1)
    expect(app.state.webhooks.get(m.messageId)!.copies).toBe(2)
  })

  it('bridge restarted while the app is down: delivered once after the app recovers', async () => {
    // The shop's app lives outside the bridge: it keeps its state across the bridge's restart.
    const app = createAppSandbox({ secret: SECRET })
    const appServer = await serveSandbox(app.router)
    cleanup.push(() => appServer.close())
    app.faults.add({ kind: 'status', status: 503, count: 1_000_000 })
    // Enough attempts that the outage cannot dead-letter the jobs before the restart (backoff is scaled down 1000×).
    const env = { BRIDGE_APP_API_KEY: KEY, APP_WEBHOOK_URL: `${appServer.url}/webhooks/referral-bridge`, APP_WEBHOOK_SECRET: SECRET, APP_WEBHOOK_MAX_ATTEMPTS: '100000' }
    const file = join(dir, 'bridge.sqlite')

    const first = await createNotificationParts({ env, databaseUrl: `sqlite:${file}`, sandboxBase: 'http://unused' })
    expect(first.sandbox).toBeUndefined()
    expect(first.destinations.map((d) => [d.name, d.sandboxed])).toEqual([['in_app', false], ['app_webhook', false]])
    const store1 = new SqliteStore(file)
    await store1.init()
    const messages = [orderCompleted(1), orderCompleted(2), orderCompleted(3)]
    for (const m of messages) await accept(store1, first.destinations, m)
    const worker1 = newWorker(store1, first.destinations)
    worker1.start()
    await until(() => app.faults.counters.faulted >= 9, 10_000, 'a few failed attempts')
    await until(async () => (await first.store.list(ADVOCATE)).length === 3, 10_000, 'in-app notifications stored')
    await worker1.stop(2_000)
    await first.close()
    await store1.close()
    expect(app.state.webhooks.size).toBe(0)

    // New process: reopen everything from the file; the app comes back.
    const second = await createNotificationParts({ env, databaseUrl: `sqlite:${file}`, sandboxBase: 'http://unused' })
    const store2 = new SqliteStore(file)
    await store2.init()
    cleanup.push(() => second.close(), () => store2.close())
    const pushed: string[] = []
    second.hub.subscribe(ADVOCATE, { send: (n) => pushed.push(n.id) })
    app.faults.clear()
    const worker2 = newWorker(store2, second.destinations)
    cleanup.unshift(() => worker2.stop(2_000))
    worker2.start()
    await until(async () => (await store2.listJobs('delivered', { destination: 'app_webhook' })).length === 3, 15_000, 'webhooks after recovery')

    expect(app.state.webhooks.size).toBe(3)
    expect(app.state.received).toBe(3)
    expect([...app.state.webhooks.keys()].sort()).toEqual(messages.map((m) => m.messageId).sort())
    expect((await second.store.list(ADVOCATE)).map((n) => n.id).sort()).toEqual(messages.map((m) => m.messageId).sort())
    expect(pushed).toEqual([]) // nothing new for in-app after the restart: no second notification
    expect(await store2.listJobs('dead', {})).toEqual([])
  })
})
