/**
 * One schema, two dialects. Times are integer milliseconds since the epoch (BIGINT in PostgreSQL) so both
 * backends compare them the same way; JSON is stored as text so the bytes we were sent stay the bytes we keep.
 */
export function schemaStatements(dialect: 'sqlite' | 'postgres'): string[] {
  const int = dialect === 'postgres' ? 'BIGINT' : 'INTEGER'
  return [
    `CREATE TABLE IF NOT EXISTS inbox (
      id TEXT PRIMARY KEY,
      source TEXT NOT NULL,
      event_type TEXT NOT NULL,
      request_id TEXT NOT NULL,
      received_at ${int} NOT NULL,
      status TEXT NOT NULL,
      reason TEXT,
      payload TEXT NOT NULL,
      raw_body TEXT NOT NULL,
      headers TEXT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS inbox_status ON inbox (status, received_at)`,
    `CREATE TABLE IF NOT EXISTS messages (
      message_id TEXT PRIMARY KEY,
      inbox_id TEXT NOT NULL,
      status TEXT NOT NULL,
      event TEXT,
      violations TEXT NOT NULL,
      body TEXT NOT NULL,
      created_at ${int} NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS messages_inbox ON messages (inbox_id)`,
    `CREATE INDEX IF NOT EXISTS messages_created ON messages (created_at)`,
    `CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      message_id TEXT NOT NULL,
      inbox_id TEXT NOT NULL,
      source TEXT NOT NULL,
      event TEXT NOT NULL,
      destination TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      priority INTEGER NOT NULL DEFAULT 0,
      next_attempt_at ${int} NOT NULL,
      lease_token TEXT,
      lease_until ${int},
      created_at ${int} NOT NULL,
      updated_at ${int} NOT NULL,
      delivered_at ${int},
      deadline_at ${int},
      last_error TEXT
    )`,
    `CREATE INDEX IF NOT EXISTS jobs_due ON jobs (destination, status, priority DESC, next_attempt_at)`,
    `CREATE INDEX IF NOT EXISTS jobs_inbox ON jobs (inbox_id)`,
    `CREATE TABLE IF NOT EXISTS attempts (
      job_id TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      started_at ${int} NOT NULL,
      finished_at ${int} NOT NULL,
      outcome TEXT NOT NULL,
      status_code INTEGER,
      error TEXT,
      PRIMARY KEY (job_id, attempt)
    )`
  ]
}

/** Row shapes shared by both backends' mappers. */
export interface JobRecord {
  id: string
  message_id: string
  inbox_id: string
  source: string
  event: string
  destination: string
  status: string
  attempts: number
  priority: number
  next_attempt_at: number | string
  lease_token: string | null
  lease_until: number | string | null
  created_at: number | string
  updated_at: number | string
  delivered_at: number | string | null
  deadline_at: number | string | null
  last_error: string | null
}
