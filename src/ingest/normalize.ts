import type { Source, WebhookItem } from '../sources/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import type { NewInboxItem, NewMessage, InboxStatus } from '../queue/store.ts'
import { deriveMessageId, type Message } from '../messages.ts'

/**
 * One webhook item → what the store commits: its messages (with deterministic ids, stamped with the plan
 * version), each either routed to the destinations that want it or quarantined with readable reasons.
 * An adapter that throws quarantines the whole item with the error as reason: nothing accepted is dropped.
 */
export function normalizeItem(
  source: Source,
  item: WebhookItem,
  plan: TrackingPlan,
  destinations: Destination[],
  receivedAt: number
): NewInboxItem {
  const id = inboxId(source.name, item.key)
  let drafts
  try {
    drafts = source.normalize(item)
  } catch (err) {
    const reason = err instanceof Error ? `${err.name === 'Error' ? '' : err.name + ': '}${err.message}` : String(err)
    return { id, eventType: item.eventType, payload: item.payload, status: 'quarantined', reason, messages: [] }
  }
  const messages: NewMessage[] = drafts.map(({ role, context, ...draft }) => {
    const name = draft.type === 'track' ? draft.event : undefined
    const version = plan.currentVersion(draft.type, name ?? identifyName(plan))
    const message = {
      ...draft,
      messageId: deriveMessageId(source.name, item.key, role),
      context: {
        ...context,
        referral: { source: source.name, idempotency_key: item.key },
        protocols: { event_version: version, tracking_plan_version: plan.fingerprint }
      }
    } as Message
    const check = plan.check(message)
    if (!check.ok) return { message, violations: check.reasons, destinations: [] }
    return { message, destinations: routeTo(message, destinations, receivedAt) }
  })
  const status: InboxStatus = messages.length === 0 ? 'ignored' : messages.some((m) => m.violations?.length) ? 'quarantined' : 'routed'
  return { id, eventType: item.eventType, payload: item.payload, status, messages }
}

export function routeTo(message: Message, destinations: Destination[], receivedAt: number) {
  return destinations
    .filter((d) => d.accepts(message))
    .map((d) => ({ destination: d.name, ...(d.priorityOf?.(message, receivedAt) ?? {}) }))
}

export function inboxId(source: string, key: string): string {
  return `${source}:${key}`
}

function identifyName(plan: TrackingPlan): string {
  return plan.entries.find((e) => e.kind === 'identify')?.name ?? 'identify'
}
