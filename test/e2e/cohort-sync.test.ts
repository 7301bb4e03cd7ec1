import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testBridge, until, type TestBridge } from '../helpers/bridge.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import { contactsWithEmail, type HubspotSandboxState } from '../../src/sandboxes/hubspot.ts'
import type { KlaviyoSandboxState } from '../../src/sandboxes/klaviyo.ts'

/**
 * Mixpanel cohort sync → /webhooks/mixpanel-cohorts → identify `mixpanel_cohort_<id>` → HubSpot contact property
 * and Klaviyo profile property (issue 15). Bodies shaped as docs.mixpanel.com/docs/cohort-sync/webhooks documents.
 */
const PASSWORD = 'cohort-webhook-password'
const basic = (password = PASSWORD) => ({ authorization: `Basic ${Buffer.from(`mixpanel:${password}`).toString('base64')}` })
const sync = (action: string, members: Array<Record<string, unknown>>, session = 'session-1') => ({
  action,
  parameters: {
    mixpanel_project_id: '4242',
    mixpanel_cohort_id: '98765',
    mixpanel_cohort_name: 'Top advocates',
    mixpanel_cohort_description: 'Referral Converted ≥ 3 times in the last 30 days',
    mixpanel_session_id: session,
    page_info: { total_pages: 1, page_count: 0 },
    members
  }
})

describe('Mixpanel cohort sync reaches HubSpot and Klaviyo as traits', () => {
  let bridge: TestBridge
  let hub: HubspotSandboxState
  let klaviyo: KlaviyoSandboxState
  beforeAll(async () => {
    bridge = await testBridge({
      sandboxes: true,
      env: { DESTINATIONS: 'hubspot,klaviyo', MIXPANEL_COHORTS_WEBHOOK_PASSWORD: PASSWORD },
      destinations: async (sandboxBase) => [await functionFolderDestination('hubspot', { env: {}, sandboxBase }), await functionFolderDestination('klaviyo', { env: {}, sandboxBase })]
    })
    hub = bridge.sandboxes.find((s) => s.vendor === 'hubspot')!.state as HubspotSandboxState
    klaviyo = bridge.sandboxes.find((s) => s.vendor === 'klaviyo')!.state as KlaviyoSandboxState
  }, 60_000)
  afterAll(async () => bridge?.close())

  const settled = async () => (await bridge.store.listJobs('pending', {})).length === 0 && (await bridge.store.listJobs('leased', {})).length === 0
  const klaviyoProfile = (email: string) => [...klaviyo.profiles.values()].find((p) => p.attributes.email === email)

  it('refuses a sync without the Basic auth password, with the reason', async () => {
    expect((await bridge.post('mixpanel-cohorts', sync('members', [{ email: 'a@example.com' }]))).status).toBe(401)
    const wrong = await bridge.post('mixpanel-cohorts', sync('members', [{ email: 'a@example.com' }]), basic('nope'))
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_signature' } })
  })

  it('members → true on both; a retried batch is a duplicate; remove_members → false', async () => {
    const members = [
      { email: 'Top.Advocate@Example.com', mixpanel_distinct_id: 'top.advocate@example.com', first_name: 'Top', last_name: 'Advocate' },
      { email: 'second@example.com', mixpanel_distinct_id: 'second@example.com' }
    ]
    const first = await bridge.post('mixpanel-cohorts', sync('members', members), basic())
    expect(first).toMatchObject({ status: 200, body: { stored: 2, duplicates: 0 } })
    // Mixpanel retries (at-least-once): the same batch again changes nothing.
    expect(await bridge.post('mixpanel-cohorts', sync('members', members), basic())).toMatchObject({ status: 200, body: { stored: 0, duplicates: 2 } })
    await until(settled, 30_000, 'cohort jobs delivered')
    expect(await bridge.store.listJobs('dead', {})).toEqual([])
    const contacts = contactsWithEmail(hub, 'top.advocate@example.com')
    expect(contacts).toHaveLength(1)
    expect(contacts[0].properties).toMatchObject({ mixpanel_cohort_98765: 'true', firstname: 'Top' })
    expect(contactsWithEmail(hub, 'second@example.com')[0].properties).toMatchObject({ mixpanel_cohort_98765: 'true' })
    expect(klaviyoProfile('top.advocate@example.com')?.attributes.properties).toMatchObject({ mixpanel_cohort_98765: true })
    const deliveredOnce = (await bridge.store.listJobs('delivered', { destination: 'hubspot' })).length
    expect(deliveredOnce).toBe(2)

    expect(await bridge.post('mixpanel-cohorts', sync('remove_members', [members[1]], 'session-2'), basic())).toMatchObject({ status: 200, body: { stored: 1 } })
    await until(settled, 30_000, 'removal delivered')
    expect(contactsWithEmail(hub, 'second@example.com')[0].properties).toMatchObject({ mixpanel_cohort_98765: 'false' })
    expect(klaviyoProfile('second@example.com')?.attributes.properties).toMatchObject({ mixpanel_cohort_98765: false })
    expect(contactsWithEmail(hub, 'top.advocate@example.com')[0].properties).toMatchObject({ mixpanel_cohort_98765: 'true' })
  })

  it('a member without an email is quarantined with the reason, the others go through', async () => {
    const res = await bridge.post('mixpanel-cohorts', sync('add_members', [{ mixpanel_distinct_id: '$device:abc' }, { email: 'third@example.com' }], 'session-3'), basic())
    expect(res).toMatchObject({ status: 200, body: { stored: 2 } })
    const quarantined = await bridge.store.listQuarantine({ source: 'mixpanel-cohorts' })
    expect(quarantined.map((q) => q.reasons.join(' '))).toEqual([expect.stringContaining('no email')])
  })
})
