import { describe, it, expect } from 'vitest'
import { buildCatalogue } from '../../src/tracking-plan/catalogue.ts'
import { loadPlanEntries } from '../../src/tracking-plan/plan.ts'
import { readProducers } from '../../src/tracking-plan/producers.ts'
import type { MessageRow } from '../../src/queue/store.ts'
import { PLAN_DIR } from './support.ts'

const row = (event: string, status: 'routed' | 'quarantined', violations: string[] = []): MessageRow => ({
  messageId: `m-${Math.random()}`,
  inboxId: 'i',
  status,
  violations,
  createdAt: 0,
  message: { type: 'track', event, messageId: 'm', userId: 'u', timestamp: '2026-01-01T00:00:00.000Z', properties: {}, context: {} }
})

describe('plan catalogue', () => {
  it('keeps every version, counts recent traffic per rule, and finds consumers and destinations that receive nothing', () => {
    const entries = loadPlanEntries(PLAN_DIR)
    const rc = entries.find((e) => e.name === 'Referral Created')!
    rc.versions = [{ ...rc.versions[0], status: 'deprecated' }, { ...structuredClone(rc.versions[0]), version: 2, status: 'active' }]
    const catalogue = buildCatalogue({
      entries,
      fingerprint: 'f',
      producers: readProducers(),
      destinations: [
        { name: 'crm', accepts: (m) => m.type === 'track' && m.event === 'Referral Created' },
        { name: 'typo', accepts: (m) => m.type === 'track' && m.event === 'Referal Created' }
      ],
      recent: [
        row('Referral Created', 'routed'),
        row('Referral Created', 'quarantined', ['properties.status must be one of "created" (got "x")']),
        row('Referral Created', 'quarantined', ['properties.status must be one of "created" (got "y")', 'properties.friend_id is required but missing'])
      ],
      since: 0
    })
    const created = catalogue.entries.find((e) => e.name === 'Referral Created')!
    expect(created.versions.map((v) => `${v.version} ${v.status}`)).toEqual(['2 active', '1 deprecated'])
    expect(created.currentVersion).toBe(2)
    expect(created.consumers).toEqual(['crm'])
    expect(created.recent).toEqual({ routed: 1, quarantined: 2, other: 0 })
    expect(created.quarantinedBy).toEqual([
      { reason: 'properties.status must be one of "created"', count: 2 },
      { reason: 'properties.friend_id is required but missing', count: 1 }
    ])
    expect(catalogue.idleDestinations).toEqual(['typo'])
    expect(catalogue.unknownProducers).toContain('ambassador')
  })
})
