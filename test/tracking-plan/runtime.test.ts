import { describe, it, expect, afterAll } from 'vitest'
import { loadTrackingPlan } from '../../src/tracking-plan/plan.ts'
import { normalizeItem } from '../../src/ingest/normalize.ts'
import { referralcandy } from '../../src/sources/referralcandy.ts'
import type { Message } from '../../src/messages.ts'
import type { NewInboxItem } from '../../src/queue/store.ts'
import { PlanRepo } from './support.ts'

/** The runtime side of a version bump: new messages get the new version, older versions keep validating. */
describe('runtime validation across versions', () => {
  const repo = new PlanRepo({ commit: false })
  afterAll(() => repo.cleanup())
  repo.edit('events/referral-created.yaml', (d) => {
    const v2 = structuredClone(d.versions[0])
    v2.version = 2
    v2.properties.status.enum = ['created', 'converted']
    v2.properties.status.examples = ['created']
    d.versions[0].status = 'deprecated'
    d.versions.push(v2)
  })
  const plan = loadTrackingPlan(repo.plan)

  const message = (status: string, version?: number): Message => ({
    type: 'track',
    event: 'Referral Created',
    messageId: 'm',
    userId: 'f@example.com',
    timestamp: '2026-01-01T00:00:00.000Z',
    context: version ? { protocols: { event_version: version } } : {},
    properties: { referral_id: 'r', advocate_id: 'a', friend_id: 'f', status, source_platform: 'x' }
  })

  it('stamps the latest non-retired version and checks against the stamped one', () => {
    expect(plan.currentVersion('track', 'Referral Created')).toBe(2)
    expect(plan.check(message('pending', 1))).toEqual({ ok: true, version: 1 })
    expect(plan.check(message('pending', 2))).toEqual({ ok: false, version: 2, reasons: ['properties.status must be one of "created", "converted" (got "pending")'] })
    expect(plan.check(message('pending'))).toMatchObject({ ok: false, version: 2 })
    expect(plan.check(message('created', 3))).toEqual({ ok: false, version: 3, reasons: ['event "Referral Created" has no version 3 in the tracking plan'] })
  })

  it('the typed adapters produce messages the plan accepts, stamped with the current version', () => {
    const item = { key: 'k1', eventType: 'referred_purchase', payload: { referral_email: 'Friend@Example.com', referral_timestamp: 1767225600, referring_email: 'advocate@example.com' } }
    // normalizeItem's trailing arguments are being extended by another change; pass receivedAt either way.
    const normalize = normalizeItem as (...args: unknown[]) => NewInboxItem
    const out = normalize(referralcandy, item, plan, [], Date.now())
    expect(out.status).toBe('routed')
    const track = out.messages.find((m) => m.message.type === 'track')!
    expect(track.violations).toBeUndefined()
    expect(track.message.context.protocols?.event_version).toBe(2)
    expect(track.message).toMatchObject({ event: 'Referral Created', properties: { status: 'converted', friend_email: 'friend@example.com' } })
  })
})
