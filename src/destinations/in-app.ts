import type { Message, TrackMessage } from '../messages.ts'
import type { NotificationStore, NewNotification } from '../notifications/store.ts'
import type { NotificationHub } from '../notifications/hub.ts'
import { classifyError } from '../queue/classify.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'

/**
 * The advocate's in-app notification when a referred friend buys (scenario 3). Each accepted message becomes one
 * stored notification whose id is the messageId, so a redelivery (retry, replay, restart) never notifies twice;
 * live SSE subscribers get it only when it was new.
 */

/** Events that notify the advocate, and what they become. */
const KINDS: Record<string, { kind: string; webhookType: string }> = {
  'Order Completed': { kind: 'friend_purchase', webhookType: 'advocate.friend_purchased' },
  'Referral Revenue Won': { kind: 'referral_revenue_won', webhookType: 'advocate.referral_revenue_won' }
}

/** Track messages of a notifying event that name the advocate to notify. */
export function notifiesAdvocate(m: Message): m is TrackMessage {
  return m.type === 'track' && m.event in KINDS && typeof m.properties.advocate_id === 'string' && m.properties.advocate_id.trim() !== ''
}

export function webhookTypeOf(kind: string): string {
  return Object.values(KINDS).find((k) => k.kind === kind)?.webhookType ?? `advocate.${kind}`
}

/** `f***`: enough for the advocate to recognise a friend, not enough to read an address off a screen. */
export function maskFriend(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined
  return `${[...value.trim()][0]}***`
}

export function formatMoney(amount: unknown, currency: unknown): string | undefined {
  const n = typeof amount === 'number' ? amount : typeof amount === 'string' && amount.trim() !== '' ? Number(amount) : NaN
  if (!Number.isFinite(n)) return undefined
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) return n.toFixed(2)
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(n)
  } catch {
    return `${n.toFixed(2)} ${currency}`
  }
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null))
}

/** The notification a message produces; the app webhook sends the same one. */
export function buildNotification(m: TrackMessage, createdAt: number): NewNotification {
  const p = m.properties
  const advocateId = String(p.advocate_id).trim()
  const friend = maskFriend(p.friend_email ?? p.friend_id)
  const who = friend ? `Your friend ${friend}` : 'A friend you referred'
  if (m.event === 'Referral Revenue Won') {
    const money = formatMoney(p.amount, p.currency)
    const parts = [p.opportunity_id ? `deal ${p.opportunity_id}` : undefined, money].filter(Boolean)
    return {
      id: m.messageId,
      advocateId,
      kind: KINDS[m.event].kind,
      title: 'Your referral became a customer',
      body: `${friend ? `Your referral ${friend}` : 'A referral of yours'} closed${parts.length ? ` — ${parts.join(', ')}` : ''}`,
      data: defined({
        advocate_email: p.advocate_email, opportunity_id: p.opportunity_id, referral_id: p.referral_id, friend_email: p.friend_email,
        amount: p.amount, currency: p.currency, occurred_at: m.timestamp
      }),
      createdAt
    }
  }
  const money = formatMoney(p.revenue, p.currency)
  const parts = [p.order_id ? `order #${p.order_id}` : undefined, money].filter(Boolean)
  return {
    id: m.messageId,
    advocateId,
    kind: KINDS['Order Completed'].kind,
    title: 'Your friend made a purchase',
    body: `${who} bought${parts.length ? ` — ${parts.join(', ')}` : ''}`,
    data: defined({
      advocate_email: p.advocate_email, order_id: p.order_id, friend_email: p.friend_email, revenue: p.revenue, currency: p.currency,
      referral_id: p.referral_id, referral_code: p.referral_code, occurred_at: m.timestamp
    }),
    createdAt
  }
}

/** Time-sensitive lane (priority 5) and an SLA deadline, shared by in_app and app_webhook. */
export function notificationPriority(deadlineMs: number | undefined) {
  return (_m: Message, receivedAt: number) => ({ priority: 5, deadlineAt: deadlineMs ? receivedAt + deadlineMs : undefined })
}

export const inAppPolicy: DeliveryPolicy = policyWithHorizon('in_app', { concurrency: 2, batchSize: 10, leaseMs: 30_000, priorityLanes: 1 })

export function inAppDestination(config: {
  store: NotificationStore
  hub: NotificationHub
  policy?: Partial<DeliveryPolicy>
  /** SLA deadline after receipt (ms); default 5 minutes, 0 = none. */
  deadlineMs?: number
  now?: () => number
}): Destination {
  const now = config.now ?? Date.now
  return {
    name: 'in_app',
    sandboxed: false,
    target: `notifications table (${config.store.backend})`,
    policy: { ...inAppPolicy, ...config.policy },
    accepts: notifiesAdvocate,
    priorityOf: notificationPriority(config.deadlineMs ?? 5 * 60_000),
    async deliver(messages: Message[]): Promise<DeliveryResult[]> {
      const results: DeliveryResult[] = []
      // In order, one at a time: SSE subscribers see an advocate's notifications in the order they were stored.
      for (const m of messages) {
        if (!notifiesAdvocate(m)) {
          results.push({ status: 'ignored', reason: 'EventNotSupported: not an advocate notification' })
          continue
        }
        try {
          const n = buildNotification(m, now())
          if (await config.store.add(n)) config.hub.publish({ ...n, readAt: null })
          results.push({ status: 'delivered' })
        } catch (err) {
          results.push(classifyError(err))
        }
      }
      return results
    }
  }
}
