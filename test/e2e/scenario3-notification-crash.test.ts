import { describe, it, expect, afterAll } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createAppSandbox } from '../../src/sandboxes/app.ts'
import { openNotificationStore } from '../../src/notifications/open.ts'
import { postWebhook, until, SECRETS } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady, holdFirstAnswer } from '../helpers/process.ts'

/**
 * Scenario 3, advocate half, through a crash: the friend buys (Rewardful sale), the shop's app is down for a
 * while, and the bridge is SIGKILLed right after the app received the signed notification but before the bridge
 * heard back. After the restart: one stored notification, and the app sees one notification (the redelivery
 * carries the same webhook-id, so the app dedupes it).
 */

describe('scenario 3: advocate notification through app downtime and a SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-s3n-crash-'))
  const children: ChildProcess[] = []
  const output: string[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('app down, then the bridge killed mid-delivery → one notification stored, one at the app', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`
    const app = createAppSandbox({ secret })
    app.faults.add({ kind: 'status', status: 503, count: 3 })
    // The app's first successful answer is held back: the kill lands after it accepted the notification.
    const hold = holdFirstAnswer((req) => req.method === 'POST' && req.path === '/webhooks/referral-bridge', 3_000, (res) => res.statusCode === 200)
    const router = express.Router()
    router.use(hold.middleware)
    router.use(app.router)
    const sandbox = await serveSandbox(router)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`
    const env = {
      ...process.env,
      ...SECRETS,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      DESTINATIONS: 'in_app,app_webhook',
      APP_WEBHOOK_URL: `${sandbox.url}/webhooks/referral-bridge`,
      APP_WEBHOOK_SECRET: secret,
      APP_WEBHOOK_LEASE_MS: '1500',
      LOG_LEVEL: 'warn'
    }
    const start = () => {
      const child = bridgeProcess(env, output)
      children.push(child)
      return child
    }
    const ready = () => waitReady(url)

    let child = start()
    await ready()
    const sale = JSON.stringify({
      object: { id: 'sale-crash', currency: 'USD', sale_amount_cents: 4200, stripe_charge_id: 'ch_crash', affiliate: { id: 'aff-1', email: 'advocate@example.com' }, referral: { id: 'ref-1', customer: { id: 'cus_1', email: 'buyer@example.com' } } },
      event: { id: 'evt-sale-crash', type: 'sale.created', created_at: new Date().toISOString() }
    })
    const signature = createHmac('sha256', SECRETS.REWARDFUL_WEBHOOK_SECRET).update(sale).digest('hex')
    expect((await postWebhook(url, 'rewardful', sale, { 'x-rewardful-signature': signature })).status).toBe(200)
    await Promise.race([
      hold.applied,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`the app never accepted a webhook:\n${output.join('').slice(-2000)}`)), 30_000).unref())
    ])
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(app.state.webhooks.size).toBe(1)

    child = start()
    await ready()
    await until(() => [...app.state.webhooks.values()].some((w) => w.copies >= 2), 30_000, 'the held delivery repeated after restart').catch((err) => {
      throw new Error(`${err.message}:\n${output.join('').slice(-2000)}`)
    })
    expect(app.state.webhooks.size).toBe(1)
    const [webhook] = app.state.webhooks.values()
    expect(webhook.payload.type).toBe('advocate.friend_purchased')
    expect(webhook.payload.data).toMatchObject({ order_id: 'ch_crash', friend_email: 'buyer@example.com' })
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))

    const notifications = await openNotificationStore(databaseUrl)
    const list = await notifications.list('advocate@example.com', { limit: 100 })
    await notifications.close()
    expect(list).toHaveLength(1)
    await sandbox.close()
  }, 120_000)
})
