import pg from 'pg'
import { notificationSchema } from './sqlite.ts'
import {
  clampLimit, notificationRow, type ListOptions, type NewNotification, type Notification, type NotificationRecord, type NotificationStore
} from './store.ts'

export interface PostgresNotificationStoreOptions {
  /** Keep the table in this schema (created if missing) instead of the server's default search_path. */
  schema?: string
  poolSize?: number
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** PostgreSQL backend: its own small pool on the bridge's DATABASE_URL; same semantics as the SQLite one. */
export class PostgresNotificationStore implements NotificationStore {
  readonly backend = 'postgres' as const
  private readonly pool: pg.Pool
  private readonly schema: string | undefined
  private closed = false

  constructor(connectionString: string, options: PostgresNotificationStoreOptions = {}) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(options.schema)}: use lower-case letters, digits and _`)
    }
    this.schema = options.schema
    this.pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: 10_000,
      options: this.schema ? `-c search_path=${this.schema}` : undefined
    })
    // A dropped idle connection is reported here; without a listener the process would crash. The pool already
    // replaced it; pg error messages carry no credentials.
    this.pool.on('error', (err: Error & { code?: string }) => {
      console.error(JSON.stringify({ level: 'warn', message: 'postgres (notifications): idle connection lost', code: err.code, error: err.message }))
    })
  }

  async init(): Promise<void> {
    const c = await this.pool.connect()
    try {
      await c.query('BEGIN')
      // CREATE ... IF NOT EXISTS races between bridges starting together: take turns.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('referral-bridge:notifications:init'))`)
      if (this.schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      for (const sql of notificationSchema('postgres')) await c.query(sql)
      if (this.schema) {
        const { rows } = await c.query<{ schema: string | null }>('SELECT current_schema() AS schema')
        if (rows[0].schema !== this.schema) throw new Error(`search_path does not select schema ${this.schema} (the URL overrides "options"?)`)
      }
      await c.query('COMMIT')
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      c.release()
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }

  async add(n: NewNotification): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO notifications (id, advocate_id, kind, title, body, data, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
      [n.id, n.advocateId, n.kind, n.title, n.body, JSON.stringify(n.data ?? {}), n.createdAt]
    )
    return r.rowCount === 1
  }

  async list(advocateId: string, options: ListOptions = {}): Promise<Notification[]> {
    const { rows } = await this.pool.query<NotificationRecord>(
      `SELECT * FROM notifications
       WHERE advocate_id = $1 AND (NOT $2::boolean OR read_at IS NULL)
         AND ($3::text IS NULL OR seq < (SELECT seq FROM notifications WHERE id = $3::text AND advocate_id = $1))
       ORDER BY seq DESC LIMIT $4`,
      [advocateId, !!options.unreadOnly, options.before ?? null, clampLimit(options.limit)]
    )
    return rows.map(notificationRow)
  }

  async listAfter(advocateId: string, afterId: string, limit?: number): Promise<Notification[] | undefined> {
    const anchor = await this.pool.query<{ seq: string }>(`SELECT seq FROM notifications WHERE id = $1 AND advocate_id = $2`, [afterId, advocateId])
    if (anchor.rowCount === 0) return undefined
    const { rows } = await this.pool.query<NotificationRecord>(
      `SELECT * FROM notifications WHERE advocate_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3`,
      [advocateId, anchor.rows[0].seq, clampLimit(limit)]
    )
    return rows.map(notificationRow)
  }

  async markRead(advocateId: string, ids: string[] | 'all', now: number): Promise<number> {
    if (ids === 'all') {
      const r = await this.pool.query(`UPDATE notifications SET read_at = $1 WHERE advocate_id = $2 AND read_at IS NULL`, [now, advocateId])
      return r.rowCount ?? 0
    }
    if (ids.length === 0) return 0
    const r = await this.pool.query(
      `UPDATE notifications SET read_at = $1 WHERE advocate_id = $2 AND read_at IS NULL AND id = ANY($3::text[])`,
      [now, advocateId, ids]
    )
    return r.rowCount ?? 0
  }

  async unreadCount(advocateId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM notifications WHERE advocate_id = $1 AND read_at IS NULL`, [advocateId])
    return Number(rows[0].n)
  }
}
