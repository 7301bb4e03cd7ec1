/**
 * `npm run chaos`: SIGKILL the bridge again and again while 10,000 signed webhooks are sent, take every
 * destination sandbox down for a while, and (with CHAOS_BACKEND=postgres, the default runs both) restart
 * PostgreSQL under the bridge. Then check: every acknowledged webhook delivered, zero duplicate CRM records,
 * zero duplicate events at Segment/Mixpanel/the app, the DLQ empty or explained. Prints the counts; exits 1 on
 * any failed check. Knobs: CHAOS_WEBHOOKS (10000), CHAOS_KILL_EVERY_MS (2500), CHAOS_BACKEND (sqlite|postgres|both).
 */
import { spawn, execSync, type ChildProcess } from 'node:child_process'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { serveSandbox } from '../src/sandboxes/serve.ts'
import { createSegmentSandbox } from '../src/sandboxes/segment.ts'
import { createHubspotSandbox } from '../src/sandboxes/hubspot.ts'
import { createMixpanelSandbox } from '../src/sandboxes/mixpanel.ts'
import { createAppSandbox } from '../src/sandboxes/app.ts'
import { openStore } from '../src/queue/open.ts'
import { freePort, healthy, waitFor } from '../bench/lib.ts'

const WEBHOOKS = Number(process.env.CHAOS_WEBHOOKS ?? 10_000)
const KILL_EVERY_MS = Number(process.env.CHAOS_KILL_EVERY_MS ?? 2_500)
const BACKENDS = (process.env.CHAOS_BACKEND ?? 'both') === 'both' ? ['sqlite', 'postgres'] : [process.env.CHAOS_BACKEND!]
const PG_URL = process.env.CHAOS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const RC_SECRET = 'chaos-rc'
const RW_SECRET = 'chaos-rw'
const APP_SECRET = `whsec_${randomBytes(24).toString('base64')}`

let failures = 0
function check(ok: boolean, what: string) {
  console.log(`${ok ? '  ✓' : '  ✗'} ${what}`)
  if (!ok) failures++
}

async function runBackend(backend: string) {
  console.log(`\n=== chaos on ${backend}: ${WEBHOOKS} webhooks, SIGKILL every ${KILL_EVERY_MS} ms ===`)
  const dir = mkdtempSync(join(tmpdir(), 'rb-chaos-'))
  let databaseUrl = `sqlite:${join(dir, 'chaos.sqlite')}`
  if (backend === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    await admin.query('DROP DATABASE IF EXISTS rb_chaos')
    await admin.query('CREATE DATABASE rb_chaos')
    await admin.end()
    databaseUrl = PG_URL.replace(/\/[^/?]*(\?|$)/, '/rb_chaos$1')
  }
  const segment = createSegmentSandbox()
  const hubspot = createHubspotSandbox({ rateLimit: null })
  const mixpanel = createMixpanelSandbox()
  const app = createAppSandbox({ secret: APP_SECRET })
  const servers = await Promise.all([segment, hubspot, mixpanel, app].map((s) => serveSandbox(s.router)))
  const [segmentUrl, hubspotUrl, mixpanelUrl, appUrl] = servers.map((s) => s.url)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error',
    REFERRALCANDY_API_SECRET: RC_SECRET, REWARDFUL_WEBHOOK_SECRET: RW_SECRET,
    DESTINATIONS: 'segment,hubspot,mixpanel,in_app,app_webhook',
    SEGMENT_WRITE_KEY: 'chaos', SEGMENT_HOST: segmentUrl,
    HUBSPOT_ACCESS_TOKEN: 'chaos', HUBSPOT_BASE_URL: hubspotUrl,
    MIXPANEL_TOKEN: 'chaos', MIXPANEL_HOST: mixpanelUrl,
    APP_WEBHOOK_URL: `${appUrl}/webhooks/referral-bridge`, APP_WEBHOOK_SECRET: APP_SECRET,
    // Short leases: a killed instance's jobs come back within seconds.
    SEGMENT_LEASE_MS: '3000', HUBSPOT_LEASE_MS: '8000', MIXPANEL_LEASE_MS: '3000', IN_APP_LEASE_MS: '3000', APP_WEBHOOK_LEASE_MS: '3000',
    SEGMENT_MAX_ATTEMPTS: '1000', HUBSPOT_MAX_ATTEMPTS: '1000', MIXPANEL_MAX_ATTEMPTS: '1000', IN_APP_MAX_ATTEMPTS: '1000', APP_WEBHOOK_MAX_ATTEMPTS: '1000'
  }
  let bridge: ChildProcess | undefined
  const start = () => {
    bridge = spawn(process.execPath, ['bin/referral-bridge.js', 'serve'], { env, stdio: ['ignore', process.env.CHAOS_LOG_FD ? Number(process.env.CHAOS_LOG_FD) : 'ignore', 'inherit'] })
  }
  start()
  await healthy(url)

  let kills = 0
  let sending = true
  // Each instance lives KILL_EVERY_MS (± half) after it is ready, then dies by SIGKILL mid-work.
  const killer = (async () => {
    while (sending) {
      await healthy(url, 60_000).catch(() => {})
      await new Promise((r) => setTimeout(r, KILL_EVERY_MS * (0.5 + Math.random())))
      if (!sending) break
      bridge!.kill('SIGKILL')
      kills++
      await new Promise((r) => setTimeout(r, 100))
      start()
    }
  })()

  // Outages: every destination sandbox answers 503 for 4 s, a third of the way through; PostgreSQL restarts at two thirds.
  const acked = { referrals: new Set<string>(), sales: new Set<string>() }
  let sent = 0
  let refused = 0
  let outage = false
  let pgRestarted = false
  const sendOne = async (i: number) => {
    const sale = i % 5 === 4
    const body = sale
      ? JSON.stringify({ object: { id: `sale-${i}`, currency: 'USD', sale_amount_cents: 1000 + i, stripe_charge_id: `ch_${i}`, affiliate: { id: `aff-${i % 50}`, email: `advocate${i % 50}@example.com` }, referral: { id: `ref-${i}`, customer: { id: `cus_${i}`, email: `buyer${i}@example.com` } } }, event: { id: `evt-sale-${i}`, type: 'sale.created', created_at: new Date().toISOString() } })
      : JSON.stringify({ referral_email: `friend${i}@example.com`, referral_timestamp: Math.floor(Date.now() / 1000) - i, referring_email: `advocate${i % 50}@example.com` })
    const headers = sale
      ? { 'content-type': 'application/json', 'x-rewardful-signature': createHmac('sha256', RW_SECRET).update(body).digest('hex') }
      : { 'content-type': 'application/json', 'x-referral-candy-signature': createHash('md5').update(RC_SECRET + body).digest('hex') }
    // Like a platform: retry until acknowledged (some attempts hit a dead or restarting bridge).
    for (let attempt = 0; attempt < 200; attempt++) {
      sent++
      try {
        const res = await fetch(`${url}/webhooks/${sale ? 'rewardful' : 'referralcandy'}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) })
        if (res.status === 200) {
          ;(sale ? acked.sales : acked.referrals).add(sale ? `ch_${i}` : `friend${i}@example.com`)
          return
        }
        refused++
      } catch {
        refused++
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const started = Date.now()
  for (let i = 0; i < WEBHOOKS; i += 20) {
    if (!outage && i >= WEBHOOKS / 3) {
      outage = true
      for (const s of [segment, hubspot, mixpanel, app]) s.faults.add({ kind: 'status', status: 503, until: Date.now() + 4000 })
      console.log('  … every destination down for 4 s')
    }
    if (backend === 'postgres' && !pgRestarted && i >= (2 * WEBHOOKS) / 3) {
      pgRestarted = true
      console.log('  … restarting PostgreSQL')
      execSync(`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart`, { stdio: 'inherit' })
    }
    await Promise.all(Array.from({ length: Math.min(20, WEBHOOKS - i) }, (_, k) => sendOne(i + k)))
    if (i % 1000 === 0) process.stderr.write(`  sent ${i}/${WEBHOOKS}, ${kills} kills\n`)
  }
  sending = false
  await killer
  console.log(`  all ${WEBHOOKS} webhooks acknowledged in ${Math.round((Date.now() - started) / 1000)} s (${sent} attempts, ${refused} refused or cut by kills, ${kills} SIGKILLs)`)

  // Let the last instance finish the work.
  const friends = () => [...hubspot.state.contacts.values()].filter((c: any) => String(c.properties?.email ?? '').startsWith('friend'))
  const tracks = (event: string) => [...segment.state.messages.values()].filter((m) => m.type === 'track' && m.event === event)
  const mixpanelReferralCount = () => [...mixpanel.state.events.values()].filter((e) => e.event === 'Referral Created').length
  await waitFor(
    () => mixpanelReferralCount() >= acked.referrals.size && tracks('Referral Created').length >= acked.referrals.size && tracks('Order Completed').length >= acked.sales.size && friends().length >= acked.referrals.size && app.state.webhooks.size >= acked.sales.size,
    Number(process.env.CHAOS_SETTLE_MS ?? 120_000),
    'every acknowledged webhook delivered'
  ).catch((err) => console.log(`  ${err.message}`))
  await new Promise((r) => setTimeout(r, 3000))

  const friendEmails = friends().map((c: any) => c.properties.email)
  check(acked.referrals.size + acked.sales.size === WEBHOOKS, `acknowledged ${acked.referrals.size + acked.sales.size}/${WEBHOOKS}`)
  check(tracks('Referral Created').length === acked.referrals.size, `Segment: ${tracks('Referral Created').length} Referral Created for ${acked.referrals.size} referrals (${segment.state.received} sent, ${segment.state.messages.size} unique)`)
  check(tracks('Order Completed').length === acked.sales.size, `Segment: ${tracks('Order Completed').length} Order Completed for ${acked.sales.size} sales`)
  check(new Set(friendEmails).size === friendEmails.length && friendEmails.length === acked.referrals.size, `HubSpot: ${friendEmails.length} friend contacts, ${friendEmails.length - new Set(friendEmails).size} duplicates`)
  const mixpanelReferrals = [...mixpanel.state.events.values()].filter((e) => e.event === 'Referral Created')
  const perFriend = new Map<string, number>()
  for (const e of mixpanelReferrals) perFriend.set(String(e.properties.distinct_id), (perFriend.get(String(e.properties.distinct_id)) ?? 0) + 1)
  check(mixpanelReferrals.length === acked.referrals.size && [...perFriend.values()].every((n) => n === 1), `Mixpanel: ${mixpanelReferrals.length} Referral Created events, ${[...perFriend.values()].filter((n) => n > 1).length} friends with duplicates (${mixpanel.state.received} sent)`)
  check(app.state.webhooks.size === acked.sales.size, `app: ${app.state.webhooks.size} unique notification webhooks for ${acked.sales.size} sales (${app.state.received} deliveries incl. retries)`)

  bridge!.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 1500))
  const store = await openStore(databaseUrl)
  const stats = await store.stats(Date.now())
  console.log(`  queue: ${stats.jobs.map((j) => `${j.destination}/${j.status}=${j.count}`).join(' ')}`)
  for (const status of ['pending', 'leased'] as const) {
    for (const j of (await store.listJobs(status, { limit: 5 }))) console.log(`    stuck ${status}: ${j.id} attempts=${j.attempts} next=${new Date(j.nextAttemptAt).toISOString()} err=${j.lastError}`)
  }
  const dead = await store.listJobs('dead', { limit: 100_000 })
  const reasons = new Map<string, number>()
  for (const j of dead) reasons.set(`${j.destination}: ${(j.lastError ?? '').slice(0, 100)}`, (reasons.get(`${j.destination}: ${(j.lastError ?? '').slice(0, 100)}`) ?? 0) + 1)
  check(dead.length === 0, `DLQ: ${dead.length} dead job(s)${dead.length ? ':\n' + [...reasons].map(([r, n]) => `      ${n} × ${r}`).join('\n') : ''}`)
  const notifications = await (await import('../src/notifications/open.ts')).openNotificationStore(databaseUrl)
  let stored = 0
  for (let a = 0; a < 50; a++) stored += (await notifications.list(`advocate${a}@example.com`, { limit: 100_000 })).length
  check(stored === acked.sales.size, `in-app: ${stored} notifications for ${acked.sales.size} sales`)
  await store.close()
  await notifications.close()
  await Promise.all(servers.map((s) => s.close()))
  rmSync(dir, { recursive: true, force: true })
}

for (const backend of BACKENDS) await runBackend(backend)
console.log(failures ? `\nchaos: ${failures} check(s) FAILED` : '\nchaos: all checks passed')
process.exit(failures ? 1 : 0)
