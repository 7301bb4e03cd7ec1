import { createHash } from 'node:crypto'

/** Segment Spec messages as the bridge produces them (https://segment.com/docs/connections/spec/). */
export interface MessageContext {
  protocols?: { event_version?: number; tracking_plan_version?: string }
  externalIds?: Array<{ id: string; type: string; collection: string; encoding: 'none' }>
  /** Where the message came from; `attribution` when src/ingest/attribution.ts joined an order to a stored referral. */
  referral?: { source: string; idempotency_key: string; attribution?: { matched_by: string; referral_message_id: string } }
  [key: string]: unknown
}

interface BaseMessage {
  /** Deterministic, ≤ 100 chars: the same webhook always yields the same ids, so every destination can dedupe. */
  messageId: string
  userId?: string
  anonymousId?: string
  /** UTC ISO-8601 */
  timestamp: string
  context: MessageContext
}

export interface IdentifyMessage extends BaseMessage {
  type: 'identify'
  traits: Record<string, unknown>
}

export interface TrackMessage extends BaseMessage {
  type: 'track'
  event: string
  properties: Record<string, unknown>
}

export type Message = IdentifyMessage | TrackMessage

/** A message as a source adapter builds it: ids and context are filled in by the normalizer. */
export type DraftMessage =
  | (Omit<IdentifyMessage, 'messageId' | 'context'> & { role: string; context?: MessageContext })
  | (Omit<TrackMessage, 'messageId' | 'context'> & { role: string; context?: MessageContext })

export function messageLabel(m: Pick<Message, 'type'> & { event?: string }): string {
  return m.type === 'track' ? (m.event ?? 'track') : m.type
}

/**
 * `rb-<source>-<hash of idempotency key>-<role>`: stable across redeliveries and restarts, unique per message of
 * one webhook item (role = `identify-advocate`, `track` ...), and within Segment's 100-char messageId limit.
 */
export function deriveMessageId(source: string, idempotencyKey: string, role: string): string {
  const digest = createHash('sha256').update(`${source}\u0000${idempotencyKey}`).digest('hex').slice(0, 32)
  const id = `rb-${source}-${digest}-${role}`
  return id.length <= 100 ? id : `rb-${createHash('sha256').update(id).digest('hex').slice(0, 60)}`
}
