import { describe, it, expect } from 'vitest'
import { PlanRepo, runPlan, ROOT } from './support.ts'
import { readProducers } from '../../src/tracking-plan/producers.ts'

describe('producer map (which source emits which event and property)', () => {
  it('the checked-in map is what the sources produce from their samples (what CI runs)', async () => {
    const r = await runPlan(['producers', '--check'], { cwd: ROOT })
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
  })

  it('knows that ReferralCandy emits Referral Created without a campaign id, and Friendbuy sends the advocate name', () => {
    const map = readProducers()!
    const rc = map.events['Referral Created'].find((p) => p.source === 'referralcandy')!
    expect(rc.eventTypes).toEqual(['referred_purchase'])
    expect(rc.properties).toContain('referral_id')
    expect(rc.properties).not.toContain('campaign_id')
    expect(map.events['Referred Friend Signed Up'].find((p) => p.source === 'friendbuy')?.properties).toContain('advocate_name')
    expect(map.sources.ambassador).toEqual({ samples: 0, failed: [] })
    // ReferralCandy's one webhook is a referred purchase, so it reports Order Completed too (without an amount).
    expect(map.events['Order Completed']).toEqual([
      expect.objectContaining({ source: 'referralcandy', eventTypes: ['referred_purchase'] }),
      expect.objectContaining({ source: 'rewardful', eventTypes: ['sale.created'] })
    ])
  })

  it('plan lint warns about a property no source can fill', async () => {
    const repo = new PlanRepo({ commit: false })
    try {
      repo.edit('events/referral-created.yaml', (d) => {
        d.versions[0].properties.campaign_name = { type: 'string', description: 'Campaign name.', examples: ['Spring'] }
      })
      const r = await repo.run(['lint'])
      expect(r.code).toBe(0)
      expect(r.out).toMatch(/referral-created\.yaml:1: warning: coverage: no source fills "Referral Created" property "campaign_name" in any sample \(producers: [a-z, ]*referralcandy/)
    } finally {
      repo.cleanup()
    }
  })
})
