import type { AttemptRow, InboxRow, JobRow, JobStatus, MessageRow, InboxStatus, MessageStatus, AttemptOutcome } from './store.ts'
import type { JobRecord } from './schema.ts'

// PostgreSQL returns BIGINT as strings; both backends go through these mappers so callers see numbers.
const num = (v: unknown): number => Number(v)
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

export function jobRow(r: JobRecord): JobRow {
  return {
    id: r.id,
    messageId: r.message_id,
    inboxId: r.inbox_id,
    source: r.source,
    event: r.event,
    destination: r.destination,
    status: r.status as JobStatus,
    attempts: num(r.attempts),
    priority: num(r.priority),
    nextAttemptAt: num(r.next_attempt_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    deliveredAt: numOrNull(r.delivered_at),
    deadlineAt: numOrNull(r.deadline_at),
    lastError: r.last_error
  }
}

export function inboxRow(r: any): InboxRow {
  return {
    id: r.id,
    source: r.source,
    eventType: r.event_type,
    requestId: r.request_id,
    receivedAt: num(r.received_at),
    status: r.status as InboxStatus,
    reason: r.reason ?? null,
    payload: JSON.parse(r.payload),
    rawBody: r.raw_body,
    headers: JSON.parse(r.headers)
  }
}

export function messageRow(r: any): MessageRow {
  return {
    messageId: r.message_id,
    inboxId: r.inbox_id,
    status: r.status as MessageStatus,
    violations: JSON.parse(r.violations),
    message: JSON.parse(r.body),
    createdAt: num(r.created_at)
  }
}

export function attemptRow(r: any): AttemptRow {
  return {
    jobId: r.job_id,
    attempt: num(r.attempt),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    outcome: r.outcome as AttemptOutcome,
    statusCode: r.status_code === null ? undefined : num(r.status_code),
    error: r.error ?? undefined
  }
}

export function jobIdOf(messageId: string, destination: string): string {
  return `${messageId}:${destination}`
}

/** Errors kept in the store are cut to a readable size; full bodies belong in logs, not rows. */
export function clip(text: string | undefined, max = 2000): string | null {
  if (text === undefined) return null
  return text.length > max ? `${text.slice(0, max)}…` : text
}
