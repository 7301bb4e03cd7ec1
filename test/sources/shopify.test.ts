import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { shopify } from '../../src/sources/shopify.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import { byRole, compileSchema, expectPlanOk, fixtureBytes, normalizeAll, webhookRequest } from './support.ts'

const SECRET = 'shpss_client_secret'
const sign = (body: Buffer | string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('base64')

const sample = fixtureBytes('shopify', 'orders-create-test-notification.json')

function delivery(body: Buffer | string, headers: Record<string, string> = {}) {
  return webhookRequest(body, {
    'X-Shopify-Hmac-Sha256': sign(body),
    'X-Shopify-Topic': 'orders/create',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    ...headers
  })
}

/** The body as the source parses it (big integers kept exact). */
const parsed = (body: Buffer | string) => shopify.parse!(delivery(body)) as any

/**
 * A live order derived from the documented test notification: only test / cancelled_at / financial_status /
 * discount_codes change (the sample is a voided, cancelled test order without a code). Serialized by hand so the
 * 64-bit id stays exact on the wire.
 */
const liveOrder = Buffer.from(
  sample
    .toString()
    .replace('"test": true', '"test": false')
    .replace('"cancelled_at": "2019-06-04T13:53:06-04:00"', '"cancelled_at": null')
    .replace('"financial_status": "voided"', '"financial_status": "paid"')
    .replace(/"discount_codes": \[\s*\]/, '"discount_codes": [{ "code": "JB007", "amount": "5.00", "type": "fixed_amount" }]')
)

describe('shopify verify', () => {
  it('accepts the sample signed with base64 HMAC-SHA256 over the raw bytes', () => {
    expect(shopify.verify(delivery(sample), SECRET)).toEqual({ ok: true })
  })

  it('rejects a missing header, a wrong secret and a modified body', () => {
    expect(shopify.verify(webhookRequest(sample, { 'x-shopify-topic': 'orders/create' }), SECRET)).toMatchObject({ ok: false })
    expect(shopify.verify(delivery(sample, { 'X-Shopify-Hmac-Sha256': sign(sample, 'other') }), SECRET)).toMatchObject({ ok: false })
    expect(shopify.verify(webhookRequest(liveOrder, { 'x-shopify-hmac-sha256': sign(sample) }), SECRET)).toMatchObject({ ok: false })
  })
})

describe('shopify parse', () => {
  it('keeps 64-bit ids exact, where JSON.parse would round them', () => {
    expect(JSON.parse(sample.toString()).id).toBe(820982911946154500)
    expect(parsed(sample).id).toBe('820982911946154508')
    // Everything else is ordinary JSON.
    expect(parsed(sample).total_price).toBe('403.00')
    expect(parsed(sample).number).toBe(234)
    expect(parsed(sample).payment_gateway_names).toEqual(['visa', 'bogus'])
  })

  it('leaves digits inside strings and small or fractional numbers alone', () => {
    const body = '{"note":"ref 9007199254740993 \\" 12345678901234567890","a":-9007199254740993,"b":1.5e3,"c":[9007199254740991]}'
    expect(parsed(body)).toEqual({ note: 'ref 9007199254740993 " 12345678901234567890', a: '-9007199254740993', b: 1500, c: [9007199254740991] })
  })

  it('rejects invalid JSON like JSON.parse', () => {
    expect(() => parsed('{"id": 1,}')).toThrow(SyntaxError)
  })
})

describe('shopify payloadSchema', () => {
  const validate = compileSchema(shopify)

  it('accepts the sample (as parsed) and the derived live order', () => {
    expect(validate(parsed(sample)), JSON.stringify(validate.errors)).toBe(true)
    expect(validate(parsed(liveOrder)), JSON.stringify(validate.errors)).toBe(true)
  })

  it('rejects malformed orders', () => {
    const order = parsed(sample)
    expect(validate({ ...order, total_price: 403 })).toBe(false) // Shopify money is a decimal string
    expect(validate({ ...order, total_price: '$403.00' })).toBe(false)
    expect(validate({ ...order, id: undefined })).toBe(false)
    expect(validate({ ...order, currency: 'US Dollar' })).toBe(false)
    expect(validate({ ...order, created_at: 'June 4th' })).toBe(false)
  })
})

describe('shopify topics', () => {
  it('handles orders/create; any other topic or none is unroutable', () => {
    const order = parsed(sample)
    expect(shopify.unroutable!(order, delivery(sample))).toBeUndefined()
    expect(shopify.unroutable!(order, delivery(sample, { 'X-Shopify-Topic': 'orders/paid' }))).toMatch(/orders\/paid is not handled/)
    expect(shopify.unroutable!(order, webhookRequest(sample, { 'x-shopify-hmac-sha256': sign(sample) }))).toMatch(/missing X-Shopify-Topic/)
  })
})

describe('shopify items', () => {
  it('keys by X-Shopify-Webhook-Id: a retry shares it, another delivery does not', () => {
    const [first] = shopify.items(parsed(sample), delivery(sample))
    const [retry] = shopify.items(parsed(sample), delivery(sample))
    const [other] = shopify.items(parsed(sample), delivery(sample, { 'X-Shopify-Webhook-Id': 'a-different-delivery' }))
    expect(first).toMatchObject({ key: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043', eventType: 'orders/create' })
    expect(retry.key).toBe(first.key)
    expect(other.key).not.toBe(first.key)
  })

  it('falls back to the exact order id without the header', () => {
    const request = webhookRequest(sample, { 'x-shopify-hmac-sha256': sign(sample), 'x-shopify-topic': 'orders/create' })
    expect(shopify.items(parsed(sample), request)[0].key).toBe('order:820982911946154508')
  })
})

describe('shopify normalize', () => {
  const drafts = (body: Buffer | object) => {
    const payload = Buffer.isBuffer(body) ? parsed(body) : body
    return normalizeAll(shopify, shopify.items(payload, delivery('{}')))
  }

  it('stores the documented test notification (test, voided, cancelled) without routing it', () => {
    expect(drafts(sample)).toEqual([])
  })

  it('a live order → Order Completed, money to the cent, UTC time, code from discount_codes[0]', () => {
    const out = drafts(liveOrder)
    expectPlanOk(out)
    const track = byRole(out, 'track')
    expect(track).toMatchObject({ type: 'track', event: 'Order Completed', userId: 'jon@doe.ca', timestamp: '2019-06-04T17:53:06.000Z' })
    expect(track.properties).toEqual({
      order_id: '820982911946154508',
      revenue: 403,
      revenue_minor: 40300,
      revenue_known: true,
      currency: 'USD',
      referral_code: 'JB007',
      friend_id: 'jon@doe.ca',
      friend_email: 'jon@doe.ca',
      source_platform: 'shopify'
    })
  })

  it('converts odd cents and zero-decimal currencies exactly', () => {
    const live = parsed(liveOrder)
    expect(byRole(drafts({ ...live, total_price: '0.29' }), 'track').properties).toMatchObject({ revenue: 0.29, revenue_minor: 29 })
    expect(byRole(drafts({ ...live, total_price: '1234.56' }), 'track').properties.revenue_minor).toBe(123456)
    expect(byRole(drafts({ ...live, total_price: '5000', currency: 'JPY' }), 'track').properties).toMatchObject({ revenue: 5000, revenue_minor: 5000, currency: 'JPY' })
  })

  it('identifies the buyer by customer id, or not at all, when there is no email', () => {
    const live = parsed(liveOrder)
    const byCustomer = drafts({ ...live, email: null, contact_email: null, customer: { id: '115310627314723954' } })
    expectPlanOk(byCustomer)
    expect(byRole(byCustomer, 'track')).toMatchObject({ userId: 'shopify:115310627314723954', properties: { friend_id: 'shopify:115310627314723954' } })
    const guest = drafts({ ...live, email: null, contact_email: null, customer: null })
    expectPlanOk(guest)
    expect(byRole(guest, 'track')).toMatchObject({ anonymousId: 'shopify-order:820982911946154508' })
    expect(byRole(guest, 'track')).not.toHaveProperty('userId')
  })

  it('throws InvalidPayloadError for values that cannot be normalized', () => {
    const live = parsed(liveOrder)
    expect(() => drafts({ ...live, currency: 'US' })).toThrow(InvalidPayloadError)
    expect(() => drafts({ ...live, created_at: 'not a time' })).toThrow(InvalidPayloadError)
  })
})
