import { describe, it, expect, afterEach } from 'vitest'
import { testBridge, sign, referralCandyPayload, until, type TestBridge } from '../helpers/bridge.ts'
import type { Destination, DeliveryResult } from '../../src/destinations/types.ts'
import { defaultPolicy } from '../../src/destinations/types.ts'
import type { Message } from '../../src/messages.ts'

/** A destination that answers from a script, to drive the queue through every outcome. */
function scripted(name: string, script: (m: Message, call: number) => DeliveryResult, policy = {}): Destination & { calls: Message[][] } {
  let n = 0
  const calls: Message[][] = []
  return {
    name,
    sandboxed: true,
    target: 'memory',
    policy: { ...defaultPolicy, baseDelayMs: 1000, maxDelayMs: 60_000, leaseMs: 5_000, concurrency: 1, ...policy },
    // One track per ReferralCandy webhook, as these tests were written: the Referral Created.
    accepts: (m) => m.type === 'track' && m.event === 'Referral Created',
    calls,
    async deliver(messages) {
      calls.push(messages)
      return messages.map((m) => script(m, n++))
    }
  }
}

describe('delivery', () => {
  let bridge: TestBridge
  afterEach(async () => {
    await bridge?.close()
  })

  // A ReferralCandy webhook is five messages: two identifies, Referral Created, Order Completed, Referral Converted.
  async function send(i: number) {
    const raw = JSON.stringify(referralCandyPayload(i))
    const res = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
    expect(res.status).toBe(200)
    return res.body.ids[0] as string
  }

  it('retries Segment 503s with backoff until the batch is acknowledged', async () => {
    bridge = await testBridge()
    bridge.segment.faults.add({ kind: 'status', status: 503, count: 3 })
    await send(10)
    await until(() => bridge.segment.state.messages.size === 5, 15_000, 'delivery after the outage')
    await until(async () => (await bridge.store.listJobs('delivered', {})).length === 5, 5_000, 'jobs recorded delivered')
    const [job] = (await bridge.store.listJobs('delivered', {})).filter((j) => j.event === 'Referral Created')
    const detail = await bridge.store.getEvent(job.inboxId)
    const attempts = detail!.attempts.filter((a) => a.jobId === job.id)
    expect(attempts.at(-1)?.outcome).toBe('delivered')
    expect(bridge.segment.faults.counters.faulted).toBeGreaterThanOrEqual(3)
  })

  it('honours Retry-After as the floor of the next attempt', async () => {
    const d = scripted('crm', (_m, call) => (call === 0 ? { status: 'retry', error: 'slow down', statusCode: 429, retryAfterMs: 30_000 } : { status: 'delivered' }))
    // Backoff scale 1 here: the 30 s Retry-After must hold the job back.
    bridge = await testBridge({ destinations: [d], worker: { pollMs: 20, backoffScale: 1, random: () => 0 } })
    const inboxId = await send(11)
    await until(async () => (await bridge.store.getEvent(inboxId))!.attempts.length === 1)
    const [job] = (await bridge.store.getEvent(inboxId))!.jobs
    expect(job.status).toBe('pending')
    expect(job.nextAttemptAt - job.updatedAt).toBe(30_000)
    expect(d.calls).toHaveLength(1)
  })

  it('dead-letters a permanent error at once and after max attempts, then replays with the same ids', async () => {
    let healthy = false
    const d = scripted('crm', (m) => {
      if (healthy) return { status: 'delivered' }
      return m.type === 'track' && m.properties.friend_email === 'friend20@example.com'
        ? { status: 'permanent', error: 'VALIDATION_ERROR: Property values were not valid', statusCode: 400 }
        : { status: 'retry', error: 'Bad Gateway', statusCode: 502 }
    }, { maxAttempts: 3 })
    bridge = await testBridge({ destinations: [d] })
    await send(20)
    await send(21)
    await until(async () => (await bridge.store.listJobs('dead', {})).length === 2, 10_000, 'two dead jobs')
    const dead = await bridge.admin('GET', '/admin/dlq?destination=crm')
    const byError = Object.fromEntries(dead.body.jobs.map((j: any) => [j.attempts, j.lastError]))
    expect(byError[1]).toMatch(/^permanent error: VALIDATION_ERROR/)
    expect(byError[3]).toMatch(/^max attempts reached: Bad Gateway/)
    const ids = dead.body.jobs.map((j: any) => j.messageId).sort()

    healthy = true
    const unauthorised = await fetch(`${bridge.url}/admin/dlq/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"filter":{}}' })
    expect(unauthorised.status).toBe(401)
    const replay = await bridge.admin('POST', '/admin/dlq/replay', { filter: { destination: 'crm' } })
    expect(replay.body).toEqual({ matched: 2, replayed: 2 })
    await until(async () => (await bridge.store.listJobs('delivered', {})).length === 2, 10_000, 'replayed jobs delivered')
    const redelivered = d.calls.slice(-2).flat().map((m) => m.messageId).sort()
    expect(redelivered).toEqual(ids)
  })

  it('dead-letters a job older than the destination max age', async () => {
    const d = scripted('crm', () => ({ status: 'retry', error: 'timeout' }), { maxAttempts: 100, maxAgeMs: 1 })
    bridge = await testBridge({ destinations: [d] })
    await send(30)
    await until(async () => (await bridge.store.listJobs('dead', {})).length === 1)
    expect((await bridge.store.listJobs('dead', {}))[0].lastError).toMatch(/^max age reached/)
  })

  it('records EventNotSupported-style outcomes as ignored, not failed', async () => {
    const d = scripted('crm', () => ({ status: 'ignored', reason: 'EventNotSupported: track not supported' }))
    bridge = await testBridge({ destinations: [d] })
    await send(31)
    await until(async () => (await bridge.store.listJobs('ignored', {})).length === 1)
  })

  it('keeps to the per-destination rate limit', async () => {
    const d = scripted('crm', () => ({ status: 'delivered' }), { ratePerSecond: 20, burst: 1, concurrency: 3 })
    bridge = await testBridge({ destinations: [d] })
    const started = Date.now()
    for (let i = 0; i < 10; i++) await send(100 + i)
    await until(async () => (await bridge.store.listJobs('delivered', {})).length === 10, 10_000)
    // 10 calls at 20/s with a burst of 1 take at least ~450 ms whatever the concurrency.
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
  })

  it('runs time-sensitive jobs in a priority lane that a backlog cannot hold up', async () => {
    let releaseBacklog!: () => void
    const blocked = new Promise<void>((r) => (releaseBacklog = r))
    const order: string[] = []
    const d = scripted('klaviyo', () => ({ status: 'delivered' }), { concurrency: 1, priorityLanes: 1, batchSize: 1 })
    const deliver = d.deliver
    d.deliver = async (messages) => {
      const urgent = messages.some((m) => m.type === 'track' && String(m.properties.friend_email).startsWith('urgent'))
      if (!urgent) await blocked
      order.push(urgent ? 'urgent' : 'backlog')
      return deliver(messages)
    }
    d.priorityOf = (m, receivedAt) =>
      m.type === 'track' && String(m.properties.friend_email).startsWith('urgent') ? { priority: 10, deadlineAt: receivedAt + 300_000 } : undefined
    bridge = await testBridge({ destinations: [d] })
    for (let i = 0; i < 5; i++) await send(200 + i)
    const raw = JSON.stringify({ referral_email: 'urgent@example.com', referral_timestamp: 1700000000, referring_email: 'adv@example.com' })
    expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)
    await until(() => order.includes('urgent'), 5_000, 'urgent delivered while the backlog lane is stuck')
    expect(order).toEqual(['urgent'])
    releaseBacklog()
    await until(() => order.length === 6, 5_000)
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
    expect(metrics).toMatch(/bridge_sla_latency_seconds_count\{destination="klaviyo"\} 1/)
  })

  it('expires time-sensitive jobs past their deadline under the expire policy, and records why', async () => {
    const d = scripted('klaviyo', () => ({ status: 'retry', error: 'Service Unavailable', statusCode: 503 }), { latePolicy: 'expire', maxAttempts: 1000 })
    d.priorityOf = (_m, receivedAt) => ({ priority: 10, deadlineAt: receivedAt + 50 })
    bridge = await testBridge({ destinations: [d] })
    await send(300)
    await until(async () => (await bridge.store.listJobs('dead', {})).length === 1, 5_000)
    expect((await bridge.store.listJobs('dead', {}))[0].lastError).toMatch(/^expired: deadline .* passed/)
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
    expect(metrics).toContain('bridge_sla_past_deadline_total{destination="klaviyo",action="expired"} 1')
  })

  it('delivers late and flags it under the send-late policy', async () => {
    let calls = 0
    const d = scripted('klaviyo', () => (calls++ < 2 ? { status: 'retry', error: 'down', statusCode: 503 } : { status: 'delivered' }))
    d.priorityOf = (_m, receivedAt) => ({ priority: 10, deadlineAt: receivedAt + 1 })
    bridge = await testBridge({ destinations: [d] })
    const inboxId = await send(301)
    await until(async () => (await bridge.store.listJobs('delivered', {})).length === 1, 5_000)
    const attempts = (await bridge.store.getEvent(inboxId))!.attempts
    expect(attempts.at(-1)?.error).toMatch(/^delivered late by/)
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
    expect(metrics).toContain('bridge_sla_past_deadline_total{destination="klaviyo",action="delivered_late"} 1')
  })

  it('exposes health, Prometheus metrics and the OpenAPI document', async () => {
    bridge = await testBridge()
    await send(40)
    await bridge.post('referralcandy', '{}', { 'x-referral-candy-signature': 'nope' })
    await until(() => bridge.segment.state.messages.size === 5)
    expect(await (await fetch(`${bridge.url}/healthz`)).json()).toEqual({ status: 'ok', store: 'sqlite', sandboxed: ['segment'] })
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
    expect(metrics).toContain('bridge_webhooks_accepted_total{source="referralcandy"} 1')
    expect(metrics).toContain('bridge_webhooks_rejected_total{source="referralcandy",reason="invalid_signature"} 1')
    await until(async () => (await (await fetch(`${bridge.url}/metrics`)).text()).includes('bridge_deliveries_total{destination="segment",outcome="delivered"} 5'))
    expect(metrics).toMatch(/bridge_queue_jobs\{destination="segment",status="(pending|leased|delivered)"\}/)
    const doc = await (await fetch(`${bridge.url}/openapi.json`)).json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/webhooks/referralcandy', '/webhooks/rewardful', '/admin/dlq/replay', '/healthz']))
  })

  it('closes the admin API without a token and refuses wrong tokens', async () => {
    bridge = await testBridge({ env: { BRIDGE_ADMIN_TOKEN: '' } })
    const res = await fetch(`${bridge.url}/admin/dlq`)
    expect(res.status).toBe(503)
    expect((await res.json()).message).toContain('BRIDGE_ADMIN_TOKEN')
  })

  it('shuts down gracefully: refuses new webhooks, finishes in-flight work, flushes Segment', async () => {
    bridge = await testBridge()
    await send(50)
    await bridge.stop(5_000)
    expect(bridge.segment.state.messages.size).toBe(5)
    const after = await fetch(`${bridge.url}/webhooks/referralcandy`, { method: 'POST', body: '{}' }).catch((e) => e)
    expect(after instanceof Error || after.status === 503).toBe(true)
  })
})
