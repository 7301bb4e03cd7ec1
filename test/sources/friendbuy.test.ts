import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { friendbuy } from '../../src/sources/friendbuy.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import {
  byRole,
  compileSchema,
  expectDistinctRoles,
  expectPlanOk,
  fixtureBytes,
  fixtureJson,
  normalizeAll,
  webhookRequest
} from './support.ts'

const SECRET = 'friendbuy-secret-key'
const sign = (body: Buffer | string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('base64')

function signed(body: Buffer | string) {
  return webhookRequest(body, { 'X-Friendbuy-Hmac-SHA256': sign(body) })
}

const reward = fixtureBytes('friendbuy', 'advocate-reward.json')
const capture = fixtureBytes('friendbuy', 'email-capture.json')
const optOut = fixtureBytes('friendbuy', 'email-opt-out.json')

// The key list of the documented reward-validation request (catalogue §3a, Razorpay integration test).
const rewardValidation = {
  eventType: 'mtu',
  recipientType: 'friend',
  campaignId: '8a7b9436-8b91-4022-b830-d405dfcc3964',
  event: { isNewCustomer: true, email: 'john.customer@example.com', customerId: 'c-1' },
  advocate: { customerId: 'a-1', email: 'sarah.advocate@example.com', ipAddress: '127.0.0.1' },
  actor: { customerId: 'c-1' }
}

describe('friendbuy verify', () => {
  it('accepts the documented samples signed with base64 HMAC-SHA256 over the raw bytes', () => {
    for (const body of [reward, capture, optOut]) expect(friendbuy.verify(signed(body), SECRET)).toEqual({ ok: true })
  })

  it('rejects a missing header, a wrong secret, a hex digest and a re-serialized body', () => {
    expect(friendbuy.verify(webhookRequest(reward), SECRET)).toMatchObject({ ok: false })
    expect(friendbuy.verify(webhookRequest(reward, { 'x-friendbuy-hmac-sha256': sign(reward, 'other') }), SECRET)).toMatchObject({ ok: false })
    const hex = createHmac('sha256', SECRET).update(reward).digest('hex')
    expect(friendbuy.verify(webhookRequest(reward, { 'x-friendbuy-hmac-sha256': hex }), SECRET)).toMatchObject({ ok: false })
    // Friendbuy's own sample signs JSON.stringify(parsed): that is not what arrives on the wire.
    const reserialized = JSON.stringify(JSON.parse(reward.toString()))
    expect(friendbuy.verify(webhookRequest(reward, { 'x-friendbuy-hmac-sha256': sign(reserialized) }), SECRET)).toMatchObject({ ok: false })
  })
})

describe('friendbuy payloadSchema', () => {
  const validate = compileSchema(friendbuy)

  it('accepts the documented samples and the reward-validation callback shape', () => {
    for (const body of [reward, capture, optOut]) expect(validate(JSON.parse(body.toString())), JSON.stringify(validate.errors)).toBe(true)
    expect(validate(rewardValidation)).toBe(true)
  })

  it('rejects malformed payloads', () => {
    const r = fixtureJson('friendbuy', 'advocate-reward.json')
    expect(validate({ ...r, data: [] })).toBe(false)
    expect(validate({ ...r, data: [{ ...r.data[0], rewardId: undefined }] })).toBe(false)
    const c = fixtureJson('friendbuy', 'email-capture.json')
    expect(validate({ ...c, data: [{ ...c.data[0], emailAddress: 'not-an-email' }] })).toBe(false)
    const o = fixtureJson('friendbuy', 'email-opt-out.json')
    expect(validate({ ...o, data: [{ emailAddress: 'a.friend@example.com' }] })).toBe(false)
    expect(validate({ ...r, createdOn: 'yesterday' })).toBe(false)
  })
})

describe('friendbuy reward-validation callback', () => {
  it('is unroutable (answered 501, never stored) and items() refuses it', () => {
    expect(friendbuy.unroutable!(rewardValidation as any, signed('{}'))).toMatch(/reward-validation/)
    expect(() => friendbuy.items(rewardValidation as any, signed('{}'))).toThrow(InvalidPayloadError)
  })

  it('does not flag ordinary webhooks', () => {
    for (const body of [reward, capture, optOut]) expect(friendbuy.unroutable!(JSON.parse(body.toString()), signed(body))).toBeUndefined()
  })
})

describe('friendbuy items', () => {
  it('keys each data[] element by rewardId / eventId / (emailAddress, campaignId)', () => {
    const [r] = friendbuy.items(JSON.parse(reward.toString()), signed(reward))
    expect(r.key).toBe('73cb50ea-7ac8-4f90-9fe4-f5450866f3c0')
    const [c] = friendbuy.items(JSON.parse(capture.toString()), signed(capture))
    expect(c.key).toBe('e6c720d4-b721-4789-a110-0d680777b802')
    const [o1] = friendbuy.items(JSON.parse(optOut.toString()), signed(optOut))
    const o = fixtureJson('friendbuy', 'email-opt-out.json')
    // Redelivered in another call (new envelope id), e-mail in another case: same opt-out.
    const again = { ...o, id: 'another-call', data: [{ ...o.data[0], emailAddress: 'A.Friend@Example.com' }] }
    expect(friendbuy.items(again, signed('{}'))[0].key).toBe(o1.key)
    const otherCampaign = { ...o, data: [{ ...o.data[0], campaignId: 'other' }] }
    expect(friendbuy.items(otherCampaign, signed('{}'))[0].key).not.toBe(o1.key)
  })

  it('splits a batched call into one item per element; the same delivery gives the same keys', () => {
    const r = fixtureJson('friendbuy', 'advocate-reward.json')
    const second = { ...r.data[0], rewardId: '11111111-2222-3333-4444-555555555555', rewardAmount: '5.00' }
    const batch = { ...r, data: [r.data[0], second] }
    const items = friendbuy.items(batch, signed('{}'))
    expect(items.map((i) => i.key)).toEqual(['73cb50ea-7ac8-4f90-9fe4-f5450866f3c0', '11111111-2222-3333-4444-555555555555'])
    expect(friendbuy.items(batch, signed('{}')).map((i) => i.key)).toEqual(items.map((i) => i.key))
    expect(items.every((i) => i.eventType === 'advocateReward')).toBe(true)
  })
})

describe('friendbuy normalize', () => {
  it('advocateReward → Referral Reward Earned with the amount in cents', () => {
    const drafts = normalizeAll(friendbuy, friendbuy.items(JSON.parse(reward.toString()), signed(reward)))
    expectPlanOk(drafts)
    expect(drafts).toHaveLength(1)
    const track = byRole(drafts, 'track')
    expect(track).toMatchObject({ event: 'Referral Reward Earned', userId: 'test@example.com', timestamp: '2019-11-05T01:07:36.720Z' })
    expect(track.properties).toEqual({
      reward_id: '73cb50ea-7ac8-4f90-9fe4-f5450866f3c0',
      reward_type: 'discount',
      recipient_role: 'advocate',
      reward_amount: 20,
      reward_amount_minor: 2000,
      currency: 'USD',
      coupon_code: 'test-coupon-code',
      advocate_id: 'test@example.com',
      advocate_email: 'test@example.com',
      source_platform: 'friendbuy'
    })
  })

  it('reads the documented alternative `amount` field and leaves non-currency units out of money', () => {
    const r = fixtureJson('friendbuy', 'advocate-reward.json')
    const viaAmount = { ...r, data: [{ ...r.data[0], rewardAmount: undefined, amount: '35.03' }] }
    const [t1] = normalizeAll(friendbuy, friendbuy.items(viaAmount, signed('{}'))) as any[]
    expect(t1.properties.reward_amount_minor).toBe(3503)
    const percent = { ...r, data: [{ ...r.data[0], rewardUnit: '%', rewardAmount: '10' }] }
    const [t2] = normalizeAll(friendbuy, friendbuy.items(percent, signed('{}'))) as any[]
    expectPlanOk([t2])
    expect(t2.properties).not.toHaveProperty('reward_amount')
    expect(t2.properties).not.toHaveProperty('currency')
    const garbage = { ...r, data: [{ ...r.data[0], rewardAmount: 'twenty' }] }
    expect(() => normalizeAll(friendbuy, friendbuy.items(garbage, signed('{}')))).toThrow(InvalidPayloadError)
  })

  it('emailCapture → identify friend + advocate + Referred Friend Signed Up', () => {
    const drafts = normalizeAll(friendbuy, friendbuy.items(JSON.parse(capture.toString()), signed(capture)))
    expectPlanOk(drafts)
    expectDistinctRoles(drafts)
    expect(drafts.map((d) => d.role).sort()).toEqual(['identify-advocate', 'identify-friend', 'track'])
    expect(byRole(drafts, 'identify-advocate')).toMatchObject({
      userId: 'sarah.advocate@example.com',
      traits: { email: 'sarah.advocate@example.com', first_name: 'Sarah', last_name: 'Advocate', referral_role: 'advocate', referral_code: '7p9axss2' }
    })
    expect(byRole(drafts, 'identify-friend')).toMatchObject({
      userId: 'john.customer@example.com',
      traits: {
        email: 'john.customer@example.com',
        first_name: 'John',
        last_name: 'Customer',
        referral_role: 'friend',
        referred_by: 'sarah.advocate@example.com',
        referral_id: 'fea9b87a-9411-4a10-aa41-aa137a09849d'
      }
    })
    const track = byRole(drafts, 'track')
    expect(track).toMatchObject({ event: 'Referred Friend Signed Up', userId: 'john.customer@example.com', timestamp: '2019-11-05T01:07:38.509Z' })
    expect(track.properties).toEqual({
      referral_id: 'fea9b87a-9411-4a10-aa41-aa137a09849d',
      referral_code: '7p9axss2',
      advocate_id: 'sarah.advocate@example.com',
      advocate_email: 'sarah.advocate@example.com',
      advocate_name: 'Sarah Advocate',
      friend_id: 'john.customer@example.com',
      friend_email: 'john.customer@example.com',
      friend_first_name: 'John',
      discount_code: 'Test couponCode',
      source_platform: 'friendbuy'
    })
  })

  it('emailOptOut is stored but routes nothing', () => {
    const items = friendbuy.items(JSON.parse(optOut.toString()), signed(optOut))
    expect(items).toHaveLength(1)
    expect(normalizeAll(friendbuy, items)).toEqual([])
  })
})
