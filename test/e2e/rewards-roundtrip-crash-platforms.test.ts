import { describe, it, expect, afterAll } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express, { type Router } from 'express'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createGrowSurfSandbox } from '../../src/sandboxes/growsurf.ts'
import { createAmbassadorSandbox } from '../../src/sandboxes/ambassador.ts'
import { openNotificationStore } from '../../src/notifications/open.ts'
import { postWebhook, sign, until, SECRETS } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady, holdFirstAnswer } from '../helpers/process.ts'
import { CLIENT_SECRET, hubspotWithWebhooks } from '../hubspot/support.ts'

/**
 * test/e2e/rewards-roundtrip-crash.test.ts for GrowSurf and Ambassador: referral webhook → HubSpot deal won →
 * conversion at the platform (down first; then the bridge is SIGKILLed right after the platform applied the call,
 * before the bridge heard back) → after the restart the call is repeated and the platform's own dedupe (GrowSurf:
 * "already awarded"; Ambassador: known transaction_uid) keeps it at one reward → one reward webhook accepted → one
 * in-app notification.
 */
const GROWSURF_SECRET = 'growsurf-crash-webhook-secret'

interface Platform {
  name: string
  destination: string
  env: (sandboxUrl: string) => Record<string, string>
  router: Router
  pathMatches: (path: string) => boolean
  /** The platform's referral webhook the bridge got before the deal (so it knows the referral). */
  referralWebhook: (bridgeUrl: string) => Promise<number>
  setRewardWebhookUrl: (url: string) => void
  /** Calls that reached the handler; rewards issued; reward webhooks accepted by the bridge. */
  calls: () => number
  rewards: () => number
  accepted: () => number
}

function growsurf(advocate: string, friend: string): Platform {
  const gs = createGrowSurfSandbox({ apiKey: 'gs-key', campaignId: 'cmp', webhookSecret: GROWSURF_SECRET })
  gs.state.participants.set('adv9', { id: 'adv9', email: advocate })
  gs.state.participants.set('frd9', { id: 'frd9', email: friend, referredBy: 'adv9', referralStatus: 'CREDIT_PENDING' })
  gs.faults.add({ kind: 'status', status: 503, count: 2, pathContains: '/ref' })
  return {
    name: 'GrowSurf',
    destination: 'growsurf_conversion',
    env: (u) => ({ GROWSURF_API_KEY: 'gs-key', GROWSURF_CAMPAIGN_ID: 'cmp', GROWSURF_API_BASE_URL: `${u}/v2`, GROWSURF_WEBHOOK_SECRET: GROWSURF_SECRET, GROWSURF_CONVERSION_LEASE_MS: '1500' }),
    router: gs.router,
    pathMatches: (p) => p.endsWith('/ref'),
    referralWebhook: async (bridgeUrl) => {
      const raw = JSON.stringify({ event: 'NEW_PARTICIPANT_ADDED', createdAt: Date.now(), data: { id: 'frd9', email: friend, referredBy: 'adv9', referrer: { id: 'adv9', email: advocate } } })
      const ts = Date.now()
      const v = createHmac('sha256', GROWSURF_SECRET).update(`${ts}.${raw}`).digest('hex')
      return (await postWebhook(bridgeUrl, 'growsurf', raw, { 'growsurf-signature': `ts=${ts},v=${v}` })).status
    },
    setRewardWebhookUrl: (u) => (gs.state.rewardWebhookUrl = u),
    calls: () => gs.state.triggerCalls.length,
    rewards: () => gs.state.awarded.length,
    accepted: () => gs.state.rewardWebhooks.filter((w) => w.status === 200).length
  }
}

function ambassador(advocate: string, friend: string): Platform {
  const amb = createAmbassadorSandbox({ username: 'u', token: 't', campaignUid: '77', webhookSecret: SECRETS.AMBASSADOR_WEBHOOK_SECRET })
  amb.state.contacts.set(advocate, { email: advocate, short_code: 'mbsy9' })
  amb.state.contacts.set(friend, { email: friend, referrer_email: advocate })
  amb.faults.add({ kind: 'status', status: 503, count: 2, pathContains: 'event/record' })
  return {
    name: 'Ambassador',
    destination: 'ambassador_conversion',
    env: (u) => ({ AMBASSADOR_API_USERNAME: 'u', AMBASSADOR_API_TOKEN: 't', AMBASSADOR_CAMPAIGN_UID: '77', AMBASSADOR_API_BASE_URL: `${u}/api/v2`, AMBASSADOR_CONVERSION_LEASE_MS: '1500' }),
    router: amb.router,
    pathMatches: (p) => p.includes('/event/record'),
    referralWebhook: async (bridgeUrl) => {
      const raw = JSON.stringify({ event: 'Referral Created', id: 'amb-crash-1', short_code: 'mbsy9', campaign_uid: '77', ambassador: { email: advocate }, contact: { email: friend } })
      return (await postWebhook(bridgeUrl, 'ambassador', raw, sign.ambassador(raw))).status
    },
    setRewardWebhookUrl: (u) => (amb.state.rewardWebhookUrl = u),
    calls: () => amb.state.eventCalls,
    rewards: () => amb.state.commissions.length,
    accepted: () => amb.state.rewardWebhooks.filter((w) => w.status === 200).length
  }
}

describe('rewards round trip through a platform outage and a SIGKILL (GrowSurf, Ambassador)', () => {
  const dirs: string[] = []
  const children: ChildProcess[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  for (const [make, n] of [[growsurf, 1], [ambassador, 2]] as const) {
    it(`${make.name}: won deal → one reward → one reward webhook accepted → one notification`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rb-rewards-crash-'))
      dirs.push(dir)
      const output: string[] = []
      const advocate = `crash-advocate${n}@example.com`
      const friend = `crash-friend${n}@example.com`
      const platform = make(advocate, friend)
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      platform.setRewardWebhookUrl(`${url}/webhooks/${platform.name.toLowerCase()}`)
      const hold = holdFirstAnswer((req) => req.method === 'POST' && platform.pathMatches(req.path), 3_000, (res) => res.statusCode === 200)
      const router = express.Router()
      router.use(hold.middleware)
      router.use(platform.router)
      const server = await serveSandbox(router)
      const hubspot = await hubspotWithWebhooks(() => `${url}/webhooks/hubspot`)
      const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`
      const env = {
        ...process.env,
        ...SECRETS,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        DESTINATIONS: `in_app,${platform.destination}`,
        HUBSPOT_CLIENT_SECRET: CLIENT_SECRET,
        HUBSPOT_BASE_URL: hubspot.server.url,
        ...platform.env(server.url),
        LOG_LEVEL: 'warn'
      }
      const start = () => {
        const child = bridgeProcess(env, output)
        children.push(child)
        return child
      }
      let child = start()
      await waitReady(url)
      expect(await platform.referralWebhook(url)).toBe(200)

      const { dealId } = await hubspot.dealFor(friend, '640.00', 'USD')
      await hubspot.setStage(dealId, 'closedwon')
      await hubspot.sender.idle()
      expect(hubspot.sender.sent.at(-1)!.delivered).toBe(true)

      await Promise.race([
        hold.applied,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${platform.name} never applied the conversion:\n${output.join('').slice(-2000)}`)), 60_000).unref())
      ])
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      expect(platform.rewards()).toBe(1)

      child = start()
      await waitReady(url)
      await until(() => platform.calls() >= 2, 60_000, 'the conversion resent after the restart').catch((err) => {
        throw new Error(`${err.message}:\n${output.join('').slice(-2000)}`)
      })
      await until(() => platform.accepted() > 0, 30_000, 'the reward webhook accepted')
      expect(platform.rewards()).toBe(1)
      expect(platform.accepted()).toBe(1)

      const notifications = await openNotificationStore(databaseUrl)
      await until(async () => (await notifications.list(advocate)).length > 0, 30_000, 'the notification')
      const list = await notifications.list(advocate, { limit: 100 })
      await notifications.close()
      expect(list.map((x) => x.kind)).toEqual(['referral_revenue_won'])

      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      await server.close()
      await hubspot.close()
    }, 180_000)
  }
})
