import type { DraftMessage, MessageContext } from '../messages.ts'
import type { IdentifyTraits, TrackEventMap, TrackEventName } from '../generated/tracking-plan.ts'
import { compact } from '../normalize/compact.ts'

/**
 * Typed message builders for source adapters, over the types `plan types` generates from tracking-plan/.
 * `trackDraft('Referral Created', { ... })` only compiles when the event is in the plan and the object literal
 * matches its current version: a removed or renamed property, a narrowed type, a removed enum value or a new
 * required property makes `tsc` fail in the adapter that needs updating. The runtime check (TrackingPlan.check)
 * still runs on every message; these types move most violations to compile time.
 *
 * Optional properties may be given as undefined or null (and empty strings are dropped, like compact()), so an
 * adapter can map a field it may not have without a conditional.
 */
export type PropertiesOf<E extends TrackEventName> = TrackEventMap[E]

/** Optional fields also accept null (dropped before sending). */
export type Loose<T> = { [K in keyof T]: undefined extends T[K] ? T[K] | null : T[K] }

export interface DraftFields {
  /** Distinguishes messages of one webhook item (`track`, `identify-advocate`...); part of the messageId. */
  role?: string
  userId?: string
  anonymousId?: string
  /** UTC ISO-8601. */
  timestamp: string
  context?: MessageContext
}

export function trackDraft<E extends TrackEventName>(event: E, properties: Loose<TrackEventMap[E]>, fields: DraftFields): DraftMessage {
  const { role = 'track', ...rest } = fields
  return {
    role,
    type: 'track',
    event,
    ...definedOnly(rest),
    properties: compact(properties as Record<string, unknown>)
  } as DraftMessage
}

export function identifyDraft(traits: Loose<IdentifyTraits>, fields: DraftFields): DraftMessage {
  const { role = 'identify', ...rest } = fields
  return { role, type: 'identify', ...definedOnly(rest), traits: compact(traits as Record<string, unknown>) } as DraftMessage
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/**
 * For a property the plan requires but the platform may omit: compiles as present, and when the value is missing
 * at runtime the message is quarantined by the plan check with a readable reason ("properties.advocate_id is
 * required but missing") and can be replayed after a fix. Explicit and greppable, unlike a bare `!`.
 */
export function orQuarantine<T>(value: T | null | undefined): T {
  return value as T
}
