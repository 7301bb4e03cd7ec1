import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteNotificationStore } from '../../src/notifications/sqlite.ts'
import { NotificationHub } from '../../src/notifications/hub.ts'
import { inAppDestination, buildNotification, maskFriend, formatMoney } from '../../src/destinations/in-app.ts'
import type { Notification, NotificationStore } from '../../src/notifications/store.ts'
import type { TrackMessage } from '../../src/messages.ts'
import { ADVOCATE, orderCompleted } from './support.ts'

describe('in_app destination', () => {
  let dir: string
  let store: SqliteNotificationStore
  let hub: NotificationHub
  let pushed: Notification[]

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rb-inapp-'))
    store = new SqliteNotificationStore(join(dir, 'n.sqlite'))
    await store.init()
    hub = new NotificationHub()
    pushed = []
    hub.subscribe(ADVOCATE, { send: (n) => pushed.push(n) })
  })
  afterEach(async () => {
    hub.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('accepts Order Completed / Referral Revenue Won with an advocate_id, and takes the priority lane', () => {
    const d = inAppDestination({ store, hub, deadlineMs: 60_000 })
    expect(d.name).toBe('in_app')
    expect(d.policy.priorityLanes).toBeGreaterThan(0)
    expect(d.accepts(orderCompleted(1))).toBe(true)
    expect(d.accepts(orderCompleted(1, { advocate_id: undefined }))).toBe(false)
    expect(d.accepts(orderCompleted(1, { advocate_id: '  ' }))).toBe(false)
    expect(d.accepts({ ...orderCompleted(1), event: 'Referral Created' })).toBe(false)
    expect(d.accepts({ ...orderCompleted(1), event: 'Referral Revenue Won' })).toBe(true)
    expect(d.accepts({ type: 'identify', messageId: 'x', userId: ADVOCATE, timestamp: '2026-01-01T00:00:00.000Z', context: {}, traits: { advocate_id: ADVOCATE } })).toBe(false)
    expect(d.priorityOf!(orderCompleted(1), 1_000)).toEqual({ priority: 5, deadlineAt: 61_000 })
  })

  it('stores one notification per messageId and pushes it once, however often it is delivered', async () => {
    const d = inAppDestination({ store, hub, now: () => 1_700_000_000_000 })
    const m = orderCompleted(1)
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(await d.deliver([m, m, orderCompleted(2)])).toEqual([{ status: 'delivered' }, { status: 'delivered' }, { status: 'delivered' }])

    const stored = await store.list(ADVOCATE)
    expect(stored.map((n) => n.id)).toEqual([orderCompleted(2).messageId, m.messageId])
    expect(pushed.map((n) => n.id)).toEqual([m.messageId, orderCompleted(2).messageId])
    expect(stored[1]).toEqual({
      id: m.messageId,
      advocateId: ADVOCATE,
      kind: 'friend_purchase',
      title: 'Your friend made a purchase',
      body: 'Your friend f*** bought — order #1001, $25.00',
      data: {
        advocate_email: ADVOCATE, order_id: '1001', friend_email: 'friend1@example.com', revenue: 25, currency: 'USD', occurred_at: m.timestamp
      },
      createdAt: 1_700_000_000_000,
      readAt: null
    })
  })

  it('turns a store failure into a retry (the queue tries again; nothing is pushed)', async () => {
    const broken = { backend: 'sqlite', add: async () => { throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) } } as unknown as NotificationStore
    const d = inAppDestination({ store: broken, hub })
    const [r] = await d.deliver([orderCompleted(1)])
    expect(r.status).toBe('retry')
    expect(pushed).toEqual([])
  })

  it('words purchases and won revenue for people', () => {
    expect(maskFriend('jane@example.com')).toBe('j***')
    expect(maskFriend('')).toBeUndefined()
    expect(formatMoney(25, 'USD')).toBe('$25.00')
    expect(formatMoney(1200.5, 'EUR')).toBe('€1,200.50')
    expect(formatMoney('403.00', 'GBP')).toBe('£403.00')
    expect(formatMoney(undefined, 'USD')).toBeUndefined()
    const noFriend = buildNotification(orderCompleted(3, { friend_email: undefined, revenue: 10, currency: 'JPY' }), 0)
    expect(noFriend.body).toBe('A friend you referred bought — order #1003, ¥10')
    const won: TrackMessage = {
      ...orderCompleted(4),
      event: 'Referral Revenue Won',
      properties: { opportunity_id: '006A', amount: 1200, amount_minor: 120000, currency: 'USD', referral_id: 'r1', advocate_id: ADVOCATE, friend_email: 'bob@example.com', source_platform: 'salesforce' }
    }
    const n = buildNotification(won, 0)
    expect(n.kind).toBe('referral_revenue_won')
    expect(n.body).toBe('Your referral b*** closed — deal 006A, $1,200.00')
    expect(n.data).toMatchObject({ opportunity_id: '006A', amount: 1200, currency: 'USD' })
  })
})
