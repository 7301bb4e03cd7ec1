import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHmac } from 'node:crypto'
import { testBridge, until, type TestBridge } from '../helpers/bridge.ts'
import { createGrowSurfSandbox } from '../../src/sandboxes/growsurf.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { growSurfConversionDestination } from '../../src/destinations/growsurf-conversion.ts'
import type { TrackMessage } from '../../src/messages.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from '../hubspot/support.ts'

const ADVOCATE = 'gs-advocate@example.com'
const FRIEND = 'gs-friend@example.com'
const WEBHOOK_SECRET = 'growsurf-test-webhook-secret'
const API_KEY = 'gs-test-key'
const CAMPAIGN = 'cmp_test'

/** GrowSurf-Signature as docs.growsurf.com/developer-tools/webhooks describes (and src/sources/growsurf.ts verifies). */
function growSurfSignature(raw: string, ts = Date.now()): Record<string, string> {
  return { 'growsurf-signature': `ts=${ts},v=${createHmac('sha256', WEBHOOK_SECRET).update(`${ts}.${raw}`).digest('hex')}` }
}

describe('rewards from CRM outcomes: won deal → GrowSurf trigger referral → GrowSurf reward webhook back → advocate notified', () => {
  let bridge: TestBridge
  let hubspot: Awaited<ReturnType<typeof hubspotWithWebhooks>>
  const gs = createGrowSurfSandbox({ apiKey: API_KEY, campaignId: CAMPAIGN, webhookSecret: WEBHOOK_SECRET })
  let gsServer: Awaited<ReturnType<typeof serveSandbox>>

  beforeAll(async () => {
    hubspot = await hubspotWithWebhooks(() => `${bridge.url}/webhooks/hubspot`)
    gsServer = await serveSandbox(gs.router)
    bridge = await testBridge({
      destinations: undefined,
      env: {
        DESTINATIONS: 'in_app,growsurf_conversion',
        HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
        HUBSPOT_BASE_URL: hubspot.server.url,
        GROWSURF_WEBHOOK_SECRET: WEBHOOK_SECRET,
        GROWSURF_API_KEY: API_KEY,
        GROWSURF_CAMPAIGN_ID: CAMPAIGN,
        GROWSURF_API_BASE_URL: `${gsServer.url}/v2`
      }
    })
    gs.state.rewardWebhookUrl = `${bridge.url}/webhooks/growsurf`
  })
  afterAll(async () => {
    await bridge?.close()
    await hubspot?.close()
    await gsServer?.close()
  })

  it('triggers the referral once (through a GrowSurf 429/503 outage and a replay), gets one reward webhook, notifies once', async () => {
    // GrowSurf knows both participants, the friend pending credit; the bridge saw the friend join (its webhook).
    gs.state.participants.set('gsadv1', { id: 'gsadv1', email: ADVOCATE })
    gs.state.participants.set('gsfrd1', { id: 'gsfrd1', email: FRIEND, referredBy: 'gsadv1', referralStatus: 'CREDIT_PENDING' })
    const joined = JSON.stringify({
      event: 'NEW_PARTICIPANT_ADDED',
      createdAt: Date.now(),
      data: { id: 'gsfrd1', email: FRIEND, referredBy: 'gsadv1', referrer: { id: 'gsadv1', email: ADVOCATE } }
    })
    expect((await bridge.post('growsurf', joined, growSurfSignature(joined))).status).toBe(200)

    // GrowSurf rate-limits the first call (its ms header) and is down for the second.
    gs.faults.add({ kind: 'status', status: 429, count: 1, pathContains: '/ref' })
    gs.faults.add({ kind: 'status', status: 503, count: 1, pathContains: '/ref' })
    const { dealId } = await hubspot.dealFor(FRIEND, '1200.00', 'EUR')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()

    const conversionJob = async () => (await bridge.store.listJobs('delivered', { destination: 'growsurf_conversion' }))[0]
    await until(async () => !!(await conversionJob()), 15_000, 'the conversion to be delivered')
    await until(() => gs.state.rewardWebhooks.length > 0, 5_000, 'the reward webhook')
    expect(gs.state.awarded).toEqual(['gsfrd1'])
    expect(gs.state.triggerCalls).toHaveLength(1) // the 429 and the 503 never reached the handler
    expect(gs.state.participants.get('gsfrd1')!.referralStatus).toBe('CREDIT_AWARDED')

    const job = (await conversionJob())!
    const event = await bridge.store.getEvent((await bridge.store.resolveInboxId(job.id))!)
    expect(event!.attempts.filter((a) => a.jobId === job.id).map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered'])

    // An operator replays the conversion: GrowSurf answers "already awarded", awards nothing, and the job is delivered.
    await bridge.store.replay([job.id], Date.now())
    bridge.worker.notify()
    await until(() => gs.state.triggerCalls.length === 2, 10_000, 'the replayed call')
    expect(gs.state.triggerCalls[1]).toMatchObject({ participantId: 'gsfrd1', success: false, message: 'Referral credit has already been awarded' })
    expect(gs.state.triggerCalls[0].idempotencyKey).toBe(gs.state.triggerCalls[1].idempotencyKey)
    expect(gs.state.awarded).toEqual(['gsfrd1'])
    await until(async () => (await bridge.store.listJobs('delivered', { destination: 'growsurf_conversion' })).length === 1 && (await bridge.store.listJobs('dead', { destination: 'growsurf_conversion' })).length === 0, 5_000, 'the replay to be delivered')

    // One signed PARTICIPANT_REACHED_A_GOAL came back and the bridge accepted it, once.
    expect(gs.state.rewardWebhooks).toEqual([{ body: expect.stringContaining('PARTICIPANT_REACHED_A_GOAL'), status: 200 }])
    const reward = JSON.parse(gs.state.rewardWebhooks[0].body)
    expect(reward.data.reward).toMatchObject({ approved: true, isReferrer: true, referrerId: 'gsadv1', referredId: 'gsfrd1' })

    // The advocate is notified in-app once, by the won deal's Referral Revenue Won (Referral Reward Earned, which
    // the reward webhook becomes, is not an event in_app notifies on).
    await until(async () => (await bridge.notifications.store.list(ADVOCATE)).length > 0, 5_000, 'the notification')
    const notes = await bridge.notifications.store.list(ADVOCATE)
    expect(notes.map((n) => n.kind)).toEqual(['referral_revenue_won'])
    expect(notes[0].data).toMatchObject({ opportunity_id: dealId, referral_id: 'growsurf:gsadv1:gsfrd1' })
  })
})

describe('growsurf_conversion against the GrowSurf sandbox', () => {
  const gs = createGrowSurfSandbox({ apiKey: API_KEY, campaignId: CAMPAIGN, webhookSecret: WEBHOOK_SECRET })
  let server: Awaited<ReturnType<typeof serveSandbox>>
  beforeAll(async () => {
    server = await serveSandbox(gs.router)
    gs.state.participants.set('a1', { id: 'a1', email: 'a1@example.com' })
    gs.state.participants.set('f1', { id: 'f1', email: 'f1@example.com', referredBy: 'a1', referralStatus: 'CREDIT_PENDING' })
  })
  afterAll(() => server?.close())
  const won = (referralId: string): TrackMessage =>
    ({
      type: 'track',
      event: 'Referral Revenue Won',
      messageId: `m-${referralId}`,
      timestamp: new Date().toISOString(),
      userId: 'x@example.com',
      properties: { referral_id: referralId, opportunity_id: 'deal-1', amount: 10, currency: 'USD', advocate_id: 'a1@example.com' }
    }) as unknown as TrackMessage
  const destination = (apiKey = API_KEY) => growSurfConversionDestination({ apiKey, campaignId: CAMPAIGN, baseUrl: `${server.url}/v2`, sandboxed: true })

  it('accepts only GrowSurf referrals', () => {
    expect(destination().accepts(won('growsurf:a1:f1'))).toBe(true)
    expect(destination().accepts(won('referralcandy_abc'))).toBe(false)
  })

  it('a wrong API key is permanent (401); an unknown participant is permanent (404); a participant never referred is permanent', async () => {
    expect((await destination('wrong').deliver([won('growsurf:a1:f1')]))[0]).toMatchObject({ status: 'permanent', statusCode: 401 })
    expect((await destination().deliver([won('growsurf:a1:nobody')]))[0]).toMatchObject({ status: 'permanent', statusCode: 404 })
    expect((await destination().deliver([won('growsurf:x:a1')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringContaining('Participant was not referred') })
    expect(gs.state.awarded).toEqual([])
  })

  it("a 429 is retried after GrowSurf's own GrowSurf-Retry-After-*-Milliseconds header", async () => {
    gs.faults.add({ kind: 'status', status: 429, count: 1, pathContains: '/ref' })
    expect((await destination().deliver([won('growsurf:a1:f1')]))[0]).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 1000 })
    expect((await destination().deliver([won('growsurf:a1:f1')]))[0]).toEqual({ status: 'delivered' })
    expect((await destination().deliver([won('growsurf:a1:f1')]))[0]).toEqual({ status: 'delivered' }) // already awarded
    expect(gs.state.awarded).toEqual(['f1'])
  })
})
