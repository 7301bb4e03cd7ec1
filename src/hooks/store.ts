import type { Message } from '../messages.ts'

/**
 * REST Hook subscriptions (Zapier / Make) and which of them already got which message. Stored next to the queue
 * in the same database, in their own tables and over their own connection, like the notifications. Two backends
 * (sqlite.ts, postgres.ts) hold to one contract (test/hooks/store.contract.ts).
 */
export interface HookSubscription {
  id: string
  targetUrl: string
  /** A tracking-plan track event name, e.g. `Referral Created`. */
  event: string
  /** ms since the epoch */
  createdAt: number
}

export interface HookStore {
  readonly backend: 'sqlite' | 'postgres'
  init(): Promise<void>
  close(): Promise<void>
  subscribe(sub: HookSubscription): Promise<void>
  /** True when it existed. Its delivery records go with it. */
  unsubscribe(id: string): Promise<boolean>
  /** Oldest first; all events when `event` is undefined. */
  list(event?: string): Promise<HookSubscription[]>
  /** The event names that have at least one subscriber (the ingest path decides from them whether a job is made). */
  subscribedEvents(): Promise<string[]>
  /** Records that `subscriptionId` acknowledged `messageId`; a retry of the job then skips that subscriber. */
  recordDelivery(subscriptionId: string, messageId: string, now: number): Promise<void>
  /** The subscription ids among `subscriptionIds` that already acknowledged `messageId`. */
  deliveredTo(messageId: string, subscriptionIds: string[]): Promise<Set<string>>
  /**
   * Zapier's "perform list": the most recent routed messages of that track event, newest first, read from the
   * queue's `messages` table (so the queue store must have been initialised on the same database).
   */
  sample(event: string, limit: number): Promise<Message[]>
}

export function hookSchema(dialect: 'sqlite' | 'postgres'): string[] {
  const int = dialect === 'postgres' ? 'BIGINT' : 'INTEGER'
  return [
    `CREATE TABLE IF NOT EXISTS hook_subscriptions (
      id TEXT PRIMARY KEY,
      target_url TEXT NOT NULL,
      event TEXT NOT NULL,
      created_at ${int} NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS hook_subscriptions_event ON hook_subscriptions (event, created_at)`,
    // One row per (subscriber, message) that answered 2xx: the job is per message, so without it a retry caused by
    // one failing subscriber would send the message again to every subscriber that already has it.
    `CREATE TABLE IF NOT EXISTS hook_deliveries (
      subscription_id TEXT NOT NULL,
      message_id TEXT NOT NULL,
      delivered_at ${int} NOT NULL,
      PRIMARY KEY (subscription_id, message_id)
    )`
  ]
}

export interface HookRecord {
  id: string
  target_url: string
  event: string
  created_at: number | string
}

export function hookRow(r: HookRecord): HookSubscription {
  return { id: r.id, targetUrl: r.target_url, event: r.event, createdAt: Number(r.created_at) }
}

export const MAX_SAMPLE = 100
