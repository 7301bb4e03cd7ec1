import type { Store, LeasedJob, AttemptRecord } from './store.ts'
import type { Destination, DeliveryResult } from '../destinations/types.ts'
import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { backoffDelay } from './backoff.ts'
import { RateLimit } from './rate-limit.ts'

export interface WorkerOptions {
  clock: Clock
  logger: Logger
  metrics?: Metrics
  /** How long an idle lane waits before looking for due jobs again (new work wakes it at once). */
  pollMs?: number
  /** Multiplies every backoff delay: tests use a tiny scale instead of sleeping. */
  backoffScale?: number
  random?: () => number
  /** PostgreSQL: how often this instance heartbeats and looks for dead peers' leases (default 2 s). */
  heartbeatMs?: number
  /** PostgreSQL: a peer silent for this long is dead and its leases are reclaimed (default 10 s). */
  staleAfterMs?: number
}

/**
 * Delivers jobs: per destination, `concurrency` lanes each lease a batch, pass it through the shared rate limit,
 * deliver it and record the outcome. Retries are scheduled in the store (not in memory), so a restart loses none.
 */
export class DeliveryWorker {
  private readonly lanes: Promise<void>[] = []
  private readonly inFlight = new Set<LeasedJob>()
  private readonly limits = new Map<string, RateLimit>()
  /** One controller per idle wait: notify() and stop() abort them. (AbortSignal.any would pile listeners up.) */
  private readonly sleepers = new Set<AbortController>()
  private running = false
  /** Lanes wait for this: the previous process's leases are reclaimed before anything is leased. */
  private takenOver: Promise<void> = Promise.resolve()
  private heartbeatLoop: Promise<void> | undefined
  /** Per failing destination, the job that probes it (retried at the urgent cap); cleared when it answers again. */
  private readonly probes = new Map<string, { jobId: string; staleAt: number }>()

  constructor(
    private readonly store: Store,
    private readonly destinations: Destination[],
    private readonly opts: WorkerOptions
  ) {
    for (const d of destinations) {
      if (d.policy.ratePerSecond) {
        this.limits.set(d.name, new RateLimit(d.policy.ratePerSecond, d.policy.burst ?? Math.max(1, d.policy.ratePerSecond), opts.clock))
      }
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.takenOver = this.takeOver()
    if (this.store.backend === 'postgres') this.heartbeatLoop = this.runHeartbeat()
    for (const d of this.destinations) {
      for (let lane = 0; lane < d.policy.concurrency; lane++) this.lanes.push(this.runLane(d))
      for (let lane = 0; lane < d.policy.priorityLanes; lane++) this.lanes.push(this.runLane(d, 1))
    }
  }

  /**
   * Resume at once after a crash. SQLite: one process owns the file, so every lease not taken by this process
   * belongs to one that is gone (SIGKILL, power loss) and is due now, not when its lease (up to a minute) runs out.
   * PostgreSQL: peers may be alive, so only leases of instances that stopped heartbeating are reclaimed (here and
   * then every heartbeat). Fencing is unchanged: a reclaimed job's old token matches nothing.
   */
  private async takeOver(): Promise<void> {
    const { clock, logger } = this.opts
    try {
      const now = clock.now()
      await this.store.heartbeat(now)
      const staleBefore = this.store.backend === 'sqlite' ? Infinity : now - (this.opts.staleAfterMs ?? 10_000)
      const reclaimed = await this.store.reclaimLeases(staleBefore, now)
      if (reclaimed) logger.info('reclaimed leases of a previous process', { count: reclaimed })
    } catch (err) {
      // Not fatal: the leases still expire on their own.
      logger.error('could not reclaim leases at start', { error: err })
    }
  }

  private async runHeartbeat(): Promise<void> {
    const { clock, logger } = this.opts
    const every = this.opts.heartbeatMs ?? 2_000
    await this.takenOver
    while (this.running) {
      await this.idleFor(every)
      if (!this.running) break
      try {
        const now = clock.now()
        await this.store.heartbeat(now)
        const reclaimed = await this.store.reclaimLeases(now - (this.opts.staleAfterMs ?? 10_000), now)
        if (reclaimed) {
          logger.warn('reclaimed leases of an instance that stopped heartbeating', { count: reclaimed })
          this.notify()
        }
      } catch (err) {
        logger.error('heartbeat failed', { error: err })
      }
    }
  }

  /** New jobs were committed: idle lanes look now instead of at their next poll. */
  notify(): void {
    for (const sleeper of this.sleepers) sleeper.abort()
    this.sleepers.clear()
  }

  /** Stops leasing, lets in-flight deliveries finish for up to `graceMs`, then gives back whatever is left. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return
    this.running = false
    this.notify()
    this.heartbeatStop?.abort()
    const finished = Promise.all([...this.lanes, this.heartbeatLoop]).then(() => true)
    const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())
    if (!(await Promise.race([finished, timedOut]))) {
      await this.store.release([...this.inFlight], this.opts.clock.now())
      this.opts.logger.warn('released in-flight jobs at shutdown', { count: this.inFlight.size })
    }
  }

  /** Delivers everything due for one destination, then returns how many jobs it handled (tests, CLI). */
  async drain(destinationName: string, maxRounds = 1_000): Promise<number> {
    const d = this.destinations.find((x) => x.name === destinationName)
    if (!d) throw new Error(`unknown destination ${destinationName}`)
    let handled = 0
    for (let round = 0; round < maxRounds; round++) {
      const n = await this.deliverOnce(d)
      if (n === 0) break
      handled += n
    }
    return handled
  }

  private heartbeatStop: AbortController | undefined

  /** Like idle(), but only stop() ends it early (new work must not make the heartbeat run hot). */
  private async idleFor(ms: number): Promise<void> {
    this.heartbeatStop = new AbortController()
    await this.opts.clock.sleep(ms, this.heartbeatStop.signal)
  }

  private async runLane(d: Destination, minPriority?: number): Promise<void> {
    const pollMs = this.opts.pollMs ?? 500
    await this.takenOver
    while (this.running) {
      let handled = 0
      try {
        handled = await this.deliverOnce(d, minPriority)
      } catch (err) {
        // The store is unreachable (e.g. PostgreSQL restarting): back off and try again, never crash the lane.
        this.opts.logger.error('delivery lane error', { destination: d.name, error: err })
        await this.idle(pollMs * 4)
      }
      if (handled === 0 && this.running) await this.idle(pollMs)
    }
  }

  /** Waits up to `ms`, or until new work (notify) or shutdown (stop) wakes the lane. */
  private async idle(ms: number): Promise<void> {
    if (!this.running) return
    const sleeper = new AbortController()
    this.sleepers.add(sleeper)
    try {
      await this.opts.clock.sleep(ms, sleeper.signal)
    } finally {
      this.sleepers.delete(sleeper)
    }
  }

  private async deliverOnce(d: Destination, minPriority?: number): Promise<number> {
    const { clock } = this.opts
    const leased = await this.store.lease(d.name, d.policy.batchSize, d.policy.leaseMs, clock.now(), minPriority)
    if (leased.length === 0) return 0
    const jobs = await this.expireLate(d, leased)
    if (jobs.length === 0) return leased.length
    for (const j of jobs) this.inFlight.add(j)
    try {
      await this.limits.get(d.name)?.take()
      const startedAt = clock.now()
      let results: DeliveryResult[]
      try {
        results = await d.deliver(jobs.map((j) => j.message))
        if (results.length !== jobs.length) throw new Error(`${d.name} returned ${results.length} results for ${jobs.length} messages`)
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err)
        results = jobs.map(() => ({ status: 'retry', error }))
      }
      const finishedAt = clock.now()
      await Promise.all(jobs.map((job, i) => this.record(d, job, results[i], startedAt, finishedAt)))
      return leased.length
    } finally {
      for (const j of jobs) this.inFlight.delete(j)
    }
  }

  /** The destination answered after failing: its backed-off retries go now (the rate limit still paces them). */
  private async recovered(d: Destination, now: number): Promise<void> {
    try {
      const count = await this.store.expedite(d.name, now)
      this.opts.logger.info('destination answering again: backed-off retries made due', { destination: d.name, count })
      if (count) this.notify()
    } catch (err) {
      this.opts.logger.error('could not expedite retries', { destination: d.name, error: err })
    }
  }

  /** Under the `expire` late policy, a time-sensitive job past its deadline is recorded dead instead of sent. */
  private async expireLate(d: Destination, jobs: LeasedJob[]): Promise<LeasedJob[]> {
    if (d.policy.latePolicy !== 'expire') return jobs
    const now = this.opts.clock.now()
    const keep: LeasedJob[] = []
    for (const job of jobs) {
      if (job.deadlineAt === null || now <= job.deadlineAt) {
        keep.push(job)
        continue
      }
      const error = `expired: deadline ${new Date(job.deadlineAt).toISOString()} passed ${Math.round((now - job.deadlineAt) / 1000)} s ago (late policy: expire)`
      if (await this.store.kill(job, { startedAt: now, finishedAt: now, outcome: 'dead', error })) {
        this.opts.metrics?.pastDeadline.inc({ destination: d.name, action: 'expired' })
        this.opts.logger.warn('expired past deadline', { jobId: job.id, destination: d.name })
      }
    }
    return keep
  }

  private async record(d: Destination, job: LeasedJob, result: DeliveryResult, startedAt: number, finishedAt: number): Promise<void> {
    const { logger, metrics } = this.opts
    const base = { startedAt, finishedAt }
    const log = { jobId: job.id, destination: d.name, attempt: job.attempts + 1 }
    if (result.status === 'delivered' || result.status === 'ignored') {
      const late = result.status === 'delivered' && job.deadlineAt !== null && finishedAt > job.deadlineAt
      const note = result.status === 'ignored' ? result.reason : late ? `delivered late by ${Math.round((finishedAt - job.deadlineAt!) / 1000)} s` : undefined
      if (await this.store.complete(job, { ...base, outcome: result.status, error: note })) {
        metrics?.delivered.inc({ destination: d.name, outcome: result.status })
        if (result.status === 'delivered') {
          metrics?.deliveryLatency.observe({ destination: d.name }, (finishedAt - job.createdAt) / 1000)
          if (job.deadlineAt !== null) metrics?.slaLatency.observe({ destination: d.name }, (finishedAt - job.createdAt) / 1000)
        }
        if (late) {
          metrics?.pastDeadline.inc({ destination: d.name, action: 'delivered_late' })
          logger.warn('delivered past deadline', { ...log, note })
        }
        if (result.status === 'delivered' && this.probes.delete(d.name)) await this.recovered(d, finishedAt)
        logger.debug('delivered', { ...log, outcome: result.status })
      }
      return
    }
    const attempt: AttemptRecord = { ...base, outcome: 'retry', statusCode: result.statusCode, error: result.error }
    const attempts = job.attempts + 1
    const tooOld = finishedAt - job.createdAt >= d.policy.maxAgeMs
    if (result.status === 'permanent' || attempts >= d.policy.maxAttempts || tooOld) {
      // The age is the retry horizon (retry-horizons.ts); the attempt count only trips on a hot loop.
      const why = result.status === 'permanent' ? 'permanent error' : tooOld ? 'max age reached' : 'max attempts reached'
      if (this.probes.get(d.name)?.jobId === job.id) this.probes.delete(d.name)
      if (await this.store.kill(job, { ...attempt, outcome: 'dead', error: `${why}: ${result.error}` })) {
        metrics?.delivered.inc({ destination: d.name, outcome: 'dead' })
        logger.warn('dead-lettered', { ...log, statusCode: result.statusCode, error: result.error, why })
      }
      return
    }
    const scale = this.opts.backoffScale ?? 1
    // Time-sensitive jobs keep retrying every few seconds, also past their deadline under send-late: a late email
    // is still worth most the moment the vendor is back. One job every few seconds is no load for the vendor.
    // So does one probe per failing destination (the first job that failed): when it gets through, every other
    // backed-off retry of the destination is made due (recovered()), so a 10-minute outage does not leave ordinary
    // work waiting out a 10-minute backoff after the vendor is back.
    // A probe that stopped coming back (expired, replayed, taken by a peer instance) is replaced by the next failure.
    const probe = this.probes.get(d.name)
    const probing = !probe || probe.jobId === job.id || probe.staleAt < finishedAt
    const cap = job.priority > 0 || probing ? Math.min(d.policy.maxDelayMs, d.policy.urgentMaxDelayMs) : d.policy.maxDelayMs
    const delay = backoffDelay(attempts, {
      baseDelayMs: Math.min(d.policy.baseDelayMs, cap) * scale,
      maxDelayMs: cap * scale,
      retryAfterMs: result.retryAfterMs === undefined ? undefined : result.retryAfterMs * scale,
      random: this.opts.random
    })
    if (probing) this.probes.set(d.name, { jobId: job.id, staleAt: finishedAt + delay + d.policy.leaseMs })
    if (await this.store.retry(job, finishedAt + delay, attempt)) {
      metrics?.delivered.inc({ destination: d.name, outcome: 'retry' })
      logger.info('retry scheduled', { ...log, statusCode: result.statusCode, error: result.error, delayMs: delay })
    }
  }
}
