import { Analytics } from '@segment/analytics-node'
import type { Message } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { defaultPolicy, type Destination, type DeliveryResult, type DeliveryPolicy } from './types.ts'

/**
 * Segment through the official `@segment/analytics-node`. A job counts as delivered only when the library's
 * per-message callback reports its batch acknowledged, so a crash before the flush leaves the job leased and
 * another worker delivers it after the lease expires (same messageId: Segment dedupes).
 */
export function segmentDestination(config: { writeKey: string; host: string; sandboxed: boolean; policy?: Partial<DeliveryPolicy> }): Destination {
  const policy: DeliveryPolicy = { ...defaultPolicy, batchSize: 100, concurrency: 2, ...config.policy }
  // analytics-node resolves `path` against `host` with `new URL`, dropping any path in the host; a sandbox under
  // /sandbox/segment (or a proxy with a path prefix) needs the prefix moved into `path`.
  const base = new URL(config.host)
  const analytics = new Analytics({
    writeKey: config.writeKey,
    host: base.origin,
    path: `${base.pathname.replace(/\/$/, '')}/v1/batch`,
    flushAt: policy.batchSize,
    flushInterval: 50,
    // Our queue owns retries (durable, visible, dead-lettered); the library only smooths over blips.
    maxRetries: 1,
    maxTotalBackoffDuration: 10,
    maxRateLimitDuration: 10,
    httpRequestTimeout: 10_000
  })
  // Acknowledgements come from the library's emitter, not from per-call callbacks: analytics-core holds every
  // callback back until at least 300 ms after the call (its `invokeCallback` delay), which capped a delivery lane
  // at one batch per 300 ms. The emitter fires as soon as the batch holding the message is answered.
  const waiting = new Map<string, (result: DeliveryResult) => void>()
  const settle = (messageId: string | undefined, result: DeliveryResult) => {
    const resolve = messageId === undefined ? undefined : waiting.get(messageId)
    if (!resolve) return
    waiting.delete(messageId!)
    resolve(result)
  }
  for (const type of ['track', 'identify'] as const) {
    analytics.on(type, (ctx) => settle(ctx.event.messageId, { status: 'delivered' }))
  }
  analytics.on('error', (err) => {
    const failure = err as { reason?: unknown; ctx?: { event: { messageId?: string } } }
    settle(failure.ctx?.event.messageId, classifySegmentError(failure.reason))
  })

  return {
    name: 'segment',
    sandboxed: config.sandboxed,
    target: config.host,
    policy,
    accepts: () => true,
    deliver(messages: Message[]): Promise<DeliveryResult[]> {
      return Promise.all(messages.map((m) => send(analytics, m, waiting)))
    },
    close: () => analytics.closeAndFlush({ timeout: 10_000 })
  }
}

function send(analytics: Analytics, m: Message, waiting: Map<string, (r: DeliveryResult) => void>): Promise<DeliveryResult> {
  return new Promise((resolve) => {
    // The same messageId may be in flight twice (a lease expired while a slow batch was out): answer both.
    const earlier = waiting.get(m.messageId)
    waiting.set(m.messageId, earlier ? (r) => (earlier(r), resolve(r)) : resolve)
    const common = {
      messageId: m.messageId,
      timestamp: m.timestamp,
      context: m.context,
      ...(m.userId ? { userId: m.userId } : { anonymousId: m.anonymousId! })
    }
    if (m.type === 'track') analytics.track({ ...common, event: m.event, properties: m.properties })
    else analytics.identify({ ...common, traits: m.traits })
  })
}

/** analytics-node reports HTTP failures as `Error("[503] Service Unavailable")`. */
function classifySegmentError(err: unknown): DeliveryResult {
  const message = err instanceof Error ? err.message : String(err)
  const status = /^\[(\d{3})\]/.exec(message)
  return status ? classifyStatus(Number(status[1]), `Segment ${message}`) : classifyError(err)
}
