import { describe, expect, it } from 'vitest'
import { firstpromoter } from '../../src/sources/firstpromoter.ts'
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

const SECRET = 'fp-shared-secret-4f1c'
const files = ['lead-signup.json', 'reward-created.json', 'fulfilment-pending.json', 'v2-promoter-created.json', 'v2-referral-updated.json']
const body = (file: string) => fixtureBytes('firstpromoter', file)
const json = (file: string) => fixtureJson('firstpromoter', file)

const withBearer = (raw: Buffer, secret = SECRET) => webhookRequest(raw, { Authorization: `Bearer ${secret}` })
const drafts = (payload: any) => normalizeAll(firstpromoter, firstpromoter.items(payload, withBearer(Buffer.from('{}'))))

describe('firstpromoter verify (shared secret: FirstPromoter signs nothing)', () => {
  it('accepts the secret as a Bearer header (v2 custom header) or ?secret= (v1 URL)', () => {
    expect(firstpromoter.sharedSecretOnly).toBe(true)
    for (const file of files) expect(firstpromoter.verify(withBearer(body(file)), SECRET)).toEqual({ ok: true })
    expect(firstpromoter.verify(webhookRequest(body('lead-signup.json'), {}, { query: { secret: SECRET } }), SECRET)).toEqual({ ok: true })
  })

  it('rejects a missing or wrong secret', () => {
    expect(firstpromoter.verify(webhookRequest(body('lead-signup.json')), SECRET)).toMatchObject({ ok: false })
    expect(firstpromoter.verify(withBearer(body('lead-signup.json'), 'wrong'), SECRET)).toMatchObject({ ok: false })
    expect(firstpromoter.verify(webhookRequest(body('lead-signup.json'), { authorization: SECRET }), SECRET)).toMatchObject({ ok: false })
    expect(firstpromoter.verify(webhookRequest(body('lead-signup.json'), {}, { query: { secret: `${SECRET}x` } }), SECRET)).toMatchObject({ ok: false })
  })
})

describe('firstpromoter payloadSchema', () => {
  const validate = compileSchema(firstpromoter)

  it('accepts the v1 and v2 samples', () => {
    for (const file of files) expect(validate(json(file)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
  })

  it('rejects malformed payloads', () => {
    const v1 = json('reward-created.json')
    expect(validate({ ...v1, event: { ...v1.event, type: 'reward_exploded' } })).toBe(false)
    expect(validate({ ...v1, event: { ...v1.event, created_at: 'today' } })).toBe(false)
    expect(validate({ ...v1, data: { ...v1.data, promoter: undefined } })).toBe(false)
    expect(validate({ ...v1, data: { ...v1.data, amount: '2.00' } })).toBe(false)
    const v2 = json('v2-referral-updated.json')
    expect(validate({ ...v2, event_id: undefined })).toBe(false)
    expect(validate({ ...v2, timestamp: 1737381605 })).toBe(false)
  })
})

describe('firstpromoter fulfilment_pending', () => {
  it('is unroutable (501): its answer marks the reward fulfilled', () => {
    expect(firstpromoter.unroutable!(json('fulfilment-pending.json'), withBearer(body('fulfilment-pending.json')))).toMatch(/fulfilment_pending/)
    for (const file of files.filter((f) => f !== 'fulfilment-pending.json')) {
      expect(firstpromoter.unroutable!(json(file), withBearer(body(file)))).toBeUndefined()
    }
  })
})

describe('firstpromoter items', () => {
  it('keys v1 by event.id and v2 by event_id, stable across redeliveries', () => {
    const key = (payload: any) => firstpromoter.items(payload, withBearer(Buffer.from('{}')))[0]
    expect(key(json('lead-signup.json'))).toMatchObject({ key: 'v1:22736304', eventType: 'lead_signup' })
    expect(key(json('v2-referral-updated.json'))).toMatchObject({ key: 'v2:b2c3d4e5-f6a7-8901-bcde-f12345678901', eventType: 'referral.updated' })
    expect(key(json('lead-signup.json')).key).toBe(key(json('lead-signup.json')).key)
    const next = json('lead-signup.json')
    expect(key({ ...next, event: { ...next.event, id: 22736305 } }).key).not.toBe(key(json('lead-signup.json')).key)
  })
})

describe('firstpromoter normalize', () => {
  it('lead_signup → identifies + Referral Created + Referred Friend Signed Up', () => {
    const out = drafts(json('lead-signup.json'))
    expectPlanOk(out)
    expectDistinctRoles(out)
    expect(byRole(out, 'identify-advocate')).toMatchObject({
      userId: 'promoter@example.com',
      timestamp: '2024-10-03T13:45:20.103Z',
      traits: { first_name: 'Jane', last_name: 'Smith', referral_code: 'myrefid', referral_role: 'advocate' }
    })
    expect(byRole(out, 'identify-friend')).toMatchObject({
      userId: 'customer@example.com',
      traits: { referral_role: 'friend', referred_by: 'promoter@example.com', referral_id: '21381518' }
    })
    const common = {
      referral_id: '21381518',
      referral_code: 'afpxunub',
      advocate_id: 'promoter@example.com',
      friend_id: 'customer@example.com',
      source_platform: 'firstpromoter'
    }
    expect(byRole(out, 'track')).toMatchObject({ event: 'Referral Created', properties: { ...common, campaign_id: '13202', status: 'lead' } })
    expect(byRole(out, 'track-signup')).toMatchObject({ event: 'Referred Friend Signed Up', properties: common })
  })

  it('reward_created → Referral Reward Earned without a guessed currency', () => {
    const out = drafts(json('reward-created.json'))
    expectPlanOk(out)
    expect(out).toHaveLength(1)
    expect(byRole(out, 'track')).toMatchObject({ event: 'Referral Reward Earned', userId: 'promoter@example.com', timestamp: '2024-10-03T14:23:20.791Z' })
    expect(byRole(out, 'track').properties).toEqual({
      reward_id: '11174868',
      reward_type: 'cash',
      recipient_role: 'advocate',
      referral_id: '21381518',
      advocate_id: 'promoter@example.com',
      advocate_email: 'promoter@example.com',
      friend_email: 'customer@example.com',
      source_platform: 'firstpromoter'
    })
    const r = json('reward-created.json')
    expect(drafts({ ...r, data: { ...r.data, status: 'denied' } })).toEqual([])
    expect(() => drafts({ ...r, event: { ...r.event, created_at: 'yesterday' } })).toThrow(InvalidPayloadError)
  })

  it('v2 promoter.created → identify advocate; v2 referral.updated → identify friend', () => {
    const promoter = drafts(json('v2-promoter-created.json'))
    expectPlanOk(promoter)
    expect(promoter).toEqual([
      {
        role: 'identify-advocate',
        type: 'identify',
        userId: 'jane@example.com',
        timestamp: '2025-01-15T10:30:00.000Z',
        traits: { email: 'jane@example.com', first_name: 'Jane', last_name: 'Smith', referral_role: 'advocate', source_platform: 'firstpromoter' }
      }
    ])
    const referral = drafts(json('v2-referral-updated.json'))
    expectPlanOk(referral)
    expect(referral).toHaveLength(1)
    expect(referral[0]).toMatchObject({ role: 'identify-friend', userId: 'user@example.com', traits: { referral_id: '55678', referral_role: 'friend' } })
  })

  it('routes nothing for v2 test deliveries and unmapped events', () => {
    const v2 = json('v2-referral-updated.json')
    expect(drafts({ ...v2, data: { test: true } })).toEqual([])
    expect(drafts({ ...v2, event_type: 'payout.completed', entity_type: 'payout' })).toEqual([])
    const v1 = json('lead-signup.json')
    expect(drafts({ ...v1, event: { ...v1.event, type: 'lead_cancelled' } })).toEqual([])
  })
})
