import type { Source, WebhookRequest } from './types.ts'
import { fieldsKey, safeEqual } from './signatures.ts'
import { fromIsoString, normalizeEmail, rewardFromDecimal, type RewardMoney } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { compact } from '../normalize/compact.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'

/**
 * Talkable legacy webhooks (talkable/talkable-docs:source/web_hooks.rst and web_hooks/*.rst; samples
 * @a84e339 as copied in referral-webhooks.md §5a). One URL can take every type.
 * Form-encoded POST: `key` (the site's static webhook security key), `site`, `type`, `extras` (JSON), `payload`
 * (a JSON string). No HMAC, no timestamp: `key` is compared in constant time, and `parse()` drops it so the
 * secret is never stored. No event ids: keys come from the ids in the payload (catalogue §5a).
 * 2xx = delivered, anything else is retried "continually". Talkable may add fields, never remove them: schemas
 * allow extra properties. Times are ISO-8601 with offsets ("2021-04-23T19:08:17.000-08:00") → UTC.
 *
 * Mapped:
 * - referral_web_hook (the referral became Approved) → identify advocate + friend, Referral Created (approved).
 *   The friend's purchase origin (`referred_origin`, else `referred.origin`; the 2023 sample has both and they
 *   disagree, the catalogue says prefer `referred_origin`) gives the referral id `talkable:<origin id>`, which the
 *   reward webhook's `friend_origin` links back to. The friend's order is not re-emitted as Order Completed: the
 *   shop reports its own orders.
 * - reward_web_hook (a new paid reward) → Referral Reward Earned; recipient by `reward.reason` (referred and
 *   click are friend rewards, referrer, shared, email_shared and signup advocate rewards — web_hooks/reward.rst).
 *   `amount` is money only for `rebate` incentives (null for coupons and "other"); its currency is the origins'
 *   `currency_iso_code`.
 * - offer_signup_web_hook (Advocate Signup form) → identify advocate; claim_signup_web_hook (Friend Email
 *   Gating) → identify advocate + friend, Referred Friend Signed Up. Neither carries a time: the first receive
 *   time (stored with the item) is used.
 * Unroutable (their answer is a decision, not an ack): check_unsubscribe_web_hook (the response body says
 * whether Talkable may email the person) and create_coupon_web_hook (Talkable only keeps the coupon when the
 * shop answered success, i.e. created it).
 * Stored, not routed: event_web_hook, post_share_web_hook, unsubscribe_web_hook.
 */
interface Origin {
  id: number | string
  type?: string
  email?: string | null
  customer_id?: string | number | null
  order_number?: string | number | null
  order_date?: string | null
  subtotal?: number | string | null
  currency_iso_code?: string | null
}
interface Person {
  email?: string | null
  first_name?: string | null
  last_name?: string | null
}
interface RewardParty {
  id?: number | string
  email?: string
  person?: Person | null
  origin?: Origin
}
interface TalkableForm {
  type: string
  site?: string
  extras?: unknown
  payload: Record<string, any>
  /** When the bridge first received this delivery (items() adds it; several hooks carry no time). */
  received_at?: string
}

const TYPES = [
  'referral_web_hook',
  'reward_web_hook',
  'event_web_hook',
  'post_share_web_hook',
  'offer_signup_web_hook',
  'claim_signup_web_hook',
  'create_coupon_web_hook',
  'unsubscribe_web_hook',
  'check_unsubscribe_web_hook'
]
const FRIEND_REASONS = new Set(['referred', 'click'])

const anyId = { type: ['integer', 'string'] }
const email = { type: 'string', format: 'email' }
const origin = {
  type: 'object',
  required: ['id'],
  properties: {
    id: anyId,
    email: { type: ['string', 'null'] },
    customer_id: { type: ['string', 'integer', 'null'] },
    order_number: { type: ['string', 'integer', 'null'] },
    order_date: { type: ['string', 'null'], format: 'date-time' },
    currency_iso_code: { type: ['string', 'null'] }
  }
}
const person = { type: ['object', 'null'], properties: { email: { type: ['string', 'null'] } } }

function when(type: string, payload: object): object {
  return { if: { properties: { type: { const: type } } }, then: { properties: { payload } } }
}

function form(request: WebhookRequest): URLSearchParams {
  return new URLSearchParams(request.rawBody.toString('utf8'))
}

/** `payload` and `extras` are JSON strings; a string that is not JSON stays a string and fails the schema. */
function jsonField(value: string | null): unknown {
  if (value === null) return undefined
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

/**
 * The raw form body with every `key` value masked, every other byte unchanged. Each field name is decoded as the
 * form parser decodes it (percent-escapes, `+`), so `k%65y=<secret>` is masked like `key=<secret>`.
 */
function redactRawBody(request: WebhookRequest): string {
  return request.rawBody
    .toString('utf8')
    .split('&')
    .map((field) => {
      const eq = field.indexOf('=')
      const rawName = eq < 0 ? field : field.slice(0, eq)
      let name: string
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '))
      } catch {
        name = rawName
      }
      return name === 'key' ? `${rawName}=[redacted]` : field
    })
    .join('&')
}

export const talkable: Source<TalkableForm> & { redactRawBody(request: WebhookRequest): string } = {
  name: 'talkable',
  secretEnv: ['TALKABLE_WEBHOOK_SECRET'],
  contentTypes: ['application/x-www-form-urlencoded'],
  label: 'Talkable (legacy webhooks)',
  dedupeKey: 'type + stable ids in the payload (reward id, origin id)',
  authScheme: 'form parameter `key` = the site webhook security key (static shared key, no signature)',
  sharedSecretOnly: true,

  verify(request, secret) {
    const key = form(request).get('key')
    if (!key) return { ok: false, reason: 'missing `key` form parameter' }
    return safeEqual(secret, key) ? { ok: true } : { ok: false, reason: '`key` does not match the webhook security key' }
  },

  parse(request) {
    const f = form(request)
    // `key` is the secret itself: it is checked by verify() and never stored.
    return compact({
      type: f.get('type') ?? undefined,
      site: f.get('site') ?? undefined,
      extras: jsonField(f.get('extras')),
      payload: jsonField(f.get('payload'))
    })
  },

  redactRawBody,

  payloadSchema: {
    type: 'object',
    required: ['type', 'payload'],
    properties: {
      type: { type: 'string', enum: TYPES },
      site: { type: 'string' },
      payload: { type: 'object' }
    },
    allOf: [
      when('referral_web_hook', {
        required: ['referrer', 'referred'],
        properties: {
          campaign: { type: 'object', properties: { id: anyId } },
          offer: { type: 'object', properties: { email, short_url_code: { type: 'string' } } },
          referrer: { type: 'object', required: ['id', 'email'], properties: { id: anyId, email, person, origin } },
          referred: { type: 'object', required: ['email'], properties: { email, person, origin } },
          referred_origin: origin
        },
        anyOf: [{ required: ['referred_origin'] }, { properties: { referred: { required: ['origin'] } } }]
      }),
      when('reward_web_hook', {
        required: ['reward'],
        properties: {
          person,
          advocate_origin: origin,
          friend_origin: origin,
          reward: {
            type: 'object',
            required: ['reason'],
            properties: {
              id: anyId,
              reason: { type: 'string', enum: ['referrer', 'referred', 'shared', 'email_shared', 'signup', 'click'] },
              incentive_type: { type: 'string' },
              amount: { type: ['number', 'string', 'null'] },
              coupon_code: { type: ['string', 'null'] }
            }
          }
        }
      }),
      when('offer_signup_web_hook', {
        required: ['email'],
        properties: { email, offer: { type: 'object', properties: { email, short_url_code: { type: 'string' } } } }
      }),
      when('claim_signup_web_hook', {
        required: ['email', 'offer'],
        properties: {
          email,
          offer: { type: 'object', required: ['email'], properties: { email, short_url_code: { type: 'string' } } }
        }
      })
    ]
  },

  unroutable(payload) {
    if (payload.type === 'check_unsubscribe_web_hook') {
      return 'Talkable check_unsubscribe_web_hook: the response ({"result": {"unsubscribed": …}}) decides whether Talkable emails this person; point it at the system that holds unsubscribes'
    }
    if (payload.type === 'create_coupon_web_hook') {
      return 'Talkable create_coupon_web_hook: Talkable keeps the coupon only if the answer says the shop created it; point it at the shop'
    }
    return undefined
  },

  items(parsed, request) {
    const p = parsed.payload
    const { type, site } = parsed
    let key: string
    switch (type) {
      case 'referral_web_hook':
        // The friend's purchase origin + the advocate's reward id (catalogue §5a).
        key = fieldsKey(type, site, friendOrigin(p)?.id, p.referrer?.id)
        break
      case 'reward_web_hook':
        key = p.reward?.id !== undefined ? fieldsKey(type, site, p.reward.id) : fieldsKey(type, site, JSON.stringify(p))
        break
      case 'event_web_hook':
        key = fieldsKey(type, site, p.origin?.id)
        break
      case 'post_share_web_hook':
        // No share id is documented: the origin and what was shared to whom.
        key = fieldsKey(type, site, p.origin?.id, p.share_type, JSON.stringify(p.share_info ?? null))
        break
      case 'offer_signup_web_hook':
      case 'claim_signup_web_hook':
        key = fieldsKey(type, site, p.campaign?.id, p.offer?.short_url_code, normalizeEmail(p.offer?.email), normalizeEmail(p.email))
        break
      default:
        key = fieldsKey(type, site, JSON.stringify(p))
    }
    const item: TalkableForm = { ...parsed, received_at: request.receivedAt.toISOString() }
    return [{ key, eventType: type, payload: item }]
  },

  normalize(item) {
    const f = item.payload as TalkableForm
    if (!f.received_at) throw new InvalidPayloadError('talkable item without received_at (items() adds it)')
    const receivedAt = f.received_at
    switch (f.type) {
      case 'referral_web_hook':
        return referral(f.payload, receivedAt)
      case 'reward_web_hook':
        return reward(f.payload, item.key, receivedAt)
      case 'offer_signup_web_hook':
        return [offerSignup(f.payload, receivedAt)]
      case 'claim_signup_web_hook':
        return claimSignup(f.payload, receivedAt)
      default:
        return []
    }
  }
}

function friendOrigin(p: Record<string, any>): Origin | undefined {
  return p.referred_origin ?? p.referred?.origin
}

function personId(emailValue: unknown, customerId: unknown): string | undefined {
  const e = normalizeEmail(emailValue)
  if (e) return e
  return customerId !== undefined && customerId !== null && customerId !== '' ? `talkable:${customerId}` : undefined
}

function advocateIdentify(emailValue: unknown, names: Person | null | undefined, code: string | undefined, timestamp: string): DraftMessage {
  const advocateEmail = normalizeEmail(emailValue)
  if (!advocateEmail) throw new InvalidPayloadError('the advocate has no email')
  return identifyDraft(
    {
      email: advocateEmail,
      first_name: names?.first_name,
      last_name: names?.last_name,
      referral_role: 'advocate',
      referral_code: code,
      source_platform: 'talkable'
    },
    { role: 'identify-advocate', userId: advocateEmail, timestamp }
  )
}

function referral(p: Record<string, any>, receivedAt: string): DraftMessage[] {
  const referrer = p.referrer as RewardParty
  const referred = p.referred as RewardParty
  const origin = friendOrigin(p)!
  const timestamp = origin.order_date ? fromIsoString(origin.order_date, 'referred_origin.order_date') : receivedAt
  const advocateId = personId(referrer.email, referrer.origin?.customer_id)!
  const friendEmail = normalizeEmail(referred.email)
  const friendId = personId(referred.email, origin.customer_id)!
  const referralId = `talkable:${origin.id}`
  const code = p.offer?.short_url_code as string | undefined
  return [
    advocateIdentify(referrer.email, referrer.person, code, timestamp),
    identifyDraft(
      {
        email: friendEmail,
        first_name: referred.person?.first_name,
        last_name: referred.person?.last_name,
        referral_role: 'friend',
        referred_by: advocateId,
        referral_id: referralId,
        source_platform: 'talkable'
      },
      { role: 'identify-friend', userId: friendId, timestamp }
    ),
    trackDraft(
      'Referral Created',
      {
        referral_id: referralId,
        referral_code: code,
        advocate_id: advocateId,
        advocate_email: normalizeEmail(referrer.email),
        friend_id: friendId,
        friend_email: friendEmail,
        campaign_id: p.campaign?.id === undefined ? undefined : String(p.campaign.id),
        // The referral webhook fires when the referral is approved.
        status: 'approved',
        source_platform: 'talkable'
      },
      { role: 'track', userId: friendId, timestamp }
    )
  ]
}

function reward(p: Record<string, any>, key: string, receivedAt: string): DraftMessage[] {
  const r = p.reward as { id?: number | string; reason: string; incentive_type?: string; amount?: number | string | null; coupon_code?: string | null }
  const recipient: 'advocate' | 'friend' = FRIEND_REASONS.has(r.reason) ? 'friend' : 'advocate'
  const advocateOrigin = p.advocate_origin as Origin | undefined
  const friendOriginValue = p.friend_origin as Origin | undefined
  const personEmail = (p.person as Person | null | undefined)?.email
  const advocateEmail = normalizeEmail(advocateOrigin?.email) ?? (recipient === 'advocate' ? normalizeEmail(personEmail) : undefined) ?? normalizeEmail(p.offer?.email)
  const friendEmail = normalizeEmail(friendOriginValue?.email) ?? (recipient === 'friend' ? normalizeEmail(personEmail) : undefined)
  const advocateId = advocateEmail ?? personId(undefined, advocateOrigin?.customer_id)
  const recipientId =
    recipient === 'advocate'
      ? advocateId
      : personId(friendEmail, friendOriginValue?.customer_id)
  if (!recipientId) throw new InvalidPayloadError(`reward_web_hook: no email or customer id for the ${recipient}`)
  let money: RewardMoney | undefined
  const currencyValue = (recipient === 'friend' ? friendOriginValue : advocateOrigin)?.currency_iso_code ?? advocateOrigin?.currency_iso_code ?? friendOriginValue?.currency_iso_code
  if (r.incentive_type === 'rebate' && r.amount !== null && r.amount !== undefined && currencyValue) {
    money = rewardFromDecimal(r.amount, currencyValue, 'reward.amount', 'origin.currency_iso_code')
  }
  // Only referral rewards belong to a referral (the friend's purchase); sharing and sign-up rewards do not.
  const ofReferral = (r.reason === 'referrer' || r.reason === 'referred') && friendOriginValue
  return [
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: r.id !== undefined ? String(r.id) : `talkable_${key.slice(0, 24)}`,
        reward_type: r.incentive_type ?? 'other',
        recipient_role: recipient,
        ...money,
        coupon_code: r.coupon_code,
        referral_id: ofReferral ? `talkable:${friendOriginValue.id}` : undefined,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_email: friendEmail,
        order_id: ofReferral && friendOriginValue.order_number != null ? String(friendOriginValue.order_number) : undefined,
        source_platform: 'talkable'
      },
      { role: 'track', userId: recipientId, timestamp: receivedAt }
    )
  ]
}

function offerSignup(p: Record<string, any>, timestamp: string): DraftMessage {
  // `email` is who submitted the Advocate Signup form; `offer.email` is documented as the referrer's email. The
  // documented sample has two different addresses, so the offer's code is only attached when they are the same person.
  const sameAsOffer = normalizeEmail(p.offer?.email) === normalizeEmail(p.email)
  return advocateIdentify(p.email, p, sameAsOffer ? p.offer?.short_url_code : undefined, timestamp)
}

function claimSignup(p: Record<string, any>, timestamp: string): DraftMessage[] {
  const advocateEmail = normalizeEmail(p.offer.email)!
  const friendEmail = normalizeEmail(p.email)!
  const code = p.offer.short_url_code as string | undefined
  return [
    advocateIdentify(advocateEmail, undefined, code, timestamp),
    identifyDraft(
      {
        email: friendEmail,
        first_name: p.first_name,
        last_name: p.last_name,
        referral_role: 'friend',
        referred_by: advocateEmail,
        source_platform: 'talkable'
      },
      { role: 'identify-friend', userId: friendEmail, timestamp }
    ),
    trackDraft(
      'Referred Friend Signed Up',
      {
        referral_code: code,
        advocate_id: advocateEmail,
        advocate_email: advocateEmail,
        friend_id: friendEmail,
        friend_email: friendEmail,
        friend_first_name: p.first_name,
        source_platform: 'talkable'
      },
      { role: 'track', userId: friendEmail, timestamp }
    )
  ]
}
