import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testBridge, sign, until, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { createAmbassadorSandbox } from '../../src/sandboxes/ambassador.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { ambassadorConversionDestination } from '../../src/destinations/ambassador-conversion.ts'
import type { TrackMessage } from '../../src/messages.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from '../hubspot/support.ts'

const ADVOCATE = 'amb-advocate@example.com'
const FRIEND = 'amb-friend@example.com'
const USERNAME = 'amb-user'
const TOKEN = 'amb-test-token'
const CAMPAIGN = '4242'

describe('rewards from CRM outcomes: won deal → Ambassador event/record → Commission Created webhook back → advocate notified', () => {
  let bridge: TestBridge
  let hubspot: Awaited<ReturnType<typeof hubspotWithWebhooks>>
  const amb = createAmbassadorSandbox({ username: USERNAME, token: TOKEN, campaignUid: CAMPAIGN, webhookSecret: SECRETS.AMBASSADOR_WEBHOOK_SECRET })
  let ambServer: Awaited<ReturnType<typeof serveSandbox>>

  beforeAll(async () => {
    hubspot = await hubspotWithWebhooks(() => `${bridge.url}/webhooks/hubspot`)
    ambServer = await serveSandbox(amb.router)
    bridge = await testBridge({
      destinations: undefined,
      env: {
        DESTINATIONS: 'in_app,ambassador_conversion',
        HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
        HUBSPOT_BASE_URL: hubspot.server.url,
        AMBASSADOR_API_USERNAME: USERNAME,
        AMBASSADOR_API_TOKEN: TOKEN,
        AMBASSADOR_CAMPAIGN_UID: CAMPAIGN,
        AMBASSADOR_API_BASE_URL: `${ambServer.url}/api/v2`
      }
    })
    amb.state.rewardWebhookUrl = `${bridge.url}/webhooks/ambassador`
  })
  afterAll(async () => {
    await bridge?.close()
    await hubspot?.close()
    await ambServer?.close()
  })

  it('records the won deal once (through an Ambassador outage and a replay), gets one commission webhook, notifies once', async () => {
    // Ambassador knows the friend as referred by the advocate; the bridge got Ambassador's Referral Created earlier.
    amb.state.contacts.set(ADVOCATE, { email: ADVOCATE, short_code: 'mbsyADV' })
    amb.state.contacts.set(FRIEND, { email: FRIEND, referrer_email: ADVOCATE })
    const created = JSON.stringify({ event: 'Referral Created', id: 'amb-ref-1', short_code: 'mbsyADV', campaign_uid: CAMPAIGN, ambassador: { email: ADVOCATE }, contact: { email: FRIEND } })
    expect((await bridge.post('ambassador', created, sign.ambassador(created))).status).toBe(200)

    amb.faults.add({ kind: 'status', status: 503, count: 1, pathContains: 'event/record' })
    amb.faults.add({ kind: 'reset', count: 1, pathContains: 'event/record' })
    const { dealId } = await hubspot.dealFor(FRIEND, '2500.00', 'USD')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()

    const conversionJob = async () => (await bridge.store.listJobs('delivered', { destination: 'ambassador_conversion' }))[0]
    await until(async () => !!(await conversionJob()), 15_000, 'the conversion to be delivered')
    await until(() => amb.state.rewardWebhooks.length > 0, 5_000, 'the commission webhook')
    expect(amb.state.eventCalls).toBe(1) // the 503 and the reset never reached the handler
    expect([...amb.state.events.keys()]).toEqual([dealId])
    expect(amb.state.events.get(dealId)).toMatchObject({ email: FRIEND, campaign_uid: CAMPAIGN, transaction_uid: dealId, revenue: '2500' })
    expect(amb.state.commissions).toEqual([expect.objectContaining({ ambassador_email: ADVOCATE, customer_email: FRIEND, transaction_uid: dealId, amount: 250 })])

    const job = (await conversionJob())!
    const event = await bridge.store.getEvent((await bridge.store.resolveInboxId(job.id))!)
    expect(event!.attempts.filter((a) => a.jobId === job.id).map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered'])

    // An operator replays the conversion: Ambassador rejects the known transaction_uid, which is delivered here.
    await bridge.store.replay([job.id], Date.now())
    bridge.worker.notify()
    await until(() => amb.state.eventCalls === 2, 10_000, 'the replayed call')
    await until(async () => (await bridge.store.listJobs('delivered', { destination: 'ambassador_conversion' })).length === 1, 5_000, 'the replay to be delivered')
    expect(await bridge.store.listJobs('dead', { destination: 'ambassador_conversion' })).toEqual([])
    expect(amb.state.commissions).toHaveLength(1)

    // One Commission Created came back and the bridge accepted it, once.
    expect(amb.state.rewardWebhooks).toEqual([{ body: expect.stringContaining('Commission Created'), status: 200 }])

    // Notified once, by the won deal's Referral Revenue Won (Commission Created normalizes to an identify only).
    await until(async () => (await bridge.notifications.store.list(ADVOCATE)).length > 0, 5_000, 'the notification')
    const notes = await bridge.notifications.store.list(ADVOCATE)
    expect(notes.map((n) => n.kind)).toEqual(['referral_revenue_won'])
    expect(notes[0].data).toMatchObject({ opportunity_id: dealId, referral_id: expect.stringMatching(/^ambassador_/) })
  })
})

describe('ambassador_conversion against the Ambassador sandbox', () => {
  const amb = createAmbassadorSandbox({ username: USERNAME, token: TOKEN, campaignUid: CAMPAIGN })
  let server: Awaited<ReturnType<typeof serveSandbox>>
  beforeAll(async () => {
    server = await serveSandbox(amb.router)
  })
  afterAll(() => server?.close())
  const won = (referralId: string, deal = 'deal-9'): TrackMessage =>
    ({
      type: 'track',
      event: 'Referral Revenue Won',
      messageId: `m-${deal}`,
      timestamp: new Date().toISOString(),
      userId: 'f@example.com',
      properties: { referral_id: referralId, opportunity_id: deal, amount: 10, currency: 'USD', friend_email: 'f@example.com', advocate_id: 'a@example.com' }
    }) as unknown as TrackMessage
  const destination = (token = TOKEN, campaignUid = CAMPAIGN) => ambassadorConversionDestination({ username: USERNAME, token, campaignUid, baseUrl: `${server.url}/api/v2`, sandboxed: true })

  it('accepts only Ambassador referrals', () => {
    expect(destination().accepts(won('ambassador_abc'))).toBe(true)
    expect(destination().accepts(won('growsurf:a:b'))).toBe(false)
  })

  it('wrong credentials and an unknown campaign are permanent, and the token never appears in the error', async () => {
    const bad = (await destination('wrong-token').deliver([won('ambassador_abc')]))[0]
    expect(bad).toMatchObject({ status: 'permanent', statusCode: 401 })
    expect(JSON.stringify(bad)).not.toContain('wrong-token')
    expect((await destination(TOKEN, '1').deliver([won('ambassador_abc')]))[0]).toMatchObject({ status: 'permanent', statusCode: 400 })
  })

  it('a repeated transaction_uid is delivered without a second event; 429 is retried', async () => {
    amb.faults.add({ kind: 'status', status: 429, count: 1, retryAfterSeconds: 7, pathContains: 'event/record' })
    expect((await destination().deliver([won('ambassador_abc', 'deal-x')]))[0]).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 7000 })
    expect((await destination().deliver([won('ambassador_abc', 'deal-x')]))[0]).toEqual({ status: 'delivered' })
    expect((await destination().deliver([won('ambassador_abc', 'deal-x')]))[0]).toEqual({ status: 'delivered' })
    expect([...amb.state.events.keys()]).toEqual(['deal-x'])
  })
})
