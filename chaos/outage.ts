/**
 * `npm run chaos:outage`: scenario 3 through a real outage, in REAL time, with the defaults (no delivery policy env
 * var is set). Klaviyo, the shop's app, Segment and Mixpanel (sandboxes on loopback ports in this process) answer 503
 * for OUTAGE_SECONDS (600). A referred friend signs up in the shop (Shopify customers/create with the referral
 * metafields) and buys (Shopify orders/create, which names no advocate) at the start. The bridge is a child process,
 * SIGKILLed at KILL_AT_SECONDS (240) and restarted at once on the same SQLite file.
 *
 * Checks, from the sandboxes and the bridge's store: nothing dead-lettered; the friend's Klaviyo event and the
 * advocate's app webhook each arrive once, within seconds of recovery; the order was attributed to the advocate
 * (in-app notification stored); every job delivered. Prints progress every 30 s and a summary; exits 1 on a failed
 * check. Takes OUTAGE_SECONDS plus ~20 s. Figures go to docs/performance.md ("Scenario 3 through an outage").
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express, { type Router } from 'express'
import { serveSandbox } from '../src/sandboxes/serve.ts'
import { createKlaviyoSandbox } from '../src/sandboxes/klaviyo.ts'
import { createSegmentSandbox } from '../src/sandboxes/segment.ts'
import { createMixpanelSandbox } from '../src/sandboxes/mixpanel.ts'
import { createAppSandbox } from '../src/sandboxes/app.ts'
import { openStore } from '../src/queue/open.ts'
import type { JobRow } from '../src/queue/store.ts'
import { freePort, healthy, waitFor } from '../bench/lib.ts'

const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 600) * 1000
const KILL_AT_MS = Number(process.env.KILL_AT_SECONDS ?? 240) * 1000
const SHOPIFY_SECRET = 'chaos-outage-shopify'
const APP_SECRET = `whsec_${randomBytes(32).toString('base64')}`
const SIGN_UP = 'Referred Friend Signed Up'

const t0 = Date.now()
const recovery = t0 + OUTAGE_MS
const at = (t: number) => `${((t - t0) / 1000).toFixed(1)} s`
const log = (s: string) => console.log(`[${at(Date.now()).padStart(8)}] ${s}`)
let failures = 0
function check(ok: boolean, what: string) {
  console.log(`${ok ? '  ✓' : '  ✗'} ${what}`)
  if (!ok) failures++
}

function downUntil(until: number, router: Router): Router {
  const r = express.Router()
  r.use((_req, res, next) => (Date.now() < until ? res.status(503).json({ error: 'service_unavailable', message: 'chaos:outage' }) : next()))
  r.use(router)
  return r
}

function shopify(base: string, topic: string, id: string, body: object) {
  const raw = JSON.stringify(body)
  return fetch(`${base}/webhooks/shopify`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(raw).digest('base64'),
      'x-shopify-topic': topic,
      'x-shopify-webhook-id': id
    },
    body: raw
  })
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-chaos-outage-'))
  const kv = createKlaviyoSandbox()
  const seg = createSegmentSandbox({ writeKey: 'chaos-outage' })
  const mp = createMixpanelSandbox({ token: 'chaos-outage' })
  const app = createAppSandbox({ secret: APP_SECRET })
  const [kvUrl, segUrl, mpUrl, appUrl] = (await Promise.all([kv, seg, mp, app].map((s) => serveSandbox(downUntil(recovery, s.router))))).map((s) => s.url)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`
  const env = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error',
    SHOPIFY_WEBHOOK_SECRET: SHOPIFY_SECRET,
    DESTINATIONS: 'segment,mixpanel,klaviyo,in_app,app_webhook',
    KLAVIYO_API_KEY: 'pk_chaos', KLAVIYO_BASE_URL: kvUrl,
    SEGMENT_WRITE_KEY: 'chaos-outage', SEGMENT_HOST: segUrl,
    MIXPANEL_TOKEN: 'chaos-outage', MIXPANEL_HOST: mpUrl,
    APP_WEBHOOK_URL: `${appUrl}/webhooks/referral-bridge`, APP_WEBHOOK_SECRET: APP_SECRET
  }
  let bridge: ChildProcess | undefined
  const start = () => (bridge = spawn(process.execPath, ['bin/referral-bridge.js', 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] }))
  const store = await openStore(databaseUrl)
  try {
    log(`every downstream down until ${at(recovery)}; SIGKILL at ${at(t0 + KILL_AT_MS)}`)
    start()
    await healthy(url)
    const signUp = await shopify(url, 'customers/create', 'chaos-outage-customer', {
      id: 7064055069303, email: 'amy@example.com', first_name: 'Amy', created_at: new Date().toISOString(),
      metafields: [
        { namespace: 'referral', key: 'code', value: 'sarah-ref' },
        { namespace: 'referral', key: 'advocate_email', value: 'sarah@example.com' },
        { namespace: 'referral', key: 'discount_code', value: 'WELCOME-AMY' }
      ]
    })
    const order = await shopify(url, 'orders/create', 'chaos-outage-order', {
      id: 820982911946154, email: 'amy@example.com', created_at: new Date().toISOString(), total_price: '25.00', currency: 'USD',
      financial_status: 'paid', discount_codes: [{ code: 'WELCOME-AMY', amount: '5.00', type: 'fixed_amount' }], customer: { id: 7064055069303, email: 'amy@example.com' }
    })
    log(`sign-up ${signUp.status}, order ${order.status}`)

    const jobs = async (status: JobRow['status']) => store.listJobs(status, {})
    const progress = setInterval(async () => {
      const counts = await Promise.all((['pending', 'leased', 'delivered', 'dead'] as const).map(async (s) => `${s} ${(await jobs(s)).length}`))
      log(`queue: ${counts.join(', ')}; Klaviyo events ${kv.state.events.get(SIGN_UP)?.length ?? 0}, app webhooks ${app.state.webhooks.size}`)
    }, 30_000)

    await new Promise((r) => setTimeout(r, Math.max(0, t0 + KILL_AT_MS - Date.now())))
    bridge!.kill('SIGKILL')
    await new Promise((r) => bridge!.once('exit', r))
    const leasedAtKill = (await jobs('leased')).length
    log(`SIGKILL; ${leasedAtKill} job(s) left leased`)
    start()
    await healthy(url)
    const readyAt = Date.now()
    log('restarted and ready')

    await waitFor(
      async () => Date.now() > recovery && (await jobs('pending')).length === 0 && (await jobs('leased')).length === 0,
      OUTAGE_MS + 180_000,
      'every job settled after recovery'
    )
    clearInterval(progress)
    const delivered = await jobs('delivered')
    const dead = await jobs('dead')
    const email = delivered.find((j) => j.destination === 'klaviyo' && j.event === SIGN_UP)
    const hook = delivered.find((j) => j.destination === 'app_webhook')
    const inApp = delivered.find((j) => j.destination === 'in_app')
    const afterRecovery = delivered.map((j) => j.deliveredAt! - Math.max(recovery, j.createdAt))
    const attempts = async (j?: JobRow) => (j ? (await store.getEvent(j.inboxId))!.attempts.filter((a) => a.jobId === j.id).length : 0)
    const orderEvent = await store.getEvent('shopify:chaos-outage-order')

    console.log(`\n=== scenario 3 through a ${OUTAGE_MS / 1000} s outage, SIGKILL at ${KILL_AT_MS / 1000} s, defaults ===`)
    console.log(`| measurement | result |\n|---|---|`)
    console.log(`| deliveries / dead-lettered | ${delivered.length} / ${dead.length} |`)
    console.log(`| Klaviyo sign-up email | ${email ? `${((email.deliveredAt! - recovery) / 1000).toFixed(2)} s after recovery, ${await attempts(email)} attempts` : 'not delivered'}; ${kv.state.events.get(SIGN_UP)?.length ?? 0} event(s) |`)
    console.log(`| app webhook to the advocate | ${hook ? `${((hook.deliveredAt! - recovery) / 1000).toFixed(2)} s after recovery, ${await attempts(hook)} attempts` : 'not delivered'}; ${app.state.webhooks.size} unique, ${app.state.received} received |`)
    console.log(`| in-app notification | ${inApp ? `${((inApp.deliveredAt! - inApp.createdAt) / 1000).toFixed(2)} s after the order` : 'not stored'} |`)
    console.log(`| slowest delivery after recovery | ${(Math.max(...afterRecovery) / 1000).toFixed(2)} s |`)
    console.log(`| restart → ready | ${at(readyAt)} (${leasedAtKill} lease(s) left by the SIGKILL) |`)
    console.log(`| order attribution | ${orderEvent?.inbox.reason ?? '—'} |\n`)
    check(dead.length === 0, 'nothing dead-lettered with the defaults')
    check((kv.state.events.get(SIGN_UP)?.length ?? 0) === 1 && kv.state.duplicateEvents === 0, 'the friend email event arrived once')
    check(app.state.webhooks.size === 1, 'the advocate webhook arrived once (by webhook-id)')
    check(!!email && email.deliveredAt! - recovery < 15_000, 'the email within seconds of recovery')
    check(!!hook && hook.deliveredAt! - recovery < 15_000, 'the advocate webhook within seconds of recovery')
    check(/^attributed to sarah@example\.com/.test(orderEvent?.inbox.reason ?? ''), 'the Shopify order attributed to the advocate')
    check(Math.max(...afterRecovery) < 30_000, 'every delivery within 30 s of recovery')
    return failures ? 1 : 0
  } finally {
    bridge?.kill('SIGTERM')
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err)
    process.exit(1)
  }
)
