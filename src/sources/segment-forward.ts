import { InvalidPayloadError } from '../normalize/errors.ts'
import { createHmac } from 'node:crypto'
import type { Source } from './types.ts'
import { safeEqual } from './signatures.ts'
import { currencyCode, decimalToMinor, fromIsoString, minorToDecimal, normalizeEmail } from '../normalize/units.ts'
import { orQuarantine, trackDraft } from '../tracking-plan/draft.ts'
import type { DraftMessage } from '../messages.ts'

/**
 * Segment events forwarded to the bridge: POST /webhooks/segment from a Segment **Webhooks** destination (classic,
 * or Webhook (Actions) with batching off), so a sign-up tracked elsewhere in a Segment workspace (the shop's
 * backend, a source function) can reach the bridge's time-sensitive Klaviyo lane.
 *
 * Authentication (reference/segment.md §7): `X-Signature` = hex HMAC-SHA1(shared secret, raw JSON body), the
 * secret being the destination's "Shared Secret" setting = SEGMENT_WEBHOOK_SECRET here (SEGMENT_WEBHOOK_SECRET_PREVIOUS
 * is also tried during a rotation). No timestamp is signed; Segment dedupes on messageId and so do we: the item key
 * is the event's `messageId`, so Segment's retries (4 h of them) store nothing twice.
 *
 * Decisions:
 * - One event per request. Webhook (Actions) batches sign only the FIRST event of the array, so the rest would be
 *   unauthenticated: an array body fails the schema (422). Turn batching off for this destination.
 * - `track "Order Completed"` (Segment Spec e-commerce: `order_id`, `revenue` or else `total`, `currency`, `coupon`)
 *   routes too, so a purchase tracked by the shop's own Segment source reaches the advocate notifications: the
 *   bridge joins it to the stored referral by the buyer's email / id / coupon (src/ingest/attribution.ts), and
 *   does not send it back to Segment. Money is re-read exactly (decimal → minor units in the currency).
 * - Only `track "Referred Friend Signed Up"` (and `Order Completed`, above) routes. Its properties are re-read as the tracking plan names them
 *   (emails lower-cased, `discount_expires_at` to UTC; unknown properties dropped), then the plan check runs as for
 *   any source, so a malformed forwarded event is quarantined with a reason instead of mailing a friend.
 *   Everything else (other events, identify, page ...) is stored and routes nothing, answered 200 so Segment does
 *   not retry it; filter the destination to the one event to avoid the traffic.
 * - Loop guard: events the bridge itself produced (messageId `rb-…`, or `context.referral` set) are stored and
 *   ignored. Without it, bridge → Segment → Webhooks destination → bridge would mail the friend twice.
 */
interface SegmentEvent {
  type: string
  messageId: string
  event?: string
  userId?: string | null
  anonymousId?: string | null
  timestamp: string
  properties?: Record<string, unknown>
  context?: Record<string, unknown>
}

const SIGN_UP = 'Referred Friend Signed Up'
const ORDER = 'Order Completed'

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined)
/** An id that is an email is lower-cased like every email the bridge emits. */
const idOrEmail = (v: unknown): string | undefined => normalizeEmail(text(v)) ?? text(v)

export const segmentForward: Source<SegmentEvent> = {
  name: 'segment',
  secretEnv: ['SEGMENT_WEBHOOK_SECRET', 'SEGMENT_WEBHOOK_SECRET_PREVIOUS'],
  contentTypes: ['application/json'],
  label: 'Segment (forwarded Referred Friend Signed Up, Order Completed)',
  dedupeKey: 'Segment `messageId`',
  authScheme: 'X-Signature: hex HMAC-SHA1(shared secret, raw body) (Segment Webhooks destination)',

  verify(request, secret) {
    const received = request.headers['x-signature']
    if (!received) return { ok: false, reason: 'missing X-Signature header (set the Shared Secret of the Segment Webhooks destination)' }
    const expected = createHmac('sha1', secret).update(request.rawBody).digest('hex')
    return safeEqual(expected, received.trim().toLowerCase())
      ? { ok: true }
      : { ok: false, reason: 'X-Signature does not match hex HMAC-SHA1(shared secret, body)' }
  },

  payloadSchema: {
    type: 'object',
    required: ['type', 'messageId', 'timestamp'],
    properties: {
      type: { type: 'string', enum: ['track', 'identify', 'page', 'screen', 'group', 'alias'] },
      messageId: { type: 'string', minLength: 1, maxLength: 200 },
      event: { type: 'string', minLength: 1 },
      userId: { type: ['string', 'null'] },
      anonymousId: { type: ['string', 'null'] },
      timestamp: { type: 'string', format: 'date-time' },
      properties: { type: 'object' },
      context: { type: 'object' }
    },
    if: { properties: { type: { const: 'track' } } },
    then: { required: ['event'] }
  },

  items(payload) {
    return [{ key: payload.messageId, eventType: payload.type === 'track' ? (payload.event ?? 'track') : payload.type, payload }]
  },

  normalize(item) {
    const e = item.payload as SegmentEvent
    if (e.messageId.startsWith('rb-') || (e.context && 'referral' in e.context)) return []
    if (e.type === 'track' && e.event === ORDER) return [forwardedOrder(e)]
    if (e.type !== 'track' || e.event !== SIGN_UP) return []
    const p = e.properties ?? {}
    const friendEmail = normalizeEmail(text(p.friend_email))
    const friendId = idOrEmail(p.friend_id) ?? friendEmail ?? idOrEmail(e.userId)
    const advocateEmail = normalizeEmail(text(p.advocate_email))
    const userId = friendEmail ?? idOrEmail(e.userId) ?? friendId
    const expires = text(p.discount_expires_at)
    return [
      trackDraft(
        SIGN_UP,
        {
          referral_id: text(p.referral_id),
          referral_code: text(p.referral_code),
          advocate_id: idOrEmail(p.advocate_id) ?? advocateEmail,
          advocate_email: advocateEmail,
          advocate_name: text(p.advocate_name),
          // Required by the plan: a forwarded sign-up without any friend id is quarantined with that reason.
          friend_id: orQuarantine(friendId),
          friend_email: friendEmail,
          friend_first_name: text(p.friend_first_name),
          discount_code: text(p.discount_code),
          discount_expires_at: expires ? fromIsoString(expires, 'properties.discount_expires_at') : undefined,
          source_platform: text(p.source_platform) ?? 'segment'
        },
        {
          role: 'track',
          ...(userId ? { userId } : { anonymousId: text(e.anonymousId) ?? `segment:${e.messageId}` }),
          timestamp: fromIsoString(e.timestamp, 'timestamp')
        }
      )
    ]
  }
}

function forwardedOrder(e: SegmentEvent): DraftMessage {
  const p = e.properties ?? {}
  const traits = (e.context?.traits ?? {}) as Record<string, unknown>
  // Required by the plan: an order without a currency or an amount is quarantined with that reason, not guessed.
  const currency = text(p.currency) ? currencyCode(p.currency, 'properties.currency') : undefined
  const amount = p.revenue ?? p.total
  // Order Completed v2 lets the amount be unknown (absent), never an amount without its currency.
  if (amount !== undefined && amount !== null && !currency) throw new InvalidPayloadError('properties.currency is required when properties.revenue (or total) is given')
  const minor = currency && amount !== undefined && amount !== null ? decimalToMinor(amount, currency, p.revenue !== undefined ? 'properties.revenue' : 'properties.total') : undefined
  const friendEmail = normalizeEmail(text(p.friend_email) ?? text(p.email) ?? text(traits.email))
  const friendId = idOrEmail(p.friend_id) ?? idOrEmail(e.userId) ?? friendEmail
  const userId = idOrEmail(e.userId) ?? friendId
  return trackDraft(
    ORDER,
    {
      order_id: orQuarantine(text(p.order_id)),
      revenue: minor === undefined ? undefined : minorToDecimal(minor, currency!),
      revenue_minor: minor,
      currency: minor === undefined ? undefined : currency,
      revenue_known: minor !== undefined,
      referral_id: text(p.referral_id),
      referral_code: text(p.referral_code) ?? text(p.coupon),
      advocate_id: idOrEmail(p.advocate_id) ?? normalizeEmail(text(p.advocate_email)),
      advocate_email: normalizeEmail(text(p.advocate_email)),
      friend_id: friendId,
      friend_email: friendEmail,
      source_platform: text(p.source_platform) ?? 'segment'
    },
    {
      role: 'track',
      ...(userId ? { userId } : { anonymousId: text(e.anonymousId) ?? `segment:${e.messageId}` }),
      timestamp: fromIsoString(e.timestamp, 'timestamp')
    }
  )
}
