import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { shopify } from '../../src/sources/shopify.ts'
import { InvalidPayloadError } from '../../src/normalize/errors.ts'
import { byRole, compileSchema, expectDistinctRoles, expectPlanOk, normalizeAll, webhookRequest } from './support.ts'

/**
 * Shopify `customers/create` as a referral sign-up source (src/sources/shopify.ts). The body is the REST Customer
 * resource (shopify.dev webhook topic customers/create); the referral fields come from the `referral` metafield
 * namespace (included when the subscription lists it) or from `referral:` / `referred_by:` tags.
 */
const SECRET = 'shpss_client_secret'
const sign = (body: string) => createHmac('sha256', SECRET).update(body).digest('base64')

const customer = (extra: Record<string, unknown> = {}) => ({
  id: '__ID__',
  email: 'John.Friend@Example.com',
  created_at: '2026-05-01T12:00:00-04:00',
  updated_at: '2026-05-01T12:00:00-04:00',
  first_name: 'John',
  last_name: 'Friend',
  state: 'enabled',
  note: null,
  verified_email: true,
  tags: '',
  currency: 'USD',
  phone: null,
  metafields: [
    { namespace: 'referral', key: 'code', value: 'jb007' },
    { namespace: 'referral', key: 'referral_id', value: 'ref_123' },
    { namespace: 'referral', key: 'advocate_email', value: 'Sarah@Example.com' },
    { namespace: 'referral', key: 'advocate_name', value: 'Sarah Advocate' },
    { namespace: 'referral', key: 'discount_code', value: 'WELCOME-7P9A' },
    { namespace: 'referral', key: 'discount_expires_at', value: '2026-06-01T00:00:00+02:00' },
    { namespace: 'custom', key: 'code', value: 'not-a-referral' }
  ],
  ...extra
})

/** Serialized by hand so the 64-bit id is an exact integer on the wire, as Shopify sends it. */
const raw = (c: object) => JSON.stringify(c).replace('"__ID__"', '706405506930370084')

function delivery(body: string, topic = 'customers/create') {
  return webhookRequest(body, { 'X-Shopify-Hmac-Sha256': sign(body), 'X-Shopify-Topic': topic, 'X-Shopify-Webhook-Id': 'c7f1e2d3-0000-4000-8000-000000000001' })
}
const parsed = (c: object) => shopify.parse!(delivery(raw(c))) as any
const drafts = (c: object) => {
  const body = raw(c)
  return normalizeAll(shopify, shopify.items(parsed(c), delivery(body)))
}

describe('shopify customers/create', () => {
  const validate = compileSchema(shopify)

  it('verifies with the same HMAC and passes the schema as a Customer; topic/body mismatches are unroutable', () => {
    const body = raw(customer())
    expect(shopify.verify(delivery(body), SECRET)).toEqual({ ok: true })
    expect(validate(parsed(customer())), JSON.stringify(validate.errors)).toBe(true)
    expect(validate({ ...parsed(customer()), created_at: 'May 1st' })).toBe(false)
    expect(validate({ ...parsed(customer()), id: undefined })).toBe(false)
    expect(shopify.unroutable!(parsed(customer()), delivery(body))).toBeUndefined()
    expect(shopify.unroutable!(parsed(customer()), delivery(body, 'orders/create'))).toMatch(/not an Order/)
    expect(shopify.unroutable!({ ...parsed(customer()), total_price: '1.00' }, delivery(body))).toMatch(/is an Order/)
    expect(shopify.unroutable!(parsed(customer()), delivery(body, 'customers/update'))).toMatch(/customers\/update is not handled/)
  })

  it('keys by X-Shopify-Webhook-Id, falling back to the exact customer id', () => {
    const body = raw(customer())
    expect(shopify.items(parsed(customer()), delivery(body))[0]).toMatchObject({ key: 'c7f1e2d3-0000-4000-8000-000000000001', eventType: 'customers/create' })
    const noId = webhookRequest(body, { 'x-shopify-hmac-sha256': sign(body), 'x-shopify-topic': 'customers/create' })
    expect(shopify.items(parsed(customer()), noId)[0].key).toBe('customer:706405506930370084')
  })

  it('a customer with referral metafields → identify advocate + friend, Referred Friend Signed Up with the personalisation fields', () => {
    const out = drafts(customer())
    expectPlanOk(out)
    expectDistinctRoles(out)
    expect(byRole(out, 'identify-advocate')).toMatchObject({ userId: 'sarah@example.com', traits: { email: 'sarah@example.com', referral_role: 'advocate', referral_code: 'jb007', source_platform: 'shopify' } })
    expect(byRole(out, 'identify-friend')).toMatchObject({
      userId: 'john.friend@example.com',
      traits: { email: 'john.friend@example.com', first_name: 'John', last_name: 'Friend', referral_role: 'friend', referred_by: 'sarah@example.com', referral_id: 'ref_123' }
    })
    expect(byRole(out, 'track')).toEqual({
      role: 'track',
      type: 'track',
      event: 'Referred Friend Signed Up',
      userId: 'john.friend@example.com',
      timestamp: '2026-05-01T16:00:00.000Z',
      properties: {
        referral_id: 'ref_123',
        referral_code: 'jb007',
        advocate_id: 'sarah@example.com',
        advocate_email: 'sarah@example.com',
        advocate_name: 'Sarah Advocate',
        friend_id: 'john.friend@example.com',
        friend_email: 'john.friend@example.com',
        friend_first_name: 'John',
        discount_code: 'WELCOME-7P9A',
        discount_expires_at: '2026-05-31T22:00:00.000Z',
        source_platform: 'shopify'
      }
    })
  })

  it('tags referral:<code> and referred_by:<email> work without metafields', () => {
    const out = drafts(customer({ metafields: undefined, tags: 'VIP, referral:JB007 , referred_by:Sarah@Example.com' }))
    expectPlanOk(out)
    expect(byRole(out, 'track').properties).toMatchObject({ referral_code: 'JB007', advocate_email: 'sarah@example.com', friend_first_name: 'John' })
  })

  it('a customer without a referral code routes nothing; one without email is identified by the Shopify id', () => {
    expect(drafts(customer({ metafields: [], tags: 'VIP' }))).toEqual([])
    const out = drafts(customer({ email: null }))
    expectPlanOk(out)
    expect(byRole(out, 'track')).toMatchObject({ userId: 'shopify:706405506930370084', properties: { friend_id: 'shopify:706405506930370084' } })
    expect(byRole(out, 'track').properties).not.toHaveProperty('friend_email')
  })

  it('throws InvalidPayloadError for an expiry that is not a time', () => {
    const bad = customer({ metafields: [{ namespace: 'referral', key: 'code', value: 'x' }, { namespace: 'referral', key: 'discount_expires_at', value: 'soon' }] })
    expect(() => drafts(bad)).toThrow(InvalidPayloadError)
  })
})
