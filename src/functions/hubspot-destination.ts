import type { Message } from '../messages.ts'
import type { Destination } from '../destinations/types.ts'
import { defaultPolicy, policyFromEnv } from '../destinations/types.ts'
import { functionDestination } from '../runtime/function-destination.ts'
import { builtFunction } from './build.ts'

/** Messages the HubSpot function acts on: identify with traits.email, or the two friend events with friend_email. */
export const HUBSPOT_TRACK_EVENTS = ['Referral Created', 'Referred Friend Signed Up']

export function hubspotAccepts(m: Message): boolean {
  if (m.type === 'identify') return typeof m.traits?.email === 'string' && m.traits.email !== ''
  return HUBSPOT_TRACK_EVENTS.includes(m.event)
}

/**
 * The `hubspot` destination: the built destination function (dist/functions/hubspot.js, built once per process)
 * run locally in the Segment-like runtime. Real HubSpot when HUBSPOT_ACCESS_TOKEN is set, else the sandbox at
 * `<sandboxBase>/hubspot`; HUBSPOT_BASE_URL overrides the target either way.
 * Policy: batches of 100 (HubSpot's batch limit) through onBatch, ~9 calls/s (HubSpot: 100 per 10 s, some
 * headroom for the property check), one lane so two batches never upsert the same email concurrently.
 */
export async function hubspotDestination({ env, sandboxBase }: { env: NodeJS.ProcessEnv; sandboxBase: string }): Promise<Destination> {
  const sandboxed = !env.HUBSPOT_ACCESS_TOKEN
  const baseUrl = env.HUBSPOT_BASE_URL || (sandboxed ? `${sandboxBase}/hubspot` : undefined)
  const { code } = await builtFunction('hubspot')
  return functionDestination({
    name: 'hubspot',
    code,
    settings: {
      accessToken: env.HUBSPOT_ACCESS_TOKEN || 'sandbox-hubspot-token',
      ...(baseUrl ? { baseUrl } : {}),
      ...(env.HUBSPOT_REFERRAL_ID_PROPERTY ? { referralIdProperty: env.HUBSPOT_REFERRAL_ID_PROPERTY } : {})
    },
    sandboxed,
    target: baseUrl ?? 'https://api.hubapi.com',
    accepts: hubspotAccepts,
    policy: policyFromEnv('hubspot', { ...defaultPolicy, batchSize: 100, ratePerSecond: 9, burst: 9, concurrency: 1 }, env)
  })
}
