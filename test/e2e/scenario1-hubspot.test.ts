import { describe, it, expect, afterEach } from 'vitest'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import { contactsWithEmail, type HubspotSandboxState } from '../../src/sandboxes/hubspot.ts'
import type { FaultSwitch } from '../../src/sandboxes/faults.ts'

/**
 * Scenario 1: a signed ReferralCandy webhook → Segment Spec messages → durable queue → the BUILT HubSpot
 * destination function (Segment-like runtime, official SDK) → the HubSpot sandbox the bridge serves at
 * /sandbox/hubspot. Five redeliveries of the same webhook and a 429 then a 502 from HubSpot still leave exactly
 * one contact for the friend, tagged "Referral Lead".
 */
describe('scenario 1: ReferralCandy → HubSpot, exactly once in effect', () => {
  let bridge: TestBridge | undefined
  afterEach(async () => {
    await bridge?.close()
    bridge = undefined
  })

  it('5 redeliveries + 429 then 502 from HubSpot ⇒ one friend contact tagged Referral Lead', async () => {
    bridge = await testBridge({
      sandboxes: true,
      env: { DESTINATIONS: 'hubspot' },
      // The registry's factory, pointed at the sandbox this bridge mounts under /sandbox/hubspot.
      destinations: async (sandboxBase) => [await functionFolderDestination('hubspot', { env: {}, sandboxBase })]
    })
    const hub = bridge.sandboxes.find((s) => s.vendor === 'hubspot')!
    const state = hub.state as HubspotSandboxState
    const faults: FaultSwitch = hub.faults
    faults.add({ kind: 'status', status: 429, retryAfterSeconds: 1, count: 1, pathContains: '/batch/upsert' })
    faults.add({ kind: 'status', status: 502, count: 1, pathContains: '/batch/upsert' })

    const raw = JSON.stringify({ referral_email: 'Friend.One@Example.com', referral_timestamp: 1434439382, referring_email: 'advocate@example.com' })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status)
    expect(statuses.every((s) => s >= 200 && s < 300)).toBe(true)

    const settled = async () => {
      const open = [
        ...(await bridge!.store.listJobs('pending', { destination: 'hubspot' })),
        ...(await bridge!.store.listJobs('leased', { destination: 'hubspot' }))
      ]
      return open.length === 0 && contactsWithEmail(state, 'friend.one@example.com').length > 0
    }
    await until(settled, 20_000, 'hubspot jobs settled')

    const friends = contactsWithEmail(state, 'friend.one@example.com')
    expect(friends).toHaveLength(1)
    expect(friends[0]!.properties).toMatchObject({ referral_tag: 'Referral Lead', lifecyclestage: 'lead', hs_lead_status: 'NEW', referral_advocate_email: 'advocate@example.com' })
    const tagged = [...state.contacts.values()].filter((c) => c.properties.referral_tag === 'Referral Lead')
    expect(tagged).toHaveLength(1)
    expect(contactsWithEmail(state, 'advocate@example.com')).toHaveLength(1)
    // Both faults were actually served, and nothing ended in the dead-letter queue.
    expect(faults.counters.faulted).toBe(2)
    expect(await bridge.store.listJobs('dead', { destination: 'hubspot' })).toHaveLength(0)
    const delivered = await bridge.store.listJobs('delivered', { destination: 'hubspot' })
    expect(delivered.length).toBeGreaterThan(0)
    expect(Math.max(...delivered.map((j) => j.attempts))).toBeGreaterThanOrEqual(2)
  })
})
