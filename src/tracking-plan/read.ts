import type { TrackMessage } from '../messages.ts'
import type { TrackEventMap, TrackEventName } from '../generated/tracking-plan.ts'

/**
 * The reading side of draft.ts: a destination that looks at a plan property reads it through the generated types,
 * so renaming or removing that property in the plan fails `tsc` where it is read, not only where it is written
 * (issue 17: two delivery paths kept reading a renamed property and nothing caught it). Values are Partial: the
 * message may be stamped with an older version, and quarantined messages never reach a destination anyway.
 */
export function planProperties<E extends TrackEventName>(message: TrackMessage, event: E): Partial<TrackEventMap[E]> | undefined {
  return message.event === event ? (message.properties as Partial<TrackEventMap[E]>) : undefined
}
