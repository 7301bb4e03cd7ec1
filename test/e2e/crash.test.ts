import { describe, it, expect, afterAll } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createSegmentSandbox } from '../../src/sandboxes/segment.ts'
import { postWebhook, sign, until, SECRETS } from '../helpers/bridge.ts'
import { freePort, bridgeProcess, waitReady } from '../helpers/process.ts'


// Kept for the failure message: what the bridge said before it was killed.
const output: string[] = []
const startBridgeProcess = (env: NodeJS.ProcessEnv) => bridgeProcess(env, output)

describe('crash safety', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-crash-'))
  const children: ChildProcess[] = []
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('delivers every acknowledged webhook exactly once in effect across SIGKILL and restart', async () => {
    const segment = createSegmentSandbox()
    // Segment answers slowly, so the kill lands while batches are in flight and jobs are leased.
    const express = (await import('express')).default
    const slow = express.Router()
    slow.use((_req, _res, next) => void setTimeout(next, 50))
    slow.use(segment.router)
    const sandbox = await serveSandbox(slow)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = {
      ...SECRETS,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`,
      SEGMENT_WRITE_KEY: 'crash-test',
      SEGMENT_HOST: sandbox.url,
      DESTINATIONS: 'segment',
      // Short leases so the jobs the killed process held come back quickly after restart.
      SEGMENT_LEASE_MS: '1500',
      LOG_LEVEL: 'warn'
    }
    let bridge = startBridgeProcess(env)
    children.push(bridge)
    await waitReady(url)

    const acked = new Set<string>()
    let killed = false
    const total = 300
    const sendOne = async (i: number) => {
      const raw = JSON.stringify({ referral_email: `crash${i}@example.com`, referral_timestamp: 1600000000 + i, referring_email: 'adv@example.com' })
      try {
        const res = await postWebhook(url, 'referralcandy', raw, sign.referralcandy(raw))
        if (res.status === 200) acked.add(`crash${i}@example.com`)
      } catch {
        // Connection refused or reset by the kill: not acknowledged, so the platform would retry; not counted.
      }
      if (!killed && acked.size >= 120) {
        killed = true
        bridge.kill('SIGKILL')
      }
    }
    for (let i = 0; i < total; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => sendOne(i + k)))
    expect(killed).toBe(true)
    const deliveredBeforeRestart = segment.state.messages.size

    bridge = startBridgeProcess(env)
    children.push(bridge)
    await waitReady(url)
    const tracks = () => [...segment.state.messages.values()].filter((m) => m.type === 'track' && m.event === 'Referral Created')
    await until(() => tracks().length >= acked.size, 60_000, `Referral Created for all ${acked.size} acknowledged webhooks`).catch((err) => {
      throw new Error(`${err.message}; segment has ${tracks().length} tracks, ${segment.state.received} received. Bridge output:\n${output.join('').slice(-3000)}`)
    })
    // A moment for stragglers: nothing more may appear.
    await new Promise((r) => setTimeout(r, 500))

    const friends = tracks().map((m) => (m.properties as { friend_email: string }).friend_email)
    expect(new Set(friends).size).toBe(friends.length)
    for (const f of acked) expect(friends).toContain(f)
    // Per webhook: two identifies, Referral Created, Order Completed, Referral Converted.
    expect(segment.state.messages.size).toBe(acked.size * 5)
    console.log(`crash test: ${acked.size}/${total} acknowledged, ${deliveredBeforeRestart} messages delivered before the kill, ${segment.state.received} sent, ${segment.state.messages.size} unique`)
    bridge.kill('SIGTERM')
    await sandbox.close()
  }, 120_000)
})
