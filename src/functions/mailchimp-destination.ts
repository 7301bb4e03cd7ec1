import type { Message } from '../messages.ts'
import type { Destination } from '../destinations/types.ts'
import { defaultPolicy, policyFromEnv } from '../destinations/types.ts'
import { functionDestination } from '../runtime/function-destination.ts'
import { builtFunction } from './build.ts'

export const MAILCHIMP_TRACK_EVENTS = ['Referred Friend Signed Up', 'Referral Created']

/** Messages the Mailchimp function acts on: identify with traits.email, or the friend events with friend_email. */
export function mailchimpAccepts(m: Message): boolean {
  if (m.type === 'identify') return typeof m.traits?.email === 'string' && m.traits.email !== ''
  return MAILCHIMP_TRACK_EVENTS.includes(m.event) && typeof m.properties?.friend_email === 'string'
}

/**
 * The `mailchimp` destination: the built destination function in the Segment-like runtime. Real Mailchimp when
 * MAILCHIMP_API_KEY (`<key>-<dc>`) and MAILCHIMP_LIST_ID are set, else the sandbox at `<sandboxBase>/mailchimp`
 * (audience `sandbox-list`); MAILCHIMP_BASE_URL overrides the target; MAILCHIMP_STATUS_IF_NEW sets `statusIfNew`
 * (default pending = double opt-in).
 * Policy: Mailchimp limits each key to 10 simultaneous connections and a delivery makes ≤ 2 sequential calls, so 4
 * lanes stay well under it (the bridge may share the key with other integrations).
 */
export async function mailchimpDestination({ env, sandboxBase }: { env: NodeJS.ProcessEnv; sandboxBase: string }): Promise<Destination> {
  const sandboxed = !(env.MAILCHIMP_API_KEY && env.MAILCHIMP_LIST_ID)
  const baseUrl = env.MAILCHIMP_BASE_URL || (sandboxed ? `${sandboxBase}/mailchimp` : undefined)
  const { code } = await builtFunction('mailchimp')
  const dc = /-([a-z]+[0-9]+)$/.exec(env.MAILCHIMP_API_KEY ?? '')?.[1]
  return functionDestination({
    name: 'mailchimp',
    code,
    settings: {
      apiKey: sandboxed ? 'sandbox0000000000000000000000000-us1' : env.MAILCHIMP_API_KEY,
      listId: sandboxed ? env.MAILCHIMP_LIST_ID || 'sandbox-list' : env.MAILCHIMP_LIST_ID,
      ...(baseUrl ? { baseUrl } : {}),
      ...(env.MAILCHIMP_STATUS_IF_NEW ? { statusIfNew: env.MAILCHIMP_STATUS_IF_NEW } : {})
    },
    sandboxed,
    target: baseUrl ?? `https://${dc ?? '<dc>'}.api.mailchimp.com`,
    accepts: mailchimpAccepts,
    policy: policyFromEnv('mailchimp', { ...defaultPolicy, concurrency: 4 }, env)
  })
}
