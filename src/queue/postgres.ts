import type { Message } from '../messages.ts'
import pg from 'pg'
import { randomUUID } from 'node:crypto'
import { REFERRAL_EVENTS_SQL, referralKeySql, schemaStatements, type JobRecord } from './schema.ts'
import { referralMatch, referralProbes } from './referral-lookup.ts'
import { attemptRow, clip, inboxRow, jobIdOf, jobRow, messageRow } from './rows.ts'
import { quarantineRow, toLeased } from './sqlite.ts'
import { PostgresAcceptBatcher } from './postgres-accept.ts'
import type {
  AcceptResult, AttemptRecord, EventDetail, JobFilter, JobRow, JobStatus, LeasedJob, NewMessage, QuarantineRow,
  QueueStats, RequeueItem, Store, WebhookToAccept, MessageRow, InboxRow, InboxStatus, ReferralKeys, ReferralMatch
} from './store.ts'

export interface PostgresStoreOptions {
  /** Keep the tables in this schema (created if missing) instead of the server's default search_path. */
  schema?: string
  poolSize?: number
}

// Only plain lower-case identifiers: they need no quoting in DDL nor in the search_path connection option.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * The shared backend: several bridge instances use one database and split the work between them
 * (FOR UPDATE SKIP LOCKED). Semantics mirror SqliteStore; the contract suite holds both to them.
 * Text is ordered with COLLATE "C" so listings come out in the same byte order as SQLite's.
 */
export class PostgresStore implements Store {
  readonly backend = 'postgres' as const
  readonly instanceId = randomUUID()
  private readonly pool: pg.Pool
  private readonly schema: string | undefined
  private closed = false
  private readonly batcher: PostgresAcceptBatcher

  constructor(connectionString: string, options: PostgresStoreOptions = {}) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(options.schema)}: use lower-case letters, digits and _`)
    }
    this.schema = options.schema
    this.pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? 10,
      // Without a bound, an unreachable server makes every call (and /healthz) hang instead of failing.
      connectionTimeoutMillis: 10_000,
      options: this.schema ? `-c search_path=${this.schema}` : undefined
    })
    // An idle connection dropped by the server (restart, failover) is reported here; with no listener the
    // process would crash. The pool already discarded it and the next call opens a new one, so only log.
    // The message never includes the connection string (pg error messages carry no credentials).
    this.pool.on('error', (err: Error & { code?: string }) => {
      console.error(JSON.stringify({ level: 'warn', message: 'postgres: idle connection lost', code: err.code, error: err.message }))
    })
    this.batcher = new PostgresAcceptBatcher(this.pool, (w) => this.acceptAlone(w))
  }

  async init(): Promise<void> {
    await this.tx(async (c) => {
      // CREATE ... IF NOT EXISTS is not race-free in PostgreSQL: bridges starting together take turns.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('referral-bridge:init'))`)
      if (this.schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      for (const sql of schemaStatements('postgres')) await c.query(sql)
      if (this.schema) {
        // An `options` parameter inside the URL overrides ours: fail loudly rather than use another schema.
        const { rows } = await c.query<{ schema: string | null }>('SELECT current_schema() AS schema')
        if (rows[0].schema !== this.schema) throw new Error(`search_path does not select schema ${this.schema} (the URL overrides "options"?)`)
      }
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1')
  }

  /** Group commit: concurrent webhooks share one statement and one commit (postgres-accept.ts). */
  accept(webhook: WebhookToAccept): Promise<AcceptResult> {
    return this.batcher.accept(webhook)
  }

  /** One webhook in its own transaction: the fallback when its batch failed. */
  private async acceptAlone(webhook: WebhookToAccept): Promise<AcceptResult> {
    return this.tx(async (c) => {
      const result: AcceptResult = { stored: [], duplicates: [] }
      for (const item of webhook.items) {
        const inserted = await c.query(
          `INSERT INTO inbox (id, source, event_type, request_id, received_at, status, reason, payload, raw_body, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
          [
            item.id, webhook.source, item.eventType, webhook.requestId, webhook.receivedAt, item.status, item.reason ?? null,
            JSON.stringify(item.payload), webhook.rawBody, JSON.stringify(webhook.headers)
          ]
        )
        if (inserted.rowCount === 0) {
          result.duplicates.push(item.id)
          continue
        }
        result.stored.push(item.id)
        await this.insertMessages(c, item.id, webhook.source, item.messages, webhook.receivedAt)
      }
      return result
    })
  }

  private async insertMessages(c: pg.PoolClient, inboxId: string, source: string, messages: NewMessage[], now: number): Promise<void> {
    for (const m of messages) {
      const quarantined = !!m.violations?.length
      const event = m.message.type === 'track' ? m.message.event : m.message.type
      const stored = await c.query(
        `INSERT INTO messages (message_id, inbox_id, status, event, violations, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, violations = excluded.violations, body = excluded.body
         WHERE messages.status = 'quarantined'`,
        [
          m.message.messageId, inboxId, quarantined ? 'quarantined' : 'routed', event,
          JSON.stringify(m.violations ?? []), JSON.stringify(m.message), now
        ]
      )
      if (quarantined || stored.rowCount === 0) continue
      for (const t of m.destinations) {
        await c.query(
          `INSERT INTO jobs (id, message_id, inbox_id, source, event, destination, status, attempts, priority,
                             next_attempt_at, created_at, updated_at, deadline_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $8, $8, $9) ON CONFLICT (id) DO NOTHING`,
          [jobIdOf(m.message.messageId, t.destination), m.message.messageId, inboxId, source, event, t.destination, t.priority ?? 0, now, t.deadlineAt ?? null]
        )
      }
    }
  }

  async lease(destination: string, limit: number, leaseMs: number, now: number, minPriority?: number): Promise<LeasedJob[]> {
    // One statement, so picking and taking are atomic. SKIP LOCKED lets concurrent workers (and bridges) each
    // take different rows instead of queueing behind one another. MATERIALIZED keeps the locking pick from
    // being inlined and re-evaluated. Token: one random UUID per call plus the job id, so it is unique per job
    // by construction and a stale worker's token never matches a later lease.
    const { rows } = await this.pool.query<JobRecord & { body: string }>(
      `WITH picked AS MATERIALIZED (
         SELECT j.id, m.body FROM jobs j JOIN messages m ON m.message_id = j.message_id
         WHERE j.destination = $1 AND ($6::int IS NULL OR j.priority >= $6::int)
           AND ((j.status = 'pending' AND j.next_attempt_at <= $2) OR (j.status = 'leased' AND j.lease_until < $2))
         ORDER BY j.priority DESC, j.next_attempt_at ASC, j.id COLLATE "C"
         LIMIT $3
         FOR UPDATE OF j SKIP LOCKED
       ), taken AS (
         UPDATE jobs j SET status = 'leased', lease_token = $4::text || ':' || j.id, lease_until = $5, updated_at = $2
         FROM picked WHERE j.id = picked.id
         RETURNING j.*, picked.body
       )
       SELECT * FROM taken ORDER BY priority DESC, next_attempt_at ASC, id COLLATE "C"`,
      // The token starts with this instance's id: a peer that sees the instance stop heartbeating reclaims its leases.
      [destination, now, limit, `${this.instanceId}/${randomUUID()}`, now + leaseMs, minPriority ?? null]
    )
    return rows.map((r) => toLeased(r, r.lease_token as string))
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

  private async finish(job: LeasedJob, a: AttemptRecord, status: JobStatus, nextAttemptAt: number | null, deliveredAt: number | null): Promise<boolean> {
    // The job update and its attempt row are one statement (so one transaction): the attempt row exists only
    // when the lease still held. Attempt rows are numbered after the last one kept: a replay resets the job's
    // attempt budget but not its history.
    const { rowCount } = await this.pool.query(
      `WITH done AS (
         UPDATE jobs SET status = $1, attempts = attempts + 1, next_attempt_at = COALESCE($2, next_attempt_at),
           lease_token = NULL, lease_until = NULL, updated_at = $3, delivered_at = COALESCE($4, delivered_at), last_error = $5
         WHERE id = $6 AND lease_token = $7 AND status = 'leased'
         RETURNING id, attempts
       )
       INSERT INTO attempts (job_id, attempt, started_at, finished_at, outcome, status_code, error)
       SELECT id, (SELECT COALESCE(MAX(a.attempt), 0) + 1 FROM attempts a WHERE a.job_id = done.id), $8::bigint, $3::bigint, $9::text, $10::integer, $5::text FROM done`,
      [status, nextAttemptAt, a.finishedAt, deliveredAt, clip(a.error), job.id, job.leaseToken, a.startedAt, a.outcome, a.statusCode ?? null]
    )
    return rowCount === 1
  }

  async release(jobs: LeasedJob[], now: number): Promise<void> {
    if (jobs.length === 0) return
    await this.pool.query(
      `UPDATE jobs SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = $1
       FROM unnest($2::text[], $3::text[]) AS held(id, token)
       WHERE jobs.id = held.id AND jobs.lease_token = held.token AND jobs.status = 'leased'`,
      [now, jobs.map((j) => j.id), jobs.map((j) => j.leaseToken)]
    )
  }

  async expedite(destination: string, now: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE jobs SET next_attempt_at = $1, updated_at = $1 WHERE destination = $2 AND status = 'pending' AND attempts > 0 AND next_attempt_at > $1`,
      [now, destination]
    )
    return rowCount ?? 0
  }

  async heartbeat(now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
      [this.instanceId, now]
    )
  }

  async reclaimLeases(staleBefore: number, now: number): Promise<number> {
    // Owner = the token up to its first '/' (tokens of older versions have none: nobody's, reclaimed). The UPDATE
    // takes row locks, so a peer leasing or finishing the same rows serialises with it; a finish that comes after
    // finds its token gone and is fenced out, exactly as after a lease expiry.
    const before = Number.isFinite(staleBefore) ? staleBefore : Number.MAX_SAFE_INTEGER
    const { rowCount } = await this.pool.query(
      `UPDATE jobs SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = $3
       WHERE status = 'leased'
         AND left(lease_token, length($1) + 1) <> $1 || '/'
         AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.heartbeat_at > $2 AND left(jobs.lease_token, length(i.id) + 1) = i.id || '/')`,
      [this.instanceId, before, now]
    )
    await this.pool.query(`DELETE FROM instances WHERE heartbeat_at < $1 AND id <> $2`, [now - 24 * 60 * 60 * 1000, this.instanceId])
    return rowCount ?? 0
  }

  async findReferral(keys: ReferralKeys): Promise<ReferralMatch | undefined> {
    for (const probe of referralProbes(keys)) {
      // The same expression and predicate as the partial index (schema.ts), so the planner can use it.
      const { rows } = await this.pool.query<{ message_id: string; event: string; body: string; created_at: string }>(
        `SELECT message_id, event, body, created_at FROM messages
         WHERE ${REFERRAL_EVENTS_SQL} AND ${referralKeySql('postgres', probe.key)} = $1 AND status = 'routed'
         ORDER BY created_at DESC LIMIT 5`,
        [probe.value]
      )
      for (const r of rows) {
        const match = referralMatch(r, probe)
        if (match) return match
      }
    }
    return undefined
  }

  async storedMessages(ids: string[]): Promise<Map<string, Message>> {
    const out = new Map<string, Message>()
    if (ids.length === 0) return out
    const { rows } = await this.pool.query<{ message_id: string; body: string }>(
      `SELECT message_id, body FROM messages WHERE message_id = ANY($1::text[])`,
      [[...new Set(ids)]]
    )
    for (const r of rows) out.set(r.message_id, JSON.parse(r.body) as Message)
    return out
  }

  async listJobs(status: JobStatus, filter: JobFilter): Promise<JobRow[]> {
    const args: unknown[] = []
    const param = (value: unknown): string => `$${args.push(value)}`
    const where = [`status = ${param(status)}`]
    if (filter.destination) where.push(`destination = ${param(filter.destination)}`)
    if (filter.source) where.push(`source = ${param(filter.source)}`)
    if (filter.event) where.push(`event = ${param(filter.event)}`)
    if (filter.since !== undefined) where.push(`created_at >= ${param(filter.since)}`)
    // strpos, like SQLite's instr: a plain substring, so % and _ in the search text are not wildcards.
    if (filter.errorContains) where.push(`strpos(COALESCE(last_error, ''), ${param(filter.errorContains)}) > 0`)
    const { rows } = await this.pool.query<JobRecord>(
      `SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at, id COLLATE "C" LIMIT ${param(filter.limit ?? 1000)}`,
      args
    )
    return rows.map(jobRow)
  }

  async replay(ids: string[], now: number): Promise<number> {
    if (ids.length === 0) return 0
    const { rowCount } = await this.pool.query(
      `UPDATE jobs SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, lease_token = NULL, lease_until = NULL
       WHERE id = ANY($2::text[]) AND status IN ('dead', 'ignored', 'delivered')`,
      [now, ids]
    )
    return rowCount ?? 0
  }

  async getEvent(inboxId: string): Promise<EventDetail | undefined> {
    const inbox = await this.pool.query('SELECT * FROM inbox WHERE id = $1', [inboxId])
    if (inbox.rows.length === 0) return undefined
    const [messages, jobs, attempts] = await Promise.all([
      this.pool.query('SELECT * FROM messages WHERE inbox_id = $1 ORDER BY message_id COLLATE "C"', [inboxId]),
      this.pool.query<JobRecord>('SELECT * FROM jobs WHERE inbox_id = $1 ORDER BY id COLLATE "C"', [inboxId]),
      this.pool.query(
        'SELECT a.* FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.inbox_id = $1 ORDER BY a.job_id COLLATE "C", a.attempt',
        [inboxId]
      )
    ])
    return {
      inbox: inboxRow(inbox.rows[0]),
      messages: messages.rows.map(messageRow),
      jobs: jobs.rows.map(jobRow),
      attempts: attempts.rows.map(attemptRow)
    }
  }

  async resolveInboxId(id: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM inbox WHERE id = $1
       UNION ALL SELECT inbox_id FROM messages WHERE message_id = $1
       UNION ALL SELECT inbox_id FROM jobs WHERE id = $1 LIMIT 1`,
      [id]
    )
    return rows[0]?.id
  }

  async listQuarantine(filter: { source?: string; event?: string; limit?: number }): Promise<QuarantineRow[]> {
    const { rows } = await this.pool.query(
      `SELECT i.id AS inbox_id, i.source, i.event_type, i.received_at, i.reason, m.message_id, m.event, m.violations
       FROM inbox i LEFT JOIN messages m ON m.inbox_id = i.id AND m.status = 'quarantined'
       WHERE (i.status = 'quarantined' AND i.reason IS NOT NULL OR m.message_id IS NOT NULL)
         AND ($1::text IS NULL OR i.source = $1) AND ($2::text IS NULL OR m.event = $2)
       ORDER BY i.received_at, i.id COLLATE "C" LIMIT $3`,
      [filter.source ?? null, filter.event ?? null, filter.limit ?? 1000]
    )
    return rows.map(quarantineRow)
  }

  async quarantinedInbox(filter: { source?: string; limit?: number }): Promise<InboxRow[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM inbox WHERE status = 'quarantined' AND ($1::text IS NULL OR source = $1)
       ORDER BY received_at, id COLLATE "C" LIMIT $2`,
      [filter.source ?? null, filter.limit ?? 1000]
    )
    return rows.map(inboxRow)
  }

  async requeue(items: RequeueItem[], now: number): Promise<{ routed: number; stillQuarantined: number }> {
    return this.tx(async (c) => {
      const counts = { routed: 0, stillQuarantined: 0 }
      for (const item of items) {
        const { rows } = await c.query<{ source: string }>(
          `UPDATE inbox SET status = $1, reason = $2 WHERE id = $3 AND status = 'quarantined' RETURNING source`,
          [item.status, item.reason ?? null, item.inboxId]
        )
        if (rows.length === 0) continue
        await this.insertMessages(c, item.inboxId, rows[0].source, item.messages, now)
        if (item.status === 'quarantined') counts.stillQuarantined++
        else counts.routed++
      }
      return counts
    })
  }

  async recentMessages(since: number, limit: number): Promise<MessageRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM messages WHERE created_at >= $1 ORDER BY created_at DESC LIMIT $2', [since, limit])
    return rows.map(messageRow)
  }

  async stats(now: number): Promise<QueueStats> {
    // COUNT and MIN over BIGINT come back as strings: converted here, like the row mappers do.
    const [jobs, oldest, inbox] = await Promise.all([
      this.pool.query<{ destination: string; status: JobStatus; count: string }>(
        'SELECT destination, status, COUNT(*) AS count FROM jobs GROUP BY destination, status ORDER BY destination COLLATE "C", status COLLATE "C"'
      ),
      this.pool.query<{ destination: string; oldest: string }>(
        `SELECT destination, MIN(created_at) AS oldest FROM jobs WHERE status IN ('pending', 'leased')
         GROUP BY destination ORDER BY destination COLLATE "C"`
      ),
      this.pool.query<{ status: InboxStatus; count: string }>('SELECT status, COUNT(*) AS count FROM inbox GROUP BY status ORDER BY status COLLATE "C"')
    ])
    return {
      jobs: jobs.rows.map((r) => ({ destination: r.destination, status: r.status, count: Number(r.count) })),
      inbox: inbox.rows.map((r) => ({ status: r.status, count: Number(r.count) })),
      oldestPendingAgeMs: oldest.rows.map((o) => ({ destination: o.destination, ageMs: now - Number(o.oldest) }))
    }
  }

  /** Runs `work` in one transaction on one pooled connection; rolls back (and rethrows) on any error. */
  private async tx<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    // The pool stops listening to a connection while it is checked out: a connection lost mid-transaction
    // would emit an unhandled 'error' and crash the process. The failing query rejects on its own; this only
    // remembers that the connection must not go back to the pool.
    let lost: Error | undefined
    const onError = (err: Error): void => {
      lost = err
    }
    client.on('error', onError)
    let broken = false
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw err
    } finally {
      client.off('error', onError)
      client.release(lost ?? broken)
    }
  }
}
