import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { testBridge, sign, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { checkJsonText, checkParsed, decodeUtf8, BodyRefused } from '../../src/ingest/body-guard.ts'
import { loadConfig } from '../../src/config.ts'

const SHOPIFY_SECRET = 'shopify-security-secret'

/**
 * Findings: a signed body nested 10⁵ deep was answered 503 (stack overflow, retried forever); invalid UTF-8 was
 * stored with U+FFFD (no longer matching its signature); duplicate keys were accepted (last wins); `__proto__` /
 * `constructor` keys went on to Segment, Mixpanel and Klaviyo; Shopify resends with the same event id were two
 * orders. Every refusal is a JSON 400 naming the problem, and stores nothing.
 */
describe('webhook bodies an attacker (or a broken platform) can sign', () => {
  let bridge: TestBridge
  beforeAll(async () => {
    bridge = await testBridge({ env: { SHOPIFY_WEBHOOK_SECRET: SHOPIFY_SECRET, WEBHOOK_MAX_DEPTH: '16' } })
  })
  afterAll(() => bridge?.close())

  const stored = async () => JSON.stringify((await bridge.store.stats(Date.now())).inbox)
  const postSigned = async (raw: string) => bridge.post('referralcandy', raw, sign.referralcandy(raw))
  const base = '"referral_email":"f@example.com","referral_timestamp":1434439382,"referring_email":"a@example.com"'

  it('JSON nested 100 000 levels deep: 400 too_deep, nothing stored, and the bridge keeps working', async () => {
    const before = await stored()
    const raw = `{${base},"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
    const res = await postSigned(raw)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'too_deep' })
    expect(res.body.message).toMatch(/WEBHOOK_MAX_DEPTH/)
    expect(await stored()).toBe(before)
    expect((await postSigned(`{${base}}`)).status).toBe(200)
  })

  it('WEBHOOK_MAX_DEPTH is the limit: 16 levels pass the guard, 17 do not', async () => {
    const nest = (n: number) => `{${base},"x":${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`
    expect((await postSigned(nest(16))).body.error).not.toBe('too_deep')
    expect((await postSigned(nest(17))).body).toMatchObject({ error: 'too_deep' })
    expect(loadConfig({}).maxDepth).toBe(64)
    expect(() => loadConfig({ WEBHOOK_MAX_DEPTH: 'deep' })).toThrow(/WEBHOOK_MAX_DEPTH must be a positive integer/)
  })

  it('invalid UTF-8 in a signed body: 400 invalid_utf8, never stored with U+FFFD', async () => {
    const before = await stored()
    const prefix = `{${base},"name":"Jos`
    const raw = Buffer.concat([Buffer.from(prefix), Buffer.from([0xe9]), Buffer.from('"}')]) // a Latin-1 e-acute
    const signature = createHash('md5').update(Buffer.concat([Buffer.from(SECRETS.REFERRALCANDY_API_SECRET), raw])).digest('hex')
    const res = await fetch(`${bridge.url}/webhooks/referralcandy`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-referral-candy-signature': signature }, body: raw })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body).toMatchObject({ error: 'invalid_utf8' })
    expect(body.message).toContain(`offset ${prefix.length}`)
    expect(await stored()).toBe(before)
  })

  it('duplicate keys: 400 naming the key', async () => {
    const res = await postSigned(`{${base},"referring_email":"attacker@example.com"}`)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'duplicate_key' })
    expect(res.body.message).toMatch(/"referring_email"/)
  })

  it.each(['__proto__', 'constructor', 'prototype', '__pro\\u0074o__'])('key %s: 400 naming it, at any depth', async (key) => {
    const top = await postSigned(`{${base},"${key}":{"isAdmin":true}}`)
    expect(top.status).toBe(400)
    expect(top.body).toMatchObject({ error: 'forbidden_key' })
    expect(top.body.message).toContain(JSON.parse(`"${key}"`))
    const nested = await postSigned(`{${base},"extra":[{"a":{"${key}":1}}]}`)
    expect(nested.body).toMatchObject({ error: 'forbidden_key' })
    expect(nested.body.message).toMatch(/at \/extra\/0\/a|at \/extra/)
  })

  it('Shopify: a resend with the same X-Shopify-Event-Id and a new X-Shopify-Webhook-Id is a duplicate', async () => {
    const order = JSON.parse(readFileSync(new URL('../fixtures/shopify/orders-create-test-notification.json', import.meta.url), 'utf8').replace(/"id": (\d{16,})/g, '"id": "$1"'))
    const raw = JSON.stringify({ ...order, test: false, id: 5550001 })
    const headers = (webhookId: string, eventId?: string) => ({
      'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(raw).digest('base64'),
      'x-shopify-topic': 'orders/create',
      'x-shopify-webhook-id': webhookId,
      ...(eventId ? { 'x-shopify-event-id': eventId } : {})
    })
    const first = await bridge.post('shopify', raw, headers('wh-a', 'ev-1'))
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ stored: 1, duplicates: 0 })
    const resent = await bridge.post('shopify', raw, headers('wh-b', 'ev-1'))
    expect(resent.body).toMatchObject({ stored: 0, duplicates: 1 })
    // Without an event id, the webhook id is still the key.
    expect((await bridge.post('shopify', raw, headers('wh-c'))).body).toMatchObject({ stored: 1 })
    expect((await bridge.post('shopify', raw, headers('wh-c'))).body).toMatchObject({ duplicates: 1 })
  })
})

describe('body guard units', () => {
  it('scans without recursion and decodes keys', () => {
    expect(() => checkJsonText('['.repeat(1e6), 64)).toThrow(BodyRefused)
    expect(() => checkJsonText('{"a":"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}', 3)).not.toThrow()
    expect(() => checkJsonText('{"a":{"b":1},"b":{"a":1}}', 8)).not.toThrow()
    expect(() => checkJsonText('{"a":1,"b":{"c":1,"c":2}}', 8)).toThrow(/duplicate key "c" \(at \/b\)/)
    expect(() => checkJsonText('{"k\\"ey":1,"k\\"ey":2}', 8)).toThrow(/duplicate key "k\\"ey"|duplicate key/)
    expect(() => checkParsed({ a: [{ b: JSON.parse('{"__proto__":1}') }] }, 8)).toThrow(/"__proto__" is not accepted \(at \/a\/0\/b\)/)
    expect(() => decodeUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toThrow(/offset 1/) // a UTF-16 surrogate
    expect(decodeUtf8(Buffer.from('José ✓ 😀'))).toBe('José ✓ 😀')
  })
})
