import type { DestinationHook } from '../../runtime/folder-destination.ts'
import { RateLimit } from '../../queue/rate-limit.ts'
import { systemClock } from '../../clock.ts'

/**
 * Klaviyo, bridge side (the function itself is destination-functions/klaviyo): the friend's sign-up triggers the
 * welcome flow, so it is time-sensitive (scenario 3). It gets priority 10 and a deadline of receivedAt +
 * KLAVIYO_SLA_MS (default 5 min): the priority lane and the capped backoff of its policy (function.json) apply,
 * and past the deadline KLAVIYO_LATE_POLICY decides (send-late: deliver and count it; expire: dead-letter it).
 *
 * Identifies go to profile-import, whose limit (700/min steady, 75/s burst) is lower than the events limit the
 * policy's bucket holds to, so they also take from a second bucket of 11/s with a burst of 10 (≤ 670/min).
 */
export const KLAVIYO_URGENT_EVENT = 'Referred Friend Signed Up'
export const KLAVIYO_DEFAULT_SLA_MS = 5 * 60 * 1000
export const KLAVIYO_PRIORITY = 10

function slaMs(env: NodeJS.ProcessEnv): number {
  const raw = env.KLAVIYO_SLA_MS
  if (raw === undefined || raw === '') return KLAVIYO_DEFAULT_SLA_MS
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`KLAVIYO_SLA_MS must be a positive number of milliseconds, got "${raw}"`)
  return n
}

export const klaviyoHook: DestinationHook = {
  wrap(fn, { env }) {
    const sla = slaMs(env)
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
}
