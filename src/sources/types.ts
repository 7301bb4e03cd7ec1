import type { DraftMessage } from '../messages.ts'

/** What a source sees of an incoming webhook. The body is the raw bytes: signatures are checked on those. */
export interface WebhookRequest {
  rawBody: Buffer
  /** Lower-case header names. */
  headers: Record<string, string | undefined>
  /** Query string parameters (some platforms can only carry a shared secret in the URL). */
  query: Record<string, string | undefined>
  receivedAt: Date
}

export type Verification = { ok: true } | { ok: false; reason: string }

/**
 * One idempotent unit of work inside a webhook. Most calls carry one; batched senders (Friendbuy `data[]`)
 * carry several. The key is what makes a redelivery recognisable: the platform's event id where there is
 * one, otherwise the fields that identify the event (see referral-webhooks.md §22).
 */
export interface WebhookItem {
  key: string
  /** Platform event name as sent (or a fixed name for single-event platforms). */
  eventType: string
  payload: unknown
}

export interface Source<Payload = any> {
  /** URL segment: POST /webhooks/<name>. */
  name: string
  /**
   * Env var(s) holding the secret. The first must be set for the source to accept anything; every one that is
   * set is tried, so a rotated secret (e.g. `SHOPIFY_WEBHOOK_SECRET_PREVIOUS`) keeps verifying during the switch.
   */
  secretEnv: string[]
  /** Content types the platform documents; anything else is 415. */
  contentTypes: string[]
  /** Platform name as people know it, for the README and OpenAPI. */
  label?: string
  /** What the idempotency key is made of (README). */
  dedupeKey?: string
  /** How the platform authenticates, for the README and the 401 body. */
  authScheme: string
  /** True when the platform signs nothing and we rely on a configured shared secret (weaker, documented). */
  sharedSecretOnly?: boolean
  /** `env` is the bridge's configuration, for sources that check more than the secret (Salesforce org id). */
  verify(request: WebhookRequest, secret: string, env?: NodeJS.ProcessEnv): Verification
  /** The raw body as stored, when it carries a secret itself (Talkable's form `key`). Default: the bytes as text. */
  redactRawBody?(request: WebhookRequest): string
  /** Bytes → value; JSON unless the platform posts forms. Only called after verify. */
  parse?(request: WebhookRequest): unknown
  /** Draft-07 JSON Schema of the raw payload, checked with ajv before anything is stored. */
  payloadSchema: object
  /**
   * Callbacks whose answer is a business decision (Friendbuy reward validation...) must not be acknowledged by
   * the generic accept path. Return a reason to answer 501 without storing.
   */
  unroutable?(payload: Payload, request: WebhookRequest): string | undefined
  items(payload: Payload, request: WebhookRequest): WebhookItem[]
  /**
   * The 200 body some platforms require once the webhook is committed (Salesforce Outbound Messaging wants a SOAP
   * `<Ack>true</Ack>` envelope). Default: JSON `{ok, stored, duplicates, ids}`.
   */
  acknowledge?(result: { stored: number; duplicates: number; ids: string[] }): { contentType: string; body: string }
  /** Maps one item to Segment Spec drafts. Throw InvalidPayloadError for values that cannot be normalized. */
  normalize(item: WebhookItem): DraftMessage[]
}
