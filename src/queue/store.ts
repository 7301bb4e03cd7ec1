import type { Message } from '../messages.ts'

/**
 * The durable store behind ingest and delivery. Two backends implement it (sqlite.ts, postgres.ts) and one
 * contract suite (test/queue/store.contract.ts) runs against both. Every method that takes `now` uses it
 * instead of the wall clock, so tests and the SLA maths run on an injected clock.
 */

export type InboxStatus = 'routed' | 'quarantined' | 'ignored'
export type MessageStatus = 'routed' | 'quarantined'
export type JobStatus = 'pending' | 'leased' | 'delivered' | 'dead' | 'ignored'
export type AttemptOutcome = 'delivered' | 'retry' | 'dead' | 'ignored'

export interface NewInboxItem {
  /** `<source>:<idempotency key>`: a redelivery has the same id and is not stored twice. */
  id: string
  eventType: string
  payload: unknown
  status: InboxStatus
  /** Why the item could not be normalized at all (adapter error), when status is quarantined; on a routed item, a
   * note `events show` prints (e.g. why an order was or was not attributed to a referral). */
  reason?: string
  messages: NewMessage[]
}

export interface NewMessage {
  message: Message
  /** Tracking-plan violations; a message with reasons is quarantined and gets no jobs. */
  violations?: string[]
  destinations: NewJobTarget[]
}

export interface NewJobTarget {
  destination: string
  /** Higher runs first: time-sensitive lanes use it so a backlog cannot delay them. */
  priority?: number
  /** When the effect is due (SLA); informational for the store. */
  deadlineAt?: number
}

export interface WebhookToAccept {
  source: string
  requestId: string
  receivedAt: number
  /** The exact bytes as UTF-8 text (webhooks are JSON or form bodies). */
  rawBody: string
  /** Non-secret headers worth keeping for `events show` (signature headers are dropped by the caller). */
  headers: Record<string, string>
  items: NewInboxItem[]
}

export interface AcceptResult {
  stored: string[]
  duplicates: string[]
}

export interface LeasedJob {
  id: string
  messageId: string
  destination: string
  attempts: number
  priority: number
  createdAt: number
  deadlineAt: number | null
  leaseToken: string
  message: Message
  source: string
}

export interface AttemptRecord {
  startedAt: number
  finishedAt: number
  outcome: AttemptOutcome
  statusCode?: number
  error?: string
}

export interface JobRow {
  id: string
  messageId: string
  inboxId: string
  source: string
  event: string
  destination: string
  status: JobStatus
  attempts: number
  priority: number
  nextAttemptAt: number
  createdAt: number
  updatedAt: number
  deliveredAt: number | null
  deadlineAt: number | null
  lastError: string | null
}

export interface JobFilter {
  destination?: string
  source?: string
  event?: string
  /** Only jobs created at or after this time (ms). */
  since?: number
  errorContains?: string
  limit?: number
}

export interface AttemptRow extends AttemptRecord {
  jobId: string
  attempt: number
}

export interface MessageRow {
  messageId: string
  inboxId: string
  status: MessageStatus
  violations: string[]
  message: Message
  createdAt: number
}

export interface InboxRow {
  id: string
  source: string
  eventType: string
  requestId: string
  receivedAt: number
  status: InboxStatus
  reason: string | null
  payload: unknown
  rawBody: string
  headers: Record<string, string>
}

export interface EventDetail {
  inbox: InboxRow
  messages: MessageRow[]
  jobs: JobRow[]
  attempts: AttemptRow[]
}

export interface QuarantineRow {
  inboxId: string
  source: string
  eventType: string
  messageId: string | null
  event: string | null
  reasons: string[]
  receivedAt: number
}

export interface QueueStats {
  /** Count per destination and status. */
  jobs: Array<{ destination: string; status: JobStatus; count: number }>
  /** Age in ms of the oldest job still waiting, per destination (now - createdAt). */
  oldestPendingAgeMs: Array<{ destination: string; ageMs: number }>
  inbox: Array<{ status: InboxStatus; count: number }>
}

/** Re-normalizing a quarantined item after a plan or adapter fix: the store swaps in the new outcome. */
export interface RequeueItem {
  inboxId: string
  status: InboxStatus
  reason?: string
  messages: NewMessage[]
}

/** What identifies a buyer, for finding the referral that brought them (src/ingest/attribution.ts). */
export interface ReferralKeys {
  /** Discount / referral codes on the order, matched case-insensitively against `referral_code` and `discount_code`. */
  codes?: string[]
  /** The buyer's emails (lower-cased), matched against `friend_email` and `friend_id`. */
  emails?: string[]
  /** Platform customer ids as the sources write them (`shopify:<id>`), matched against `friend_id`. */
  ids?: string[]
}

export interface ReferralMatch {
  /** The stored referral event the order was joined to. */
  messageId: string
  event: string
  matchedBy: 'referral_code' | 'discount_code' | 'friend_email' | 'friend_id'
  value: string
  advocateId: string
  advocateEmail?: string
  referralId?: string
  referralCode?: string
  createdAt: number
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres'
  /** This process's id: every lease it takes carries it as the prefix of the lease token (`<instanceId>/…`). */
  readonly instanceId: string
  init(): Promise<void>
  close(): Promise<void>
  /** Cheap round trip for /healthz. */
  ping(): Promise<void>

  /** Commits the webhook's items, their messages and jobs in one transaction; duplicates are left untouched. */
  accept(webhook: WebhookToAccept): Promise<AcceptResult>

  /**
   * Takes up to `limit` due jobs of one destination: pending ones whose time has come, and leased ones whose
   * lease expired (their worker died). Highest priority first, then oldest due. `minPriority` restricts the
   * lease to a priority lane, so time-sensitive jobs have workers no backlog can occupy.
   */
  lease(destination: string, limit: number, leaseMs: number, now: number, minPriority?: number): Promise<LeasedJob[]>
  /** Each of these is a no-op when the lease token no longer holds (the lease expired and another worker took it). */
  complete(job: LeasedJob, attempt: AttemptRecord): Promise<boolean>
  retry(job: LeasedJob, nextAttemptAt: number, attempt: AttemptRecord): Promise<boolean>
  kill(job: LeasedJob, attempt: AttemptRecord): Promise<boolean>
  /** Gives leased jobs back without counting an attempt (graceful shutdown). */
  release(jobs: LeasedJob[], now: number): Promise<void>
  /**
   * The destination is answering again: its pending retries (attempts > 0) scheduled after `now` become due now,
   * so a backlog that backed off for minutes goes out within seconds of recovery. Returns how many.
   */
  expedite(destination: string, now: number): Promise<number>
  /** Records that this instance is alive at `now` (PostgreSQL instances call it every few seconds). */
  heartbeat(now: number): Promise<void>
  /**
   * Gives back, without counting an attempt, the leases held by OTHER instances whose last heartbeat is not after
   * `staleBefore` (or that never heartbeat): they are due at once instead of after their lease. A SQLite bridge
   * owns its file and passes `Infinity` at start (the previous process is gone); PostgreSQL instances pass
   * `now - staleness`. Fencing holds: the old holder's token matches nothing any more. Returns how many.
   */
  reclaimLeases(staleBefore: number, now: number): Promise<number>
  /**
   * The most recent routed referral event (Referral Created, Referred Friend Signed Up) naming an advocate that
   * matches the keys: codes first (the shop said so), then emails, then ids. Undefined when none does.
   */
  findReferral(keys: ReferralKeys): Promise<ReferralMatch | undefined>
  /**
   * The stored messages among `ids` (any status), by id; ids not stored are absent. The cohort pass
   * (src/ingest/cohort-events.ts) asks it whether a referral's deterministic fact ids (created, status, converted,
   * signed up) are already stored, so each fact is emitted once whatever the order of arrival.
   */
  storedMessages(ids: string[]): Promise<Map<string, Message>>

  listJobs(status: JobStatus, filter: JobFilter): Promise<JobRow[]>
  /** Dead (or given) jobs back to pending with their original ids and messageIds, so destinations dedupe. */
  replay(ids: string[], now: number): Promise<number>
  getEvent(inboxId: string): Promise<EventDetail | undefined>
  /** Finds the inbox id of a message or job id, so `events show` takes any of the three. */
  resolveInboxId(id: string): Promise<string | undefined>

  listQuarantine(filter: { source?: string; event?: string; limit?: number }): Promise<QuarantineRow[]>
  quarantinedInbox(filter: { source?: string; limit?: number }): Promise<InboxRow[]>
  requeue(items: RequeueItem[], now: number): Promise<{ routed: number; stillQuarantined: number }>

  /** Recently stored messages (all statuses), for `plan preview`. */
  recentMessages(since: number, limit: number): Promise<MessageRow[]>

  stats(now: number): Promise<QueueStats>
}
