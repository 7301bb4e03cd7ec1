import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { join } from 'node:path'
import { SqliteStore } from '../../src/queue/sqlite.ts'
import { loadTrackingPlan } from '../../src/tracking-plan/plan.ts'
import type { Message } from '../../src/messages.ts'
import type { NewInboxItem } from '../../src/queue/store.ts'
import type { PreviewReport } from '../../src/tracking-plan/preview.ts'
import { PlanRepo, PLAN_DIR } from './support.ts'

const DAY = 86_400_000
const plan = loadTrackingPlan(PLAN_DIR)

function referralCreated(id: string, props: Record<string, unknown>): Message {
  return {
    type: 'track',
    event: 'Referral Created',
    messageId: id,
    userId: 'friend@example.com',
    timestamp: '2026-01-01T00:00:00.000Z',
    context: { protocols: { event_version: 1 } },
    properties: { referral_id: `r-${id}`, advocate_id: 'advocate@example.com', friend_id: 'friend@example.com', status: 'converted', source_platform: 'rewardful', ...props }
  }
}

function orderCompleted(id: string): Message {
  return {
    type: 'track',
    event: 'Order Completed',
    messageId: id,
    userId: 'friend@example.com',
    timestamp: '2026-01-01T00:00:00.000Z',
    context: { protocols: { event_version: 1 } },
    properties: { order_id: `o-${id}`, revenue: 25, revenue_minor: 2500, currency: 'USD', source_platform: 'rewardful' }
  }
}

function identify(id: string): Message {
  return {
    type: 'identify',
    messageId: id,
    userId: 'advocate@example.com',
    timestamp: '2026-01-01T00:00:00.000Z',
    context: { protocols: { event_version: 1 } },
    traits: { email: 'advocate@example.com', referral_role: 'advocate', source_platform: 'rewardful' }
  }
}

/** One inbox item per message, checked by the plan of today exactly as ingest does. */
function item(message: Message): NewInboxItem {
  const check = plan.check(message)
  const violations = check.ok ? undefined : check.reasons
  return { id: `rewardful:${message.messageId}`, eventType: 'test', payload: {}, status: violations ? 'quarantined' : 'routed', messages: [{ message, violations, destinations: [] }] }
}

describe('plan preview against a real SQLite store', () => {
  let repo: PlanRepo
  let store: SqliteStore
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    repo = new PlanRepo()
    const path = join(repo.dir, 'data', 'bridge.sqlite')
    env = { DATABASE_URL: `sqlite:${path}` }
    store = new SqliteStore(path)
    await store.init()
    const now = Date.now()
    const recent = [
      referralCreated('m1', { status: 'converted' }),
      referralCreated('m2', { status: 'converted', currency: 'usd' }),
      referralCreated('m3', { status: 'converted' }),
      referralCreated('m4', { status: 'created' }),
      referralCreated('m5', { advocate_id: undefined, status: 'created' }), // quarantined today: advocate_id is required in version 1
      orderCompleted('o1'),
      orderCompleted('o2'),
      identify('i1')
    ]
    await store.accept({ source: 'rewardful', requestId: 'req-1', receivedAt: now - 1000, rawBody: '{}', headers: {}, items: recent.map(item) })
    await store.accept({ source: 'rewardful', requestId: 'req-old', receivedAt: now - 40 * DAY, rawBody: '{}', headers: {}, items: [item(referralCreated('old', {}))] })
    await store.close()
    const quarantined = recent.map(item).filter((i) => i.status === 'quarantined')
    expect(quarantined.map((i) => i.id)).toEqual(['rewardful:m5'])

    // The plan change under review: Referral Created version 2 drops "converted" and makes advocate_id optional.
    repo.edit('events/referral-created.yaml', (d) => {
      const v2 = structuredClone(d.versions[0])
      v2.version = 2
      v2.properties.status.enum = v2.properties.status.enum.filter((s: string) => s !== 'converted')
      v2.properties.status.examples = ['created']
      v2.properties.advocate_id.required = false
      d.versions[0].status = 'deprecated'
      d.versions.push(v2)
    })
  })
  afterAll(() => repo.cleanup())

  it('counts per event and reason what would newly fail, and what quarantined would now pass', async () => {
    const progress: Array<[number, number]> = []
    const r = await repo.run(['preview', '--since', '7d', '--json'], { env, progress: (d, t) => progress.push([d, t]) })
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const report = JSON.parse(r.out) as PreviewReport
    expect(report.examined).toBe(8) // the 40-day-old message is outside --since 7d
    expect(report.newlyFailing).toBe(3)
    expect(report.nowPassing).toBe(1)
    expect(report.stillFailing).toBe(0)
    expect(report.events).toEqual([
      { event: 'identify', examined: 1, newlyFailing: 0, nowPassing: 0, stillFailing: 0, version: 2 },
      { event: 'Order Completed', examined: 2, newlyFailing: 0, nowPassing: 0, stillFailing: 0, version: 2 },
      { event: 'Referral Created', examined: 5, newlyFailing: 3, nowPassing: 1, stillFailing: 0, version: 2 }
    ])
    expect(report.newReasons).toHaveLength(1)
    expect(report.newReasons[0]).toMatchObject({ event: 'Referral Created', reason: 'properties.status must be one of "created", "visitor", "lead", "conversion", "approved", "pending"', count: 3 })
    expect(progress.at(-1)).toEqual([8, 8])
  })

  it('prints a readable table and summary; a wider window includes older messages', async () => {
    const r = await repo.run(['preview', '--since', '60d'], { env })
    expect(r.code).toBe(0)
    expect(r.out).toContain('re-validated 9 message(s) stored since 60d')
    expect(r.out).toMatch(/Referral Created\t2\t6\t4\t1\t0/)
    expect(r.out).toMatch(/4 × Referral Created: properties\.status must be one of "created"/)
    expect(r.out).toContain('summary: 4 would newly fail, 1 quarantined would now pass')
  })

  it('the unchanged plan finds nothing new', async () => {
    const r = await repo.run(['preview', PLAN_DIR, '--since', '7d', '--json'], { env })
    const report = JSON.parse(r.out) as PreviewReport
    expect(report).toMatchObject({ examined: 8, newlyFailing: 0, nowPassing: 0, stillFailing: 1 })
    expect(report.stillReasons[0]).toMatchObject({ event: 'Referral Created', reason: 'properties.advocate_id is required but missing', count: 1 })
  })
})
