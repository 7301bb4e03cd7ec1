import type { Message } from '../messages.ts'
import { horizonOf, hotLoopGuard, retryHorizons } from './retry-horizons.ts'

/**
 * What one delivery of one message came to. The queue turns it into a job state: delivered, ignored, a retry
 * (honouring retryAfterMs), or dead. Mirrors the Segment Functions contract (RetryError / ValidationError /
 * InvalidEventPayload / EventNotSupported), see src/queue/classify.ts.
 */
export type DeliveryResult =
  | { status: 'delivered' }
  | { status: 'ignored'; reason: string }
  | { status: 'retry'; error: string; statusCode?: number; retryAfterMs?: number }
  | { status: 'permanent'; error: string; statusCode?: number }

export interface DeliveryPolicy {
  /** Jobs of this destination in flight at once. */
  concurrency: number
  /** Messages handed to one deliver() call (1 = no batching). */
  batchSize: number
  /** Token-bucket rate limit on deliver() calls; undefined = unlimited. */
  ratePerSecond?: number
  burst?: number
  /** Hot-loop guard only: dead-letter after this many attempts (the default is out of reach of any backoff schedule inside maxAgeMs). */
  maxAttempts: number
  /** The retry horizon: a failing job is retried until it is this old (ms), then dead-lettered (retry-horizons.ts). */
  maxAgeMs: number
  /** Backoff: first retry ~baseDelayMs, doubling, capped at maxDelayMs, full jitter. */
  baseDelayMs: number
  maxDelayMs: number
  /** How long a worker may hold a job before another worker may take it (must exceed the call timeout). */
  leaseMs: number
  /** Lanes that only take time-sensitive jobs (priority > 0), so a backlog cannot hold them up. */
  priorityLanes: number
  /** Backoff cap for time-sensitive jobs: they are retried within seconds of the vendor's recovery. */
  urgentMaxDelayMs: number
  /** What to do with a time-sensitive job whose deadline passed: deliver it and count it late, or expire it. */
  latePolicy: 'send-late' | 'expire'
}

export interface Destination {
  name: string
  /** True when it talks to a local sandbox instead of the vendor (shown at startup). */
  sandboxed: boolean
  /** Where it sends, for the startup log; never contains credentials. */
  target: string
  policy: DeliveryPolicy
  /** Which messages it wants at all; others get no job. */
  accepts(message: Message): boolean
  /** One result per message, same order. A thrown error counts as a retryable failure of the whole batch. */
  deliver(messages: Message[]): Promise<DeliveryResult[]>
  /** Time-sensitive messages get a priority lane and a deadline (scenario 3); default priority 0. */
  priorityOf?(message: Message, receivedAt: number): { priority?: number; deadlineAt?: number } | undefined
  close?(): Promise<void>
}

const basePolicy: Omit<DeliveryPolicy, 'maxAttempts'> = {
  concurrency: 4,
  batchSize: 1,
  maxAgeMs: horizonOf('default'), // retry-horizons.ts: Segment retries destinations for four hours
  baseDelayMs: 1_000,
  maxDelayMs: 10 * 60 * 1000,
  leaseMs: 60_000,
  priorityLanes: 0,
  urgentMaxDelayMs: 5_000,
  latePolicy: 'send-late'
}

export const defaultPolicy: DeliveryPolicy = { ...basePolicy, maxAttempts: hotLoopGuard(basePolicy) }

/**
 * The destination's policy: `base`, its retry horizon from `retryHorizons` (the one table of age limits), then
 * per-destination overrides from env: `<NAME>_MAX_ATTEMPTS`, `<NAME>_MAX_AGE_MS`, `<NAME>_RATE_PER_SECOND`, `<NAME>_CONCURRENCY`,
 * `<NAME>_BATCH_SIZE`, `<NAME>_LEASE_MS`, `<NAME>_PRIORITY_LANES`, `<NAME>_URGENT_MAX_DELAY_MS`, `<NAME>_LATE_POLICY`.
 * Unless `<NAME>_MAX_ATTEMPTS` is set, the attempt limit is raised to the hot-loop guard of the final horizon and
 * backoff, so the horizon — not a count — ends retries.
 */
export function policyFromEnv(name: string, base: DeliveryPolicy, env: NodeJS.ProcessEnv = process.env): DeliveryPolicy {
  const prefix = name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  const read = (key: string): number | undefined => {
    const raw = env[`${prefix}_${key}`]
    if (raw === undefined || raw === '') return undefined
    const n = Number(raw)
    if (!Number.isFinite(n) || n < 0) throw new Error(`${prefix}_${key} must be a non-negative number, got "${raw}"`)
    return n
  }
  const policy: DeliveryPolicy = {
    ...base,
    maxAgeMs: read('MAX_AGE_MS') ?? (name in retryHorizons ? horizonOf(name) : base.maxAgeMs),
    ratePerSecond: read('RATE_PER_SECOND') ?? base.ratePerSecond,
    concurrency: read('CONCURRENCY') ?? base.concurrency,
    batchSize: read('BATCH_SIZE') ?? base.batchSize,
    leaseMs: read('LEASE_MS') ?? base.leaseMs,
    priorityLanes: read('PRIORITY_LANES') ?? base.priorityLanes,
    urgentMaxDelayMs: read('URGENT_MAX_DELAY_MS') ?? base.urgentMaxDelayMs,
    latePolicy: latePolicy(env[`${prefix}_LATE_POLICY`], prefix) ?? base.latePolicy
  }
  policy.maxAttempts = read('MAX_ATTEMPTS') ?? Math.max(base.maxAttempts, hotLoopGuard(policy))
  return policy
}

function latePolicy(raw: string | undefined, prefix: string): DeliveryPolicy['latePolicy'] | undefined {
  if (raw === undefined || raw === '') return undefined
  if (raw === 'send-late' || raw === 'expire') return raw
  throw new Error(`${prefix}_LATE_POLICY must be send-late or expire, got "${raw}"`)
}

/** `defaultPolicy` with a destination's own settings and its row of `retryHorizons` (env overrides come on top). */
export function policyWithHorizon(name: string, overrides: Partial<DeliveryPolicy> = {}): DeliveryPolicy {
  const policy: DeliveryPolicy = { ...defaultPolicy, maxAgeMs: horizonOf(name), ...overrides }
  policy.maxAttempts = Math.max(policy.maxAttempts, hotLoopGuard(policy))
  return policy
}
