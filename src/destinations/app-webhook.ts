import { Webhook } from 'standardwebhooks'
import type { Message, TrackMessage } from '../messages.ts'
import { isAnswer, postSigned } from './signed-post.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'
import { buildNotification, notificationPriority, notifiesAdvocate, webhookTypeOf } from './in-app.ts'

/**
 * The advocate notification, POSTed to the shop's app as a Standard Webhooks request
 * (standard-webhooks/standard-webhooks spec v1.0.0, signed with the `standardwebhooks` package):
 *
 *   webhook-id:        the messageId: the same on every retry, the app's idempotency key
 *   webhook-timestamp: Unix seconds of this attempt
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
 *   body:              {"type": "advocate.friend_purchased", "timestamp": <ISO of the purchase>, "data": {...}}
 *
 * The body is the same bytes on every attempt. 2xx → delivered; 410 Gone → permanent (the endpoint is gone);
 * 408/425/429, 3xx, 5xx, network errors and the 10 s timeout → retried by the queue, Retry-After honoured;
 * any other 4xx → permanent.
 */
export interface AppWebhookConfig {
  /** The app's endpoint, or a function (the sandbox URL is only known once the bridge listens). */
  url: string | (() => string)
  /** `whsec_<base64 key>` */
  secret: string
  sandboxed: boolean
  policy?: Partial<DeliveryPolicy>
  /** Per-request timeout (ms); default 10 s. */
  timeoutMs?: number
  /** SLA deadline after receipt (ms); default 5 minutes, 0 = none. */
  deadlineMs?: number
  now?: () => number
}

export const appWebhookPolicy: DeliveryPolicy = policyWithHorizon('app_webhook', { concurrency: 2, batchSize: 1, leaseMs: 30_000, priorityLanes: 1 })

export interface AppWebhookPayload {
  type: string
  timestamp: string
  data: Record<string, unknown>
}

/** What the app receives for one message (exported for docs and tests). */
export function appWebhookPayload(m: TrackMessage): AppWebhookPayload {
  const occurredAt = Date.parse(m.timestamp)
  const n = buildNotification(m, Number.isNaN(occurredAt) ? 0 : occurredAt)
  return {
    type: webhookTypeOf(n.kind),
    timestamp: m.timestamp,
    data: { notification_id: n.id, advocate_id: n.advocateId, kind: n.kind, title: n.title, body: n.body, ...n.data }
  }
}

export function appWebhookDestination(config: AppWebhookConfig): Destination {
  let webhook: Webhook
  try {
    webhook = new Webhook(config.secret)
  } catch (err) {
    // Never echo the secret itself.
    throw new Error(`APP_WEBHOOK_SECRET is not a valid Standard Webhooks secret (whsec_<base64>): ${(err as Error).message}`)
  }
  const resolveUrl = typeof config.url === 'function' ? config.url : () => config.url as string
  const now = config.now ?? Date.now
  const timeoutMs = config.timeoutMs ?? 10_000

  async function send(m: Message): Promise<DeliveryResult> {
    if (!notifiesAdvocate(m)) return { status: 'ignored', reason: 'EventNotSupported: not an advocate notification' }
    const body = JSON.stringify(appWebhookPayload(m))
    const answer = await postSigned({ url: resolveUrl(), id: m.messageId, body, webhook, now, timeoutMs })
    if (!isAnswer(answer)) return answer
    return classifyAppResponse(answer.status, answer.text, answer.retryAfterMs)
  }

  return {
    name: 'app_webhook',
    sandboxed: config.sandboxed,
    get target() {
      return safeTarget(resolveUrl())
    },
    policy: { ...appWebhookPolicy, ...config.policy },
    accepts: notifiesAdvocate,
    priorityOf: notificationPriority(config.deadlineMs ?? 5 * 60_000),
    deliver: (messages) => Promise.all(messages.map(send))
  }
}

export function classifyAppResponse(status: number, body: string, retryAfterMs?: number): DeliveryResult {
  const detail = body.trim().slice(0, 200)
  const error = `app webhook answered ${status}${detail ? `: ${detail}` : ''}`
  if (status >= 200 && status < 300) return { status: 'delivered' }
  if (status === 410) return { status: 'permanent', error: `${error} (410 Gone: the endpoint was removed; fix APP_WEBHOOK_URL and replay)`, statusCode: status }
  if (status === 408 || status === 425 || status === 429 || status >= 500 || (status >= 300 && status < 400)) {
    return { status: 'retry', error, statusCode: status, retryAfterMs }
  }
  return { status: 'permanent', error, statusCode: status }
}

/** Origin and path only: a token in the query or userinfo never reaches the logs. */
function safeTarget(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return 'invalid APP_WEBHOOK_URL'
  }
}
