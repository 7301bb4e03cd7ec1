import { describe, it, expect, afterEach } from 'vitest'
import { createHmac, randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { testBridge, until, type TestBridge } from '../helpers/bridge.ts'
import { defaultPolicy, type Destination } from '../../src/destinations/types.ts'
import { notifiesAdvocate } from '../../src/destinations/in-app.ts'
import type { Message } from '../../src/messages.ts'

/**
 * Attribution through the webhook route: orders from sources that do not carry the referral (Standard Webhooks
 * `order.completed` without advocate, a Segment-forwarded `Order Completed`) are joined to the referral already
 * stored, by email / id / code; the advocate destination then takes them, once; unattributed orders keep their
 * routes and say why in `events show` (inbox.reason).
 */
const SW_SECRET = `whsec_${randomBytes(24).toString('base64')}`
const SEGMENT_SECRET = 'segment-attribution'

function standard(type: string, data: Record<string, unknown>, id = `msg_${randomBytes(6).toString('hex')}`) {
  const at = new Date()
  const body = JSON.stringify({ type, timestamp: at.toISOString(), data })
  return { body, headers: { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(SW_SECRET).sign(id, at, body) } }
}

/** Stands in for in_app / app_webhook: takes what they take, records it. */
function advocateInbox(): Destination & { received: Message[] } {
  const received: Message[] = []
  return {
    name: 'app_webhook',
    sandboxed: true,
    target: 'memory',
    policy: { ...defaultPolicy, concurrency: 1 },
    received,
    accepts: notifiesAdvocate,
    async deliver(messages) {
      received.push(...messages)
      return messages.map(() => ({ status: 'delivered' as const }))
    }
  }
}

describe('attribution of orders that do not name the advocate', () => {
  let bridge: TestBridge | undefined
  afterEach(async () => {
    await bridge?.close()
    bridge = undefined
  })

  it('joins Standard Webhooks and Segment-forwarded orders to the stored referral; notifies once; says why when it cannot', async () => {
    const inbox = advocateInbox()
    bridge = await testBridge({ env: { STANDARD_WEBHOOK_SECRET: SW_SECRET, SEGMENT_WEBHOOK_SECRET: SEGMENT_SECRET }, destinations: [inbox] })
    const post = (w: { body: string; headers: Record<string, string> }) => bridge!.post('standard', w.body, w.headers)

    // The referral, stored first.
    const referral = standard('referral.created', { referral_id: 'ref-9', advocate_id: 'sarah@example.com', friend_id: 'ben@example.com', friend_email: 'Ben@Example.com', status: 'pending', referral_code: 'SARAH9' })
    expect((await post(referral)).status).toBe(200)

    // 1. A Standard Webhooks order by email, redelivered once (same webhook-id).
    const order = standard('order.completed', { order_id: 'A-1', revenue: '25.00', currency: 'USD', friend_email: 'ben@example.com' }, 'msg_order_a1')
    for (let i = 0; i < 2; i++) expect((await post(order)).status).toBe(200)
    // 2. A Segment-forwarded Order Completed with the referral code as its coupon (no email on it).
    const forwarded = JSON.stringify({
      type: 'track', event: 'Order Completed', messageId: 'ajs-order-b2', userId: 'user-77', timestamp: new Date().toISOString(),
      properties: { order_id: 'B-2', revenue: 40, currency: 'USD', coupon: 'sarah9' }
    })
    expect((await bridge.post('segment', forwarded, { 'x-signature': createHmac('sha1', SEGMENT_SECRET).update(forwarded).digest('hex') })).status).toBe(200)
    // 3. Someone nobody referred.
    const stranger = standard('order.completed', { order_id: 'C-3', revenue: '9.00', currency: 'USD', friend_email: 'walk-in@example.com' }, 'msg_order_c3')
    expect((await post(stranger)).status).toBe(200)

    await until(() => inbox.received.length >= 2, 10_000, 'both attributed orders delivered to the advocate destination')
    await new Promise((r) => setTimeout(r, 200))
    expect(inbox.received.map((m) => (m as { properties: Record<string, unknown> }).properties.order_id).sort()).toEqual(['A-1', 'B-2'])
    expect(inbox.received[0]).toMatchObject({ properties: { advocate_id: 'sarah@example.com', referral_id: 'ref-9', referral_code: 'SARAH9' } })

    const a1 = (await bridge.store.getEvent('standard:msg_order_a1'))!
    expect(a1.inbox.reason).toMatch(/^attributed to sarah@example\.com by friend_email ben@example\.com/)
    expect(a1.messages[0].message.context.referral?.attribution).toMatchObject({ matched_by: 'friend_email' })
    const b2 = (await bridge.store.getEvent('segment:ajs-order-b2'))!
    expect(b2.inbox.reason).toMatch(/by referral_code sarah9/)
    const c3 = (await bridge.store.getEvent('standard:msg_order_c3'))!
    expect(c3.inbox.reason).toBe('not attributed: no stored referral matches email walk-in@example.com')
    expect(c3.inbox.status).toBe('routed')
    expect(c3.jobs).toEqual([]) // only the advocate destination here, and it does not take an unattributed order
  })
})
