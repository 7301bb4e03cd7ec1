import type Database from 'better-sqlite3'
import { openSqliteConnection } from '../queue/sqlite-connection.ts'
import type { Message } from '../messages.ts'
import { hookRow, hookSchema, MAX_SAMPLE, type HookRecord, type HookStore, type HookSubscription } from './store.ts'

/** SQLite backend: its own connection to the bridge's database file (WAL, busy_timeout), as the notifications have. */
export class SqliteHookStore implements HookStore {
  readonly backend = 'sqlite' as const
  private db!: Database.Database
  private readonly statements = new Map<string, Database.Statement>()

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    this.db = openSqliteConnection(this.path)
    for (const sql of hookSchema('sqlite')) this.db.exec(sql)
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close()
  }

  async subscribe(s: HookSubscription): Promise<void> {
    this.stmt(`INSERT INTO hook_subscriptions (id, target_url, event, created_at) VALUES (?, ?, ?, ?)`).run(s.id, s.targetUrl, s.event, s.createdAt)
  }

  async unsubscribe(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.stmt(`DELETE FROM hook_deliveries WHERE subscription_id = ?`).run(id)
      return this.stmt(`DELETE FROM hook_subscriptions WHERE id = ?`).run(id).changes === 1
    }).immediate()
  }

  async list(event?: string): Promise<HookSubscription[]> {
    const rows = this.stmt(`SELECT * FROM hook_subscriptions WHERE (? IS NULL OR event = ?) ORDER BY created_at, id`).all(event ?? null, event ?? null) as HookRecord[]
    return rows.map(hookRow)
  }

  async subscribedEvents(): Promise<string[]> {
    return (this.stmt(`SELECT DISTINCT event FROM hook_subscriptions ORDER BY event`).all() as Array<{ event: string }>).map((r) => r.event)
  }

  async recordDelivery(subscriptionId: string, messageId: string, now: number): Promise<void> {
    this.stmt(`INSERT INTO hook_deliveries (subscription_id, message_id, delivered_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`).run(subscriptionId, messageId, now)
  }

  async deliveredTo(messageId: string, subscriptionIds: string[]): Promise<Set<string>> {
    if (!subscriptionIds.length) return new Set()
    const rows = this.db
      .prepare(`SELECT subscription_id FROM hook_deliveries WHERE message_id = ? AND subscription_id IN (${subscriptionIds.map(() => '?').join(', ')})`)
      .all(messageId, ...subscriptionIds) as Array<{ subscription_id: string }>
    return new Set(rows.map((r) => r.subscription_id))
  }

  async sample(event: string, limit: number): Promise<Message[]> {
    const rows = this.stmt(`SELECT body FROM messages WHERE event = ? AND status = 'routed' ORDER BY created_at DESC, message_id DESC LIMIT ?`)
      .all(event, Math.max(1, Math.min(MAX_SAMPLE, limit))) as Array<{ body: string }>
    return rows.map((r) => JSON.parse(r.body) as Message)
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql)
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)))
    return s
  }
}
