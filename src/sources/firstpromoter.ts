import type { Source } from './types.ts'
import { safeEqual } from './signatures.ts'
import { fromIsoString, normalizeEmail } from '../normalize/units.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'

/**
 * FirstPromoter (firstpromoter/docs@2edc5a9 = docs.firstpromoter.com; catalogue §8), both generations on one URL:
 * - v1 (per-campaign URLs): `{event: {id, type, created_at}, data}`; key `event.id`. No retries except
 *   `fulfilment_pending`.
 * - v2 (subscriptions): `{event_id, event_type, action, entity_type, entity_id, changes, data, timestamp}`;
 *   key `event_id` (= `X-Event-Id`). A test delivery has `data: {test: true}`.
 *
 * Authentication: FirstPromoter documents no signature (v1: "Signature: None"; v2's HMAC page was withdrawn in
 * Apr 2026), so this is a shared secret we configure — weaker than a signature: `Authorization: Bearer <secret>`
 * (a custom header on the v2 subscription) or `?secret=<secret>` on the URL (v1 URLs cannot carry headers).
 *
 * `fulfilment_pending` is a decision, not a notification: 200 marks the non-monetary reward fulfilled, another 2xx
 * keeps it pending, non-2xx is an error. It is unroutable (501, nothing stored): the service that fulfils the
 * reward must answer it.
 *
 * Mapped (the events with a documented sample):
 * - v1 lead_signup → identify advocate (promoter) + friend (lead), Referral Created (status lead) and Referred
 *   Friend Signed Up: the lead is the referral and this is its first webhook.
 * - v1 reward_created → Referral Reward Earned for the promoter. `amount` is in the unit's smallest denomination
 *   but no currency is sent, so the amount is left out rather than guessed (reward_type = `unit`). Denied rewards
 *   route nothing.
 * - v2 promoter.created / promoter.updated → identify advocate; v2 referral.* → identify friend (v2 referral data
 *   names no promoter, so no Referral Created can be built from it).
 * Everything else is stored and visible, and routes nothing.
 */
interface Promoter {
  id: number
  email?: string
  default_ref_id?: string
  profile?: { first_name?: string; last_name?: string }
}
interface Lead {
  id: number
  state?: string
  email?: string
  uid?: string
  promotion?: { id?: number; ref_id?: string; campaign_id?: number; referral_link?: string }
  promoter?: Promoter
}
interface V1Payload {
  event: { id: number | string; type: string; created_at: string }
  data: Record<string, any>
}
interface V2Payload {
  event_id: string
  event_type: string
  action?: string
  entity_type?: string
  entity_id?: number | string
  data: Record<string, any>
  timestamp: string
}
type FirstPromoterPayload = V1Payload | V2Payload

const V1_EVENTS = [
  'lead_signup',
  'lead_becomes_referral',
  'new_customer',
  'lead_cancelled',
  'promoter_signed_up',
  'promoter_accepted',
  'reward_created',
  'fulfilment_pending'
]

const anyId = { type: ['integer', 'string'] }
const email = { type: 'string', format: 'email' }
const promoter = { type: 'object', required: ['id'], properties: { id: anyId, email, default_ref_id: { type: 'string' } } }
const lead = { type: 'object', required: ['id'], properties: { id: anyId, email } }

function v1When(type: string, data: object): object {
  return { if: { properties: { event: { properties: { type: { const: type } } } } }, then: { properties: { data } } }
}

const v1Schema = {
  type: 'object',
  required: ['event', 'data'],
  properties: {
    event: {
      type: 'object',
      required: ['id', 'type', 'created_at'],
      properties: {
        id: anyId,
        type: { type: 'string', enum: V1_EVENTS },
        created_at: { type: 'string', format: 'date-time' }
      }
    },
    data: { type: 'object' }
  },
  allOf: [
    v1When('lead_signup', { required: ['id'], properties: { id: anyId, email, promoter } }),
    v1When('reward_created', {
      required: ['id', 'promoter'],
      properties: { id: anyId, amount: { type: 'integer' }, unit: { type: 'string' }, status: { type: 'string' }, promoter, lead }
    })
  ]
}

const v2Schema = {
  type: 'object',
  required: ['event_id', 'event_type', 'data', 'timestamp'],
  properties: {
    event_id: { type: 'string', minLength: 1 },
    event_type: { type: 'string', pattern: '^[a-z_]+(\\.[a-z_]+)+$' },
    action: { type: 'string' },
    entity_type: { type: 'string' },
    entity_id: anyId,
    data: { type: 'object' },
    timestamp: { type: 'string', format: 'date-time' }
  }
}

function isV1(payload: FirstPromoterPayload): payload is V1Payload {
  return typeof (payload as V1Payload).event === 'object' && (payload as V1Payload).event !== null
}

export const firstpromoter: Source<FirstPromoterPayload> = {
  name: 'firstpromoter',
  secretEnv: ['FIRSTPROMOTER_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'FirstPromoter (v1/v2)',
  dedupeKey: 'event id (`event.id` / `event_id`)',
  authScheme: 'shared secret: Authorization: Bearer <secret> header or ?secret= on the URL (FirstPromoter signs nothing)',
  sharedSecretOnly: true,

  verify(request, secret) {
    const auth = request.headers.authorization
    const bearer = auth && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined
    const received = bearer ?? request.query.secret
    if (!received) return { ok: false, reason: 'missing Authorization: Bearer <secret> header (or ?secret= parameter)' }
    return safeEqual(secret, received) ? { ok: true } : { ok: false, reason: 'shared secret does not match' }
  },

  payloadSchema: { anyOf: [v1Schema, v2Schema] },

  unroutable(payload) {
    if (isV1(payload) && payload.event.type === 'fulfilment_pending') {
      return (
        'FirstPromoter fulfilment_pending: 200 marks the reward fulfilled and another 2xx keeps it pending, a decision ' +
        'this bridge does not take; point this campaign webhook at the service that fulfils rewards'
      )
    }
    return undefined
  },

  items(payload) {
    return isV1(payload)
      ? [{ key: `v1:${payload.event.id}`, eventType: payload.event.type, payload }]
      : [{ key: `v2:${payload.event_id}`, eventType: payload.event_type, payload }]
  },

  normalize(item) {
    const p = item.payload as FirstPromoterPayload
    if (isV1(p)) {
      const timestamp = fromIsoString(p.event.created_at, 'event.created_at')
      if (p.event.type === 'lead_signup') return leadSignup(p.data as Lead, timestamp)
      if (p.event.type === 'reward_created') return rewardCreated(p.data as V1Reward, timestamp)
      return []
    }
    if (p.data.test === true) return []
    const timestamp = fromIsoString(p.timestamp, 'timestamp')
    if (p.event_type === 'promoter.created' || p.event_type === 'promoter.updated') {
      return [advocateIdentify(p.data as Promoter & { name?: string }, timestamp)]
    }
    if (p.event_type.startsWith('referral.') && p.event_type !== 'referral.deleted') {
      const friendId = personId(p.data.email, p.data.id)
      return friendId ? [friendIdentify(p.data as Lead, friendId, undefined, timestamp)] : []
    }
    return []
  }
}

function personId(emailValue: unknown, id: unknown): string | undefined {
  return normalizeEmail(emailValue) ?? (id !== undefined && id !== null && id !== '' ? `firstpromoter:${id}` : undefined)
}

function advocateIdentify(promoter: Promoter & { name?: string }, timestamp: string, code?: string): DraftMessage {
  return identifyDraft(
    {
      email: normalizeEmail(promoter.email),
      first_name: promoter.profile?.first_name,
      last_name: promoter.profile?.last_name,
      referral_role: 'advocate',
      referral_code: promoter.default_ref_id ?? code,
      source_platform: 'firstpromoter'
    },
    { role: 'identify-advocate', userId: personId(promoter.email, promoter.id)!, timestamp }
  )
}

function friendIdentify(lead: Lead, friendId: string, advocateId: string | undefined, timestamp: string): DraftMessage {
  return identifyDraft(
    {
      email: normalizeEmail(lead.email),
      referral_role: 'friend',
      referred_by: advocateId,
      referral_id: String(lead.id),
      source_platform: 'firstpromoter'
    },
    { role: 'identify-friend', userId: friendId, timestamp }
  )
}

function leadSignup(lead: Lead, timestamp: string): DraftMessage[] {
  const friendId = personId(lead.email, lead.id)!
  const out: DraftMessage[] = []
  const advocateId = lead.promoter ? personId(lead.promoter.email, lead.promoter.id) : undefined
  if (lead.promoter) out.push(advocateIdentify(lead.promoter, timestamp, lead.promotion?.ref_id))
  out.push(friendIdentify(lead, friendId, advocateId, timestamp))
  if (!advocateId) return out
  const referralId = String(lead.id)
  const referralCode = lead.promotion?.ref_id
  const advocateEmail = normalizeEmail(lead.promoter?.email)
  const friendEmail = normalizeEmail(lead.email)
  // The two property sets are spelled out (not spread from a shared object) so each is checked against its event.
  out.push(
    trackDraft(
      'Referral Created',
      {
        referral_id: referralId,
        referral_code: referralCode,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        source_platform: 'firstpromoter',
        campaign_id: lead.promotion?.campaign_id === undefined ? undefined : String(lead.promotion.campaign_id),
        status: 'lead'
      },
      { role: 'track', userId: friendId, timestamp }
    ),
    trackDraft(
      'Referred Friend Signed Up',
      {
        referral_id: referralId,
        referral_code: referralCode,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        source_platform: 'firstpromoter'
      },
      { role: 'track-signup', userId: friendId, timestamp }
    )
  )
  return out
}

interface V1Reward {
  id: number
  status?: string
  unit?: string
  event_id?: number | string | null
  lead?: Lead
  promoter: Promoter
}

function rewardCreated(reward: V1Reward, timestamp: string): DraftMessage[] {
  if (reward.status === 'denied') return []
  const advocateId = personId(reward.promoter.email, reward.promoter.id)!
  return [
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: String(reward.id),
        reward_type: reward.unit ?? 'other',
        recipient_role: 'advocate',
        referral_id: reward.lead?.id === undefined ? undefined : String(reward.lead.id),
        advocate_id: advocateId,
        advocate_email: normalizeEmail(reward.promoter.email),
        friend_email: normalizeEmail(reward.lead?.email),
        // The per-event page: `event_id` is the sale / conversion that triggered the reward.
        order_id: reward.event_id === undefined || reward.event_id === null ? undefined : String(reward.event_id),
        source_platform: 'firstpromoter'
      },
      { role: 'track', userId: advocateId, timestamp }
    )
  ]
}
