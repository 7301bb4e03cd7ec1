import type { Source } from './types.ts'
import { hmacSha256, safeEqual } from './signatures.ts'
import { currencyCode, decimalToMinor, fromIsoString, minorToDecimal, normalizeEmail } from '../normalize/units.ts'
import { compact } from '../normalize/compact.ts'

/**
 * Shopify `orders/create` as a purchase source (shopify.dev/docs/apps/build/webhooks/verify-deliveries,
 * /delivery-structure). The body is the REST Order resource; money fields are decimal strings ("403.00").
 * Signature: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256(app client secret, raw body), no timestamp.
 * Idempotency: `X-Shopify-Webhook-Id` (Shopify's documented dedupe header), falling back to the order id.
 *
 * Decisions:
 * - Only `orders/create` is handled. Any other topic (or none) is unroutable (501, nothing stored): the payload
 *   schema is the Order resource, and a 501 makes a mis-subscribed topic visible on both sides. Shopify retries it
 *   8 times over 4 hours, then deletes an Admin-API-created subscription, which is what a wrong subscription
 *   deserves.
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

export const shopify: Source<ShopifyOrder> = {
  name: 'shopify',
  secretEnv: ['SHOPIFY_WEBHOOK_SECRET', 'SHOPIFY_WEBHOOK_SECRET_PREVIOUS'],
  contentTypes: ['application/json'],
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

  payloadSchema: {
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
  },

  unroutable(_payload, request) {
    const topic = request.headers['x-shopify-topic']
    if (topic === HANDLED_TOPIC) return undefined
    return topic
      ? `Shopify topic ${topic} is not handled (only ${HANDLED_TOPIC}); remove that webhook subscription`
      : `missing X-Shopify-Topic header (only ${HANDLED_TOPIC} is handled)`
  },

  items(payload, request) {
    const webhookId = request.headers['x-shopify-webhook-id']?.trim()
    return [{ key: webhookId || `order:${payload.id}`, eventType: request.headers['x-shopify-topic'] ?? HANDLED_TOPIC, payload }]
  },

  normalize(item) {
    const order = item.payload as ShopifyOrder
    if (order.test === true || order.cancelled_at) return []
    const currency = currencyCode(order.currency, 'currency')
    const minor = decimalToMinor(order.total_price, currency, 'total_price')
    const buyerEmail = normalizeEmail(order.email) ?? normalizeEmail(order.contact_email) ?? normalizeEmail(order.customer?.email)
    const customerId = order.customer?.id
    const buyerId = buyerEmail ?? (customerId !== undefined ? `shopify:${customerId}` : undefined)
    return [
      {
        role: 'track',
        type: 'track',
        event: 'Order Completed',
        ...(buyerId ? { userId: buyerId } : { anonymousId: `shopify-order:${order.id}` }),
        timestamp: fromIsoString(order.created_at, 'created_at'),
        properties: compact({
          order_id: String(order.id),
          revenue: minorToDecimal(minor, currency),
          revenue_minor: minor,
          currency,
          referral_code: order.discount_codes?.[0]?.code,
          friend_id: buyerId,
          friend_email: buyerEmail,
          source_platform: 'shopify'
        })
      }
    ]
  }
}
