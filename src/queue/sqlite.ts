import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { randomUUID } from 'node:crypto'
import { REFERRAL_EVENTS_SQL, referralKeySql, schemaStatements, type JobRecord } from './schema.ts'
import { referralMatch, referralProbes } from './referral-lookup.ts'
import { attemptRow, clip, inboxRow, jobRow, messageRow } from './rows.ts'
import { SqliteWriter } from './sqlite-writer.ts'
import { acceptWebhook, insertMessages } from './sqlite-accept.mjs'
import type { Message } from '../messages.ts'
import type {
  AcceptResult, AttemptRecord, EventDetail, JobFilter, JobRow, JobStatus, LeasedJob, NewMessage, QuarantineRow,
  QueueStats, RequeueItem, Store, WebhookToAccept, MessageRow, InboxRow, ReferralKeys, ReferralMatch
} from './store.ts'

export interface SqliteStoreOptions {
  /**
   * Commit accepted webhooks on a writer thread (sqlite-writer.ts) so the HTTP thread keeps working during the
   * fsync. Default: on for files, unless SQLITE_WRITER=inline; always off for ':memory:' (one connection only).
   */
  writerThread?: boolean
}

/** The embedded default: one file, WAL, so a single bridge needs nothing installed. */
export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const
  readonly instanceId = randomUUID()
  private db!: Database.Database
  private writer: SqliteWriter | undefined
  private readonly writerThread: boolean

  constructor(private readonly path: string, options: SqliteStoreOptions = {}) {
    this.writerThread = path !== ':memory:' && (options.writerThread ?? process.env.SQLITE_WRITER !== 'inline')
  }

  async init(): Promise<void> {
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true })
    this.db = new Database(this.path)
    this.db.pragma('journal_mode = WAL')
    // NORMAL loses nothing on a process crash in WAL mode (only on power loss); FULL is the safe default.
    const synchronous = process.env.SQLITE_SYNCHRONOUS === 'NORMAL' ? 'NORMAL' : 'FULL'
    this.db.pragma(`synchronous = ${synchronous}`)
    this.db.pragma('busy_timeout = 5000')
    for (const sql of schemaStatements('sqlite')) this.db.exec(sql)
    if (this.writerThread) this.writer = await SqliteWriter.start(this.path, synchronous)
  }

  async close(): Promise<void> {
    await this.writer?.close()
    this.writer = undefined
    this.db?.close()
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get()
  }

  private pendingWrites: Array<{ write: () => unknown; resolve: (r: any) => void; reject: (e: unknown) => void }> = []
  private flushScheduled = false

  /**
   * Group commit: writes requested in the same event-loop turn (webhooks from concurrent requests, outcomes of a
   * delivered batch) share one transaction, so one fsync covers them all. Each caller still gets its answer only
   * after the commit that holds its write.
   */
  private groupWrite<T>(write: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.pendingWrites.push({ write, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flushWrites())
      }
    })
  }

  private flushWrites(): void {
    // While the writer thread commits, it holds the write lock: take ours right after it answers instead of
    // letting SQLite's busy handler sleep on this (the HTTP) thread.
    if (this.writer?.busy) return this.writer.whenIdle(() => this.flushWrites())
    this.flushScheduled = false
    const batch = this.pendingWrites.splice(0)
    try {
      const results = this.db.transaction(() => batch.map((p) => p.write())).immediate()
      batch.forEach((p, i) => p.resolve(results[i]))
    } catch {
      // One write that fails must not fail the others: commit them one by one.
      for (const p of batch) {
        try {
          p.resolve(this.db.transaction(p.write).immediate())
        } catch (err) {
          p.reject(err)
        }
      }
    }
  }

  accept(webhook: WebhookToAccept): Promise<AcceptResult> {
    if (this.writer) return this.writer.accept(webhook)
    return this.groupWrite(() => this.acceptOne(webhook))
  }

  private acceptOne(w: WebhookToAccept): AcceptResult {
    return acceptWebhook(this.db, w)
  }

  private insertMessages(inboxId: string, source: string, messages: NewMessage[], now: number): void {
    insertMessages(this.db, inboxId, source, messages, now)
  }

  async lease(destination: string, limit: number, leaseMs: number, now: number, minPriority?: number): Promise<LeasedJob[]> {
    const pick = this.stmt(
      `SELECT j.*, m.body FROM jobs j JOIN messages m ON m.message_id = j.message_id
       WHERE j.destination = ? AND j.priority >= ? AND ((j.status = 'pending' AND j.next_attempt_at <= ?) OR (j.status = 'leased' AND j.lease_until < ?))
       ORDER BY j.priority DESC, j.next_attempt_at ASC LIMIT ?`
    )
    const take = this.stmt(`UPDATE jobs SET status = 'leased', lease_token = ?, lease_until = ?, updated_at = ? WHERE id = ?`)
    // Grouped with the other writes of this turn: one fsync for the leases of every lane and the outcomes.
    return this.groupWrite(() => {
      const rows = pick.all(destination, minPriority ?? -2147483648, now, now, limit) as Array<JobRecord & { body: string }>
      return rows.map((r) => {
        // Prefixed with the instance id, so the next process knows whose lease it was (reclaimLeases).
        const token = `${this.instanceId}/${randomUUID()}`
        take.run(token, now + leaseMs, now, r.id)
        return toLeased(r, token)
      })
    })
  }

  async complete(job: LeasedJob, attempt: AttemptRecord): Promise<boolean> {
    const status: JobStatus = attempt.outcome === 'ignored' ? 'ignored' : 'delivered'
    return this.finish(job, attempt, status, null, attempt.finishedAt)
  }

  async retry(job: LeasedJob, nextAttemptAt: number, attempt: AttemptRecord): Promise<boolean> {
    return this.finish(job, attempt, 'pending', nextAttemptAt, null)
  }

  async kill(job: LeasedJob, attempt: AttemptRecord): Promise<boolean> {
    return this.finish(job, attempt, 'dead', null, null)
  }

  private finish(job: LeasedJob, a: AttemptRecord, status: JobStatus, nextAttemptAt: number | null, deliveredAt: number | null): Promise<boolean> {
    const update = this.stmt(
      `UPDATE jobs SET status = ?, attempts = attempts + 1, next_attempt_at = COALESCE(?, next_attempt_at),
         lease_token = NULL, lease_until = NULL, updated_at = ?, delivered_at = COALESCE(?, delivered_at), last_error = ?
       WHERE id = ? AND lease_token = ? AND status = 'leased'`
    )
    // Numbered after the last attempt kept: a replay resets the job's attempt budget, not its history.
    const insertAttempt = this.stmt(
      `INSERT INTO attempts (job_id, attempt, started_at, finished_at, outcome, status_code, error)
       SELECT id, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM attempts WHERE job_id = jobs.id), ?, ?, ?, ?, ? FROM jobs WHERE id = ?`
    )
    return this.groupWrite(() => {
      const info = update.run(status, nextAttemptAt, a.finishedAt, deliveredAt, clip(a.error), job.id, job.leaseToken)
      if (info.changes === 0) return false
      insertAttempt.run(a.startedAt, a.finishedAt, a.outcome, a.statusCode ?? null, clip(a.error), job.id)
      return true
    })
  }

  async release(jobs: LeasedJob[], now: number): Promise<void> {
    const update = this.stmt(
      `UPDATE jobs SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = ?
       WHERE id = ? AND lease_token = ? AND status = 'leased'`
    )
    this.db.transaction(() => {
      for (const j of jobs) update.run(now, j.id, j.leaseToken)
    }).immediate()
  }

  async expedite(destination: string, now: number): Promise<number> {
    const update = this.stmt(
      `UPDATE jobs SET next_attempt_at = ?, updated_at = ? WHERE destination = ? AND status = 'pending' AND attempts > 0 AND next_attempt_at > ?`
    )
    return this.groupWrite(() => update.run(now, now, destination, now).changes)
  }

  async heartbeat(now: number): Promise<void> {
    this.stmt(`INSERT INTO instances (id, heartbeat_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`).run(
      this.instanceId,
      now
    )
  }

  async reclaimLeases(staleBefore: number, now: number): Promise<number> {
    // Owner = the token up to its first '/'; tokens of older versions have none and count as nobody's (reclaimed).
    const reclaim = this.stmt(
      `UPDATE jobs SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = @now
       WHERE status = 'leased'
         AND substr(lease_token, 1, length(@me) + 1) <> @me || '/'
         AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.heartbeat_at > @staleBefore AND substr(jobs.lease_token, 1, length(i.id) + 1) = i.id || '/')`
    )
    const forget = this.stmt(`DELETE FROM instances WHERE heartbeat_at < ? AND id <> ?`)
    // Infinity is not an SQLite integer: "every other instance is stale" is any heartbeat up to the largest one.
    const before = Number.isFinite(staleBefore) ? staleBefore : Number.MAX_SAFE_INTEGER
    return this.db
      .transaction(() => {
        const { changes } = reclaim.run({ me: this.instanceId, staleBefore: before, now })
        forget.run(now - 24 * 60 * 60 * 1000, this.instanceId)
        return changes
      })
      .immediate()
  }

  async findReferral(keys: ReferralKeys): Promise<ReferralMatch | undefined> {
    for (const probe of referralProbes(keys)) {
      // The same expression and predicate as the partial index (schema.ts), so SQLite probes the index.
      const row = this.stmt(
        `SELECT message_id, event, body, created_at FROM messages
         WHERE ${REFERRAL_EVENTS_SQL} AND ${referralKeySql('sqlite', probe.key)} = ? AND status = 'routed'
         ORDER BY created_at DESC LIMIT 5`
      ).all(probe.value) as Array<{ message_id: string; event: string; body: string; created_at: number }>
      for (const r of row) {
        const match = referralMatch(r, probe)
        if (match) return match
      }
    }
    return undefined
  }

  async storedMessages(ids: string[]): Promise<Map<string, Message>> {
    const out = new Map<string, Message>()
    const unique = [...new Set(ids)]
    // json_each keeps one prepared statement whatever the number of ids (SQLite caps bound parameters).
    const rows = this.stmt(`SELECT message_id, body FROM messages WHERE message_id IN (SELECT value FROM json_each(?))`).all(
      JSON.stringify(unique)
    ) as Array<{ message_id: string; body: string }>
    for (const r of rows) out.set(r.message_id, JSON.parse(r.body) as Message)
    return out
  }

  async listJobs(status: JobStatus, filter: JobFilter): Promise<JobRow[]> {
    const where = ['status = ?']
    const args: unknown[] = [status]
    if (filter.destination) (where.push('destination = ?'), args.push(filter.destination))
    if (filter.source) (where.push('source = ?'), args.push(filter.source))
    if (filter.event) (where.push('event = ?'), args.push(filter.event))
    if (filter.since !== undefined) (where.push('created_at >= ?'), args.push(filter.since))
    if (filter.errorContains) (where.push("instr(COALESCE(last_error, ''), ?) > 0"), args.push(filter.errorContains))
    args.push(filter.limit ?? 1000)
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT ?`)
      .all(...args) as JobRecord[]
    return rows.map(jobRow)
  }

  async replay(ids: string[], now: number): Promise<number> {
    const update = this.stmt(
      `UPDATE jobs SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?, lease_token = NULL, lease_until = NULL
       WHERE id = ? AND status IN ('dead', 'ignored', 'delivered')`
    )
    return this.db.transaction(() => ids.reduce((n, id) => n + update.run(now, now, id).changes, 0)).immediate()
  }

  async getEvent(inboxId: string): Promise<EventDetail | undefined> {
    const inbox = this.db.prepare('SELECT * FROM inbox WHERE id = ?').get(inboxId)
    if (!inbox) return undefined
    const messages = this.db.prepare('SELECT * FROM messages WHERE inbox_id = ? ORDER BY message_id').all(inboxId)
    const jobs = this.db.prepare('SELECT * FROM jobs WHERE inbox_id = ? ORDER BY id').all(inboxId) as JobRecord[]
    const attempts = this.db
      .prepare('SELECT a.* FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.inbox_id = ? ORDER BY a.job_id, a.attempt')
      .all(inboxId)
    return { inbox: inboxRow(inbox), messages: messages.map(messageRow), jobs: jobs.map(jobRow), attempts: attempts.map(attemptRow) }
  }

  async resolveInboxId(id: string): Promise<string | undefined> {
    const row = this.db
      .prepare(
        `SELECT id FROM inbox WHERE id = @id
         UNION ALL SELECT inbox_id FROM messages WHERE message_id = @id
         UNION ALL SELECT inbox_id FROM jobs WHERE id = @id LIMIT 1`
      )
      .get({ id }) as { id: string } | undefined
    return row?.id
  }

  async listQuarantine(filter: { source?: string; event?: string; limit?: number }): Promise<QuarantineRow[]> {
    const rows = this.db
      .prepare(
        `SELECT i.id AS inbox_id, i.source, i.event_type, i.received_at, i.reason, m.message_id, m.event, m.violations
         FROM inbox i LEFT JOIN messages m ON m.inbox_id = i.id AND m.status = 'quarantined'
         WHERE (i.status = 'quarantined' AND i.reason IS NOT NULL OR m.message_id IS NOT NULL)
           AND (@source IS NULL OR i.source = @source) AND (@event IS NULL OR m.event = @event)
         ORDER BY i.received_at, i.id LIMIT @limit`
      )
      .all({ source: filter.source ?? null, event: filter.event ?? null, limit: filter.limit ?? 1000 }) as any[]
    return rows.map(quarantineRow)
  }

  async quarantinedInbox(filter: { source?: string; limit?: number }): Promise<InboxRow[]> {
    const rows = this.db
      .prepare(`SELECT * FROM inbox WHERE status = 'quarantined' AND (@source IS NULL OR source = @source) ORDER BY received_at, id LIMIT @limit`)
      .all({ source: filter.source ?? null, limit: filter.limit ?? 1000 })
    return rows.map(inboxRow)
  }

  async requeue(items: RequeueItem[], now: number): Promise<{ routed: number; stillQuarantined: number }> {
    const update = this.stmt(`UPDATE inbox SET status = ?, reason = ? WHERE id = ? AND status = 'quarantined'`)
    const sourceOf = this.stmt(`SELECT source FROM inbox WHERE id = ?`)
    return this.db
      .transaction(() => {
        const counts = { routed: 0, stillQuarantined: 0 }
        for (const item of items) {
          const info = update.run(item.status, item.reason ?? null, item.inboxId)
          if (info.changes === 0) continue
          const { source } = sourceOf.get(item.inboxId) as { source: string }
          this.insertMessages(item.inboxId, source, item.messages, now)
          if (item.status === 'quarantined') counts.stillQuarantined++
          else counts.routed++
        }
        return counts
      })
      .immediate()
  }

  async recentMessages(since: number, limit: number): Promise<MessageRow[]> {
    return this.db
      .prepare('SELECT * FROM messages WHERE created_at >= ? ORDER BY created_at DESC LIMIT ?')
      .all(since, limit)
      .map(messageRow)
  }

  async stats(now: number): Promise<QueueStats> {
    const jobs = this.db
      .prepare('SELECT destination, status, COUNT(*) AS count FROM jobs GROUP BY destination, status')
      .all() as QueueStats['jobs']
    const oldest = this.db
      .prepare(`SELECT destination, MIN(created_at) AS oldest FROM jobs WHERE status IN ('pending', 'leased') GROUP BY destination`)
      .all() as Array<{ destination: string; oldest: number }>
    const inbox = this.db.prepare('SELECT status, COUNT(*) AS count FROM inbox GROUP BY status').all() as QueueStats['inbox']
    return { jobs, inbox, oldestPendingAgeMs: oldest.map((o) => ({ destination: o.destination, ageMs: now - o.oldest })) }
  }

  private readonly statements = new Map<string, Database.Statement>()
  /** Prepared once per SQL text: the hot path (accept, lease, finish) never re-parses SQL. */
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql)
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)))
    return s
  }
}

export function toLeased(r: JobRecord & { body: string }, token: string): LeasedJob {
  return {
    id: r.id,
    messageId: r.message_id,
    destination: r.destination,
    attempts: Number(r.attempts),
    priority: Number(r.priority),
    createdAt: Number(r.created_at),
    deadlineAt: r.deadline_at === null ? null : Number(r.deadline_at),
    leaseToken: token,
    message: JSON.parse(r.body),
    source: r.source
  }
}

export function quarantineRow(r: any): QuarantineRow {
  return {
    inboxId: r.inbox_id,
    source: r.source,
    eventType: r.event_type,
    messageId: r.message_id ?? null,
    event: r.event ?? null,
    reasons: r.message_id ? JSON.parse(r.violations) : [r.reason],
    receivedAt: Number(r.received_at)
  }
}
