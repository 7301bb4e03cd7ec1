import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testBridge, referralCandyPayload, sign, until, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from './support.ts'

const ADVOCATE = 'advocate5@example.com'
const FRIEND = 'friend5@example.com'

describe('rewards from CRM outcomes: won deal → conversion at ReferralCandy → reward webhook back → advocate notified', () => {
  let bridge: TestBridge
  let hubspot: Awaited<ReturnType<typeof hubspotWithWebhooks>>
  const rc = createReferralCandySandbox({ accessId: 'rc-access', secret: SECRETS.REFERRALCANDY_API_SECRET })
  let rcServer: Awaited<ReturnType<typeof serveSandbox>>

  beforeAll(async () => {
    hubspot = await hubspotWithWebhooks(() => `${bridge.url}/webhooks/hubspot`)
    rcServer = await serveSandbox(rc.router)
    bridge = await testBridge({
      destinations: undefined,
      env: {
        DESTINATIONS: 'in_app,referralcandy_conversion',
        HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
        HUBSPOT_BASE_URL: hubspot.server.url,
        REFERRALCANDY_ACCESS_ID: 'rc-access',
        REFERRALCANDY_API_BASE_URL: `${rcServer.url}/api/v2`
      }
    })
    rc.state.rewardWebhookUrl = `${bridge.url}/webhooks/referralcandy`
  })
  afterAll(async () => {
    await bridge?.close()
    await hubspot?.close()
    await rcServer?.close()
  })

  it('reports the won deal once (through a ReferralCandy outage and a replay), gets one reward webhook, notifies once', async () => {
    // ReferralCandy knows the referral; so does the bridge (its webhook came in earlier).
    const payload = referralCandyPayload(5)
    rc.state.referrals.push({ referral_email: FRIEND, referring_email: ADVOCATE, referral_timestamp: payload.referral_timestamp })
    const raw = JSON.stringify(payload)
    expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)

    // ReferralCandy's API is down for the first two calls.
    rc.faults.add({ kind: 'status', status: 503, count: 2, pathContains: 'purchase.json' })
    const { dealId } = await hubspot.dealFor(FRIEND, '4999.90', 'USD')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()

    const conversionJob = async () => (await bridge.store.listJobs('delivered', { destination: 'referralcandy_conversion' }))[0]
    await until(async () => !!(await conversionJob()), 15_000, 'the conversion to be delivered')
    await until(() => rc.state.rewardWebhooks.length > 0, 5_000, 'the reward webhook')
    expect(rc.state.purchaseCalls).toBe(1) // the two 503s never reached the handler
    expect([...rc.state.purchases.keys()]).toEqual([dealId])
    expect(rc.state.purchases.get(dealId)).toMatchObject({ email: FRIEND, invoice_amount: '4999.9', currency_code: 'USD', external_reference_id: dealId })

    // An operator replays the conversion: ReferralCandy sees the same order id and records nothing new.
    const job = (await conversionJob())!
    const event = await bridge.store.getEvent((await bridge.store.resolveInboxId(job.id))!)
    expect(event!.attempts.filter((a) => a.jobId === job.id).map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered'])
    await bridge.store.replay([job.id], Date.now())
    bridge.worker.notify()
    await until(() => rc.state.purchaseCalls === 2, 10_000, 'the replayed call')
    expect(rc.state.purchases.size).toBe(1)

    // One reward webhook came back and was accepted by the bridge, once.
    expect(rc.state.rewardWebhooks).toEqual([{ body: expect.stringContaining(FRIEND), status: 200 }])
    const reward = JSON.parse(rc.state.rewardWebhooks[0].body)
    expect(reward).toMatchObject({ referral_email: FRIEND, referring_email: ADVOCATE })

    // The advocate is notified in-app once per fact: the friend's first purchase (the referral webhook above), the
    // won deal, and the purchase ReferralCandy reports back in its own webhook for the conversion we recorded.
    const kinds = async () => (await bridge.notifications.store.list(ADVOCATE)).map((n) => n.kind).sort()
    const expected = ['friend_purchase', 'friend_purchase', 'referral_revenue_won']
    await until(async () => (await kinds()).length >= expected.length, 5_000, 'the notifications')
    expect(await kinds()).toEqual(expected)
  })
})
