import type Database from 'better-sqlite3'
import { openSqliteConnection } from '../queue/sqlite-connection.ts'
import {
  clampLimit, notificationRow, type ListOptions, type NewNotification, type Notification, type NotificationRecord, type NotificationStore
} from './store.ts'

export function notificationSchema(dialect: 'sqlite' | 'postgres'): string[] {
  const seq = dialect === 'postgres' ? 'seq BIGSERIAL PRIMARY KEY' : 'seq INTEGER PRIMARY KEY AUTOINCREMENT'
  const int = dialect === 'postgres' ? 'BIGINT' : 'INTEGER'
  return [
    `CREATE TABLE IF NOT EXISTS notifications (
      ${seq},
      id TEXT NOT NULL UNIQUE,
      advocate_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      title TEXT NOT NULL,
      body TEXT NOT NULL,
      data TEXT NOT NULL,
      created_at ${int} NOT NULL,
      read_at ${int}
    )`,
    `CREATE INDEX IF NOT EXISTS notifications_advocate ON notifications (advocate_id, seq)`
  ]
}

/**
 * SQLite backend: its own connection to the bridge's database file (WAL, busy_timeout), so it never holds up
 * the queue's connection and the queue's write transactions only make it wait, never fail.
 */
export class SqliteNotificationStore implements NotificationStore {
  readonly backend = 'sqlite' as const
  private db!: Database.Database
  private readonly statements = new Map<string, Database.Statement>()

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    this.db = openSqliteConnection(this.path)
    for (const sql of notificationSchema('sqlite')) this.db.exec(sql)
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close()
  }

  async add(n: NewNotification): Promise<boolean> {
    const info = this.stmt(
      `INSERT INTO notifications (id, advocate_id, kind, title, body, data, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
    ).run(n.id, n.advocateId, n.kind, n.title, n.body, JSON.stringify(n.data ?? {}), n.createdAt)
    return info.changes === 1
  }

  async list(advocateId: string, options: ListOptions = {}): Promise<Notification[]> {
    const rows = this.stmt(
      `SELECT * FROM notifications
       WHERE advocate_id = ? AND (? = 0 OR read_at IS NULL)
         AND (? IS NULL OR seq < (SELECT seq FROM notifications WHERE id = ? AND advocate_id = ?))
       ORDER BY seq DESC LIMIT ?`
    ).all(advocateId, options.unreadOnly ? 1 : 0, options.before ?? null, options.before ?? null, advocateId, clampLimit(options.limit)) as NotificationRecord[]
    return rows.map(notificationRow)
  }

  async listAfter(advocateId: string, afterId: string, limit?: number): Promise<Notification[] | undefined> {
    const anchor = this.stmt(`SELECT seq FROM notifications WHERE id = ? AND advocate_id = ?`).get(afterId, advocateId) as { seq: number } | undefined
    if (!anchor) return undefined
    const rows = this.stmt(`SELECT * FROM notifications WHERE advocate_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?`)
      .all(advocateId, anchor.seq, clampLimit(limit)) as NotificationRecord[]
    return rows.map(notificationRow)
  }

  async markRead(advocateId: string, ids: string[] | 'all', now: number): Promise<number> {
    if (ids === 'all') {
      return this.stmt(`UPDATE notifications SET read_at = ? WHERE advocate_id = ? AND read_at IS NULL`).run(now, advocateId).changes
    }
    if (ids.length === 0) return 0
    return this.stmt(
      `UPDATE notifications SET read_at = ?
       WHERE advocate_id = ? AND read_at IS NULL AND id IN (SELECT value FROM json_each(?))`
    ).run(now, advocateId, JSON.stringify(ids)).changes
  }

  async unreadCount(advocateId: string): Promise<number> {
    const row = this.stmt(`SELECT COUNT(*) AS n FROM notifications WHERE advocate_id = ? AND read_at IS NULL`).get(advocateId) as { n: number }
    return row.n
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql)
    if (!s) {
      s = this.db.prepare(sql)
      this.statements.set(sql, s)
    }
    return s
  }
}
