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
    )`,
    // Lease reclaim: every bridge process has an id, carried as the prefix of its lease tokens, and (on
    // PostgreSQL) heartbeats here; leases of an instance that stopped heartbeating are given back within seconds.
    `CREATE TABLE IF NOT EXISTS instances (
      id TEXT PRIMARY KEY,
      heartbeat_at ${int} NOT NULL
    )`,
    // Partial: only leased rows, so the reclaim scan is small and pending inserts pay nothing for it.
    `CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (lease_token) WHERE status = 'leased'`,
    // Attribution (src/ingest/attribution.ts) finds a friend's referral by code, email or id among the referral
    // events already stored. Partial expression indexes: only referral events are indexed, so the accept path of
    // every other event pays nothing, and a lookup is an index probe instead of a scan of every message.
    ...REFERRAL_KEYS.map(
      (key) =>
        `CREATE INDEX IF NOT EXISTS messages_referral_${key} ON messages (${referralKeySql(dialect, key)}) WHERE ${REFERRAL_EVENTS_SQL}`
    )
  ]
}

/** The stored events that tie a friend to an advocate (attribution looks only at these). */
export const REFERRAL_EVENTS = ['Referral Created', 'Referred Friend Signed Up'] as const
export const REFERRAL_EVENTS_SQL = `event IN (${REFERRAL_EVENTS.map((e) => `'${e}'`).join(', ')})`
export const REFERRAL_KEYS = ['referral_code', 'discount_code', 'friend_email', 'friend_id'] as const
export type ReferralKey = (typeof REFERRAL_KEYS)[number]

/** The indexed expression for one referral property: codes compared case-insensitively (shops treat them so). */
export function referralKeySql(dialect: 'sqlite' | 'postgres', key: ReferralKey): string {
  const value = dialect === 'postgres' ? `((body::jsonb) -> 'properties' ->> '${key}')` : `json_extract(body, '$.properties.${key}')`
  return key.endsWith('_code') ? `lower(${value})` : value
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
