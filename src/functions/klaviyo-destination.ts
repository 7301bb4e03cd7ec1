import type { Message } from '../messages.ts'
import type { Destination } from '../destinations/types.ts'
import { defaultPolicy, policyFromEnv } from '../destinations/types.ts'
import { functionDestination } from '../runtime/function-destination.ts'
import { RateLimit } from '../queue/rate-limit.ts'
import { systemClock } from '../clock.ts'
import { builtFunction } from './build.ts'

/** The sign-up whose metric triggers the friend's welcome flow: time-sensitive (scenario 3). */
export const KLAVIYO_URGENT_EVENT = 'Referred Friend Signed Up'
export const KLAVIYO_DEFAULT_SLA_MS = 5 * 60 * 1000
export const KLAVIYO_PRIORITY = 10

/** Which property holds the profile's email per event; mirrors destination-functions/klaviyo (which cannot import). */
const PROFILE_EMAIL: Record<string, string> = {
  'Referred Friend Signed Up': 'friend_email',
  'Referral Created': 'friend_email',
  'Order Completed': 'friend_email',
  'Referral Revenue Won': 'advocate_email'
}

const email = (v: unknown): string | undefined => (typeof v === 'string' && v.includes('@') ? v : undefined)

/** The email the Klaviyo function would key the profile on, or undefined (then the message gets no Klaviyo job). */
export function klaviyoProfileEmail(m: Message): string | undefined {
  if (m.type === 'identify') return email(m.traits?.email)
  const p = m.properties ?? {}
  let field = PROFILE_EMAIL[m.event]
  if (m.event === 'Referral Reward Earned') field = p.recipient_role === 'friend' ? 'friend_email' : 'advocate_email'
  return (field ? email(p[field]) : undefined) ?? email(p.email) ?? email((m.context?.traits as Record<string, unknown> | undefined)?.email) ?? email(m.userId)
}

function slaMs(env: NodeJS.ProcessEnv): number {
  const raw = env.KLAVIYO_SLA_MS
  if (raw === undefined || raw === '') return KLAVIYO_DEFAULT_SLA_MS
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`KLAVIYO_SLA_MS must be a positive number of milliseconds, got "${raw}"`)
  return n
}

/**
 * The `klaviyo` destination: the built destination function (dist/functions/klaviyo.js) in the Segment-like
 * runtime. Real Klaviyo when KLAVIYO_API_KEY is set, else the sandbox at `<sandboxBase>/klaviyo`; KLAVIYO_BASE_URL
 * overrides the target either way; KLAVIYO_REVISION overrides the function's pinned revision.
 *
 * Time-sensitive: `Referred Friend Signed Up` gets priority 10 and a deadline of receivedAt + KLAVIYO_SLA_MS
 * (default 5 min), so it runs in the priority lane (a backlog cannot hold it up) with its backoff capped at
 * urgentMaxDelayMs (5 s): it goes out within seconds of Klaviyo's recovery. Past the deadline: KLAVIYO_LATE_POLICY
 * (default send-late: deliver and count it in bridge_sla_past_deadline_total; `expire`: dead-letter it instead).
 *
 * Rate: one deliver() = one Klaviyo call. The worker's bucket holds calls to Klaviyo's events limit (3500/min
 * steady, 350/s burst): 58/s with a burst of 10 never exceeds 3500 in any minute. Identifies go to profile-import
 * (700/min steady, 75/s burst), so they also take from a second bucket, 11/s with a burst of 10 (≤ 670/min).
 *
 * maxAttempts is high on purpose: a time-sensitive job retries every ≤ 5 s, so the default 12 attempts would
 * dead-letter the friend's email after ~30 s of outage. The bound that matters is maxAgeMs (4 h, like Segment).
 */
export async function klaviyoDestination({ env, sandboxBase }: { env: NodeJS.ProcessEnv; sandboxBase: string }): Promise<Destination> {
  const sandboxed = !env.KLAVIYO_API_KEY
  const baseUrl = env.KLAVIYO_BASE_URL || (sandboxed ? `${sandboxBase}/klaviyo` : undefined)
  const sla = slaMs(env)
  const timeoutMs = env.KLAVIYO_TIMEOUT_MS ? Number(env.KLAVIYO_TIMEOUT_MS) : undefined
  const { code } = await builtFunction('klaviyo')
  const policy = policyFromEnv(
    'klaviyo',
    {
      ...defaultPolicy,
      concurrency: 4,
      batchSize: 1,
      ratePerSecond: 58,
      burst: 10,
      maxAttempts: 10_000,
      leaseMs: 30_000,
      priorityLanes: 1,
      urgentMaxDelayMs: 5_000,
      latePolicy: 'send-late'
    },
    env
  )
  const fn = functionDestination({
    name: 'klaviyo',
    code,
    settings: {
      apiKey: env.KLAVIYO_API_KEY || 'pk_sandbox_klaviyo_key',
      ...(baseUrl ? { baseUrl } : {}),
      ...(env.KLAVIYO_REVISION ? { revision: env.KLAVIYO_REVISION } : {})
    },
    sandboxed,
    target: baseUrl ?? 'https://a.klaviyo.com',
    timeoutMs: timeoutMs && Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : undefined,
    accepts: (m) => klaviyoProfileEmail(m) !== undefined,
    policy
  })
  const profileImport = new RateLimit(11, 10, systemClock)
  return {
    ...fn,
    async deliver(messages) {
      if (messages.some((m) => m.type === 'identify')) await profileImport.take()
      return fn.deliver(messages)
    },
    priorityOf(message, receivedAt) {
      if (message.type === 'track' && message.event === KLAVIYO_URGENT_EVENT) return { priority: KLAVIYO_PRIORITY, deadlineAt: receivedAt + sla }
      return undefined
    }
  }
}
