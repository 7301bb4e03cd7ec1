import type { DeliveryResult } from '../destinations/types.ts'
import { FunctionTimeoutError } from './function-runtime.ts'

/**
 * What Segment does with an error a destination function throws (destination-functions.md, "Destination
 * functions error types"; errors-and-error-handling.md; FAQ "Does Segment retry failed function invocations?":
 * "Segment retries invocations that throw RetryError or Timeout errors (temporary errors only)"):
 *
 *   RetryError                  → Retry           (ours: retry, honouring our retryAfterMs extension)
 *   Timeout (the 5 s limit)     → Retry           (ours: the runtime's TimeoutError)
 *   EventNotSupported           → Unsupported Event Type, discarded (ours: ignored, the job records why)
 *   ValidationError             → Invalid Settings, discarded
 *   InvalidEventPayload         → Message Rejected, discarded
 *   anything else               → Bad Request, discarded: a TypeError, a ReferenceError, an uncaught fetch error
 *
 * "Discarded" here is a dead letter with the error as its reason (visible, replayable), never a silent drop
 * and never a retry: retrying what Segment would drop would make a function pass here and fail there.
 */
export function classifyFunctionError(err: unknown): DeliveryResult {
  const e = err as { name?: string; message?: string; status?: number; retryAfterMs?: number } | undefined
  const name = e?.name ?? typeof err
  const message = e?.message ?? String(err)
  // Only the runtime's own limit is Segment's "Timeout"; a function's own timeout error (node-fetch's `{timeout}`,
  // an AbortSignal) is an ordinary uncaught error there, so here too.
  if (err instanceof FunctionTimeoutError) return { status: 'retry', error: `timeout: ${message}` }
  switch (name) {
    case 'RetryError':
      return { status: 'retry', error: `RetryError: ${message}`, ...(typeof e?.status === 'number' ? { statusCode: e.status } : {}), ...(typeof e?.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}) }
    case 'EventNotSupported':
      return { status: 'ignored', reason: `EventNotSupported: ${message}` }
    case 'ValidationError':
      return { status: 'permanent', error: `ValidationError: ${message}` }
    case 'InvalidEventPayload':
      return { status: 'permanent', error: `InvalidEventPayload: ${message}` }
    default:
      return { status: 'permanent', error: `Bad Request, discarded as Segment does: ${name}: ${message}` }
  }
}
