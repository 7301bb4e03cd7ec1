import type { Source } from './types.ts'
import { hmacSha256, safeEqual } from './signatures.ts'
import { currencyCode, decimalToMinor, fromIsoString, minorToDecimal, normalizeEmail } from '../normalize/units.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'
import type { DraftMessage } from '../messages.ts'

/**
 * Shopify `orders/create` as a purchase source (shopify.dev/docs/apps/build/webhooks/verify-deliveries,
 * /delivery-structure). The body is the REST Order resource; money fields are decimal strings ("403.00").
 * Signature: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256(app client secret, raw body), no timestamp.
 * Idempotency: `X-Shopify-Event-Id` with the topic when present — Shopify's duplicate guidance names the event id
 * ("the same value across more than one webhook indicates a duplicate", shopify.dev/docs/apps/build/webhooks/
 * ignore-duplicates); a resend of the same event can carry a new `X-Shopify-Webhook-Id`, and two subscriptions to
 * one topic deliver the same event twice. Else `X-Shopify-Webhook-Id`, else the order/customer id.
 *
 * Also `customers/create` as a sign-up source (scenario 3): the REST Customer resource. A new customer is a
 * referred friend when the shop's referral app stored a referral code on them, read from (first wins):
 *   1. metafields in the namespace `referral` — Shopify includes them in the webhook body when the subscription
 *      lists the namespace (`metafieldNamespaces: ["referral"]`): keys `code` (or `referral_code`), `referral_id`,
 *      `advocate_email`, `advocate_name`, `discount_code`, `discount_expires_at`;
 *   2. customer tags `referral:<code>` (or `referral_code:<code>`) and `referred_by:<advocate email>` — what a
 *      referral app can set without metafields.
 * Such a customer → identify friend (+ identify advocate when the advocate email is known) + `Referred Friend
 * Signed Up` with the personalisation fields (friend_first_name ← first_name). A customer without a referral code
 * is stored and routes nothing (most sign-ups are not referrals).
 *
 * Decisions:
 * - Only `orders/create` and `customers/create` are handled. Any other topic (or none) is unroutable (501, nothing
 *   stored): a 501 makes a mis-subscribed topic visible on both sides. Shopify retries it 8 times over 4 hours, then
 *   deletes an Admin-API-created subscription, which is what a wrong subscription deserves.
 * - One payload schema serves both topics (the schema is checked before the topic is looked at): a body with
 *   `total_price` is checked as an Order, one without as a Customer; `unroutable()` refuses a body whose shape does
 *   not match its topic.
 * - Test orders (`test: true`, including Shopify's "Send test notification", a voided and cancelled order) and
 *   orders cancelled at creation are stored but route nothing: they are not completed purchases.
 * - The buyer is not identified as a referral `friend`: Shopify does not say whether the discount code was a
 *   referral code. The order carries the code (`referral_code` = discount_codes[0].code) for attribution.
 * - Order and customer ids are 64-bit integers: `parse()` keeps integers beyond 2^53 as exact strings.
 */
interface ShopifyOrder {
  id: number | string
  email?: string | null
  contact_email?: string | null
  created_at: string
  total_price: string
  currency: string
  test?: boolean
  cancelled_at?: string | null
  financial_status?: string | null
  discount_codes?: Array<{ code?: string; amount?: string; type?: string }>
  customer?: { id?: number | string; email?: string | null } | null
}

const HANDLED_TOPIC = 'orders/create'
const CUSTOMER_TOPIC = 'customers/create'

/** The REST Customer resource, as far as a referral sign-up needs it. */
interface ShopifyCustomer {
  id: number | string
  email?: string | null
  first_name?: string | null
  last_name?: string | null
  created_at: string
  note?: string | null
  /** Comma-separated. */
  tags?: string | null
  metafields?: Array<{ namespace?: string; key?: string; value?: unknown }> | null
}

const bigId = { type: ['integer', 'string'], pattern: '^[0-9]+$' }
const decimalString = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?$' }

/**
 * JSON.parse, except that integer literals beyond Number.MAX_SAFE_INTEGER become exact decimal strings
 * (JSON.parse would turn 820982911946154508 into 820982911946154500). Node 20 has no JSON.parse source access.
 */
function parseJsonKeepingBigIntegers(text: string): unknown {
  let out = ''
  let copied = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (inString) {
      if (ch === '\\') i++
      else if (ch === '"') inString = false
      continue
    }
    if (ch === '"') {
      inString = true
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      // Outside strings only numbers contain digits or '-'.
      let end = i + 1
      while (end < text.length && /[0-9.eE+-]/.test(text[end])) end++
      const token = text.slice(i, end)
      if (/^-?[0-9]+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += text.slice(copied, i) + `"${token}"`
        copied = end
      }
      i = end - 1
    }
  }
  return JSON.parse(out + text.slice(copied))
}

const orderSchema = {
  type: 'object',
  required: ['id', 'created_at', 'total_price', 'currency'],
  properties: {
    id: bigId,
    email: { type: ['string', 'null'] },
    contact_email: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    total_price: decimalString,
    currency: { type: 'string', pattern: '^[A-Za-z]{3}$' },
    test: { type: 'boolean' },
    cancelled_at: { type: ['string', 'null'] },
    discount_codes: {
      type: 'array',
      items: { type: 'object', properties: { code: { type: 'string' }, amount: { type: 'string' } } }
    },
    customer: {
      type: ['object', 'null'],
      properties: { id: bigId, email: { type: ['string', 'null'] } }
    }
  }
}

const customerSchema = {
  type: 'object',
  required: ['id', 'created_at'],
  properties: {
    id: bigId,
    email: { type: ['string', 'null'] },
    first_name: { type: ['string', 'null'] },
    last_name: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    tags: { type: ['string', 'null'] },
    metafields: {
      type: ['array', 'null'],
      items: { type: 'object', properties: { namespace: { type: 'string' }, key: { type: 'string' } } }
    }
  }
}

const REFERRAL_NAMESPACE = 'referral'

/** The referral fields a shop's referral app left on the customer: `referral` metafields first, then tags. */
function customerReferral(c: ShopifyCustomer) {
  const meta = new Map<string, string>()
  for (const m of c.metafields ?? []) {
    if (m?.namespace !== REFERRAL_NAMESPACE || typeof m.key !== 'string') continue
    const v = typeof m.value === 'string' ? m.value.trim() : typeof m.value === 'number' ? String(m.value) : ''
    if (v) meta.set(m.key, v)
  }
  const tags = new Map<string, string>()
  for (const tag of (c.tags ?? '').split(',')) {
    const at = tag.indexOf(':')
    if (at > 0) tags.set(tag.slice(0, at).trim().toLowerCase(), tag.slice(at + 1).trim())
  }
  const pick = (...values: Array<string | undefined>) => values.find((v) => v !== undefined && v !== '')
  return {
    code: pick(meta.get('code'), meta.get('referral_code'), tags.get('referral'), tags.get('referral_code')),
    referralId: pick(meta.get('referral_id')),
    advocateEmail: normalizeEmail(pick(meta.get('advocate_email'), tags.get('referred_by'))),
    advocateName: pick(meta.get('advocate_name')),
    discountCode: pick(meta.get('discount_code')),
    discountExpiresAt: pick(meta.get('discount_expires_at'))
  }
}

function normalizeCustomer(c: ShopifyCustomer): DraftMessage[] {
  const ref = customerReferral(c)
  if (!ref.code) return []
  const friendEmail = normalizeEmail(c.email)
  const friendId = friendEmail ?? `shopify:${c.id}`
  const timestamp = fromIsoString(c.created_at, 'created_at')
  const firstName = c.first_name?.trim() || undefined
  const out: DraftMessage[] = []
  if (ref.advocateEmail) {
    out.push(
      identifyDraft(
        { email: ref.advocateEmail, referral_role: 'advocate', referral_code: ref.code, source_platform: 'shopify' },
        { role: 'identify-advocate', userId: ref.advocateEmail, timestamp }
      )
    )
  }
  out.push(
    identifyDraft(
      {
        email: friendEmail,
        first_name: firstName,
        last_name: c.last_name?.trim() || undefined,
        referral_role: 'friend',
        referred_by: ref.advocateEmail,
        referral_id: ref.referralId,
        source_platform: 'shopify'
      },
      { role: 'identify-friend', userId: friendId, timestamp }
    ),
    trackDraft(
      'Referred Friend Signed Up',
      {
        referral_id: ref.referralId,
        referral_code: ref.code,
        advocate_id: ref.advocateEmail,
        advocate_email: ref.advocateEmail,
        advocate_name: ref.advocateName,
        friend_id: friendId,
        friend_email: friendEmail,
        friend_first_name: firstName,
        discount_code: ref.discountCode,
        discount_expires_at: ref.discountExpiresAt ? fromIsoString(ref.discountExpiresAt, 'metafields.referral.discount_expires_at') : undefined,
        source_platform: 'shopify'
      },
      { role: 'track', userId: friendId, timestamp }
    )
  )
  return out
}

export const shopify: Source<ShopifyOrder | ShopifyCustomer> = {
  name: 'shopify',
  secretEnv: ['SHOPIFY_WEBHOOK_SECRET', 'SHOPIFY_WEBHOOK_SECRET_PREVIOUS'],
  contentTypes: ['application/json'],
  label: 'Shopify (orders/create, customers/create)',
  dedupeKey: '`X-Shopify-Event-Id` + topic, else `X-Shopify-Webhook-Id`',
  authScheme: 'X-Shopify-Hmac-Sha256: base64 HMAC-SHA256(app client secret, raw body)',

  verify(request, secret) {
    const received = request.headers['x-shopify-hmac-sha256']
    if (!received) return { ok: false, reason: 'missing X-Shopify-Hmac-Sha256 header' }
    return safeEqual(hmacSha256(secret, request.rawBody, 'base64'), received.trim())
      ? { ok: true }
      : { ok: false, reason: 'X-Shopify-Hmac-Sha256 does not match base64 HMAC-SHA256(client secret, body)' }
  },

  parse(request) {
    return parseJsonKeepingBigIntegers(request.rawBody.toString('utf8'))
  },

  // A body with total_price is an Order, one without a Customer (the topic is checked in unroutable()).
  payloadSchema: {
    if: { type: 'object', required: ['total_price'] },
    then: orderSchema,
    else: customerSchema
  },

  unroutable(payload, request) {
    const topic = request.headers['x-shopify-topic']
    const isOrder = typeof payload === 'object' && payload !== null && 'total_price' in payload
    if (topic === HANDLED_TOPIC) return isOrder ? undefined : `${HANDLED_TOPIC} body is not an Order (no total_price)`
    if (topic === CUSTOMER_TOPIC) return isOrder ? `${CUSTOMER_TOPIC} body is an Order, not a Customer` : undefined
    return topic
      ? `Shopify topic ${topic} is not handled (only ${HANDLED_TOPIC}, ${CUSTOMER_TOPIC}); remove that webhook subscription`
      : `missing X-Shopify-Topic header (only ${HANDLED_TOPIC}, ${CUSTOMER_TOPIC} are handled)`
  },

  items(payload, request) {
    const eventId = request.headers['x-shopify-event-id']?.trim()
    const webhookId = request.headers['x-shopify-webhook-id']?.trim()
    const topic = request.headers['x-shopify-topic'] ?? HANDLED_TOPIC
    const prefix = topic === CUSTOMER_TOPIC ? 'customer' : 'order'
    const key = eventId ? `event:${topic}:${eventId}` : webhookId || `${prefix}:${payload.id}`
    return [{ key, eventType: topic, payload }]
  },

  normalize(item) {
    if (item.eventType === CUSTOMER_TOPIC) return normalizeCustomer(item.payload as ShopifyCustomer)
    const order = item.payload as ShopifyOrder
    if (order.test === true || order.cancelled_at) return []
    const currency = currencyCode(order.currency, 'currency')
    const minor = decimalToMinor(order.total_price, currency, 'total_price')
    const buyerEmail = normalizeEmail(order.email) ?? normalizeEmail(order.contact_email) ?? normalizeEmail(order.customer?.email)
    const customerId = order.customer?.id
    const buyerId = buyerEmail ?? (customerId !== undefined ? `shopify:${customerId}` : undefined)
    return [
      trackDraft(
        'Order Completed',
        {
          order_id: String(order.id),
          revenue: minorToDecimal(minor, currency),
          revenue_known: true,
          revenue_minor: minor,
          currency,
          referral_code: order.discount_codes?.[0]?.code,
          friend_id: buyerId,
          friend_email: buyerEmail,
          source_platform: 'shopify'
        },
        {
          role: 'track',
          ...(buyerId ? { userId: buyerId } : { anonymousId: `shopify-order:${order.id}` }),
          timestamp: fromIsoString(order.created_at, 'created_at')
        }
      )
    ]
  }
}
