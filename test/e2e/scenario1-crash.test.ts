import { describe, it, expect, afterAll } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createHubspotSandbox } from '../../src/sandboxes/hubspot.ts'
import { postWebhook, sign, until, SECRETS, referralCandyPayload } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady, holdFirstAnswer } from '../helpers/process.ts'

/**
 * Scenario 1 through a crash: HubSpot applies the batch upsert but the bridge is SIGKILLed before it sees the
 * answer; after the restart the job is delivered again (same referral id, same email) and HubSpot still holds
 * exactly one contact tagged Referral Lead. Redeliveries of the webhook around the crash change nothing.
 */

describe('scenario 1: the bridge killed mid-delivery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-s1-crash-'))
  const children: ChildProcess[] = []
  const output: string[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('SIGKILL while HubSpot answers the upsert → one contact tagged Referral Lead after restart', async () => {
    const hubspot = createHubspotSandbox()
    const hold = holdFirstAnswer((req) => req.method === 'POST' && req.path.endsWith('/batch/upsert'), 3_000)
    const router = express.Router()
    router.use(hold.middleware)
    router.use(hubspot.router)
    const sandbox = await serveSandbox(router)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = {
      ...process.env,
      ...SECRETS,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`,
      DESTINATIONS: 'hubspot',
      HUBSPOT_ACCESS_TOKEN: 'crash-test',
      HUBSPOT_BASE_URL: sandbox.url,
      HUBSPOT_LEASE_MS: '1500',
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
    const raw = JSON.stringify(referralCandyPayload(77))
    for (let i = 0; i < 3; i++) expect((await postWebhook(url, 'referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)
    await Promise.race([
      hold.applied,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no upsert within 30 s:\n${output.join('').slice(-2000)}`)), 30_000).unref())
    ])
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const friendContacts = () => [...hubspot.state.contacts.values()].filter((c) => c.properties.email === 'friend77@example.com')
    expect(friendContacts()).toHaveLength(1) // HubSpot has it; the bridge never heard back

    // Counted before the restart: the restarted bridge may redeliver before the webhooks below are even posted.
    const upserts = () => hubspot.state.calls.filter((c) => c.endsWith('/batch/upsert')).length
    const before = upserts()
    child = start()
    await ready()
    for (let i = 0; i < 2; i++) expect((await postWebhook(url, 'referralcandy', raw, sign.referralcandy(raw))).body.duplicates).toBe(1)
    await until(() => upserts() > before, 30_000, 'the held job delivered again after restart').catch((err) => {
      throw new Error(`${err.message}:\n${output.join('').slice(-2000)}`)
    })
    await until(async () => {
      const res = await fetch(`${url}/admin/dlq`, { headers: { authorization: `Bearer ${SECRETS.BRIDGE_ADMIN_TOKEN}` } })
      const pending = await fetch(`${url}/metrics`).then((r) => r.text())
      return res.ok && !/bridge_queue_jobs\{destination="hubspot",status="(pending|leased)"\} [1-9]/.test(pending)
    }, 30_000, 'hubspot queue drained')
    expect(friendContacts()).toHaveLength(1)
    expect(friendContacts()[0].properties).toMatchObject({ referral_tag: 'Referral Lead', lifecyclestage: 'lead', referral_advocate_email: 'advocate0@example.com' })
    child.kill('SIGTERM')
    await sandbox.close()
  }, 120_000)
})
