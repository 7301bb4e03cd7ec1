import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * A second connection to the bridge's SQLite file, for the tables that live next to the queue (notifications,
 * REST hook subscriptions): WAL so readers never block the queue's writer, and a busy timeout so the queue's
 * write transactions only make these wait, never fail. Durability follows SQLITE_SYNCHRONOUS like the queue's.
 */
export function openSqliteConnection(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('busy_timeout = 5000')
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${process.env.SQLITE_SYNCHRONOUS === 'NORMAL' ? 'NORMAL' : 'FULL'}`)
  return db
}
