/**
 * Chaos run in REAL time (not part of `npm test`, not part of `npm run bench`): "Klaviyo down for 3 minutes".
 *
 *   npx tsx bench/realtime-klaviyo.ts                    # 180 s outage: 503 for a third, hung calls (timeouts) for a third, 503 again
 *   DOWN_SECONDS=60 npx tsx bench/realtime-klaviyo.ts    # a shorter outage
 *   KLAVIYO_LATE_POLICY=expire DOWN_SECONDS=330 npx tsx bench/realtime-klaviyo.ts   # past the 5-min SLA: expired, recorded dead
 *
 * What it does: a real bridge (in this process, SQLite in a temp dir, the system clock, production backoff and the
 * Segment-like runtime's real 5 s call limit) delivers to a Klaviyo sandbox on a loopback port through the built
 * Klaviyo destination function. The sandbox is down from the start; one signed Standard Webhooks
 * `referral.friend_signed_up` is posted; the run waits for the `Referred Friend Signed Up` event and prints the SLA
 * outcome from the store (received → delivered, deadline) and from /metrics (bridge_sla_latency_seconds,
 * bridge_sla_past_deadline_total). Takes DOWN_SECONDS plus a few seconds. Exit 0 when the event arrived once
 * within the SLA (or, under `expire`, was expired and recorded), 1 otherwise.
 *
 * The same scenario runs in simulated time in test/e2e/scenario3-email.test.ts (seconds instead of minutes).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { startBridge } from '../src/bridge.ts'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { functionFolderDestination } from '../src/destinations/registry.ts'
import { createKlaviyoSandbox } from '../src/sandboxes/klaviyo.ts'
import { serveSandbox } from '../src/sandboxes/serve.ts'

const DOWN_MS = Number(process.env.DOWN_SECONDS ?? 180) * 1000
const SLA_MS = Number(process.env.KLAVIYO_SLA_MS ?? 300_000)
const LATE_POLICY = process.env.KLAVIYO_LATE_POLICY ?? 'send-late'
const SIGN_UP = 'Referred Friend Signed Up'
const secret = `whsec_${randomBytes(24).toString('base64')}`
const dir = mkdtempSync(join(tmpdir(), 'rb-realtime-klaviyo-'))
const log = (s: string) => console.log(`[${new Date().toISOString()}] ${s}`)

async function main(): Promise<number> {
  const kv = createKlaviyoSandbox()
  const served = await serveSandbox(kv.router)
  const t0 = Date.now()
  const third = DOWN_MS / 3
  const unavailable = { errors: [{ id: 'realtime', status: 503, code: 'service_unavailable', title: 'Service unavailable.', detail: 'Klaviyo is temporarily unavailable.', source: { pointer: '/data/' } }] }
  kv.faults.add({ kind: 'status', status: 503, body: unavailable, until: t0 + third })
  kv.faults.add({ kind: 'timeout', until: t0 + 2 * third })
  kv.faults.add({ kind: 'status', status: 503, body: unavailable, until: t0 + DOWN_MS })
  const recoveredAt = t0 + DOWN_MS
  log(`Klaviyo sandbox at ${served.url}: 503 until +${third / 1000} s, hung calls until +${(2 * third) / 1000} s, 503 until +${DOWN_MS / 1000} s`)

  const env = { DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`, PORT: '0', HOST: '127.0.0.1', STANDARD_WEBHOOK_SECRET: secret, DESTINATIONS: 'klaviyo', KLAVIYO_LATE_POLICY: LATE_POLICY, KLAVIYO_SLA_MS: String(SLA_MS) }
  const bridge = await startBridge({
    config: loadConfig(env),
    logger: createLogger(process.env.LOG_LEVEL ?? 'warn'),
    sandboxes: false,
    destinations: async () => [await functionFolderDestination('klaviyo', { env: { ...env, KLAVIYO_BASE_URL: served.url }, sandboxBase: 'unused' })]
  })
  try {
    const at = new Date()
    const id = `msg_realtime_${randomBytes(6).toString('hex')}`
    const body = JSON.stringify({
      type: 'referral.friend_signed_up',
      timestamp: at.toISOString(),
      data: { friend_id: 'friend@example.com', friend_email: 'friend@example.com', friend_first_name: 'John', advocate_name: 'Sarah Advocate', discount_code: 'WELCOME-7P9A', discount_expires_at: '2026-12-01T00:00:00Z' }
    })
    const res = await fetch(`${bridge.url}/webhooks/standard`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) },
      body
    })
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`)
    log(`friend sign-up accepted; deadline in ${SLA_MS / 1000} s; late policy ${LATE_POLICY}`)

    let lastReport = Date.now()
    for (;;) {
      const [done] = await bridge.store.listJobs('delivered', { destination: 'klaviyo', event: SIGN_UP })
      const [dead] = await bridge.store.listJobs('dead', { destination: 'klaviyo', event: SIGN_UP })
      const job = done ?? dead
      if (job) {
        const detail = (await bridge.store.getEvent(job.inboxId))!
        const attempts = detail.attempts.filter((a) => a.jobId === job.id)
        const metrics = (await (await fetch(`${bridge.url}/metrics`)).text()).split('\n').filter((l) => /^bridge_sla_(latency_seconds_(count|sum)|past_deadline_total)\{destination="klaviyo"/.test(l))
        const events = kv.state.events.get(SIGN_UP) ?? []
        if (done) {
          const latency = done.deliveredAt! - done.createdAt
          const within = done.deliveredAt! <= done.deadlineAt!
          log(`DELIVERED: received → delivered ${(latency / 1000).toFixed(1)} s (SLA ${SLA_MS / 1000} s, ${within ? 'WITHIN' : 'PAST'} deadline), ${((done.deliveredAt! - recoveredAt) / 1000).toFixed(1)} s after Klaviyo recovered, ${attempts.length} attempts, Klaviyo holds ${events.length} event(s), ${kv.state.duplicateEvents} duplicate(s) dropped`)
          for (const m of metrics) log(`  ${m}`)
          return within && events.length === 1 ? 0 : 1
        }
        log(`EXPIRED (late policy ${LATE_POLICY}): ${dead!.lastError}; Klaviyo holds ${events.length} event(s)`)
        for (const m of metrics) log(`  ${m}`)
        return LATE_POLICY === 'expire' && events.length === 0 ? 0 : 1
      }
      if (Date.now() - lastReport >= 15_000) {
        lastReport = Date.now()
        const [pending] = await bridge.store.listJobs('pending', { destination: 'klaviyo', event: SIGN_UP })
        log(`waiting: ${((Date.now() - t0) / 1000).toFixed(0)} s elapsed, ${pending?.attempts ?? '?'} attempts so far, last error: ${pending?.lastError ?? '-'}`)
      }
      if (Date.now() - t0 > DOWN_MS + SLA_MS + 60_000) {
        log('GAVE UP: the event was neither delivered nor expired')
        return 1
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  } finally {
    await bridge.stop(2_000)
    await served.close()
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
