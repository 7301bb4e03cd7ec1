import type { Destination } from './types.ts'
import { policyFromEnv, defaultPolicy } from './types.ts'
import { segmentDestination } from './segment.ts'
import { NOTIFICATION_DESTINATIONS } from '../notifications/wiring.ts'
import { mixpanelDestination } from './mixpanel.ts'
import { hubspotDestination } from '../functions/hubspot-destination.ts'
import { salesforceDestination } from '../functions/salesforce-destination.ts'
import { klaviyoDestination } from '../functions/klaviyo-destination.ts'
import { mailchimpDestination } from '../functions/mailchimp-destination.ts'

/**
 * Which destinations this bridge delivers to, and where. A vendor with credentials talks to the vendor; one
 * without talks to its local sandbox at `<sandboxBase>/<vendor>` (served by this bridge under /sandbox/).
 * `DESTINATIONS` (comma list) restricts the set; default: all.
 */
export interface RegistryOptions {
  env: NodeJS.ProcessEnv
  /** e.g. http://127.0.0.1:3000/sandbox */
  sandboxBase: string
  /** Built elsewhere (in_app, app_webhook from src/notifications/wiring.ts), already filtered by DESTINATIONS. */
  extra?: Destination[]
}

export type DestinationFactory = (opts: RegistryOptions) => Destination | Promise<Destination>

export const destinationFactories: Record<string, DestinationFactory> = {
  segment: ({ env, sandboxBase }) => {
    const sandboxed = !env.SEGMENT_WRITE_KEY
    return segmentDestination({
      writeKey: env.SEGMENT_WRITE_KEY || 'sandbox-write-key',
      host: env.SEGMENT_HOST || (sandboxed ? `${sandboxBase}/segment` : 'https://api.segment.io'),
      sandboxed,
      policy: policyFromEnv('segment', { ...defaultPolicy, batchSize: 250, concurrency: 4 }, env)
    })
  },
  // Mixpanel is not a Segment Functions global, so the bridge delivers it itself: events through /import with fetch
  // (src/destinations/mixpanel-import.ts; the sandbox with the project token as Basic auth, the same code path).
  mixpanel: ({ env, sandboxBase }) => {
    const sandboxed = !env.MIXPANEL_TOKEN
    return mixpanelDestination({
      token: env.MIXPANEL_TOKEN || 'sandbox-token',
      secret: sandboxed ? undefined : env.MIXPANEL_API_SECRET || undefined,
      host: env.MIXPANEL_HOST || (sandboxed ? `${sandboxBase}/mixpanel` : 'api.mixpanel.com'),
      sandboxed,
      // A lane's batch of events is one /import request (up to 2,000 events / 10 MB).
      policy: policyFromEnv('mixpanel', { ...defaultPolicy, concurrency: 4, batchSize: 200 }, env)
    })
  },
  // HubSpot through our Segment destination function (destination-functions/hubspot), run in the local Functions runtime.
  hubspot: hubspotDestination,
  // Klaviyo (friend sign-up is time-sensitive: priority lane + SLA) and Mailchimp, through their destination functions.
  klaviyo: klaviyoDestination,
  mailchimp: mailchimpDestination,
  salesforce: salesforceDestination
}

export async function createDestinations(opts: RegistryOptions): Promise<Destination[]> {
  const wanted = opts.env.DESTINATIONS?.split(',').map((s) => s.trim()).filter(Boolean)
  const known = [...Object.keys(destinationFactories), ...NOTIFICATION_DESTINATIONS]
  const unknown = wanted?.filter((w) => !known.includes(w)) ?? []
  if (unknown.length) throw new Error(`DESTINATIONS names unknown destination(s): ${unknown.join(', ')} (known: ${known.join(', ')})`)
  const names = (wanted ?? Object.keys(destinationFactories)).filter((n) => destinationFactories[n])
  return [...(await Promise.all(names.map((n) => destinationFactories[n](opts)))), ...(opts.extra ?? [])]
}
