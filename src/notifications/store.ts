/**
 * Advocate notifications ("your friend bought"), stored next to the queue in the same database but in their own
 * table and over their own connection. Two backends (sqlite.ts, postgres.ts) hold to one contract
 * (test/notifications/store.contract.ts).
 *
 * Order: every row gets a store-assigned sequence number when it is first stored. Listings, the `before` cursor
 * and the SSE replay (`after`) all follow it, so "what came after notification X" has one answer even when
 * several notifications share a millisecond.
 */
export interface NewNotification {
  /** The Segment messageId it came from: a redelivery of the same message is the same notification. */
  id: string
  advocateId: string
  /** e.g. `friend_purchase`, `referral_revenue_won` */
  kind: string
  title: string
  body: string
  data: Record<string, unknown>
  /** ms since the epoch */
  createdAt: number
}

export interface Notification extends NewNotification {
  /** ms since the epoch; null while unread */
  readAt: number | null
}

export interface ListOptions {
  unreadOnly?: boolean
  /** Default 50, at most 500. */
  limit?: number
  /** Cursor: only notifications stored before this notification id (the last id of the previous page). */
  before?: string
}

export interface NotificationStore {
  readonly backend: 'sqlite' | 'postgres'
  init(): Promise<void>
  close(): Promise<void>
  /** Stores it unless its id is already stored (then changes nothing). True when it was new. */
  add(n: NewNotification): Promise<boolean>
  /** Newest first. */
  list(advocateId: string, options?: ListOptions): Promise<Notification[]>
  /**
   * Oldest first: the advocate's notifications stored after `afterId` (SSE Last-Event-ID replay). An id that is
   * not one of this advocate's notifications yields `undefined`, so the caller can tell "nothing missed" from
   * "cannot tell".
   */
  listAfter(advocateId: string, afterId: string, limit?: number): Promise<Notification[] | undefined>
  /** Marks unread ones read at `now`; returns how many changed. Ids of other advocates are left alone. */
  markRead(advocateId: string, ids: string[] | 'all', now: number): Promise<number>
  unreadCount(advocateId: string): Promise<number>
}

export const DEFAULT_LIST_LIMIT = 50
export const MAX_LIST_LIMIT = 500

export function clampLimit(limit: number | undefined, fallback = DEFAULT_LIST_LIMIT): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback
  return Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(limit)))
}

/** Row shape shared by both backends (PostgreSQL returns BIGINT as string). */
export interface NotificationRecord {
  seq: number | string
  id: string
  advocate_id: string
  kind: string
  title: string
  body: string
  data: string
  created_at: number | string
  read_at: number | string | null
}

export function notificationRow(r: NotificationRecord): Notification {
  return {
    id: r.id,
    advocateId: r.advocate_id,
    kind: r.kind,
    title: r.title,
    body: r.body,
    data: JSON.parse(r.data) as Record<string, unknown>,
    createdAt: Number(r.created_at),
    readAt: r.read_at === null ? null : Number(r.read_at)
  }
}
