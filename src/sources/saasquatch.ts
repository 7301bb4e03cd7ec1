import { createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { Source } from './types.ts'
import { fromUnixMillis, normalizeEmail } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'

/**
 * SaaSquatch / impact.com Advocate (saasquatch/saasquatch-docs:content/api/webhooks.md@d18e7cc,
 * docs.saasquatch.com/api/webhooks/security; catalogue §9). Envelope `{id, type, tenantAlias, live, created (ms),
 * data}`; `id` is the event id (the key). Only 200 is success; retried hourly up to 72 times. No ordering.
 *
 * Signature: `X-Hook-JWS-RFC-7797` = detached compact JWS `HEADER..SIGNATURE`, RS256, key chosen by the header's
 * `kid` from SaaSquatch's JWKS (https://app.referralsaasquatch.com/.well-known/jwks.json). Despite the header
 * name, SaaSquatch signs the base64url-encoded body (their Node boilerplate puts base64url(raw body) between the
 * dots; impact: "vanilla Base64 does not work"); a header with `"b64": false` (true RFC 7797) signs the raw bytes.
 * Both are handled. The JWS carries no timestamp: there is no replay window, only dedupe on `id`.
 * `verify` is synchronous, so the JWKS cannot be fetched on demand: SAASQUATCH_WEBHOOK_SECRET holds the JWKS
 * JSON (`{"keys": [...]}`) as downloaded from that URL. A `kid` it lacks is refused with a reason saying to
 * refresh it (SaaSquatch rotates keys rarely; their advice is to cache each kid indefinitely). The legacy
 * `X-Hook-Signature` (HMAC-SHA1 with the API key, encoding undocumented) is not accepted.
 *
 * Referral events carry user ids only, no emails (catalogue §9): people are `saasquatch:<accountId>:<id>` (a
 * SaaSquatch user is identified by both). `user.created` has the email and is identified by it, so until a user
 * cache joins the two, one person can appear under both ids downstream.
 * Mapped: referral.started → Referral Created (created); referral.converted → Referral Created (converted);
 * reward.created → Referral Reward Earned when it is a referral reward (`rewardSource` FRIEND_SIGNUP = the
 * referrer's reward for a referral, REFERRED = the referred friend's; MANUAL and AUTOMATED are not referral
 * rewards); user.created → identify. Events of test tenants (`live: false`) and everything else are stored and
 * visible, and route nothing.
 */
interface UserRef {
  id: string
  accountId: string
}
interface SaasquatchPayload {
  id: string
  type: string
  tenantAlias?: string
  live?: boolean
  created: number
  data: Record<string, any>
}

const userRef = {
  type: 'object',
  required: ['id', 'accountId'],
  properties: { id: { type: 'string', minLength: 1 }, accountId: { type: 'string', minLength: 1 } }
}

function when(type: string, data: object): object {
  return { if: { properties: { type: { const: type } } }, then: { properties: { data } } }
}

const keyCache = new Map<string, Map<string, KeyObject>>()

/** The RS256 keys of a JWKS by kid, parsed once per configured value. */
function keysOf(jwksJson: string): Map<string, KeyObject> {
  let keys = keyCache.get(jwksJson)
  if (!keys) {
    const parsed = JSON.parse(jwksJson) as { keys?: Array<JsonWebKey & { kid?: string; kty?: string }> }
    keys = new Map()
    for (const jwk of parsed.keys ?? []) {
      if (jwk.kid && jwk.kty === 'RSA') keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }))
    }
    keyCache.set(jwksJson, keys)
  }
  return keys
}

export const saasquatch: Source<SaasquatchPayload> = {
  name: 'saasquatch',
  secretEnv: ['SAASQUATCH_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'SaaSquatch / impact.com Advocate',
  dedupeKey: '`id`',
  authScheme:
    'X-Hook-JWS-RFC-7797: detached RS256 JWS (HEADER..SIGNATURE) over base64url(raw body), key by kid from the SaaSquatch JWKS held in SAASQUATCH_WEBHOOK_SECRET',

  verify(request, secret) {
    const jws = request.headers['x-hook-jws-rfc-7797']?.trim()
    if (!jws) return { ok: false, reason: 'missing X-Hook-JWS-RFC-7797 header' }
    const parts = jws.split('.')
    if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) {
      return { ok: false, reason: 'X-Hook-JWS-RFC-7797 must be a detached JWS: HEADER..SIGNATURE' }
    }
    const [encodedHeader, , encodedSignature] = parts
    let header: { alg?: string; kid?: string; b64?: boolean }
    try {
      header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'))
    } catch {
      return { ok: false, reason: 'X-Hook-JWS-RFC-7797 header is not base64url JSON' }
    }
    if (header.alg !== 'RS256') return { ok: false, reason: `X-Hook-JWS-RFC-7797 alg must be RS256, got ${JSON.stringify(header.alg)}` }
    let keys: Map<string, KeyObject>
    try {
      keys = keysOf(secret)
    } catch {
      return { ok: false, reason: 'SAASQUATCH_WEBHOOK_SECRET is not a JWKS ({"keys": [...]}) with RSA keys' }
    }
    const key = header.kid ? keys.get(header.kid) : undefined
    if (!key) {
      return {
        ok: false,
        reason: `no key with kid ${JSON.stringify(header.kid)} in SAASQUATCH_WEBHOOK_SECRET; refresh it from https://app.referralsaasquatch.com/.well-known/jwks.json`
      }
    }
    const payload = header.b64 === false ? request.rawBody : Buffer.from(request.rawBody.toString('base64url'))
    const signingInput = Buffer.concat([Buffer.from(`${encodedHeader}.`), payload])
    return verifySignature('RSA-SHA256', signingInput, key, Buffer.from(encodedSignature, 'base64url'))
      ? { ok: true }
      : { ok: false, reason: 'X-Hook-JWS-RFC-7797 signature does not verify over the body' }
  },

  payloadSchema: {
    type: 'object',
    required: ['id', 'type', 'created', 'data'],
    properties: {
      id: { type: 'string', minLength: 1 },
      type: { type: 'string', minLength: 1 },
      tenantAlias: { type: 'string' },
      live: { type: 'boolean' },
      created: { type: 'integer', minimum: 0 },
      data: { type: 'object' }
    },
    allOf: [
      when('referral.started', { required: ['id', 'referrer', 'referred'], properties: { id: { type: 'string' }, referrer: userRef, referred: userRef } }),
      when('referral.converted', { required: ['id', 'referrer', 'referred'], properties: { id: { type: 'string' }, referrer: userRef, referred: userRef } }),
      when('reward.created', {
        required: ['id', 'accountId', 'userId'],
        properties: { id: { type: 'string' }, accountId: { type: 'string' }, userId: { type: 'string' }, rewardSource: { type: 'string' } }
      }),
      when('user.created', {
        required: ['id', 'accountId'],
        properties: { id: { type: 'string' }, accountId: { type: 'string' }, email: { type: ['string', 'null'] } }
      })
    ]
  },

  items(payload) {
    return [{ key: payload.id, eventType: payload.type, payload }]
  },

  normalize(item) {
    const p = item.payload as SaasquatchPayload
    if (p.live === false) return []
    const timestamp = fromUnixMillis(p.created, 'created')
    switch (p.type) {
      case 'referral.started':
      case 'referral.converted':
        return referral(p.data, p.type === 'referral.converted' ? 'converted' : 'created', timestamp)
      case 'reward.created':
        return reward(p.data, timestamp)
      case 'user.created':
        return [userIdentify(p.data, timestamp)]
      default:
        return []
    }
  }
}

function personId(user: UserRef): string {
  return `saasquatch:${user.accountId}:${user.id}`
}

function referral(data: Record<string, any>, status: 'created' | 'converted', timestamp: string): DraftMessage[] {
  const advocateId = personId(data.referrer as UserRef)
  const friendId = personId(data.referred as UserRef)
  return [
    identifyDraft(
      // The code the friend used is the referrer's.
      { referral_role: 'advocate', referral_code: data.referralCodeUsed, source_platform: 'saasquatch' },
      { role: 'identify-advocate', userId: advocateId, timestamp }
    ),
    identifyDraft(
      { referral_role: 'friend', referred_by: advocateId, referral_id: data.id, source_platform: 'saasquatch' },
      { role: 'identify-friend', userId: friendId, timestamp }
    ),
    trackDraft(
      'Referral Created',
      {
        referral_id: data.id,
        referral_code: data.referralCodeUsed,
        advocate_id: advocateId,
        friend_id: friendId,
        status,
        source_platform: 'saasquatch'
      },
      { role: 'track', userId: friendId, timestamp }
    )
  ]
}

function reward(data: Record<string, any>, timestamp: string): DraftMessage[] {
  const recipient = data.rewardSource === 'FRIEND_SIGNUP' ? 'advocate' : data.rewardSource === 'REFERRED' ? 'friend' : undefined
  if (!recipient) return []
  const userId = personId({ id: data.userId, accountId: data.accountId })
  return [
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: data.id,
        // PCT_DISCOUNT, CREDIT, FUELTANK…: the value's unit ("%", points, credit units) is not money we can read.
        reward_type: typeof data.type === 'string' ? data.type.toLowerCase() : 'other',
        recipient_role: recipient,
        advocate_id: recipient === 'advocate' ? userId : undefined,
        source_platform: 'saasquatch'
      },
      {
        role: 'track',
        userId,
        timestamp: typeof data.dateGiven === 'number' ? fromUnixMillis(data.dateGiven, 'data.dateGiven') : timestamp
      }
    )
  ]
}

function userIdentify(user: Record<string, any>, timestamp: string): DraftMessage {
  const email = normalizeEmail(user.email)
  const codes = Object.values((user.referralCodes ?? {}) as Record<string, string>)
  const referred = Array.isArray(user.referredByCodes) && user.referredByCodes.length > 0
  if (!user.id || !user.accountId) throw new InvalidPayloadError('user.created needs data.id and data.accountId')
  return identifyDraft(
    {
      email,
      first_name: user.firstName,
      last_name: user.lastName,
      // Every SaaSquatch user gets codes to share; one referred by a code is (also) a friend.
      referral_role: referred ? 'friend' : 'advocate',
      // One code per program: only unambiguous when there is one program.
      referral_code: codes.length === 1 ? codes[0] : undefined,
      source_platform: 'saasquatch'
    },
    { role: referred ? 'identify-friend' : 'identify-advocate', userId: email ?? personId(user as UserRef), timestamp }
  )
}
