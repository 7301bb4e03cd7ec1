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
  // Delivery failures arrive through callbacks; the emitter's 'error' would otherwise be unhandled.
  analytics.on('error', () => {})

  return {
    name: 'segment',
    sandboxed: config.sandboxed,
    target: config.host,
    policy,
    accepts: () => true,
    deliver(messages: Message[]): Promise<DeliveryResult[]> {
      return Promise.all(messages.map((m) => send(analytics, m)))
    },
    close: () => analytics.closeAndFlush({ timeout: 10_000 })
  }
}

function send(analytics: Analytics, m: Message): Promise<DeliveryResult> {
  return new Promise((resolve) => {
    const done = (err?: unknown) => resolve(err ? classifySegmentError(err) : { status: 'delivered' })
    const common = {
      messageId: m.messageId,
      timestamp: m.timestamp,
      context: m.context,
      ...(m.userId ? { userId: m.userId } : { anonymousId: m.anonymousId! })
    }
    if (m.type === 'track') analytics.track({ ...common, event: m.event, properties: m.properties }, done)
    else analytics.identify({ ...common, traits: m.traits }, done)
  })
}

/** analytics-node reports HTTP failures as `Error("[503] Service Unavailable")`. */
function classifySegmentError(err: unknown): DeliveryResult {
  const message = err instanceof Error ? err.message : String(err)
  const status = /^\[(\d{3})\]/.exec(message)
  return status ? classifyStatus(Number(status[1]), `Segment ${message}`) : classifyError(err)
}
