import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { growsurf } from '../../src/sources/growsurf.ts'
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

// Fixtures: see test/fixtures/growsurf/README.md — two documented samples had a trailing comma (invalid JSON)
// and one a wrong "event" value; those were fixed knowingly, nothing else.
const SECRET = 'growsurf-webhook-secret'
const NOW = new Date('2026-03-01T12:00:00.000Z')

function signature(body: Buffer | string, ts: number, secret = SECRET): string {
  const v = createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')
  return `ts=${ts},v=${v}`
}

function signed(body: Buffer | string, ts = NOW.getTime() - 2_000) {
  return webhookRequest(body, { 'GrowSurf-Signature': signature(body, ts) }, { receivedAt: NOW })
}

const goal = fixtureBytes('growsurf', 'participant-reached-a-goal.json')
const added = fixtureBytes('growsurf', 'new-participant-added.json')
const commission = fixtureBytes('growsurf', 'new-commission-added.json')

describe('growsurf verify', () => {
  it('accepts the samples signed over ts + "." + raw bytes', () => {
    for (const body of [goal, added, commission]) expect(growsurf.verify(signed(body), SECRET)).toEqual({ ok: true })
  })

  it('rejects missing, malformed, wrongly keyed and tampered signatures', () => {
    const ts = NOW.getTime()
    expect(growsurf.verify(webhookRequest(goal, {}, { receivedAt: NOW }), SECRET)).toMatchObject({ ok: false })
    expect(growsurf.verify(webhookRequest(goal, { 'growsurf-signature': 'v=abc' }, { receivedAt: NOW }), SECRET)).toMatchObject({ ok: false })
    expect(growsurf.verify(webhookRequest(goal, { 'growsurf-signature': signature(goal, ts, 'other') }, { receivedAt: NOW }), SECRET)).toMatchObject({ ok: false })
    // A signature for another timestamp does not carry over.
    const sig = signature(goal, ts).replace(`ts=${ts}`, `ts=${ts + 1}`)
    expect(growsurf.verify(webhookRequest(goal, { 'growsurf-signature': sig }, { receivedAt: NOW }), SECRET)).toMatchObject({ ok: false })
    const tampered = Buffer.from(goal.toString().replace('"approved": true', '"approved": false'))
    expect(growsurf.verify(webhookRequest(tampered, { 'growsurf-signature': signature(goal, ts) }, { receivedAt: NOW }), SECRET)).toMatchObject({ ok: false })
  })

  it('rejects a timestamp more than 5 minutes from the receive time, either way', () => {
    const old = NOW.getTime() - 5 * 60 * 1000 - 1
    expect(growsurf.verify(signed(goal, old), SECRET)).toMatchObject({ ok: false, reason: expect.stringMatching(/5 minutes/) })
    const future = NOW.getTime() + 5 * 60 * 1000 + 1
    expect(growsurf.verify(signed(goal, future), SECRET)).toMatchObject({ ok: false })
    expect(growsurf.verify(signed(goal, NOW.getTime() - 4 * 60 * 1000), SECRET)).toEqual({ ok: true })
  })
})

describe('growsurf payloadSchema', () => {
  const validate = compileSchema(growsurf)

  it('accepts the samples', () => {
    for (const body of [goal, added, commission]) expect(validate(JSON.parse(body.toString())), JSON.stringify(validate.errors)).toBe(true)
  })

  it('rejects malformed payloads', () => {
    const g = fixtureJson('growsurf', 'participant-reached-a-goal.json')
    expect(validate({ ...g, event: 'PARTICIPANT_REACHED_REWARD' })).toBe(false) // not a GrowSurf event (catalogue §6)
    expect(validate({ ...g, createdAt: '2019-05-20' })).toBe(false)
    expect(validate({ ...g, data: { ...g.data, reward: { ...g.data.reward, approved: undefined } } })).toBe(false)
    const c = fixtureJson('growsurf', 'new-commission-added.json')
    expect(validate({ ...c, data: { ...c.data, commission: { ...c.data.commission, amount: '25.00' } } })).toBe(false)
  })
})

describe('growsurf items', () => {
  const keyOf = (payload: any) => growsurf.items(payload, signed('{}'))[0].key

  it('gives the same delivery the same key', () => {
    for (const body of [goal, added, commission]) {
      expect(keyOf(JSON.parse(body.toString()))).toBe(keyOf(JSON.parse(body.toString())))
    }
  })

  it('keeps the documented legitimate repeats of a goal apart (approved false → true, referrer/referee side)', () => {
    const g = fixtureJson('growsurf', 'participant-reached-a-goal.json')
    const pending = { ...g, data: { ...g.data, reward: { ...g.data.reward, approved: false } } }
    const refereeSide = { ...g, data: { ...g.data, reward: { ...g.data.reward, isReferrer: false } } }
    const keys = new Set([keyOf(g), keyOf(pending), keyOf(refereeSide)])
    expect(keys.size).toBe(3)
    // The envelope createdAt is not part of a goal's key: the reward's own id and state identify it.
    expect(keyOf({ ...g, createdAt: g.createdAt + 60_000 })).toBe(keyOf(g))
  })

  it('keys participants, commissions, adjustments and fraud updates by their ids and state', () => {
    const a = fixtureJson('growsurf', 'new-participant-added.json')
    expect(keyOf({ ...a, data: { ...a.data, id: 'other' } })).not.toBe(keyOf(a))
    const c = fixtureJson('growsurf', 'new-commission-added.json')
    expect(keyOf({ ...c, data: { ...c.data, commission: { ...c.data.commission, id: 'comm_other' } } })).not.toBe(keyOf(c))
    const adjustment = (at: number) => ({
      event: 'COMMISSION_ADJUSTED',
      createdAt: 1558345215720,
      data: { adjustedCommission: { id: 'comm_jp1ku7' }, adjustment: { adjustedAt: at, reason: 'FULL_REFUND' } }
    })
    expect(keyOf(adjustment(1))).not.toBe(keyOf(adjustment(2)))
    const fraud = (level: string) => ({ event: 'PARTICIPANT_FRAUD_STATUS_UPDATED', createdAt: 1, data: { participant: { id: 'p88y0a', fraudRiskLevel: level } } })
    expect(keyOf(fraud('HIGH'))).not.toBe(keyOf(fraud('LOW')))
  })
})

describe('growsurf normalize', () => {
  const drafts = (body: Buffer | object) =>
    normalizeAll(growsurf, growsurf.items(Buffer.isBuffer(body) ? JSON.parse(body.toString()) : body, signed('{}')))

  it('PARTICIPANT_REACHED_A_GOAL (referrer side, approved) → identifies + Referral Reward Earned for the advocate', () => {
    const out = drafts(goal)
    expectPlanOk(out)
    expectDistinctRoles(out)
    expect(byRole(out, 'identify-advocate')).toMatchObject({
      userId: 'richard@piedpiper.com',
      timestamp: '2019-05-20T09:40:02.613Z', // createdAt 1558345202613 ms
      traits: { first_name: 'Richard', last_name: 'Hendricks', referral_role: 'advocate', referral_code: 'x9a7uu' }
    })
    expect(byRole(out, 'identify-friend')).toMatchObject({
      userId: 'i_was_referred@somesite.com',
      traits: { referral_role: 'friend', referred_by: 'richard@piedpiper.com', referral_id: 'growsurf:x9a7uu:ad3dfa' }
    })
    expect(byRole(out, 'track')).toMatchObject({
      event: 'Referral Reward Earned',
      userId: 'richard@piedpiper.com',
      properties: {
        reward_id: 'prew_ccm2ue',
        reward_type: 'coupon',
        recipient_role: 'advocate',
        coupon_code: 'PROMO_20_OFF',
        advocate_email: 'richard@piedpiper.com',
        friend_email: 'i_was_referred@somesite.com',
        source_platform: 'growsurf'
      }
    })
  })

  it('does not count a reward before it is approved, and credits the friend on the referee side', () => {
    const g = fixtureJson('growsurf', 'participant-reached-a-goal.json')
    const pending = drafts({ ...g, data: { ...g.data, reward: { ...g.data.reward, approved: false } } })
    expect(pending.some((d) => d.type === 'track')).toBe(false)
    expectPlanOk(pending)

    // Referee-side reward: the participant is the friend, their referrer the advocate.
    const { referee, ...richard } = g.data.participant
    const friendSide = {
      ...g,
      data: { ...g.data, participant: { ...referee, referrer: richard }, reward: { ...g.data.reward, isReferrer: false, referredId: referee.id } }
    }
    const out = drafts(friendSide)
    expectPlanOk(out)
    expect(byRole(out, 'track')).toMatchObject({
      userId: 'i_was_referred@somesite.com',
      properties: { recipient_role: 'friend', advocate_id: 'richard@piedpiper.com', referral_id: 'growsurf:x9a7uu:uxjbxu' }
    })
  })

  it('NEW_PARTICIPANT_ADDED with a referrer → identifies + Referral Created + Referred Friend Signed Up', () => {
    const out = drafts(added)
    expectPlanOk(out)
    expectDistinctRoles(out)
    expect(out.map((d) => d.role).sort()).toEqual(['identify-advocate', 'identify-friend', 'track', 'track-signup'])
    const common = {
      referral_id: 'growsurf:x9a7uu:p88y0a',
      referral_code: 'x9a7uu',
      advocate_id: 'richard@piedpiper.com',
      advocate_email: 'richard@piedpiper.com',
      friend_id: 'gavin.belson@hooli.com',
      friend_email: 'gavin.belson@hooli.com',
      source_platform: 'growsurf'
    }
    expect(byRole(out, 'track')).toMatchObject({ event: 'Referral Created', properties: { ...common, status: 'created' } })
    expect(byRole(out, 'track-signup')).toMatchObject({
      event: 'Referred Friend Signed Up',
      timestamp: '2019-05-20T09:40:15.720Z',
      properties: { ...common, friend_first_name: 'Gavin' }
    })
  })

  it('NEW_PARTICIPANT_ADDED without a referrer → only the new advocate', () => {
    const a = fixtureJson('growsurf', 'new-participant-added.json')
    const { referrer, referredBy, ...direct } = a.data
    const out = drafts({ ...a, data: direct })
    expectPlanOk(out)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ role: 'identify-advocate', userId: 'gavin.belson@hooli.com', traits: { referral_code: 'p88y0a' } })
  })

  it('NEW_COMMISSION_ADDED → Referral Reward Earned in minor units', () => {
    const out = drafts(commission)
    expectPlanOk(out)
    expect(byRole(out, 'track').properties).toMatchObject({
      reward_id: 'comm_jp1ku7',
      reward_type: 'commission',
      reward_amount: 25,
      reward_amount_minor: 2500,
      currency: 'USD',
      referral_id: 'growsurf:f8g9nl:xh345d'
    })
    const c = fixtureJson('growsurf', 'new-commission-added.json')
    expect(() => drafts({ ...c, data: { ...c.data, commission: { ...c.data.commission, currencyISO: 'dollars' } } })).toThrow(InvalidPayloadError)
  })

  it('routes nothing for adjustments, payouts, fraud updates and campaign end', () => {
    expect(drafts({ event: 'CAMPAIGN_ENDED', createdAt: 1558345152138, data: { id: 'ct8f71' } })).toEqual([])
    expect(drafts({ event: 'NEW_PAYOUT_ISSUED', createdAt: 1558345215720, data: { payout: { id: 'po_k11ps9' } } })).toEqual([])
  })
})
