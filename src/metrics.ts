import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Store } from './queue/store.ts'
import type { Clock } from './clock.ts'

/** Prometheus metrics. One registry per bridge instance so tests can run several side by side. */
export class Metrics {
  readonly registry = new Registry()
  readonly accepted = new Counter({ name: 'bridge_webhooks_accepted_total', help: 'Webhook items committed to the store', labelNames: ['source'], registers: [this.registry] })
  readonly duplicates = new Counter({ name: 'bridge_webhooks_duplicate_total', help: 'Redelivered webhook items (answered 200, no new work)', labelNames: ['source'], registers: [this.registry] })
  readonly rejected = new Counter({ name: 'bridge_webhooks_rejected_total', help: 'Webhooks refused, by reason', labelNames: ['source', 'reason'], registers: [this.registry] })
  readonly quarantined = new Counter({ name: 'bridge_messages_quarantined_total', help: 'Messages that failed the tracking plan or could not be normalized', labelNames: ['source'], registers: [this.registry] })
  readonly delivered = new Counter({ name: 'bridge_deliveries_total', help: 'Delivery attempts by destination and outcome', labelNames: ['destination', 'outcome'], registers: [this.registry] })
  readonly deliveryLatency = new Histogram({
    name: 'bridge_delivery_latency_seconds',
    help: 'Webhook received → destination accepted',
    labelNames: ['destination'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry]
  })
  readonly slaLatency = new Histogram({
    name: 'bridge_sla_latency_seconds',
    help: 'Time-sensitive messages: webhook received → destination accepted',
    labelNames: ['destination'],
    buckets: [1, 5, 15, 30, 60, 120, 180, 240, 300, 600, 1800],
    registers: [this.registry]
  })
  readonly pastDeadline = new Counter({
    name: 'bridge_sla_past_deadline_total',
    help: 'Time-sensitive messages whose deadline passed: delivered late, or expired per the late policy',
    labelNames: ['destination', 'action'],
    registers: [this.registry]
  })
  private readonly depth = new Gauge({ name: 'bridge_queue_jobs', help: 'Jobs by destination and status', labelNames: ['destination', 'status'], registers: [this.registry] })
  private readonly oldest = new Gauge({ name: 'bridge_queue_oldest_job_age_seconds', help: 'Age of the oldest job not yet delivered', labelNames: ['destination'], registers: [this.registry] })

  private readonly knownSources: ReadonlySet<string>

  /** `sources`: the webhook sources this bridge serves, the only values the `source` label may take. */
  constructor(sources: Iterable<string> = []) {
    this.knownSources = new Set(sources)
    collectDefaultMetrics({ register: this.registry, prefix: 'bridge_' })
  }

  /**
   * A `source` label value from a closed set: a known source's name, else `unknown`. Labels taken from request
   * paths let anyone create one time series per request (2,000 probes made /metrics 12× bigger).
   */
  sourceLabel(name: string | undefined): string {
    return name !== undefined && this.knownSources.has(name) ? name : 'unknown'
  }

  /** Queue gauges are read from the store at scrape time, so they are right across several instances. */
  async render(store: Store, clock: Clock): Promise<string> {
    const stats = await store.stats(clock.now())
    this.depth.reset()
    for (const j of stats.jobs) this.depth.set({ destination: j.destination, status: j.status }, j.count)
    this.oldest.reset()
    for (const o of stats.oldestPendingAgeMs) this.oldest.set({ destination: o.destination }, o.ageMs / 1000)
    return this.registry.metrics()
  }
}
