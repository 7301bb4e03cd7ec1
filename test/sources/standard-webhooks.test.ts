import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { standard } from '../../src/sources/standard-webhooks.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import { byRole, compileSchema, expectPlanOk, fixtureBytes, normalizeAll, webhookRequest } from './support.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const example = fixtureBytes('standard-webhooks', 'example-event.json')

function signed(body: Buffer | string, id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', at = new Date(), secret = SECRET) {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body)
  return webhookRequest(
    raw,
    {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, raw)
    },
    { receivedAt: new Date() }
  )
}

const json = (o: object) => Buffer.from(JSON.stringify(o))

afterEach(() => {
  vi.useRealTimers()
})

describe('standard verify', () => {
  it('reproduces the published Standard Webhooks test vector', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date(1614265330 * 1000 + 10_000))
    const request = webhookRequest(
      '{"test": 2432232314}',
      {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
      },
      { receivedAt: new Date() }
    )
    expect(standard.verify(request, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual({ ok: true })
    const tampered = { ...request, rawBody: Buffer.from('{"test": 2432232315}') }
    expect(standard.verify(tampered, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toMatchObject({ ok: false })
  })

  it('accepts the documented example signed now', () => {
    expect(standard.verify(signed(example), SECRET)).toEqual({ ok: true })
  })

  it('rejects missing headers, another secret, another id and a bad secret configuration', () => {
    const good = signed(example)
    for (const header of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers = { ...good.headers, [header]: undefined }
      expect(standard.verify({ ...good, headers }, SECRET)).toMatchObject({ ok: false, reason: expect.stringContaining(header) })
    }
    expect(standard.verify(signed(example, undefined, undefined, `whsec_${randomBytes(32).toString('base64')}`), SECRET)).toMatchObject({ ok: false })
    // The id is signed: a signature cannot be moved to another webhook-id.
    expect(standard.verify({ ...good, headers: { ...good.headers, 'webhook-id': 'msg_other' } }, SECRET)).toMatchObject({ ok: false })
    expect(standard.verify(good, 'whsec_')).toMatchObject({ ok: false, reason: expect.stringMatching(/STANDARD_WEBHOOK_SECRET/) })
  })

  it('rejects a timestamp older (or newer) than 5 minutes', () => {
    const old = new Date(Date.now() - 6 * 60 * 1000)
    expect(standard.verify(signed(example, undefined, old), SECRET)).toMatchObject({ ok: false })
    const future = new Date(Date.now() + 6 * 60 * 1000)
    expect(standard.verify(signed(example, undefined, future), SECRET)).toMatchObject({ ok: false })
    expect(standard.verify(signed(example, undefined, new Date(Date.now() - 4 * 60 * 1000)), SECRET)).toEqual({ ok: true })
  })
})

const orderCompleted = {
  type: 'order.completed',
  timestamp: '2026-03-01T10:15:00.000+01:00',
  data: {
    order_id: '1001',
    revenue: '403.00',
    currency: 'usd',
    referral_code: 'jb007',
    friend_id: 'Friend@Example.com',
    friend_email: 'Friend@Example.com',
    advocate_email: 'advocate@example.com',
    source_platform: 'acme-shop'
  }
}

describe('standard payloadSchema', () => {
  const validate = compileSchema(standard)

  it('accepts the documented example and contract payloads', () => {
    expect(validate(JSON.parse(example.toString())), JSON.stringify(validate.errors)).toBe(true)
    expect(validate(orderCompleted), JSON.stringify(validate.errors)).toBe(true)
  })

  it('rejects malformed payloads and events missing their required properties', () => {
    expect(validate({ ...orderCompleted, type: 'Order Completed' })).toBe(false)
    expect(validate({ ...orderCompleted, timestamp: 1674087231 })).toBe(false)
    expect(validate({ type: 'order.completed', timestamp: orderCompleted.timestamp })).toBe(false)
    const { revenue, ...noMoney } = orderCompleted.data
    expect(validate({ ...orderCompleted, data: noMoney })).toBe(false)
    expect(validate({ ...orderCompleted, data: { ...orderCompleted.data, currency: undefined } })).toBe(false)
    expect(validate({ type: 'referral.created', timestamp: orderCompleted.timestamp, data: { referral_id: 'r1', friend_id: 'f' } })).toBe(false)
  })
})

describe('standard items', () => {
  it('keys by webhook-id: a retry (new timestamp, new signature) keeps it, another event does not', () => {
    const payload = JSON.parse(example.toString())
    const first = standard.items(payload, signed(example, 'msg_1'))[0]
    const retry = standard.items(payload, signed(example, 'msg_1', new Date(Date.now() - 60_000)))[0]
    const other = standard.items(payload, signed(example, 'msg_2'))[0]
    expect(first).toMatchObject({ key: 'msg_1', eventType: 'example.event' })
    expect(retry.key).toBe(first.key)
    expect(other.key).not.toBe(first.key)
  })
})

describe('standard normalize', () => {
  const drafts = (payload: object, id = 'msg_x') => normalizeAll(standard, standard.items(payload as any, signed(json(payload), id)))

  it('routes nothing for types outside the contract (the documented example)', () => {
    expect(drafts(JSON.parse(example.toString()))).toEqual([])
  })

  it('order.completed → Order Completed with both money halves, normalized emails, currency and time', () => {
    const out = drafts(orderCompleted)
    expectPlanOk(out)
    expect(byRole(out, 'track')).toMatchObject({ event: 'Order Completed', userId: 'friend@example.com', timestamp: '2026-03-01T09:15:00.000Z' })
    expect(byRole(out, 'track').properties).toEqual({
      order_id: '1001',
      revenue: 403,
      revenue_minor: 40300,
      currency: 'USD',
      referral_code: 'jb007',
      friend_id: 'friend@example.com',
      friend_email: 'friend@example.com',
      advocate_email: 'advocate@example.com',
      source_platform: 'acme-shop'
    })
  })

  it('computes the decimal from minor units, and rejects halves that disagree', () => {
    const { revenue, ...rest } = orderCompleted.data
    const fromMinor = byRole(drafts({ ...orderCompleted, data: { ...rest, revenue_minor: 1999, currency: 'EUR' } }), 'track')
    expect(fromMinor.properties).toMatchObject({ revenue: 19.99, revenue_minor: 1999, currency: 'EUR' })
    expect(() => drafts({ ...orderCompleted, data: { ...orderCompleted.data, revenue_minor: 40301 } })).toThrow(InvalidPayloadError)
    expect(() => drafts({ ...orderCompleted, data: { ...orderCompleted.data, revenue: 'lots' } })).toThrow(InvalidPayloadError)
  })

  it('each contract type maps to its tracking-plan event and passes the plan', () => {
    const at = '2026-03-01T09:00:00Z'
    const cases: Array<[object, string, string]> = [
      [{ type: 'referral.created', timestamp: at, data: { referral_id: 'r1', advocate_id: 'a@example.com', friend_id: 'f@example.com', status: 'created' } }, 'Referral Created', 'f@example.com'],
      [{ type: 'referral.friend_signed_up', timestamp: at, data: { friend_id: 'usr_42', advocate_name: 'Sarah Advocate', discount_expires_at: '2026-12-01T01:00:00+01:00' } }, 'Referred Friend Signed Up', 'usr_42'],
      [{ type: 'referral.reward_earned', timestamp: at, data: { reward_id: 'rw1', reward_type: 'credit', recipient_role: 'friend', friend_email: 'F@example.com', reward_amount: '7.50', currency: 'USD' } }, 'Referral Reward Earned', 'f@example.com'],
      [{ type: 'referral.reward_earned', timestamp: at, data: { reward_id: 'rw2', reward_type: 'commission', recipient_role: 'advocate', advocate_id: 'aff_9', reward_amount_minor: 750, currency: 'USD' } }, 'Referral Reward Earned', 'aff_9'],
      [{ type: 'referral.revenue_won', timestamp: at, data: { opportunity_id: '006000000000001AAA', referral_id: 'r1', advocate_id: 'a@example.com', amount: '1200.00', currency: 'USD', closed_at: '2026-11-01T00:00:00-05:00' } }, 'Referral Revenue Won', 'a@example.com']
    ]
    for (const [payload, event, userId] of cases) {
      const out = drafts(payload)
      expectPlanOk(out)
      expect(out).toHaveLength(1)
      expect(out[0]).toMatchObject({ event, userId })
    }
    const signup = drafts(cases[1][0])[0] as any
    expect(signup.properties.discount_expires_at).toBe('2026-12-01T00:00:00.000Z')
    const reward = drafts(cases[2][0])[0] as any
    expect(reward.properties).toMatchObject({ reward_amount: 7.5, reward_amount_minor: 750, source_platform: 'standard' })
    const won = drafts(cases[4][0])[0] as any
    expect(won.properties).toMatchObject({ amount: 1200, amount_minor: 120000, closed_at: '2026-11-01T05:00:00.000Z' })
  })

  it('uses data.user_id when given (and keeps it out of the properties), else an anonymousId', () => {
    const explicit = drafts({ ...orderCompleted, data: { ...orderCompleted.data, user_id: 'usr_123' } })[0] as any
    expect(explicit.userId).toBe('usr_123')
    expect(explicit.properties).not.toHaveProperty('user_id')
    const { friend_id, friend_email, ...anonymousData } = orderCompleted.data
    const anonymous = drafts({ ...orderCompleted, data: anonymousData }, 'msg_anon')[0] as any
    expectPlanOk([anonymous])
    expect(anonymous).toMatchObject({ anonymousId: 'standard:msg_anon' })
    expect(anonymous).not.toHaveProperty('userId')
  })

  it('leaves the plan to reject what breaks it (wrong enum value)', () => {
    const bad = drafts({ type: 'referral.created', timestamp: '2026-03-01T09:00:00Z', data: { referral_id: 'r1', advocate_id: 'a', friend_id: 'f', status: 'weird' } })
    expect(() => expectPlanOk(bad)).toThrow()
  })
})
