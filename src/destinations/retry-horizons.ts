import type { DeliveryPolicy } from './types.ts'

const HOUR = 60 * 60 * 1000

/**
 * How long each destination keeps retrying a job: THE table of retry horizons (docs: README "Configuration" and
 * docs/notifications.md "Retries" repeat it). A job is retried until it is `maxAgeMs` old; the attempt count is
 * only a guard against hot loops (see `hotLoopGuard`), so an outage shorter than the horizon never dead-letters
 * anything. Time-sensitive jobs (priority > 0) are retried with their backoff capped at `urgentMaxDelayMs` for the
 * whole horizon; past their SLA deadline the destination's late policy decides (send-late / expire).
 *
 * `<NAME>_MAX_AGE_MS` overrides a row; a destination not listed gets `default`.
 */
export const retryHorizons: Record<string, { maxAgeMs: number; why: string }> = {
  // Segment retries destination functions (RetryError, timeouts) "for four hours with a randomized exponential
  // backoff" (segment-docs connections/functions/destination-functions.md FAQ, connections/destinations/index.md
  // #retries-between-segment-and-destinations). The same artifact runs here, so it gets the same promise.
  hubspot: { maxAgeMs: 4 * HOUR, why: 'Segment retries destination functions for 4 h' },
  salesforce: { maxAgeMs: 4 * HOUR, why: 'Segment retries destination functions for 4 h' },
  mailchimp: { maxAgeMs: 4 * HOUR, why: 'Segment retries destination functions for 4 h' },
  klaviyo: { maxAgeMs: 4 * HOUR, why: 'Segment retries destination functions for 4 h; sign-up emails retried every ≤ 5 s for all of it, late policy past the 5-min SLA' },
  // analytics-node 3.1 gives up on a batch after maxTotalBackoffDuration = 43,200 s (src/app/settings.ts of
  // @segment/analytics-node): the vendor's own client keeps an event for 12 h, so do we.
  segment: { maxAgeMs: 12 * HOUR, why: "analytics-node's own retry ceiling (maxTotalBackoffDuration 43,200 s)" },
  // Mixpanel publishes no retry schedule; its /track endpoint drops events older than 5 days
  // (developer.mixpanel.com/reference/track-event), /import takes older ones. Analytics, like Segment: 12 h.
  mixpanel: { maxAgeMs: 12 * HOUR, why: 'analytics events, same horizon as the Segment client (Mixpanel /track keeps 5 days)' },
  // Advocate notifications go out as Standard Webhooks; Svix (the spec's reference sender) retries for
  // 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h ≈ 27.6 h (docs.svix.com/retries). The app gets the same
  // patience, and the in-app copy (our own table) the same horizon so both halves of the promise match.
  app_webhook: { maxAgeMs: 28 * HOUR, why: "Svix's Standard Webhooks schedule spans ~27.6 h" },
  rest_hooks: { maxAgeMs: 28 * HOUR, why: 'Standard Webhooks-signed like app_webhook: the same ~27.6 h schedule' },
  in_app: { maxAgeMs: 28 * HOUR, why: 'same promise as app_webhook (the notification table is ours)' },
  default: { maxAgeMs: 4 * HOUR, why: 'Segment retries destinations for 4 h' }
}

export function horizonOf(name: string): number {
  return (retryHorizons[name] ?? retryHorizons.default).maxAgeMs
}

/**
 * The attempt limit that a capped-backoff schedule cannot reach inside the age limit, so only a hot loop (a
 * destination failing instantly with no backoff, a bug) ever trips it. Full jitter makes the mean delay half the
 * cap; four times the attempts that mean allows in `maxAgeMs` leaves a margin no real schedule gets near (the sum
 * of N uniform delays has a relative spread of ~1/√(3N)).
 */
export function hotLoopGuard(policy: Pick<DeliveryPolicy, 'maxAgeMs' | 'maxDelayMs' | 'urgentMaxDelayMs'>): number {
  const smallestCap = Math.max(1, Math.min(policy.maxDelayMs, policy.urgentMaxDelayMs))
  const rampUp = 32 // the doubling attempts before the cap is reached
  return Math.ceil((4 * policy.maxAgeMs) / (smallestCap / 2)) + rampUp
}
