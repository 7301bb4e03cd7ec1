import { createHmac, generateKeyPairSync, randomBytes, sign as rsaSign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { testBridge, type TestBridge } from '../helpers/bridge.ts'
import { fixtureBytes } from './support.ts'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const KID = 'test-kid'

// The added sources through the real ingest route (verify → parse → schema → unroutable → items → store → 200).
const ENV = {
  FRIENDBUY_WEBHOOK_SECRET: 'fb-secret',
  GROWSURF_WEBHOOK_SECRET: 'gs-secret',
  SHOPIFY_WEBHOOK_SECRET: 'shop-secret',
  STANDARD_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
  TALKABLE_WEBHOOK_SECRET: 'tk-secret',
  FIRSTPROMOTER_WEBHOOK_SECRET: 'fp-secret',
  EXTOLE_WEBHOOK_SECRET: 'ex-secret',
  SAASQUATCH_WEBHOOK_SECRET: JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: KID }] })
}
const hmac = (secret: string, body: string, encoding: 'hex' | 'base64') => createHmac('sha256', secret).update(body).digest(encoding)
const text = (platform: string, file: string) => fixtureBytes(platform, file).toString('utf8')

describe('added sources through POST /webhooks/:source', () => {
  let bridge: TestBridge
  beforeAll(async () => {
    bridge = await testBridge({ env: ENV })
  })
  afterAll(async () => {
    await bridge.close()
  })

  async function expectStored(res: { status: number; body: any }, messages: number) {
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.stored).toBe(1)
    const detail = await bridge.store.getEvent(res.body.ids[0])
    expect(detail?.inbox.status, JSON.stringify(detail?.messages.map((m) => m.violations))).toBe(messages ? 'routed' : 'ignored')
    expect(detail?.messages).toHaveLength(messages)
    return detail!
  }

  it('friendbuy: emailCapture is stored and routed; a reward-validation callback is 501 and stored nowhere', async () => {
    const raw = text('friendbuy', 'email-capture.json')
    await expectStored(await bridge.post('friendbuy', raw, { 'x-friendbuy-hmac-sha256': hmac(ENV.FRIENDBUY_WEBHOOK_SECRET, raw, 'base64') }), 3)
    const callback = JSON.stringify({ eventType: 'mtu', recipientType: 'friend', campaignId: 'c', event: {}, advocate: {}, actor: {} })
    const res = await bridge.post('friendbuy', callback, { 'x-friendbuy-hmac-sha256': hmac(ENV.FRIENDBUY_WEBHOOK_SECRET, callback, 'base64') })
    expect(res.status).toBe(501)
  })

  it('growsurf: a goal signed now is stored and routed', async () => {
    const raw = text('growsurf', 'participant-reached-a-goal.json')
    const ts = Date.now()
    const sig = `ts=${ts},v=${hmac(ENV.GROWSURF_WEBHOOK_SECRET, `${ts}.${raw}`, 'hex')}`
    await expectStored(await bridge.post('growsurf', raw, { 'growsurf-signature': sig }), 3)
  })

  it('shopify: the test notification is stored and ignored; another topic is 501', async () => {
    const raw = text('shopify', 'orders-create-test-notification.json')
    const headers = { 'x-shopify-hmac-sha256': hmac(ENV.SHOPIFY_WEBHOOK_SECRET, raw, 'base64'), 'x-shopify-topic': 'orders/create', 'x-shopify-webhook-id': 'wh-1' }
    const detail = await expectStored(await bridge.post('shopify', raw, headers), 0)
    expect((detail.inbox.payload as any).id).toBe('820982911946154508')
    expect((await bridge.post('shopify', raw, { ...headers, 'x-shopify-topic': 'orders/paid' })).status).toBe(501)
  })

  it('standard: an order.completed is stored and routed', async () => {
    const raw = JSON.stringify({ type: 'order.completed', timestamp: new Date().toISOString(), data: { order_id: 'o-1', revenue_minor: 2500, currency: 'USD', friend_email: 'f@example.com' } })
    const id = 'msg_ingest_1'
    const at = new Date()
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(ENV.STANDARD_WEBHOOK_SECRET).sign(id, at, raw)
    }
    await expectStored(await bridge.post('standard', raw, headers), 1)
  })

  it('shopify: during a secret rotation both the new and the previous secret verify', async () => {
    const rotating = await testBridge({ env: { ...ENV, SHOPIFY_WEBHOOK_SECRET: 'new-secret', SHOPIFY_WEBHOOK_SECRET_PREVIOUS: 'old-secret' } })
    try {
      const raw = text('shopify', 'orders-create-test-notification.json')
      const headers = (secret: string, id: string) => ({ 'x-shopify-hmac-sha256': hmac(secret, raw, 'base64'), 'x-shopify-topic': 'orders/create', 'x-shopify-webhook-id': id })
      expect((await rotating.post('shopify', raw, headers('old-secret', 'rot-1'))).status).toBe(200)
      expect((await rotating.post('shopify', raw, headers('new-secret', 'rot-2'))).status).toBe(200)
      expect((await rotating.post('shopify', raw, headers('other-secret', 'rot-3'))).status).toBe(401)
    } finally {
      await rotating.close()
    }
  })

  it('talkable: a form-encoded referral webhook is stored and routed; check_unsubscribe is 501', async () => {
    const form = (type: string, payload: string) => new URLSearchParams({ key: ENV.TALKABLE_WEBHOOK_SECRET, site: 's', type, extras: '{}', payload }).toString()
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    const detail = await expectStored(await bridge.post('talkable', form('referral_web_hook', text('talkable', 'referral.json')), headers), 3)
    expect(JSON.stringify(detail.inbox.payload)).not.toContain(ENV.TALKABLE_WEBHOOK_SECRET)
    // The form's `key` is the shared secret: the stored raw body must not keep it either.
    expect(detail.inbox.rawBody).not.toContain(ENV.TALKABLE_WEBHOOK_SECRET)
    expect(detail.inbox.rawBody).toContain('type=referral_web_hook')
    expect((await bridge.post('talkable', form('check_unsubscribe_web_hook', '{"recipient":{}}'), headers)).status).toBe(501)
    expect((await bridge.post('talkable', form('referral_web_hook', text('talkable', 'referral.json')))).status).toBe(415)
  })

  it('firstpromoter: lead_signup with the Bearer secret is stored; fulfilment_pending is 501', async () => {
    const auth = { authorization: `Bearer ${ENV.FIRSTPROMOTER_WEBHOOK_SECRET}` }
    const detail = await expectStored(await bridge.post('firstpromoter', text('firstpromoter', 'lead-signup.json'), auth), 4)
    expect(detail.inbox.headers).not.toHaveProperty('authorization')
    expect((await bridge.post('firstpromoter', text('firstpromoter', 'fulfilment-pending.json'), auth)).status).toBe(501)
    expect((await bridge.post('firstpromoter', text('firstpromoter', 'lead-signup.json'))).status).toBe(401)
  })

  it('extole: the documented reward_earned bytes are stored and routed', async () => {
    const raw = text('extole', 'reward-earned.json')
    await expectStored(await bridge.post('extole', raw, { 'x-extole-signature': hmac(ENV.EXTOLE_WEBHOOK_SECRET, raw, 'hex') }), 1)
  })

  it('saasquatch: a referral.started with a detached RS256 JWS is stored and routed', async () => {
    const raw = text('saasquatch', 'referral-started.json')
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KID })).toString('base64url')
    const signature = rsaSign('RSA-SHA256', Buffer.from(`${header}.${Buffer.from(raw).toString('base64url')}`), rsa.privateKey).toString('base64url')
    await expectStored(await bridge.post('saasquatch', raw, { 'x-hook-jws-rfc-7797': `${header}..${signature}` }), 3)
  })
})
