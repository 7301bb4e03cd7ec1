import type { Store, MessageRow } from '../queue/store.ts'
import type { Message } from '../messages.ts'
import type { TrackingPlan } from './plan.ts'

/**
 * `plan preview`: before merging a plan change, re-validate the messages the bridge really stored recently
 * against the working copy, as if they arrived now (stamped with the version the new plan would give them),
 * and count per event and reason how many would newly fail — and how many quarantined ones would now pass.
 */
export interface PreviewGroup {
  event: string
  /** The reason with the offending value removed, so one reason groups many messages. */
  reason: string
  count: number
  /** A few message ids to look at with `referral-bridge events show <id>`. */
  samples: string[]
}

export interface PreviewEventSummary {
  event: string
  examined: number
  /** Routed when stored, would be quarantined now. */
  newlyFailing: number
  /** Quarantined when stored, would pass now. */
  nowPassing: number
  /** Quarantined then and now. */
  stillFailing: number
  /** Version the new plan stamps (undefined: not in the plan). */
  version?: number
}

export interface PreviewReport {
  since: number
  examined: number
  newlyFailing: number
  nowPassing: number
  stillFailing: number
  /** True when the store held more messages than the limit: counts cover the most recent `limit` only. */
  truncated: boolean
  events: PreviewEventSummary[]
  /** Reasons of the newly failing messages. */
  newReasons: PreviewGroup[]
  /** Reasons still blocking quarantined messages. */
  stillReasons: PreviewGroup[]
}

export interface PreviewOptions {
  since: number
  limit?: number
  onProgress?: (done: number, total: number) => void
}

export async function previewPlan(store: Store, plan: TrackingPlan, options: PreviewOptions): Promise<PreviewReport> {
  const limit = options.limit ?? 100_000
  const rows = await store.recentMessages(options.since, limit + 1)
  const truncated = rows.length > limit
  const examined = rows.slice(0, limit)
  const report: PreviewReport = { since: options.since, examined: examined.length, newlyFailing: 0, nowPassing: 0, stillFailing: 0, truncated, events: [], newReasons: [], stillReasons: [] }
  const events = new Map<string, PreviewEventSummary>()
  const groups = { new: new Map<string, PreviewGroup>(), still: new Map<string, PreviewGroup>() }
  const identifyName = plan.entries.find((e) => e.kind === 'identify')?.name ?? 'identify'
  const chunk = 500
  for (let i = 0; i < examined.length; i += chunk) {
    for (const row of examined.slice(i, i + chunk)) {
      const label = labelOf(row)
      const version = row.message.type === 'track' ? plan.currentVersion('track', row.message.event) : plan.currentVersion('identify', identifyName)
      const summary = events.get(label) ?? { event: label, examined: 0, newlyFailing: 0, nowPassing: 0, stillFailing: 0, version }
      events.set(label, summary)
      summary.examined++
      const check = plan.check(restamp(row.message, version))
      const wasQuarantined = row.status === 'quarantined'
      if (check.ok) {
        if (wasQuarantined) {
          summary.nowPassing++
          report.nowPassing++
        }
        continue
      }
      const target = wasQuarantined ? groups.still : groups.new
      if (wasQuarantined) {
        summary.stillFailing++
        report.stillFailing++
      } else {
        summary.newlyFailing++
        report.newlyFailing++
      }
      for (const reason of new Set(check.reasons.map(generalize))) {
        const key = `${label}\u0000${reason}`
        const g = target.get(key) ?? { event: label, reason, count: 0, samples: [] }
        target.set(key, g)
        g.count++
        if (g.samples.length < 3) g.samples.push(row.messageId)
      }
    }
    options.onProgress?.(Math.min(i + chunk, examined.length), examined.length)
  }
  if (!examined.length) options.onProgress?.(0, 0)
  const byCount = (a: PreviewGroup, b: PreviewGroup) => b.count - a.count || a.event.localeCompare(b.event) || a.reason.localeCompare(b.reason)
  report.events = [...events.values()].sort((a, b) => a.event.localeCompare(b.event))
  report.newReasons = [...groups.new.values()].sort(byCount)
  report.stillReasons = [...groups.still.values()].sort(byCount)
  return report
}

function labelOf(row: MessageRow): string {
  return row.message.type === 'track' ? row.message.event : 'identify'
}

/** The message as it would be checked if it arrived now: stamped with the new plan's current version. */
function restamp(message: Message, version: number | undefined): Message {
  return { ...message, context: { ...message.context, protocols: { ...message.context?.protocols, event_version: version } } } as Message
}

/** `properties.currency must match pattern "^[A-Z]{3}$" (got "usd")` → without the `(got ...)` value. */
function generalize(reason: string): string {
  return reason.replace(/ \(got .*\)$/s, '')
}

export function formatPreview(r: PreviewReport, sinceLabel: string): string[] {
  const lines: string[] = []
  lines.push(`re-validated ${r.examined} message(s) stored since ${sinceLabel} against the working copy of the plan${r.truncated ? ' (limit reached: only the most recent were examined; raise --limit)' : ''}`)
  if (!r.examined) return [...lines, 'nothing to preview: no messages stored in that window']
  lines.push('')
  lines.push(['event', 'version', 'examined', 'newly failing', 'now passing', 'still failing'].join('\t'))
  for (const e of r.events) lines.push([e.event, e.version ?? '-', e.examined, e.newlyFailing, e.nowPassing, e.stillFailing].join('\t'))
  if (r.newReasons.length) {
    lines.push('', 'would newly fail (these messages passed when they arrived):')
    for (const g of r.newReasons) lines.push(`  ${String(g.count).padStart(6)} × ${g.event}: ${g.reason}   e.g. ${g.samples[0]}`)
  }
  if (r.stillReasons.length) {
    lines.push('', 'quarantined and still failing:')
    for (const g of r.stillReasons) lines.push(`  ${String(g.count).padStart(6)} × ${g.event}: ${g.reason}`)
  }
  lines.push('')
  lines.push(`summary: ${r.newlyFailing} would newly fail, ${r.nowPassing} quarantined would now pass (replay them with \`referral-bridge quarantine replay\` after merging), ${r.stillFailing} still fail`)
  return lines
}
