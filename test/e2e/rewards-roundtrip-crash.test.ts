import { describe, it, expect, afterAll } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { openNotificationStore } from '../../src/notifications/open.ts'
import { postWebhook, referralCandyPayload, sign, until, SECRETS } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady, holdFirstAnswer } from '../helpers/process.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from '../hubspot/support.ts'

/**
 * The whole loop through a ReferralCandy outage and a SIGKILL: referral → HubSpot deal won (signed webhook) →
 * Referral Revenue Won → purchase.json at ReferralCandy (down for 2 calls; then the bridge is killed right after
 * ReferralCandy recorded the purchase, before the bridge heard back) → after the restart the conversion is sent
 * again with the same external_reference_id → one purchase, one reward webhook back, one in-app notification.
 */
describe('rewards round trip through a platform outage and a SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-rewards-crash-'))
  const children: ChildProcess[] = []
  const output: string[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('won deal → one conversion → one reward webhook → one notification', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const advocate = 'advocate6@example.com'
    const friend = 'friend6@example.com'
    const rc = createReferralCandySandbox({ accessId: 'rc-access', secret: SECRETS.REFERRALCANDY_API_SECRET, rewardWebhookUrl: `${url}/webhooks/referralcandy` })
    rc.faults.add({ kind: 'status', status: 503, count: 2, pathContains: 'purchase.json' })
    const hold = holdFirstAnswer((req) => req.method === 'POST' && req.path.endsWith('/purchase.json'), 3_000, (res) => res.statusCode === 200)
    const router = express.Router()
    router.use(hold.middleware)
    router.use(rc.router)
    const rcServer = await serveSandbox(router)
    const hubspot = await hubspotWithWebhooks(() => `${url}/webhooks/hubspot`)
    const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`
    const env = {
      ...process.env,
      ...SECRETS,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      DESTINATIONS: 'in_app,referralcandy_conversion',
      HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
      HUBSPOT_BASE_URL: hubspot.server.url,
      REFERRALCANDY_ACCESS_ID: 'rc-access',
      REFERRALCANDY_API_BASE_URL: `${rcServer.url}/api/v2`,
      REFERRALCANDY_CONVERSION_LEASE_MS: '1500',
      LOG_LEVEL: 'warn'
    }
    const start = () => {
      const child = bridgeProcess(env, output)
      children.push(child)
      return child
    }
    let child = start()
    await waitReady(url)
    const payload = referralCandyPayload(6)
    rc.state.referrals.push({ referral_email: friend, referring_email: advocate, referral_timestamp: payload.referral_timestamp })
    const raw = JSON.stringify(payload)
    expect((await postWebhook(url, 'referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)

    const { dealId } = await hubspot.dealFor(friend, '777.77', 'EUR')
    await hubspot.setStage(dealId, 'closedwon')
    await hubspot.sender.idle()
    expect(hubspot.sender.sent.at(-1)!.delivered).toBe(true)

    await Promise.race([
      hold.applied,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`ReferralCandy never recorded the purchase:\n${output.join('').slice(-2000)}`)), 60_000).unref())
    ])
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(rc.state.purchases.size).toBe(1)

    child = start()
    await waitReady(url)
    await until(() => rc.state.purchaseCalls >= 2, 60_000, 'the conversion resent after the restart').catch((err) => {
      throw new Error(`${err.message}:\n${output.join('').slice(-2000)}`)
    })
    await until(() => rc.state.rewardWebhooks.some((w) => w.status === 200), 30_000, 'the reward webhook accepted')
    expect([...rc.state.purchases.keys()]).toEqual([dealId])
    expect(rc.state.rewardWebhooks.filter((w) => w.status === 200)).toHaveLength(1)
    expect(new Set(rc.state.rewardWebhooks.map((w) => w.body)).size).toBe(1)

    const notifications = await openNotificationStore(databaseUrl)
    // One per fact: the friend's purchase (the referral webhook), the won deal, and the purchase ReferralCandy
    // reports back in its own webhook for the conversion the bridge recorded.
    const expected = ['friend_purchase', 'friend_purchase', 'referral_revenue_won']
    await until(async () => (await notifications.list(advocate, { limit: 100 })).length >= expected.length, 30_000, 'the notifications')
    const list = await notifications.list(advocate, { limit: 100 })
    await notifications.close()
    expect(list.map((n) => n.kind).sort()).toEqual(expected)

    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await rcServer.close()
    await hubspot.close()
  }, 180_000)
})
