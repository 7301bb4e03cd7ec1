import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { extole } from '../../src/sources/extole.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import { byRole, compileSchema, expectPlanOk, fixtureBytes, fixtureJson, normalizeAll, webhookRequest } from './support.ts'

const SECRET = 'extole-client-key'
const sign = (body: Buffer | string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex')
const earned = fixtureBytes('extole', 'reward-earned.json')
const signed = (body: Buffer | string) => webhookRequest(body, { 'X-Extole-Signature': sign(body) })
const drafts = (payload: any) => normalizeAll(extole, extole.items(payload, signed('{}')))

// The reward page's simplified, mapped example (catalogue §4): no type, no event_id.
const mappedExample = {
  reward_id: 'b600f6fdd06c83f8ffdd6309',
  data: { earned_event_value: '100.00', journey_name: 'ADVOCATE', rewardee_role: 'advocate', custom_key: 'custom_value' }
}

describe('extole verify', () => {
  it('accepts the documented body signed byte for byte (lowercase hex)', () => {
    expect(earned.toString()).toContain('"person_id": "6816411215104951917"')
    expect(extole.verify(signed(earned), SECRET)).toEqual({ ok: true })
    // Upper-case hex is the same digest.
    expect(extole.verify(webhookRequest(earned, { 'x-extole-signature': sign(earned).toUpperCase() }), SECRET)).toEqual({ ok: true })
  })

  it('rejects a missing header, a wrong key, base64, the legacy sha1= form and a re-serialized body', () => {
    expect(extole.verify(webhookRequest(earned), SECRET)).toMatchObject({ ok: false })
    expect(extole.verify(webhookRequest(earned, { 'x-extole-signature': sign(earned, 'other') }), SECRET)).toMatchObject({ ok: false })
    const b64 = createHmac('sha256', SECRET).update(earned).digest('base64')
    expect(extole.verify(webhookRequest(earned, { 'x-extole-signature': b64 }), SECRET)).toMatchObject({ ok: false })
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(earned).digest('hex')}`
    expect(extole.verify(webhookRequest(earned, { 'x-extole-signature': sha1 }), SECRET)).toMatchObject({ ok: false })
    // Extole's warning: JSON.parse → stringify drops the space after "person_id": — the signature no longer fits.
    const reserialized = JSON.stringify(JSON.parse(earned.toString()))
    expect(reserialized).not.toBe(earned.toString())
    expect(extole.verify(webhookRequest(earned, { 'x-extole-signature': sign(reserialized) }), SECRET)).toMatchObject({ ok: false })
  })
})

describe('extole payloadSchema', () => {
  const validate = compileSchema(extole)

  it('accepts the documented default body', () => {
    expect(validate(JSON.parse(earned.toString())), JSON.stringify(validate.errors)).toBe(true)
  })

  it('rejects malformed bodies, and mappings that drop type / event_id', () => {
    const e = fixtureJson('extole', 'reward-earned.json')
    expect(validate(mappedExample)).toBe(false)
    expect(validate({ ...e, event_id: undefined })).toBe(false)
    expect(validate({ ...e, reward_id: undefined })).toBe(false)
    expect(validate({ ...e, event_time: '29/05/2020' })).toBe(false)
    expect(validate({ ...e, type: 'Reward Earned' })).toBe(false)
  })
})

describe('extole items', () => {
  it('keys by event_id: a re-post is the same event, another state of the reward is not', () => {
    const e = fixtureJson('extole', 'reward-earned.json')
    const [first] = extole.items(e, signed(earned))
    expect(first).toMatchObject({ key: 'qb3jju459ugjr2aojk5e', eventType: 'reward_earned' })
    expect(extole.items(fixtureJson('extole', 'reward-earned.json'), signed(earned))[0].key).toBe(first.key)
    const fulfilled = { ...e, type: 'reward_fulfilled', event_id: 'zz9yyx8wwv7', partner_reward_id: 'p-1' }
    expect(extole.items(fulfilled, signed('{}'))[0].key).not.toBe(first.key)
  })
})

describe('extole normalize', () => {
  it('reward_earned → Referral Reward Earned, face value 50 USD → 5000 cents', () => {
    const out = drafts(fixtureJson('extole', 'reward-earned.json'))
    expectPlanOk(out)
    expect(out).toHaveLength(1)
    expect(byRole(out, 'track')).toMatchObject({ event: 'Referral Reward Earned', userId: 'extole:6816411215104951917', timestamp: '2020-05-29T14:14:18.548Z' })
    expect(byRole(out, 'track').properties).toEqual({
      reward_id: 'bf67905b4e1b41daf39c30f0',
      reward_type: 'custom_reward',
      recipient_role: 'advocate',
      reward_amount: 50,
      reward_amount_minor: 5000,
      currency: 'USD',
      advocate_id: 'extole:6816411215104951917',
      source_platform: 'extole'
    })
  })

  it('honours rewardee_role and an email, and leaves non-currency face values out of money', () => {
    const e = fixtureJson('extole', 'reward-earned.json')
    const friend = drafts({ ...e, email: 'Friend@Example.com', data: { rewardee_role: 'FRIEND' }, face_value: 15, face_value_type: 'PERCENT_OFF' })
    expectPlanOk(friend)
    const track = byRole(friend, 'track')
    expect(track.userId).toBe('friend@example.com')
    expect(track.properties).toMatchObject({ recipient_role: 'friend', friend_email: 'friend@example.com' })
    expect(track.properties).not.toHaveProperty('reward_amount')
    expect(track.properties).not.toHaveProperty('advocate_id')
    expect(() => drafts({ ...e, rewardee_role: 'sponsor' })).toThrow(InvalidPayloadError)
    expect(() => drafts({ ...e, face_value: 'fifty' })).toThrow(InvalidPayloadError)
  })

  it('stores the other reward states without routing them', () => {
    const e = fixtureJson('extole', 'reward-earned.json')
    for (const type of ['reward_fulfilled', 'reward_sent', 'reward_redeemed', 'reward_revoked', 'reward_canceled', 'reward_failed']) {
      expect(drafts({ ...e, type })).toEqual([])
    }
  })
})
