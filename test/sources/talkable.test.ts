import { describe, expect, it } from 'vitest'
import { talkable } from '../../src/sources/talkable.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import {
  byRole,
  compileSchema,
  expectDistinctRoles,
  expectPlanOk,
  fixtureBytes,
  normalizeAll,
  webhookRequest
} from './support.ts'

const SECRET = 'talkable-webhook-security-key'
const RECEIVED = new Date('2026-03-01T12:00:00.000Z')

const samples = {
  referral_web_hook: fixtureBytes('talkable', 'referral.json').toString(),
  reward_web_hook: fixtureBytes('talkable', 'reward.json').toString(),
  event_web_hook: fixtureBytes('talkable', 'event.json').toString(),
  post_share_web_hook: fixtureBytes('talkable', 'post-share.json').toString(),
  offer_signup_web_hook: fixtureBytes('talkable', 'offer-signup.json').toString(),
  claim_signup_web_hook: fixtureBytes('talkable', 'claim-signup.json').toString()
}

/** The form Talkable posts: key, site, type, extras and the payload as a JSON string. */
function post(type: string, payload: string | object, key: string | null = SECRET) {
  const fields: Record<string, string> = {
    site: 'my-site',
    type,
    extras: '{}',
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload)
  }
  if (key !== null) fields.key = key
  return webhookRequest(new URLSearchParams(fields).toString(), { 'content-type': 'application/x-www-form-urlencoded' }, { receivedAt: RECEIVED })
}

const parse = (request: ReturnType<typeof post>) => talkable.parse!(request) as any
const sample = (type: keyof typeof samples) => JSON.parse(samples[type])
const drafts = (type: string, payload: string | object) => {
  const request = post(type, payload)
  return normalizeAll(talkable, talkable.items(parse(request), request))
}

describe('talkable verify', () => {
  it('accepts the security key in the form, compared as sent', () => {
    for (const [type, payload] of Object.entries(samples)) expect(talkable.verify(post(type, payload), SECRET)).toEqual({ ok: true })
    // Form encoding is decoded before comparing.
    const odd = 'k&y=+/%'
    expect(talkable.verify(post('reward_web_hook', samples.reward_web_hook, odd), odd)).toEqual({ ok: true })
  })

  it('rejects a missing or wrong key, including a key hidden inside the payload', () => {
    expect(talkable.verify(post('reward_web_hook', samples.reward_web_hook, null), SECRET)).toMatchObject({ ok: false })
    expect(talkable.verify(post('reward_web_hook', samples.reward_web_hook, 'wrong'), SECRET)).toMatchObject({ ok: false })
    expect(talkable.verify(post('reward_web_hook', samples.reward_web_hook, SECRET.slice(0, -1)), SECRET)).toMatchObject({ ok: false })
    expect(talkable.verify(post('reward_web_hook', { key: SECRET }, null), SECRET)).toMatchObject({ ok: false })
  })
})

describe('talkable parse', () => {
  it('decodes the JSON fields and never keeps the key', () => {
    const parsed = parse(post('referral_web_hook', samples.referral_web_hook))
    expect(parsed).not.toHaveProperty('key')
    expect(JSON.stringify(parsed)).not.toContain(SECRET)
    expect(parsed).toMatchObject({ type: 'referral_web_hook', site: 'my-site', extras: {} })
    expect(parsed.payload.referrer.person.phone_number).toBe('+12025551111') // '+' survives form encoding
    expect(parsed.payload).toEqual(sample('referral_web_hook'))
  })
})

describe('talkable redactRawBody', () => {
  it('masks the key and keeps every other byte', () => {
    const request = post('reward_web_hook', samples.reward_web_hook)
    const redacted = talkable.redactRawBody(request)
    expect(redacted).not.toContain(SECRET)
    expect(redacted.replace('key=[redacted]', `key=${SECRET}`)).toBe(request.rawBody.toString())
    const first = webhookRequest(`key=${SECRET}&type=x&monkey=1`)
    expect(talkable.redactRawBody(first)).toBe('key=[redacted]&type=x&monkey=1')
  })
})

describe('talkable payloadSchema', () => {
  const validate = compileSchema(talkable)

  it('accepts every documented sample under its type', () => {
    for (const [type, payload] of Object.entries(samples)) {
      expect(validate(parse(post(type, payload))), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
  })

  it('rejects malformed webhooks', () => {
    expect(validate(parse(post('referral_web_hook', '{"referrer": ')))).toBe(false) // payload is not JSON
    expect(validate(parse(post('not_a_web_hook', samples.reward_web_hook)))).toBe(false)
    const { referrer, ...noReferrer } = sample('referral_web_hook')
    expect(validate(parse(post('referral_web_hook', noReferrer)))).toBe(false)
    const { referred_origin, ...noOrigin } = sample('referral_web_hook')
    expect(validate(parse(post('referral_web_hook', { ...noOrigin, referred: { ...noOrigin.referred, origin: undefined } })))).toBe(false)
    const r = sample('reward_web_hook')
    expect(validate(parse(post('reward_web_hook', { ...r, reward: { ...r.reward, reason: 'lottery' } })))).toBe(false)
    const c = sample('claim_signup_web_hook')
    expect(validate(parse(post('claim_signup_web_hook', { ...c, email: 'not an email' })))).toBe(false)
  })
})

describe('talkable unroutable', () => {
  it('refuses the hooks whose answer is a decision', () => {
    expect(talkable.unroutable!(parse(post('check_unsubscribe_web_hook', { recipient: { email: 'a@example.com' } })), post('x', {}))).toMatch(/unsubscribed/)
    expect(talkable.unroutable!(parse(post('create_coupon_web_hook', { coupon_code: 'WHT58574' })), post('x', {}))).toMatch(/coupon/)
    for (const [type, payload] of Object.entries(samples)) expect(talkable.unroutable!(parse(post(type, payload)), post(type, payload))).toBeUndefined()
  })
})

describe('talkable items', () => {
  const keyOf = (type: string, payload: string | object) => {
    const request = post(type, payload)
    return talkable.items(parse(request), request)[0].key
  }

  it('gives a redelivery the same key', () => {
    for (const [type, payload] of Object.entries(samples)) expect(keyOf(type, payload)).toBe(keyOf(type, payload))
  })

  it('tells different referrals, rewards and sign-ups apart', () => {
    const ref = sample('referral_web_hook')
    expect(keyOf('referral_web_hook', { ...ref, referred_origin: { ...ref.referred_origin, id: 1 } })).not.toBe(keyOf('referral_web_hook', ref))
    expect(keyOf('referral_web_hook', { ...ref, referrer: { ...ref.referrer, id: 1 } })).not.toBe(keyOf('referral_web_hook', ref))
    const rew = sample('reward_web_hook')
    expect(keyOf('reward_web_hook', { ...rew, reward: { ...rew.reward, id: 8261306 } })).not.toBe(keyOf('reward_web_hook', rew))
    // Same reward id, re-sent with a field Talkable added later: the same reward.
    expect(keyOf('reward_web_hook', { ...rew, new_field: true })).toBe(keyOf('reward_web_hook', rew))
    const claim = sample('claim_signup_web_hook')
    expect(keyOf('claim_signup_web_hook', { ...claim, email: 'jane@example.com' })).not.toBe(keyOf('claim_signup_web_hook', claim))
    expect(keyOf('claim_signup_web_hook', { ...claim, email: 'JOHN@example.com' })).toBe(keyOf('claim_signup_web_hook', claim))
    // The same ids under another hook type are another event.
    expect(keyOf('offer_signup_web_hook', claim)).not.toBe(keyOf('claim_signup_web_hook', claim))
  })
})

describe('talkable normalize', () => {
  it('referral_web_hook → identifies + Referral Created (approved), time converted to UTC', () => {
    const out = drafts('referral_web_hook', samples.referral_web_hook)
    expectPlanOk(out)
    expectDistinctRoles(out)
    for (const d of out) expect(d.timestamp).toBe('2021-04-24T03:08:17.000Z') // 2021-04-23T19:08:17.000-08:00
    expect(byRole(out, 'identify-advocate')).toMatchObject({
      userId: 'referrer@example.com',
      traits: { first_name: 'Bob', last_name: 'Crane', referral_role: 'advocate', referral_code: '1a2PV' }
    })
    expect(byRole(out, 'identify-friend')).toMatchObject({
      userId: 'referred@example.com',
      traits: { first_name: 'Alice', last_name: 'Smith', referral_role: 'friend', referred_by: 'referrer@example.com', referral_id: 'talkable:6400368' }
    })
    expect(byRole(out, 'track')).toMatchObject({
      event: 'Referral Created',
      userId: 'referred@example.com',
      properties: {
        referral_id: 'talkable:6400368',
        referral_code: '1a2PV',
        advocate_id: 'referrer@example.com',
        friend_id: 'referred@example.com',
        campaign_id: '593427266',
        status: 'approved',
        source_platform: 'talkable'
      }
    })
  })

  it('falls back to referred.origin (older payloads without referred_origin)', () => {
    const { referred_origin, ...older } = sample('referral_web_hook')
    const out = drafts('referral_web_hook', older)
    expectPlanOk(out)
    expect(byRole(out, 'track').properties.referral_id).toBe('talkable:147886587')
  })

  it('reward_web_hook (referrer rebate) → Referral Reward Earned, 10.0 → 1000 cents', () => {
    const out = drafts('reward_web_hook', samples.reward_web_hook)
    expectPlanOk(out)
    expect(out).toHaveLength(1)
    expect(byRole(out, 'track')).toMatchObject({ event: 'Referral Reward Earned', userId: 'referrer@example.com', timestamp: RECEIVED.toISOString() })
    expect(byRole(out, 'track').properties).toEqual({
      reward_id: '8261305',
      reward_type: 'rebate',
      recipient_role: 'advocate',
      reward_amount: 10,
      reward_amount_minor: 1000,
      currency: 'USD',
      referral_id: 'talkable:264084636',
      advocate_id: 'referrer@example.com',
      advocate_email: 'referrer@example.com',
      friend_email: 'referred@example.com',
      order_id: '4190583',
      source_platform: 'talkable'
    })
  })

  it('credits friend reasons to the friend, leaves coupon amounts out of money, and derives a reward id when absent', () => {
    // The older documented reward payload: person + campaign + reward only (web_hooks/reward.rst before 2023).
    const click = {
      person: { email: 'Friend@Example.com', first_name: 'Alice', last_name: 'Smith', gender: null, sub_choice: true },
      campaign: { id: 146331555, type: 'StandaloneCampaign' },
      reward: { reason: 'click', incentive_type: 'discount_coupon', incentive_description: '$5 off', amount: null, coupon_code: 'FR_NEW_5_OFF' }
    }
    const out = drafts('reward_web_hook', click)
    expectPlanOk(out)
    const track = byRole(out, 'track')
    expect(track.userId).toBe('friend@example.com')
    expect(track.properties).toMatchObject({ recipient_role: 'friend', reward_type: 'discount_coupon', coupon_code: 'FR_NEW_5_OFF', friend_email: 'friend@example.com' })
    expect(track.properties.reward_id).toMatch(/^talkable_[0-9a-f]{24}$/)
    expect(track.properties).not.toHaveProperty('reward_amount')
    expect(track.properties).not.toHaveProperty('referral_id')
    expect(() => drafts('reward_web_hook', { ...click, person: null })).toThrow(InvalidPayloadError)
  })

  it('offer_signup_web_hook → identify the advocate who signed up', () => {
    const out = drafts('offer_signup_web_hook', samples.offer_signup_web_hook)
    expectPlanOk(out)
    expect(out).toEqual([
      {
        role: 'identify-advocate',
        type: 'identify',
        userId: 'john@example.com',
        timestamp: RECEIVED.toISOString(),
        // The sample's offer belongs to referrer@example.com, so its code is not John's.
        traits: { email: 'john@example.com', first_name: 'John', last_name: 'Doe', referral_role: 'advocate', source_platform: 'talkable' }
      }
    ])
    const own = drafts('offer_signup_web_hook', { ...sample('offer_signup_web_hook'), email: 'Referrer@example.com' })
    expect((own[0] as any).traits.referral_code).toBe('1a2PV')
  })

  it('claim_signup_web_hook → identifies + Referred Friend Signed Up', () => {
    const out = drafts('claim_signup_web_hook', samples.claim_signup_web_hook)
    expectPlanOk(out)
    expectDistinctRoles(out)
    expect(byRole(out, 'identify-friend').traits).toEqual({
      email: 'john@example.com',
      referral_role: 'friend',
      referred_by: 'referrer@example.com',
      source_platform: 'talkable'
    })
    expect(byRole(out, 'track')).toMatchObject({
      event: 'Referred Friend Signed Up',
      userId: 'john@example.com',
      properties: { referral_code: '1a2PV', advocate_id: 'referrer@example.com', friend_id: 'john@example.com', source_platform: 'talkable' }
    })
  })

  it('stores event and post-share hooks without routing them', () => {
    expect(drafts('event_web_hook', samples.event_web_hook)).toEqual([])
    expect(drafts('post_share_web_hook', samples.post_share_web_hook)).toEqual([])
  })
})
