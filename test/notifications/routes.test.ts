import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import express from 'express'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteNotificationStore } from '../../src/notifications/sqlite.ts'
import { NotificationHub } from '../../src/notifications/hub.ts'
import { notificationsRouter } from '../../src/notifications/routes.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { NewNotification } from '../../src/notifications/store.ts'
import { ADVOCATE, notification, openStream, until, sleep } from './support.ts'

const KEY = 'app-test-key'
const auth = { authorization: `Bearer ${KEY}` }
const path = (advocate = ADVOCATE, rest = '') => `/api/advocates/${encodeURIComponent(advocate)}/notifications${rest}`

describe('notifications API', () => {
  let dir: string
  let store: SqliteNotificationStore
  let hub: NotificationHub
  let server: Awaited<ReturnType<typeof serveSandbox>>
  let streams: Array<{ close(): Promise<void> }>

  async function start(apiKey: string | undefined = KEY, heartbeatMs = 15_000) {
    const router = express.Router()
    router.use(notificationsRouter({ store, hub, apiKey, heartbeatMs, now: () => 1_800_000_000_000 }))
    server = await serveSandbox(router)
  }
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = auth) => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
    return { status: res.status, body: await res.json(), headers: res.headers }
  }
  const publish = async (n: NewNotification) => {
    if (await store.add(n)) hub.publish({ ...n, readAt: null })
  }
  const stream = async (headers: Record<string, string> = {}, advocate = ADVOCATE, query = '') => {
    const s = await openStream(`${server.url}${path(advocate, '/stream')}${query}`, { ...auth, ...headers })
    streams.push(s)
    return s
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rb-notif-routes-'))
    store = new SqliteNotificationStore(join(dir, 'n.sqlite'))
    await store.init()
    hub = new NotificationHub()
    streams = []
  })
  afterEach(async () => {
    for (const s of streams) await s.close()
    hub.close()
    await server?.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('is closed (503) without BRIDGE_APP_API_KEY and refuses missing or wrong keys (401)', async () => {
    await start('')
    const closed = await call('GET', path())
    expect(closed.status).toBe(503)
    expect(closed.body).toEqual({ error: 'notifications_disabled', message: expect.stringContaining('BRIDGE_APP_API_KEY') })
    await server.close()

    await start()
    for (const headers of <Array<Record<string, string>>>[{}, { authorization: 'Bearer wrong' }, { 'x-api-key': 'wrong' }, { authorization: `Basic ${KEY}` }]) {
      const res = await call('GET', path(), undefined, headers)
      expect(res.status).toBe(401)
      expect(res.body.error).toBe('unauthorized')
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
    expect((await call('POST', path(ADVOCATE, '/read'), { all: true }, {})).status).toBe(401)
    const sse = await fetch(`${server.url}${path(ADVOCATE, '/stream')}`)
    expect(sse.status).toBe(401)
    expect((await sse.json()).error).toBe('unauthorized')

    expect((await call('GET', path(), undefined, { authorization: `Bearer ${KEY}` })).status).toBe(200)
    expect((await call('GET', path(), undefined, { 'x-api-key': KEY })).status).toBe(200)
  })

  it('lists an advocate’s notifications (URL-encoded email id), newest first, paged, unread only', async () => {
    await start()
    for (let i = 1; i <= 3; i++) await publish(notification(i))
    await publish(notification(9, { advocateId: 'someone.else@example.com' }))

    const all = await call('GET', path())
    expect(all.status).toBe(200)
    expect(all.body.advocateId).toBe(ADVOCATE)
    expect(all.body.unread).toBe(3)
    expect(all.body.next).toBeNull()
    expect(all.body.notifications.map((n: any) => n.id)).toEqual(['n-0003', 'n-0002', 'n-0001'])
    expect(all.body.notifications[0]).toEqual({
      id: 'n-0003',
      advocateId: ADVOCATE,
      kind: 'friend_purchase',
      title: 'Your friend made a purchase',
      body: 'Your friend f*** bought — order #1003, $25.00',
      data: { order_id: '1003', revenue: 25, currency: 'USD', nested: { ok: true } },
      createdAt: new Date(1_760_000_000_003).toISOString(),
      readAt: null
    })

    const page = await call('GET', path(ADVOCATE, '?limit=2'))
    expect(page.body.notifications.map((n: any) => n.id)).toEqual(['n-0003', 'n-0002'])
    expect(page.body.next).toBe('n-0002')
    const rest = await call('GET', path(ADVOCATE, `?limit=2&before=${page.body.next}`))
    expect(rest.body.notifications.map((n: any) => n.id)).toEqual(['n-0001'])
    expect(rest.body.next).toBeNull()

    await store.markRead(ADVOCATE, ['n-0002'], 5)
    const unread = await call('GET', path(ADVOCATE, '?unread=1'))
    expect(unread.body.notifications.map((n: any) => n.id)).toEqual(['n-0003', 'n-0001'])
    expect(unread.body.unread).toBe(2)

    expect((await call('GET', path('nobody@example.com'))).body).toEqual({ advocateId: 'nobody@example.com', unread: 0, notifications: [], next: null })
    for (const bad of ['0', '501', 'abc', '1.5']) {
      const res = await call('GET', path(ADVOCATE, `?limit=${bad}`))
      expect(res.status).toBe(400)
      expect(res.body.error).toBe('bad_request')
    }
  })

  it('marks read by ids or all, and only the advocate’s own', async () => {
    await start()
    for (let i = 1; i <= 3; i++) await publish(notification(i))
    await publish(notification(9, { advocateId: 'someone.else@example.com' }))

    const some = await call('POST', path(ADVOCATE, '/read'), { ids: ['n-0001', 'n-0009'] })
    expect(some).toMatchObject({ status: 200, body: { marked: 1, unread: 2 } })
    const listed = await call('GET', path())
    expect(listed.body.notifications.find((n: any) => n.id === 'n-0001').readAt).toBe(new Date(1_800_000_000_000).toISOString())
    expect((await call('POST', path(ADVOCATE, '/read'), { ids: ['n-0001'] })).body).toEqual({ marked: 0, unread: 2 })
    expect((await call('POST', path(ADVOCATE, '/read'), { all: true })).body).toEqual({ marked: 2, unread: 0 })
    expect(await store.unreadCount('someone.else@example.com')).toBe(1)

    for (const bad of [{}, { ids: 'n-0001' }, { ids: [1] }, { all: 'yes' }, { ids: [''] }]) {
      const res = await call('POST', path(ADVOCATE, '/read'), bad)
      expect(res.status).toBe(400)
      expect(res.body.error).toBe('bad_request')
    }
  })

  it('streams a live notification over SSE with its id, and heartbeats', async () => {
    await start(KEY, 50)
    const s = await stream()
    expect(s.res.status).toBe(200)
    expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    await until(() => hub.subscriberCount(ADVOCATE) === 1, 5_000, 'subscription')
    const other = await stream({}, 'someone.else@example.com')

    await publish(notification(1))
    await until(() => s.notifications().length === 1, 5_000, 'live event')
    const [ev] = s.events
    expect(ev.event).toBe('notification')
    expect(ev.id).toBe('n-0001')
    expect(JSON.parse(ev.data)).toMatchObject({ id: 'n-0001', advocateId: ADVOCATE, body: 'Your friend f*** bought — order #1001, $25.00', readAt: null })
    await until(() => s.comments.includes('heartbeat'), 5_000, 'heartbeat')
    expect(other.notifications()).toEqual([])

    await s.close()
    await until(() => hub.subscriberCount(ADVOCATE) === 0, 5_000, 'unsubscribe on disconnect')
  })

  it('replays what was missed after Last-Event-ID (header or query), in order, then goes live without duplicates', async () => {
    await start()
    for (let i = 1; i <= 4; i++) await publish(notification(i))
    const s = await stream({ 'last-event-id': 'n-0002' })
    await until(() => s.notifications().length === 2, 5_000, 'replay')
    expect(s.events.map((e) => e.id)).toEqual(['n-0003', 'n-0004'])
    await until(() => hub.subscriberCount(ADVOCATE) === 1)
    await publish(notification(5))
    await publish(notification(4)) // a redelivery: not new, not pushed
    await until(() => s.notifications().length === 3, 5_000, 'live after replay')
    await sleep(50)
    expect(s.events.map((e) => e.id)).toEqual(['n-0003', 'n-0004', 'n-0005'])

    const q = await stream({}, ADVOCATE, '?lastEventId=n-0004')
    await until(() => q.notifications().length === 1, 5_000, 'query replay')
    expect(q.events.map((e) => e.id)).toEqual(['n-0005'])

    const upToDate = await stream({ 'last-event-id': 'n-0005' })
    await until(() => upToDate.comments.includes('connected'))
    await sleep(50)
    expect(upToDate.events).toEqual([])

    const unknown = await stream({ 'last-event-id': 'not-a-notification' })
    await until(() => unknown.events.length === 1, 5_000, 'resync event')
    expect(unknown.events[0].event).toBe('resync')
    expect(JSON.parse(unknown.events[0].data)).toEqual({ reason: 'unknown Last-Event-ID', lastEventId: 'not-a-notification' })
  })

  it('ends open streams when the hub closes (shutdown)', async () => {
    await start()
    const s = await stream()
    await until(() => hub.subscriberCount(ADVOCATE) === 1)
    hub.close()
    await until(() => s.ended, 5_000, 'stream end')
  })
})
