import { Webhook } from 'standardwebhooks'
import type { Source } from './types.ts'
import {
  currencyCode,
  decimalToMinor,
  fromIsoString,
  integerMinor,
  minorToDecimal,
  normalizeEmail
} from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { compact } from '../normalize/compact.ts'
import type { TrackEventName } from '../generated/tracking-plan.ts'
import { trackDraft, type Loose, type PropertiesOf } from '../tracking-plan/draft.ts'

/**
 * A generic Standard Webhooks source (standard-webhooks/standard-webhooks:spec/standard-webhooks.md v1.0.0) for
 * senders that speak the spec: our own services, or tools like Tolt. POST /webhooks/standard.
 *
 * Authentication (the spec, verified with the `standardwebhooks` package):
 *   webhook-id: msg_…           unique per event, the same on every retry → the idempotency key
 *   webhook-timestamp: <unix s> time of the attempt; more than 5 minutes from now is rejected
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + raw body)> (space-separated list)
 *   secret: STANDARD_WEBHOOK_SECRET = whsec_<base64 key>
 *
 * Contract of the body: `{ "type": "<event>", "timestamp": "<ISO-8601>", "data": { … } }`
 *   type                       → track event
 *   referral.created           → Referral Created
 *   referral.friend_signed_up  → Referred Friend Signed Up
 *   order.completed            → Order Completed
 *   referral.reward_earned     → Referral Reward Earned
 *   referral.revenue_won       → Referral Revenue Won
 * Any other dotted type is accepted, stored and visible, and routes nothing.
 *
 * `data` holds the event's properties exactly as tracking-plan/events/*.yaml names them (snake_case); they pass
 * through to the track call, so a property the plan adds later needs no change here. On the way:
 *   - money: send integer minor units (`revenue_minor`, `reward_amount_minor`, `amount_minor`) and/or the decimal
 *     as a string (`"revenue": "403.00"`) plus `currency`; the missing half is computed, and both must agree;
 *   - `*_email` (and `*_id` holding an email) are lower-cased, `currency` upper-cased, `closed_at` / `discount_expires_at` converted to UTC;
 *   - `source_platform` defaults to "standard";
 *   - `user_id` (optional, not a property) sets the Segment userId. Otherwise: the friend (friend_email, then
 *     friend_id) for referral.created / referral.friend_signed_up / order.completed, the recipient for
 *     referral.reward_earned, the advocate for referral.revenue_won; failing all, anonymousId `standard:<webhook-id>`.
 * The event's required properties are required in `data` (checked before storing); the tracking plan checks the rest.
 */
interface StandardPayload {
  type: string
  timestamp: string
  data: Record<string, unknown>
}

const TOLERANCE_SECONDS = 5 * 60

const EVENTS: Record<string, TrackEventName> = {
  'referral.created': 'Referral Created',
  'referral.friend_signed_up': 'Referred Friend Signed Up',
  'order.completed': 'Order Completed',
  'referral.reward_earned': 'Referral Reward Earned',
  'referral.revenue_won': 'Referral Revenue Won'
}

/** [decimal property, minor-units property] pairs that are money in `currency`. */
const MONEY: Array<[string, string]> = [
  ['revenue', 'revenue_minor'],
  ['reward_amount', 'reward_amount_minor'],
  ['amount', 'amount_minor']
]
const DATE_TIMES = ['closed_at', 'discount_expires_at']

const str = { type: 'string', minLength: 1 }

function requires(type: string, required: string[], money?: [string, string]): object {
  const data: Record<string, unknown> = {
    required: money ? [...required, 'currency'] : required,
    properties: Object.fromEntries(required.map((field) => [field, field === 'status' || field === 'recipient_role' ? { type: 'string' } : str]))
  }
  if (money) data.anyOf = [{ required: [money[0]] }, { required: [money[1]] }]
  return { if: { properties: { type: { const: type } } }, then: { properties: { data } } }
}

export const standard: Source<StandardPayload> = {
  name: 'standard',
  secretEnv: ['STANDARD_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'Standard Webhooks (generic)',
  dedupeKey: '`webhook-id`',
  authScheme:
    'Standard Webhooks: webhook-signature v1,<base64 HMAC-SHA256(whsec key, webhook-id.webhook-timestamp.raw body)>, timestamp within 5 minutes',

  verify(request, secret) {
    const headers = {
      'webhook-id': request.headers['webhook-id'],
      'webhook-timestamp': request.headers['webhook-timestamp'],
      'webhook-signature': request.headers['webhook-signature']
    }
    const missing = Object.entries(headers).filter(([, v]) => !v).map(([k]) => k)
    if (missing.length) return { ok: false, reason: `missing ${missing.join(', ')} header` }
    // The package checks the tolerance against the wall clock; we also hold it against our receive time.
    const ts = Number(headers['webhook-timestamp'])
    if (!Number.isInteger(ts) || Math.abs(request.receivedAt.getTime() / 1000 - ts) > TOLERANCE_SECONDS) {
      return { ok: false, reason: 'webhook-timestamp is not within 5 minutes of now (replayed or clock skew)' }
    }
    let webhook: Webhook
    try {
      webhook = new Webhook(secret)
    } catch {
      return { ok: false, reason: 'STANDARD_WEBHOOK_SECRET is not a whsec_<base64> secret' }
    }
    try {
      webhook.verify(request.rawBody, headers as Record<string, string>, { jsonParse: false })
      return { ok: true }
    } catch (error) {
      return { ok: false, reason: `webhook-signature: ${(error as Error).message}` }
    }
  },

  payloadSchema: {
    type: 'object',
    required: ['type', 'timestamp', 'data'],
    properties: {
      type: { type: 'string', pattern: '^[a-z0-9_]+(\\.[a-z0-9_]+)+$' },
      timestamp: { type: 'string', format: 'date-time' },
      data: { type: 'object' }
    },
    allOf: [
      requires('referral.created', ['referral_id', 'advocate_id', 'friend_id', 'status']),
      requires('referral.friend_signed_up', ['friend_id']),
      requires('order.completed', ['order_id'], ['revenue', 'revenue_minor']),
      requires('referral.reward_earned', ['reward_id', 'reward_type', 'recipient_role']),
      requires('referral.revenue_won', ['opportunity_id', 'referral_id', 'advocate_id'], ['amount', 'amount_minor'])
    ]
  },

  items(payload, request) {
    return [{ key: request.headers['webhook-id']!, eventType: payload.type, payload }]
  },

  normalize(item) {
    const p = item.payload as StandardPayload
    const event = EVENTS[p.type]
    if (!event) return []
    const { user_id: explicitUser, ...data } = p.data
    const properties = normalizeProperties(data)
    const userId = userOf(p.type, explicitUser, properties)
    return [
      trackDraft(
        event,
        // Escape hatch (deliberate): by contract `data` passes through as the plan names the properties, so their
        // shape is only known at runtime. The event name is checked by tsc (EVENTS); the properties by the runtime
        // plan check (TrackingPlan.check) on every message, and the required ones by payloadSchema before storing.
        properties as Loose<PropertiesOf<typeof event>>,
        {
          role: 'track',
          ...(userId ? { userId } : { anonymousId: `standard:${item.key}` }),
          timestamp: fromIsoString(p.timestamp, 'timestamp')
        }
      )
    ]
  }
}

function normalizeProperties(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data }
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string') continue
    // Ids that are emails follow the userId convention: lower-cased email.
    if (key.endsWith('_email') || (key.endsWith('_id') && value.includes('@'))) out[key] = normalizeEmail(value)
  }
  for (const field of DATE_TIMES) {
    if (out[field] !== undefined && out[field] !== null) out[field] = fromIsoString(out[field], `data.${field}`)
  }
  const moneyFields = MONEY.filter(([decimal, minor]) => isSet(out[decimal]) || isSet(out[minor]))
  if (moneyFields.length || isSet(out.currency)) {
    const currency = currencyCode(out.currency, 'data.currency')
    out.currency = currency
    for (const [decimal, minorField] of moneyFields) {
      const fromDecimal = isSet(out[decimal]) ? decimalToMinor(out[decimal], currency, `data.${decimal}`) : undefined
      const minor = isSet(out[minorField]) ? integerMinor(out[minorField], `data.${minorField}`) : fromDecimal!
      if (fromDecimal !== undefined && fromDecimal !== minor) {
        throw new InvalidPayloadError(`data.${decimal} (${String(out[decimal])}) and data.${minorField} (${minor}) disagree`)
      }
      out[decimal] = minorToDecimal(minor, currency)
      out[minorField] = minor
    }
  }
  if (!isSet(out.source_platform)) out.source_platform = 'standard'
  return compact(out)
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== ''
}

function firstId(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    if (typeof c === 'string' && c.trim()) return c.includes('@') ? normalizeEmail(c) : c.trim()
  }
  return undefined
}

function userOf(type: string, explicit: unknown, p: Record<string, unknown>): string | undefined {
  if (isSet(explicit)) {
    const id = firstId(explicit)
    if (!id) throw new InvalidPayloadError('data.user_id must be a non-empty string')
    return id
  }
  switch (type) {
    case 'referral.reward_earned':
      return p.recipient_role === 'friend' ? firstId(p.friend_email, p.friend_id) : firstId(p.advocate_email, p.advocate_id)
    case 'referral.revenue_won':
      return firstId(p.advocate_email, p.advocate_id)
    default:
      return firstId(p.friend_email, p.friend_id)
  }
}
