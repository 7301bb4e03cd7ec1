/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): the delay is
 * uniform in [0, min(cap, base · 2^attempt)], which spreads a burst of failures instead of retrying in lockstep.
 * A server's Retry-After is a floor: we never come back sooner than it asked.
 */
export function backoffDelay(
  attempt: number,
  opts: { baseDelayMs: number; maxDelayMs: number; retryAfterMs?: number; random?: () => number }
): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt - 1))
  const jittered = Math.floor((opts.random ?? Math.random)() * ceiling)
  return Math.max(jittered, opts.retryAfterMs ?? 0)
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
