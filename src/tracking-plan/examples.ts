import type { Message } from '../messages.ts'
import type { PlanEntry, PlanVersion } from './plan.ts'

/** The first example of every property of a version, in plan order. */
export function exampleProperties(entry: PlanEntry, version: PlanVersion): Record<string, unknown> {
  const props = (entry.kind === 'track' ? version.properties : version.traits) ?? {}
  const out: Record<string, unknown> = {}
  for (const [name, def] of Object.entries(props)) {
    if (Array.isArray(def?.examples) && def.examples.length) out[name] = def.examples[0]
  }
  return out
}

/** A complete Segment Spec message built from the examples, as the bridge would send it (docs, lint). */
export function exampleMessage(entry: PlanEntry, version: PlanVersion): Message {
  const values = exampleProperties(entry, version)
  const userId = String(values.friend_id ?? values.advocate_id ?? values.email ?? 'user@example.com')
  const context = {
    protocols: { event_version: version.version },
    referral: { source: String(values.source_platform ?? 'example'), idempotency_key: 'example-key' }
  }
  const base = { messageId: `rb-example-${version.version}`, userId, timestamp: '2026-01-01T00:00:00.000Z' }
  return entry.kind === 'track'
    ? { type: 'track', event: entry.name, ...base, properties: values, context }
    : { type: 'identify', ...base, traits: values, context }
}
