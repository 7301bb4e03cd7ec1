import type { Message } from '../messages.ts'
import { classifyStatus } from '../queue/classify.ts'
import { defaultPolicy, type DeliveryPolicy, type DeliveryResult, type Destination } from '../destinations/types.ts'
import { loadFunction, type FunctionBatchItemResult, type FunctionHandle } from './function-runtime.ts'
import { classifyFunctionError } from './function-errors.ts'

/**
 * A Segment destination function (built artifact) as one of our destinations: the queue delivers through the
 * same code a Segment workspace would run, with Segment's outcomes (destination-functions.md, "Destination
 * functions error types" and "Handling batching errors"):
 *
 * - more than one message and the artifact defines `onBatch` ⇒ one onBatch call. Per-index `{status,
 *   errormessage}` results map through classifyStatus (2xx ⇒ delivered, 429/5xx ⇒ retry, other 4xx ⇒ discarded);
 *   an item whose errormessage starts with `EventNotSupported` is recorded as ignored; no per-index results ⇒
 *   all delivered (see batchResults). A thrown error applies to every message of the batch.
 * - otherwise one handler call per message, in order; no handler for the type ⇒ ignored (EventNotSupported).
 * - thrown errors ⇒ classifyFunctionError: only RetryError and the time limit are retried; every other error
 *   (ValidationError, InvalidEventPayload, a TypeError, an uncaught fetch failure) is discarded: a dead letter
 *   with the error, never retried.
 * - Our extension, ignored by Segment: a RetryError (or batch item) may carry `retryAfterMs` (e.g. from a 429's
 *   Retry-After), which the queue honours as the earliest next attempt.
 */
export interface FunctionDestinationOptions {
  name: string
  /** The built artifact (dist/functions/<name>.js), never the TypeScript source. */
  code: string
  settings: Record<string, unknown>
  sandboxed: boolean
  /** Where it sends, for the startup log (no credentials). */
  target: string
  policy?: Partial<DeliveryPolicy>
  /** Which messages get a job; default: those whose type has a handler. */
  accepts?: (message: Message) => boolean
  /** Per-call limit (Segment: 5 s). */
  timeoutMs?: number
  /** Extra/replacement globals for the function (tests). */
  globals?: Record<string, unknown>
}

export function functionDestination(opts: FunctionDestinationOptions): Destination {
  const handle: FunctionHandle = loadFunction(opts.code, { timeoutMs: opts.timeoutMs, globals: opts.globals })
  const policy: DeliveryPolicy = { ...defaultPolicy, ...opts.policy }
  const label = `function ${opts.name}`

  const itemResult = (item: FunctionBatchItemResult): DeliveryResult => {
    if (item.status === 200 || (item.status >= 200 && item.status < 300)) return { status: 'delivered' }
    const message = item.errormessage ?? `onBatch item failed with status ${item.status}`
    if (message.startsWith('EventNotSupported')) return { status: 'ignored', reason: message }
    return classifyStatus(item.status, `${label}: ${message}`, item.retryAfterMs)
  }

  const one = async (m: Message): Promise<DeliveryResult> => {
    if (!handle.handles(m.type)) return { status: 'ignored', reason: `EventNotSupported: ${label} has no handler for ${m.type}` }
    try {
      await handle.call(m, opts.settings)
      return { status: 'delivered' }
    } catch (err) {
      return classifyFunctionError(err)
    }
  }

  return {
    name: opts.name,
    sandboxed: opts.sandboxed,
    target: opts.target,
    policy,
    // Only messages the subscription wants AND the function has a handler for get a job.
    accepts: (m) => handle.handles(m.type) && (opts.accepts ? opts.accepts(m) : true),
    async deliver(messages: Message[]): Promise<DeliveryResult[]> {
      if (messages.length > 1 && handle.batch) {
        try {
          const results = await handle.batch(messages, opts.settings)
          return results.map(itemResult)
        } catch (err) {
          const r = classifyFunctionError(err)
          return messages.map(() => r)
        }
      }
      const out: DeliveryResult[] = []
      // Sequential: per-message handlers each call the vendor; the batch already passed our rate limit as one unit.
      for (const m of messages) out.push(await one(m))
      return out
    }
  }
}
