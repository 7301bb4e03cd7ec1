import { generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { saasquatch } from '../../src/sources/saasquatch.ts'
import { byRole, compileSchema, expectDistinctRoles, expectPlanOk, fixtureBytes, fixtureJson, normalizeAll, webhookRequest } from './support.ts'

const KID = 'hLX/ydWw4C0mwdrvyPhUYmdCkD8=' // the kid of the documented sample header
const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwks = (publicKey: KeyObject, kid = KID) => JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] })
const JWKS = jwks(pair.publicKey)

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url')

/** A detached JWS as SaaSquatch sends it: HEADER..SIGNATURE, signed over HEADER.base64url(body). */
function jws(body: Buffer | string, opts: { key?: KeyObject; kid?: string; alg?: string; b64?: false } = {}): string {
  const header = b64url(JSON.stringify({ alg: opts.alg ?? 'RS256', typ: 'JWT', kid: opts.kid ?? KID, ...(opts.b64 === false ? { b64: false, crit: ['b64'] } : {}) }))
  const payload = opts.b64 === false ? Buffer.from(body) : Buffer.from(b64url(body))
  const signature = rsaSign('RSA-SHA256', Buffer.concat([Buffer.from(`${header}.`), payload]), opts.key ?? pair.privateKey)
  return `${header}..${signature.toString('base64url')}`
}

const files = ['referral-started.json', 'referral-converted.json', 'reward-created.json', 'user-reward-balance-changed.json', 'user-created.json']
const signed = (body: Buffer | string, header = jws(body)) => webhookRequest(body, { 'X-Hook-JWS-RFC-7797': header })
const drafts = (payload: any) => normalizeAll(saasquatch, saasquatch.items(payload, signed('{}')))

describe('saasquatch verify', () => {
  it('accepts the samples signed with the JWKS key named by kid (base64url payload, and b64:false)', () => {
    for (const file of files) {
      const raw = fixtureBytes('saasquatch', file)
      expect(saasquatch.verify(signed(raw), JWKS)).toEqual({ ok: true })
    }
    const raw = fixtureBytes('saasquatch', 'referral-started.json')
    expect(saasquatch.verify(signed(raw, jws(raw, { b64: false })), JWKS)).toEqual({ ok: true })
  })

  it('rejects missing, malformed, non-detached, wrong-key, unknown-kid, non-RS256 and tampered signatures', () => {
    const raw = fixtureBytes('saasquatch', 'referral-started.json')
    expect(saasquatch.verify(webhookRequest(raw), JWKS)).toMatchObject({ ok: false })
    expect(saasquatch.verify(signed(raw, 'garbage'), JWKS)).toMatchObject({ ok: false })
    const [h, , s] = jws(raw).split('.')
    expect(saasquatch.verify(signed(raw, `${h}.${b64url(raw)}.${s}`), JWKS)).toMatchObject({ ok: false }) // attached payload
    expect(saasquatch.verify(signed(raw, jws(raw, { key: other.privateKey })), JWKS)).toMatchObject({ ok: false })
    expect(saasquatch.verify(signed(raw, jws(raw, { kid: 'rotated' })), JWKS)).toMatchObject({ ok: false, reason: expect.stringMatching(/refresh/) })
    expect(saasquatch.verify(signed(raw, `${b64url(JSON.stringify({ alg: 'none', kid: KID }))}..${s}`), JWKS)).toMatchObject({ ok: false })
    const tampered = Buffer.from(raw.toString().replace('PENDING', 'APPROVED'))
    expect(saasquatch.verify(webhookRequest(tampered, { 'x-hook-jws-rfc-7797': jws(raw) }), JWKS)).toMatchObject({ ok: false })
    // Vanilla base64 of the body is not what SaaSquatch signs.
    const body = [raw, Buffer.from(`${raw.toString()} `), Buffer.from(`${raw.toString()}  `)].find((b) => b.length % 3 !== 0)!
    expect(body.toString('base64')).not.toBe(body.toString('base64url')) // padding differs
    const vanilla = rsaSign('RSA-SHA256', Buffer.from(`${h}.${body.toString('base64')}`), pair.privateKey).toString('base64url')
    expect(saasquatch.verify(signed(body, `${h}..${vanilla}`), JWKS)).toMatchObject({ ok: false })
    expect(saasquatch.verify(signed(body), JWKS)).toEqual({ ok: true })
    expect(saasquatch.verify(signed(raw), 'not json')).toMatchObject({ ok: false, reason: expect.stringMatching(/JWKS/) })
    expect(saasquatch.verify(signed(raw), jwks(other.publicKey))).toMatchObject({ ok: false })
  })
})

describe('saasquatch payloadSchema', () => {
  const validate = compileSchema(saasquatch)
  it('accepts the samples', () => {
    for (const file of files) expect(validate(fixtureJson('saasquatch', file)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
  })
  it('rejects malformed payloads', () => {
    const r = fixtureJson('saasquatch', 'referral-started.json')
    expect(validate({ ...r, created: '2016-06-28' })).toBe(false)
    expect(validate({ ...r, id: undefined })).toBe(false)
    expect(validate({ ...r, data: { ...r.data, referrer: { id: 'x' } } })).toBe(false)
    const w = fixtureJson('saasquatch', 'reward-created.json')
    expect(validate({ ...w, data: { ...w.data, userId: undefined } })).toBe(false)
  })
})

describe('saasquatch items', () => {
  it('keys by the event id', () => {
    const r = fixtureJson('saasquatch', 'referral-started.json')
    const [item] = saasquatch.items(r, signed('{}'))
    expect(item).toMatchObject({ key: '5773073fe4b066c5cb171900', eventType: 'referral.started' })
    expect(saasquatch.items(fixtureJson('saasquatch', 'referral-started.json'), signed('{}'))[0].key).toBe(item.key)
    // started and converted are two events about one referral.
    expect(saasquatch.items(fixtureJson('saasquatch', 'referral-converted.json'), signed('{}'))[0].key).not.toBe(item.key)
  })
})

describe('saasquatch normalize', () => {
  it('referral.started → identifies + Referral Created (created)', () => {
    const out = drafts(fixtureJson('saasquatch', 'referral-started.json'))
    expectPlanOk(out)
    expectDistinctRoles(out)
    const advocate = 'saasquatch:577306eae4b08b14ab979f70:577306eae4b08b14ab979f70'
    const friend = 'saasquatch:5773073ee4b08b14ab979fb8:5773073ee4b08b14ab979fb8'
    expect(byRole(out, 'identify-advocate')).toMatchObject({ userId: advocate, traits: { referral_code: 'LORETTABURKE10' } })
    expect(byRole(out, 'identify-friend')).toMatchObject({ userId: friend, traits: { referred_by: advocate, referral_id: '5773073ee4b066c5cb1718fc' } })
    expect(byRole(out, 'track')).toMatchObject({
      event: 'Referral Created',
      userId: friend,
      timestamp: '2016-06-28T23:24:47.085Z',
      properties: { referral_id: '5773073ee4b066c5cb1718fc', referral_code: 'LORETTABURKE10', advocate_id: advocate, friend_id: friend, status: 'created' }
    })
  })

  it('referral.converted → Referral Created (converted)', () => {
    const out = drafts(fixtureJson('saasquatch', 'referral-converted.json'))
    expectPlanOk(out)
    expect(byRole(out, 'track').properties.status).toBe('converted')
  })

  it('reward.created → Referral Reward Earned for the referrer (FRIEND_SIGNUP) or the friend (REFERRED); others route nothing', () => {
    const w = fixtureJson('saasquatch', 'reward-created.json')
    const out = drafts(w)
    expectPlanOk(out)
    expect(byRole(out, 'track')).toMatchObject({
      userId: 'saasquatch:6UTR8OQZX0HE3QBP:56f2e6a9e4b08a1cbef6c561',
      timestamp: '2016-06-29T17:31:15.151Z',
      properties: { reward_id: '577405e3e4b0cc57c1e2e684', reward_type: 'pct_discount', recipient_role: 'advocate' }
    })
    expect(byRole(out, 'track').properties).not.toHaveProperty('reward_amount')
    const friend = drafts({ ...w, data: { ...w.data, rewardSource: 'REFERRED' } })
    expectPlanOk(friend)
    expect(byRole(friend, 'track').properties.recipient_role).toBe('friend')
    expect(drafts({ ...w, data: { ...w.data, rewardSource: 'MANUAL' } })).toEqual([])
  })

  it('user.created → identify by email', () => {
    const out = drafts(fixtureJson('saasquatch', 'user-created.json'))
    expectPlanOk(out)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({
      userId: 'mike.keenerson@example.com',
      traits: { email: 'mike.keenerson@example.com', first_name: 'Mike', last_name: 'Keenerson', referral_role: 'friend' }
    })
  })

  it('routes nothing for balances and test tenants', () => {
    expect(drafts(fixtureJson('saasquatch', 'user-reward-balance-changed.json'))).toEqual([])
    expect(drafts({ ...fixtureJson('saasquatch', 'referral-started.json'), live: false })).toEqual([])
  })
})
