import pg from 'pg'
import type { Message } from '../messages.ts'
import { hookRow, hookSchema, MAX_SAMPLE, type HookRecord, type HookStore, type HookSubscription } from './store.ts'

export interface PostgresHookStoreOptions {
  /** Keep the tables in this schema (created if missing) instead of the server's default search_path. */
  schema?: string
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** PostgreSQL backend: its own small pool on the bridge's DATABASE_URL; same semantics as the SQLite one. */
export class PostgresHookStore implements HookStore {
  readonly backend = 'postgres' as const
  private readonly pool: pg.Pool
  private readonly schema: string | undefined

  constructor(connectionString: string, options: PostgresHookStoreOptions = {}) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(options.schema)}: use lower-case letters, digits and _`)
    }
    this.schema = options.schema
    this.pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 10_000, options: this.schema ? `-c search_path=${this.schema}` : undefined })
    // Without a listener a dropped idle connection would crash the process; the pool already replaced it.
    this.pool.on('error', (err: Error & { code?: string }) => {
      console.error(JSON.stringify({ level: 'warn', message: 'postgres (hooks): idle connection lost', code: err.code, error: err.message }))
    })
  }

  async init(): Promise<void> {
    const c = await this.pool.connect()
    try {
      await c.query('BEGIN')
      // CREATE ... IF NOT EXISTS races between bridges starting together: take turns.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('referral-bridge:hooks:init'))`)
      if (this.schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      for (const sql of hookSchema('postgres')) await c.query(sql)
      await c.query('COMMIT')
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      c.release()
    }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }

  async subscribe(s: HookSubscription): Promise<void> {
    await this.pool.query(`INSERT INTO hook_subscriptions (id, target_url, event, created_at) VALUES ($1, $2, $3, $4)`, [s.id, s.targetUrl, s.event, s.createdAt])
  }

  async unsubscribe(id: string): Promise<boolean> {
    // One statement: the subscription and its delivery records go together.
    const { rows } = await this.pool.query<{ n: string }>(
      `WITH d AS (DELETE FROM hook_deliveries WHERE subscription_id = $1), s AS (DELETE FROM hook_subscriptions WHERE id = $1 RETURNING id)
       SELECT count(*) AS n FROM s`,
      [id]
    )
    return Number(rows[0].n) === 1
  }

  async list(event?: string): Promise<HookSubscription[]> {
    const { rows } = await this.pool.query<HookRecord>(
      `SELECT * FROM hook_subscriptions WHERE ($1::text IS NULL OR event = $1) ORDER BY created_at, id`,
      [event ?? null]
    )
    return rows.map(hookRow)
  }

  async subscribedEvents(): Promise<string[]> {
    const { rows } = await this.pool.query<{ event: string }>(`SELECT DISTINCT event FROM hook_subscriptions ORDER BY event`)
    return rows.map((r) => r.event)
  }

  async recordDelivery(subscriptionId: string, messageId: string, now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO hook_deliveries (subscription_id, message_id, delivered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [subscriptionId, messageId, now]
    )
  }

  async deliveredTo(messageId: string, subscriptionIds: string[]): Promise<Set<string>> {
    if (!subscriptionIds.length) return new Set()
    const { rows } = await this.pool.query<{ subscription_id: string }>(
      `SELECT subscription_id FROM hook_deliveries WHERE message_id = $1 AND subscription_id = ANY($2::text[])`,
      [messageId, subscriptionIds]
    )
    return new Set(rows.map((r) => r.subscription_id))
  }

  async sample(event: string, limit: number): Promise<Message[]> {
    const { rows } = await this.pool.query<{ body: string }>(
      `SELECT body FROM messages WHERE event = $1 AND status = 'routed' ORDER BY created_at DESC, message_id DESC LIMIT $2`,
      [event, Math.max(1, Math.min(MAX_SAMPLE, limit))]
    )
    return rows.map((r) => JSON.parse(r.body) as Message)
  }
}
