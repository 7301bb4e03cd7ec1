import type pg from 'pg'
import { jobIdOf } from './rows.ts'
import type { AcceptResult, WebhookToAccept } from './store.ts'

/**
 * Group commit for PostgreSQL ingest. One webhook alone costs BEGIN + 7 INSERTs + COMMIT = 9 round trips and a
 * WAL flush; here every webhook that arrives while earlier batches are in flight joins the next batch, and a
 * batch is ONE statement (inbox + messages + jobs through data-modifying CTEs over unnest'ed arrays): one round
 * trip, one implicit transaction, one WAL flush, whatever its size. Callers are answered only after the
 * statement returned, i.e. after its commit.
 *
 * The statement keeps the per-webhook semantics of the one-by-one path (PostgresStore.acceptAlone): an inbox id
 * already stored is a duplicate and writes nothing; a message is written when new or when it replaces a
 * quarantined one, and only then gets its jobs; jobs already present are kept.
 */
export class PostgresAcceptBatcher {
  private queued: Array<{ webhook: WebhookToAccept; resolve: (r: AcceptResult) => void; reject: (e: unknown) => void }> = []
  private inFlight = 0
  private scheduled = false

  constructor(
    private readonly pool: pg.Pool,
    /** The one-by-one path: a batch that fails is retried webhook by webhook, so one bad webhook fails alone. */
    private readonly acceptAlone: (w: WebhookToAccept) => Promise<AcceptResult>,
    /** Batches in flight at once: while one waits for its commit, the next is already on another connection. */
    private readonly maxInFlight = 4,
    private readonly maxBatch = 500
  ) {}

  accept(webhook: WebhookToAccept): Promise<AcceptResult> {
    return new Promise((resolve, reject) => {
      this.queued.push({ webhook, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        // End of this event-loop turn: the webhooks of requests read in the same turn go together.
        setImmediate(() => {
          this.scheduled = false
          this.dispatch()
        })
      }
    })
  }

  private dispatch(): void {
    while (this.inFlight < this.maxInFlight && this.queued.length) {
      const batch = this.queued.splice(0, this.maxBatch)
      this.inFlight++
      void this.commit(batch).finally(() => {
        this.inFlight--
        this.dispatch()
      })
    }
  }

  private async commit(batch: typeof this.queued): Promise<void> {
    let groups: unknown[][][]
    try {
      groups = splitConflicting(batch.map((p) => p.webhook)).map(groupParams)
    } catch {
      // A webhook whose rows cannot even be built (JSON.stringify threw): let it fail alone.
      await Promise.all(batch.map((p) => this.acceptAlone(p.webhook).then(p.resolve, p.reject)))
      return
    }
    try {
      const stored = new Set<string>()
      if (groups.length === 1) {
        for (const id of await insertGroup(this.pool, groups[0])) stored.add(id)
      } else {
        // Webhooks that share an inbox or message id cannot share a statement (its rows are not visible to
        // itself): run them as consecutive statements of one transaction, in arrival order.
        const client = await this.pool.connect()
        let broken = false
        try {
          await client.query('BEGIN')
          for (const g of groups) for (const id of await insertGroup(client, g)) stored.add(id)
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK').catch(() => (broken = true))
          throw err
        } finally {
          client.release(broken)
        }
      }
      // An inbox id can appear in two webhooks of a batch only in different groups, so the first one stored it.
      const seen = new Set<string>()
      for (const p of batch) {
        const result: AcceptResult = { stored: [], duplicates: [] }
        for (const item of p.webhook.items) {
          if (stored.has(item.id) && !seen.has(item.id)) (result.stored.push(item.id), seen.add(item.id))
          else result.duplicates.push(item.id)
        }
        p.resolve(result)
      }
    } catch (err) {
      // Nothing of the batch committed (one statement, or one transaction). When one webhook's data could be the
      // cause (data exception 22, constraint 23) or the batch lost a deadlock (40), each webhook is tried on
      // its own so one bad webhook fails alone. A lost connection or server shutdown (08, 57, ...) fails them
      // all at once: the platforms retry, and a retry alone would only wait on the same server.
      const sqlClass = String((err as { code?: string }).code ?? '').slice(0, 2)
      if (!['22', '23', '40'].includes(sqlClass)) {
        for (const p of batch) p.reject(err)
        return
      }
      await Promise.all(batch.map((p) => this.acceptAlone(p.webhook).then(p.resolve, p.reject)))
    }
  }
}

/** Splits a batch into runs in which no inbox id and no message id appears twice (nor twice in one webhook). */
function splitConflicting(webhooks: WebhookToAccept[]): WebhookToAccept[][] {
  const groups: WebhookToAccept[][] = []
  let current: WebhookToAccept[] = []
  let keys = new Set<string>()
  for (const w of webhooks) {
    const own = keysOf(w)
    const clash = own.some((k) => keys.has(k)) || new Set(own).size !== own.length
    if (clash && current.length) {
      groups.push(current)
      current = []
      keys = new Set()
    }
    current.push(w)
    for (const k of own) keys.add(k)
    if (clash) {
      // A webhook repeating an id within itself runs alone, so the statement never sees one key twice.
      groups.push(current)
      current = []
      keys = new Set()
    }
  }
  if (current.length) groups.push(current)
  return groups
}

function keysOf(w: WebhookToAccept): string[] {
  const keys: string[] = []
  for (const item of w.items) {
    keys.push(`i:${item.id}`)
    for (const m of item.messages) keys.push(`m:${m.message.messageId}`)
  }
  return keys
}

/*
 * ON CONFLICT DO UPDATE refuses to touch one row twice in a statement, and a DO NOTHING row that loses to an
 * earlier row of the same statement would be reported as stored; splitConflicting keeps both out. Rows are
 * sorted by key so two concurrent batches lock the keys they share in the same order (no deadlock between them).
 */
const INSERT_GROUP = `
WITH inbox_in AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
    AS t(id, source, event_type, request_id, received_at, status, reason, payload, raw_body, headers)
), stored AS (
  INSERT INTO inbox (id, source, event_type, request_id, received_at, status, reason, payload, raw_body, headers)
  SELECT * FROM inbox_in ORDER BY id COLLATE "C"
  ON CONFLICT (id) DO NOTHING
  RETURNING id
), message_in AS (
  SELECT * FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[])
    AS t(message_id, inbox_id, status, event, violations, body, created_at)
), written AS (
  INSERT INTO messages (message_id, inbox_id, status, event, violations, body, created_at)
  SELECT m.* FROM message_in m JOIN stored s ON s.id = m.inbox_id ORDER BY m.message_id COLLATE "C"
  ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, violations = excluded.violations, body = excluded.body
  WHERE messages.status = 'quarantined'
  RETURNING message_id
), job_in AS (
  SELECT * FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::int[], $25::bigint[], $26::bigint[])
    AS t(id, message_id, inbox_id, source, event, destination, priority, now, deadline_at)
), queued AS (
  INSERT INTO jobs (id, message_id, inbox_id, source, event, destination, status, attempts, priority,
                    next_attempt_at, created_at, updated_at, deadline_at)
  SELECT j.id, j.message_id, j.inbox_id, j.source, j.event, j.destination, 'pending', 0, j.priority, j.now, j.now, j.now, j.deadline_at
  FROM job_in j JOIN written w ON w.message_id = j.message_id ORDER BY j.id COLLATE "C"
  ON CONFLICT (id) DO NOTHING
)
SELECT id FROM stored`

/** The statement's 26 parameters: one array per column of inbox_in, message_in and job_in. */
function groupParams(webhooks: WebhookToAccept[]): unknown[][] {
  const inbox: unknown[][] = Array.from({ length: 10 }, () => [])
  const messages: unknown[][] = Array.from({ length: 7 }, () => [])
  const jobs: unknown[][] = Array.from({ length: 9 }, () => [])
  const push = (columns: unknown[][], ...values: unknown[]) => values.forEach((v, i) => columns[i].push(v))
  for (const w of webhooks) {
    const headers = JSON.stringify(w.headers)
    for (const item of w.items) {
      push(inbox, item.id, w.source, item.eventType, w.requestId, w.receivedAt, item.status, item.reason ?? null, JSON.stringify(item.payload), w.rawBody, headers)
      for (const m of item.messages) {
        const quarantined = !!m.violations?.length
        const event = m.message.type === 'track' ? m.message.event : m.message.type
        push(messages, m.message.messageId, item.id, quarantined ? 'quarantined' : 'routed', event, JSON.stringify(m.violations ?? []), JSON.stringify(m.message), w.receivedAt)
        if (quarantined) continue
        for (const t of m.destinations) {
          push(jobs, jobIdOf(m.message.messageId, t.destination), m.message.messageId, item.id, w.source, event, t.destination, t.priority ?? 0, w.receivedAt, t.deadlineAt ?? null)
        }
      }
    }
  }
  return [...inbox, ...messages, ...jobs]
}

async function insertGroup(db: pg.Pool | pg.PoolClient, params: unknown[][]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(INSERT_GROUP, params)
  return rows.map((r) => r.id)
}
