import { describe, it, expect } from 'vitest'
import { defaultPolicy, policyFromEnv } from '../../src/destinations/types.ts'
import { retryHorizons } from '../../src/destinations/retry-horizons.ts'
import { inAppPolicy } from '../../src/destinations/in-app.ts'
import { appWebhookPolicy } from '../../src/destinations/app-webhook.ts'
import { backoffDelay } from '../../src/queue/backoff.ts'

const HOUR = 3_600_000

/** Attempts a job makes before it is `maxAgeMs` old, retried at once on every failure (jitter pinned at `r`). */
function attemptsWithinHorizon(policy: typeof defaultPolicy, urgent: boolean, r: number): number {
  const cap = urgent ? Math.min(policy.maxDelayMs, policy.urgentMaxDelayMs) : policy.maxDelayMs
  let age = 0
  let attempts = 0
  while (age < policy.maxAgeMs) {
    attempts++
    age += backoffDelay(attempts, { baseDelayMs: Math.min(policy.baseDelayMs, cap), maxDelayMs: cap, random: () => r })
  }
  return attempts
}

describe('retry horizons', () => {
  it('are time: each destination retries until its age limit, from the one table', () => {
    expect(policyFromEnv('app_webhook', appWebhookPolicy, {}).maxAgeMs).toBe(28 * HOUR)
    expect(policyFromEnv('in_app', inAppPolicy, {}).maxAgeMs).toBe(28 * HOUR)
    expect(policyFromEnv('klaviyo', defaultPolicy, {}).maxAgeMs).toBe(4 * HOUR)
    expect(policyFromEnv('segment', defaultPolicy, {}).maxAgeMs).toBe(12 * HOUR)
    expect(policyFromEnv('something_new', { ...defaultPolicy, maxAgeMs: 123 }, {}).maxAgeMs).toBe(123)
    expect(policyFromEnv('app_webhook', appWebhookPolicy, { APP_WEBHOOK_MAX_AGE_MS: '60000' }).maxAgeMs).toBe(60_000)
  })

  it('leave the attempt count out of reach of any capped-backoff schedule inside the horizon', () => {
    for (const name of Object.keys(retryHorizons)) {
      const base = name === 'in_app' ? inAppPolicy : name === 'app_webhook' ? appWebhookPolicy : defaultPolicy
      const policy = policyFromEnv(name, base, {})
      // r = 0.15: every delay at 15 % of its ceiling, a schedule over three times busier than the average full-jitter one.
      for (const urgent of [true, false]) expect(attemptsWithinHorizon(policy, urgent, 0.15), `${name} urgent=${urgent}`).toBeLessThan(policy.maxAttempts)
    }
  })

  it('a 10-minute outage spends a tiny part of the budget (the old default of 12 was gone in ~30 s)', () => {
    const policy = policyFromEnv('app_webhook', appWebhookPolicy, {})
    expect(attemptsWithinHorizon({ ...policy, maxAgeMs: 10 * 60_000 }, true, 0.5)).toBeLessThan(policy.maxAttempts / 100)
  })

  it('an explicit <NAME>_MAX_ATTEMPTS still wins', () => {
    expect(policyFromEnv('app_webhook', appWebhookPolicy, { APP_WEBHOOK_MAX_ATTEMPTS: '20' }).maxAttempts).toBe(20)
  })
})
