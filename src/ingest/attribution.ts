import type { NewInboxItem, NewMessage, ReferralKeys, ReferralMatch, Store } from '../queue/store.ts'
import type { Destination } from '../destinations/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { TrackMessage } from '../messages.ts'
import { normalizeEmail } from '../normalize/units.ts'
import { routeTo } from './normalize.ts'

/**
 * Attribution from what the bridge already knows (scenario 3). Most shops report purchases from a system that
 * does not know about referrals (Shopify `orders/create`, a Standard Webhooks `order.completed`, an `Order
 * Completed` forwarded by Segment): the order names the buyer, not the advocate. Before the webhook is committed,
 * every `Order Completed` without an `advocate_id` is joined to the referral already in the store that matches the
 * buyer (Store.findReferral: the order's codes first — the referral or discount code — then the buyer's email,
 * then the platform customer id). A match sets `advocate_id` (and `advocate_email`, `referral_id`, `referral_code`
 * where the order has none) and routes the message again, so the advocate notification destinations (in_app,
 * app_webhook) now take it. The message id is unchanged: a redelivered order is still a duplicate.
 *
 * An order that matches nothing stays as it was, with the reason on its inbox item (`events show` prints it).
 * Only referrals stored BEFORE the order count: a referral that arrives after its friend's order does not
 * reattribute it.
 */
export interface AttributionDeps {
  store: Store
  plan: TrackingPlan
  destinations: Destination[]
  receivedAt: number
}

const ORDER = 'Order Completed'

export async function attributeOrders(source: string, items: NewInboxItem[], deps: AttributionDeps): Promise<NewInboxItem[]> {
  const out: NewInboxItem[] = []
  for (const item of items) {
    const notes: string[] = []
    const messages: NewMessage[] = []
    for (const m of item.messages) {
      if (!needsAttribution(m)) {
        messages.push(m)
        continue
      }
      const order = m.message as TrackMessage
      const keys = orderKeys(source, item.payload, order)
      const match = await deps.store.findReferral(keys)
      if (!match) {
        notes.push(`not attributed: no stored referral matches ${describeKeys(keys)}`)
        messages.push(m)
        continue
      }
      const attributed = withReferral(order, match)
      const check = deps.plan.check(attributed)
      if (!check.ok) {
        notes.push(`not attributed: the referral ${match.messageId} would break the plan (${check.reasons.join('; ')})`)
        messages.push(m)
        continue
      }
      let destinations = routeTo(attributed, deps.destinations, deps.receivedAt)
      // An order forwarded by Segment is already in Segment: sending it back would count the purchase twice there.
      if (source === 'segment') destinations = destinations.filter((d) => d.destination !== 'segment')
      notes.push(`attributed to ${match.advocateId} by ${match.matchedBy} ${match.value} (referral event ${match.messageId})`)
      messages.push({ ...m, message: attributed, destinations })
    }
    out.push(notes.length ? { ...item, messages, reason: [item.reason, ...notes].filter(Boolean).join('; ') } : item)
  }
  return out
}

function needsAttribution(m: NewMessage): boolean {
  if (m.violations?.length) return false
  const msg = m.message
  if (msg.type !== 'track' || msg.event !== ORDER) return false
  const advocate = msg.properties.advocate_id
  return typeof advocate !== 'string' || advocate.trim() === ''
}

function withReferral(order: TrackMessage, match: ReferralMatch): TrackMessage {
  const p = order.properties
  const advocateEmail = normalizeEmail(match.advocateEmail) ?? (match.advocateId.includes('@') ? normalizeEmail(match.advocateId) : undefined)
  const attributed: TrackMessage = {
    ...order,
    properties: {
      ...p,
      advocate_id: match.advocateId,
      advocate_email: p.advocate_email ?? advocateEmail,
      referral_id: p.referral_id ?? match.referralId,
      referral_code: p.referral_code ?? match.referralCode
    },
    context: {
      ...order.context,
      referral: {
        source: order.context.referral?.source ?? '',
        idempotency_key: order.context.referral?.idempotency_key ?? '',
        attribution: { matched_by: match.matchedBy, referral_message_id: match.messageId }
      }
    }
  }
  return attributed
}

/** Note attributes a shop's referral app may set on a Shopify order (shopify.dev REST Order `note_attributes`). */
const CODE_ATTRIBUTES = new Set(['referral_code', 'referral', 'ref', 'ref_code', 'discount_code', 'coupon'])

/**
 * The buyer's identity as the order gives it: from the normalized message (any source), and for Shopify from the
 * raw Order too — every `discount_codes[].code`, referral codes in `note_attributes`, and the customer id the
 * `customers/create` sign-up used when the friend had no email (`shopify:<id>`).
 */
export function orderKeys(source: string, payload: unknown, order: TrackMessage): ReferralKeys {
  const p = order.properties
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined)
  const codes = [str(p.referral_code), str(p.coupon)]
  const emails = [normalizeEmail(p.friend_email)]
  const ids = [str(p.friend_id), str(order.userId)]
  if (source === 'shopify' && payload && typeof payload === 'object') {
    const o = payload as {
      email?: unknown
      contact_email?: unknown
      customer?: { id?: unknown; email?: unknown } | null
      discount_codes?: Array<{ code?: unknown }>
      note_attributes?: Array<{ name?: unknown; value?: unknown }>
    }
    for (const d of o.discount_codes ?? []) codes.push(str(d?.code))
    for (const a of o.note_attributes ?? []) {
      if (typeof a?.name === 'string' && CODE_ATTRIBUTES.has(a.name.trim().toLowerCase())) codes.push(str(a.value))
    }
    emails.push(normalizeEmail(o.email), normalizeEmail(o.contact_email), normalizeEmail(o.customer?.email))
    const customerId = str(o.customer?.id)
    if (customerId) ids.push(`shopify:${customerId}`)
  }
  const defined = (xs: Array<string | undefined>) => [...new Set(xs.filter((x): x is string => !!x))]
  return { codes: defined(codes), emails: defined(emails), ids: defined(ids).filter((id) => !id.includes('@')) }
}

function describeKeys(keys: ReferralKeys): string {
  const parts = [
    keys.codes?.length ? `code ${keys.codes.join(', ')}` : undefined,
    keys.emails?.length ? `email ${keys.emails.join(', ')}` : undefined,
    keys.ids?.length ? `customer id ${keys.ids.join(', ')}` : undefined
  ].filter(Boolean)
  return parts.length ? parts.join(' / ') : 'the order (no code, email or customer id on it)'
}
