import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testBridge, referralCandyPayload, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { signHubspotV3 } from '../../src/hubspot/signature.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from './support.ts'
import { hubspotDealClient } from '../../src/hubspot/deals.ts'
import { reconcileHubspot } from '../../src/hubspot/reconcile.ts'
import { fileWatermark } from '../../src/salesforce/watermark.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { createSalesforceSandbox } from '../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

describe('HubSpot deals as revenue: signed webhook → deal lookup → Referral Revenue Won', () => {
  let bridge: TestBridge
  let hubspot: Awaited<ReturnType<typeof hubspotWithWebhooks>>
  let salesforce: Awaited<ReturnType<typeof serveSandbox>>
  const won = async () =>
    (await bridge.store.recentMessages(0, 1000)).filter((m) => m.message.type === 'track' && m.message.event === 'Referral Revenue Won')

  beforeAll(async () => {
    hubspot = await hubspotWithWebhooks(() => `${bridge.url}/webhooks/hubspot`)
    // An empty Salesforce org: the report's Salesforce half is empty, so every row below is HubSpot's.
    salesforce = await serveSandbox(createSalesforceSandbox().router)
    bridge = await testBridge({
      env: {
        HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
        HUBSPOT_BASE_URL: hubspot.server.url,
        SALESFORCE_LOGIN_URL: salesforce.url,
        SALESFORCE_CLIENT_ID: 'cid',
        SALESFORCE_REFRESH_TOKEN: 'rt'
      }
    })
    // The referral the platform reported: friend0 was referred by advocate0.
    const raw = JSON.stringify(referralCandyPayload(0))
    expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)
  })
  afterAll(async () => {
    await bridge?.close()
    await hubspot?.close()
    await salesforce?.close()
  })

  it('refuses unsigned, wrongly signed and stale requests, storing nothing', async () => {
    const body = JSON.stringify([{ eventId: 1, subscriptionType: 'deal.propertyChange', objectId: 1, occurredAt: 1, propertyName: 'dealstage', propertyValue: 'closedwon' }])
    const url = `${bridge.url}/webhooks/hubspot`
    const ts = String(Date.now())
    expect((await bridge.post('hubspot', body)).body).toMatchObject({ error: 'invalid_signature', message: 'missing X-HubSpot-Signature-v3 header' })
    const wrong = await bridge.post('hubspot', body, { 'x-hubspot-signature-v3': signHubspotV3('other-secret', 'POST', url, body, ts), 'x-hubspot-request-timestamp': ts })
    expect(wrong.status).toBe(401)
    const old = String(Date.now() - 6 * 60_000)
    const stale = await bridge.post('hubspot', body, { 'x-hubspot-signature-v3': signHubspotV3(CLIENT_SECRET, 'POST', url, body, old), 'x-hubspot-request-timestamp': old })
    expect(stale.status).toBe(401)
    expect(stale.body.message).toContain('older than 5 minutes')
    const ok = await bridge.post('hubspot', body.replace('"objectId":1', '"objectId":999999'), {})
    expect(ok.status).toBe(401)
  })

  it('a deal of a referred contact moved to closed-won yields one Referral Revenue Won, to the cent, on the advocate', async () => {
    const { dealId } = await hubspot.dealFor('Friend0@Example.com', '1234.56', 'EUR')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()
    const sent = hubspot.sender.sent.at(-1)!
    expect(sent.attempts).toEqual([{ status: 200 }])
    const messages = await won()
    expect(messages).toHaveLength(1)
    expect(messages[0].status).toBe('routed')
    expect(messages[0].message).toMatchObject({
      userId: 'advocate0@example.com',
      properties: {
        opportunity_id: dealId,
        amount: 1234.56,
        amount_minor: 123456,
        currency: 'EUR',
        advocate_id: 'advocate0@example.com',
        friend_email: 'friend0@example.com',
        closed_at: '2026-11-20T15:30:00.000Z',
        source_platform: 'hubspot'
      }
    })
    expect(messages[0].inboxId).toBe(`hubspot:deal-won:${dealId}`)

    // Moved away and back to closed-won: HubSpot sends a new event; the deal is still won once.
    await hubspot.setStage(dealId, 'contractsent')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()
    expect(hubspot.sender.sent.slice(-2).every((s) => s.delivered)).toBe(true)
    expect(await won()).toHaveLength(1)
  })

  it('a won deal of a contact nobody referred is acknowledged and produces nothing', async () => {
    const before = (await won()).length
    const { dealId } = await hubspot.dealFor('stranger@example.com', '99.00', 'USD')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()
    expect(hubspot.sender.sent.at(-1)!.delivered).toBe(true)
    expect(await won()).toHaveLength(before)
    const event = await bridge.store.getEvent(`hubspot:deal-won:${dealId}`)
    expect(event?.inbox.status).toBe('ignored')
  })

  it('answers 503 while HubSpot cannot be read, so HubSpot retries; the retry lands once', async () => {
    const { dealId } = await hubspot.dealFor('friend0@example.com', '10.00', 'USD')
    hubspot.sandbox.faults.add({ kind: 'status', status: 503, count: 2, pathContains: '/associations/contacts' })
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()
    const sent = hubspot.sender.sent.at(-1)!
    expect(sent.delivered).toBe(true)
    expect(sent.attempts.map((a) => a.status)).toEqual([503, 503, 200])
    await until(async () => (await won()).some((m) => m.message.type === 'track' && m.message.properties.opportunity_id === dealId), 5_000, 'the won deal')
  })

  it('the reconciliation finds a won deal whose webhook never came, once; the webhook-delivered ones are duplicates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-hs-wm-'))
    try {
      // Created directly in closed-won: HubSpot sends no propertyChange for it (as when the app was uninstalled).
      const contact = await hubspot.api('POST', '/crm/v3/objects/contacts', { properties: { email: 'friend3@example.com' } })
      const raw = JSON.stringify(referralCandyPayload(3))
      expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)
      const usd = await hubspot.api('POST', '/crm/v3/objects/deals', {
        properties: { dealname: 'missed', amount: '2500.05', deal_currency_code: 'USD', closedate: '2026-11-21T00:00:00.000Z', dealstage: 'closedwon' }
      })
      await hubspot.api('PUT', `/crm/v4/objects/deals/${usd.id}/associations/default/contacts/${contact.id}`)
      const before = (await won()).length
      const deps = {
        client: hubspotDealClient({ accessToken: 'test', basePath: hubspot.server.url }),
        store: bridge.store,
        plan: bridge.plan,
        destinations: bridge.destinations,
        watermark: fileWatermark(join(dir, 'hubspot-reconcile.json'))
      }
      const first = await reconcileHubspot(deps)
      expect(first.fetched).toBeGreaterThanOrEqual(4)
      const found = (await won()).filter((m) => m.message.type === 'track' && m.message.properties.opportunity_id === String(usd.id))
      expect(found).toHaveLength(1)
      expect(found[0].message).toMatchObject({ properties: { amount: 2500.05, amount_minor: 250005, currency: 'USD', advocate_id: 'advocate3@example.com' } })
      expect((await won()).length).toBe(before + 1)
      expect(first.watermark).toBeDefined()
      // Again: nothing new, everything already known.
      const second = await reconcileHubspot({ ...deps, since: 0 })
      expect(second.stored).toBe(0)
      expect(second.duplicates).toBe(second.fetched)
      expect((await won()).length).toBe(before + 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the advocate revenue report counts each won HubSpot deal once, to the cent, per currency', async () => {
    const res = await bridge.admin('GET', '/api/reports/advocates?format=json')
    expect(res.status).toBe(200)
    const byId = Object.fromEntries(res.body.advocates.map((a: any) => [a.advocate_id, a]))
    // advocate0: the EUR deal (moved to closed-won twice, counted once) and the USD deal won through the outage.
    expect(byId['advocate0@example.com']).toMatchObject({ won: 2, opportunities: 2, revenue: { EUR: { amount: '1234.56', minor: 123456 }, USD: { amount: '10.00', minor: 1000 } } })
    expect(byId['advocate3@example.com']).toMatchObject({ won: 1, revenue: { USD: { amount: '2500.05', minor: 250005 } } })
    expect(res.body.totals.revenue).toEqual({ EUR: { amount: '1234.56', minor: 123456 }, USD: { amount: '2510.05', minor: 251005 } })
  })
})

describe('HubSpot webhooks without HubSpot access', () => {
  it('a won deal is refused with 503 (nothing stored) until HUBSPOT_ACCESS_TOKEN is set; other events are acknowledged', async () => {
    const bridge = await testBridge({ env: { HUBSPOT_CLIENT_SECRET: CLIENT_SECRET } })
    try {
      const url = `${bridge.url}/webhooks/hubspot`
      const post = (event: object) => {
        const body = JSON.stringify([event])
        const ts = String(Date.now())
        return bridge.post('hubspot', body, { 'x-hubspot-signature-v3': signHubspotV3(CLIENT_SECRET, 'POST', url, body, ts), 'x-hubspot-request-timestamp': ts })
      }
      const won = await post({ eventId: 7, subscriptionType: 'deal.propertyChange', objectId: 42, occurredAt: 1, propertyName: 'dealstage', propertyValue: 'closedwon' })
      expect(won).toMatchObject({ status: 503, body: { error: 'lookup_failed' } })
      expect(won.body.message).toContain('HUBSPOT_ACCESS_TOKEN')
      expect(await bridge.store.resolveInboxId('hubspot:deal-won:42')).toBeUndefined()
      const other = await post({ eventId: 8, subscriptionType: 'deal.propertyChange', objectId: 42, occurredAt: 1, propertyName: 'dealname', propertyValue: 'x' })
      expect(other).toMatchObject({ status: 200, body: { stored: 1 } })
    } finally {
      await bridge.close()
    }
  })
})
