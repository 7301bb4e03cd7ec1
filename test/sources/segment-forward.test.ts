import { createHmac } from 'node:crypto'
import { describe, expect, it, afterEach } from 'vitest'
import { segmentForward } from '../../src/sources/segment-forward.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import { byRole, compileSchema, expectPlanOk, normalizeAll, trackingPlan, webhookRequest } from './support.ts'
import { testBridge, until, type TestBridge } from '../helpers/bridge.ts'
import type { Destination } from '../../src/destinations/types.ts'
import { defaultPolicy } from '../../src/destinations/types.ts'
import type { Message } from '../../src/messages.ts'

const SECRET = 'segment-shared-secret'
const sign = (body: string, secret = SECRET) => createHmac('sha1', secret).update(body).digest('hex')

/** What a Segment Webhooks destination posts for one track call (Segment's message format). */
const forwarded = (extra: Record<string, unknown> = {}, properties: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'Referred Friend Signed Up',
  messageId: 'ajs-next-1717171717171-abcdef12-3456',
  userId: 'John.Friend@Example.com',
  anonymousId: null,
  timestamp: '2026-05-01T12:00:00.000+02:00',
  receivedAt: '2026-05-01T10:00:00.120Z',
  context: { library: { name: 'analytics-node', version: '3.1.0' } },
  integrations: {},
  properties: {
    friend_email: 'John.Friend@Example.com',
    friend_first_name: 'John',
    advocate_email: 'Sarah@Example.com',
    advocate_name: 'Sarah Advocate',
    referral_code: 'jb007',
    discount_code: 'WELCOME-7P9A',
    discount_expires_at: '2026-06-01T00:00:00+00:00',
    source_platform: 'shop-backend',
    internal_note: 'dropped: not in the plan',
    ...properties
  },
  ...extra
})
const drafts = (payload: object) => normalizeAll(segmentForward, segmentForward.items(payload as any, webhookRequest('{}')))

describe('segment forward: verify', () => {
  const body = JSON.stringify(forwarded())
  it('accepts hex HMAC-SHA1(shared secret, raw body) in X-Signature', () => {
    expect(segmentForward.verify(webhookRequest(body, { 'X-Signature': sign(body) }), SECRET)).toEqual({ ok: true })
    expect(segmentForward.verify(webhookRequest(body, { 'X-Signature': sign(body).toUpperCase() }), SECRET)).toEqual({ ok: true })
  })
  it('rejects a missing header, another secret, a modified body', () => {
    expect(segmentForward.verify(webhookRequest(body), SECRET)).toMatchObject({ ok: false, reason: expect.stringMatching(/missing X-Signature/) })
    expect(segmentForward.verify(webhookRequest(body, { 'X-Signature': sign(body, 'other') }), SECRET)).toMatchObject({ ok: false })
    expect(segmentForward.verify(webhookRequest(body + ' ', { 'X-Signature': sign(body) }), SECRET)).toMatchObject({ ok: false })
  })
})

describe('segment forward: schema and items', () => {
  const validate = compileSchema(segmentForward)
  it('accepts one Segment event; refuses batches (only their first event is signed), tracks without event, no messageId', () => {
    expect(validate(forwarded()), JSON.stringify(validate.errors)).toBe(true)
    expect(validate([forwarded()])).toBe(false)
    expect(validate({ ...forwarded(), event: undefined })).toBe(false)
    expect(validate({ ...forwarded(), messageId: undefined })).toBe(false)
    expect(validate({ ...forwarded(), timestamp: 'yesterday' })).toBe(false)
    expect(validate({ type: 'identify', messageId: 'm', timestamp: '2026-05-01T10:00:00Z', traits: {} })).toBe(true)
  })
  it("keys items by Segment's messageId, so Segment's retries are duplicates", () => {
    expect(segmentForward.items(forwarded() as any, webhookRequest('{}'))).toEqual([
      { key: 'ajs-next-1717171717171-abcdef12-3456', eventType: 'Referred Friend Signed Up', payload: expect.any(Object) }
    ])
  })
})

describe('segment forward: normalize', () => {
  it('re-reads the sign-up as the plan names it: emails lower-cased, expiry in UTC, unknown properties dropped', () => {
    const out = drafts(forwarded())
    expectPlanOk(out)
    const track = byRole(out, 'track')
    expect(track).toEqual({
      role: 'track',
      type: 'track',
      event: 'Referred Friend Signed Up',
      userId: 'john.friend@example.com',
      timestamp: '2026-05-01T10:00:00.000Z',
      properties: {
        referral_code: 'jb007',
        advocate_id: 'sarah@example.com',
        advocate_email: 'sarah@example.com',
        advocate_name: 'Sarah Advocate',
        friend_id: 'john.friend@example.com',
        friend_email: 'john.friend@example.com',
        friend_first_name: 'John',
        discount_code: 'WELCOME-7P9A',
        discount_expires_at: '2026-06-01T00:00:00.000Z',
        source_platform: 'shop-backend'
      }
    })
  })

  it('source_platform defaults to segment; a sign-up without any friend id fails the plan (quarantined, not sent)', () => {
    const out = drafts(forwarded({ userId: null, anonymousId: 'anon-1' }, { friend_email: undefined, source_platform: undefined }))
    const track = byRole(out, 'track')
    expect(track).toMatchObject({ anonymousId: 'anon-1', properties: { source_platform: 'segment' } })
    const { role: _r, ...rest } = track
    expect(trackingPlan.check({ ...rest, messageId: 'x', context: {} })).toMatchObject({ ok: false, reasons: [expect.stringMatching(/friend_id/)] })
  })

  it('a forwarded Order Completed (Segment Spec) becomes the plan\'s Order Completed, money exact, for attribution', () => {
    const out = drafts(
      forwarded(
        { event: 'Order Completed', messageId: 'ajs-order-1' },
        { order_id: '50314b8e9bcf000000000000', revenue: 25.1, total: 30, currency: 'usd', coupon: 'WELCOME-7P9A', referral_code: undefined, friend_email: undefined, email: 'John.Friend@Example.com' }
      )
    )
    const track = byRole(out, 'track')
    expect(track).toMatchObject({
      event: 'Order Completed',
      userId: 'john.friend@example.com',
      properties: { order_id: '50314b8e9bcf000000000000', revenue: 25.1, revenue_minor: 2510, currency: 'USD', referral_code: 'WELCOME-7P9A', friend_email: 'john.friend@example.com', source_platform: 'shop-backend' }
    })
    expectPlanOk(out)
    // An amount without a currency: refused with the reason (the item is quarantined), never guessed.
    expect(() => drafts(forwarded({ event: 'Order Completed' }, { order_id: 'o1', revenue: 10, currency: undefined }))).toThrow(/currency is required/)
    // No amount at all: Order Completed v2 says the revenue is unknown rather than 0.
    const bare = byRole(drafts(forwarded({ event: 'Order Completed' }, { order_id: 'o1', revenue: undefined, currency: undefined })), 'track')
    const { role: _b, ...bareRest } = bare
    expect(bare.properties).toMatchObject({ revenue_known: false })
    expect('revenue' in bare.properties).toBe(false)
    expect(trackingPlan.check({ ...bareRest, messageId: 'y', context: {} } as Message)).toMatchObject({ ok: true })
  })

  it('other events and types are stored and route nothing; so are events the bridge produced itself (loop guard)', () => {
    expect(drafts(forwarded({ event: 'Product Viewed' }))).toEqual([])
    expect(drafts({ type: 'identify', messageId: 'm1', timestamp: '2026-05-01T10:00:00Z', traits: {} })).toEqual([])
    expect(drafts(forwarded({ messageId: 'rb-friendbuy-0123456789abcdef0123456789abcdef-track' }))).toEqual([])
    expect(drafts(forwarded({ context: { referral: { source: 'friendbuy', idempotency_key: 'k' } } }))).toEqual([])
  })

  it('throws InvalidPayloadError for an expiry that is not a time', () => {
    expect(() => drafts(forwarded({}, { discount_expires_at: 'next week' }))).toThrow(InvalidPayloadError)
  })
})

describe('segment forward: through the webhook route', () => {
  let bridge: TestBridge | undefined
  afterEach(async () => {
    await bridge?.close()
    bridge = undefined
  })

  it('a signed forwarded sign-up is committed and routed once; a Segment retry is a duplicate; a bad signature is 401', async () => {
    const delivered: Message[] = []
    const sink: Destination = {
      name: 'sink',
      sandboxed: true,
      target: 'memory',
      policy: { ...defaultPolicy, concurrency: 1 },
      accepts: (m) => m.type === 'track',
      async deliver(messages) {
        delivered.push(...messages)
        return messages.map(() => ({ status: 'delivered' as const }))
      }
    }
    bridge = await testBridge({ destinations: [sink], env: { SEGMENT_WEBHOOK_SECRET: SECRET } })
    const raw = JSON.stringify(forwarded())
    const first = await bridge.post('segment', raw, { 'x-signature': sign(raw) })
    expect(first).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } })
    const retry = await bridge.post('segment', raw, { 'x-signature': sign(raw) })
    expect(retry).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } })
    expect((await bridge.post('segment', raw, { 'x-signature': sign(raw, 'wrong') })).status).toBe(401)
    await until(() => delivered.length >= 1, 5_000, 'forwarded sign-up delivered')
    await until(async () => (await bridge!.store.listJobs('delivered', { destination: 'sink' })).length === 1, 5_000, 'job recorded')
    expect(delivered).toHaveLength(1)
    expect(delivered[0]).toMatchObject({ event: 'Referred Friend Signed Up', messageId: expect.stringMatching(/^rb-(segment|referral)-/), properties: { friend_first_name: 'John' } })
  })
})
