import type { Store, RequeueItem } from '../queue/store.ts'
import type { Source } from '../sources/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import { normalizeItem } from '../ingest/normalize.ts'

export interface QuarantineReplaySummary {
  examined: number
  routed: number
  stillQuarantined: number
  /** Reasons that still block, with counts, so the operator knows what to fix next. */
  remaining: Record<string, number>
}

/**
 * Re-normalizes quarantined webhook items with the current adapters and tracking plan. Items that now pass get
 * their jobs (same messageIds as before, so nothing downstream doubles); the rest stay with their new reasons.
 */
export async function replayQuarantine(
  deps: { store: Store; sources: Map<string, Source>; plan: TrackingPlan; destinations: Destination[]; now: number },
  filter: { source?: string; limit?: number },
  onProgress?: (done: number, total: number) => void
): Promise<QuarantineReplaySummary> {
  const rows = await deps.store.quarantinedInbox(filter)
  const summary: QuarantineReplaySummary = { examined: rows.length, routed: 0, stillQuarantined: 0, remaining: {} }
  const chunk = 100
  for (let i = 0; i < rows.length; i += chunk) {
    const items: RequeueItem[] = []
    for (const row of rows.slice(i, i + chunk)) {
      const source = deps.sources.get(row.source)
      if (!source) continue
      const key = row.id.slice(row.source.length + 1)
      // The deadline of a time-sensitive message runs from when the webhook was received, not from the replay.
      const next = normalizeItem(source, { key, eventType: row.eventType, payload: row.payload }, deps.plan, deps.destinations, row.receivedAt)
      items.push({ inboxId: row.id, status: next.status, reason: next.reason, messages: next.messages })
      for (const reason of [next.reason, ...next.messages.flatMap((m) => m.violations ?? [])]) {
        if (reason) summary.remaining[reason] = (summary.remaining[reason] ?? 0) + 1
      }
    }
    const counts = await deps.store.requeue(items, deps.now)
    summary.routed += counts.routed
    summary.stillQuarantined += counts.stillQuarantined
    onProgress?.(Math.min(i + chunk, rows.length), rows.length)
  }
  return summary
}
