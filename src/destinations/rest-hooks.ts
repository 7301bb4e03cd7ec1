import { Webhook } from 'standardwebhooks'
import type { Message } from '../messages.ts'
import type { Logger } from '../log.ts'
import type { HookStore, HookSubscription } from '../hooks/store.ts'
import { classifyStatus } from '../queue/classify.ts'
import { isAnswer, postSigned } from './signed-post.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'

export const REST_HOOKS_DESTINATION = 'rest_hooks'

/**
 * No-code subscribers (Zapier / Make REST Hooks): one job per message whose event has subscribers; the job POSTs
 * the Segment message (with its messageId) to every subscriber of that event, signed as a Standard Webhooks request
 * (standard-webhooks spec v1.0.0: `webhook-id` = messageId, the same on every retry, so a receiver can dedupe;
 * `webhook-timestamp`; `webhook-signature: v1,<base64 HMAC-SHA256>`).
 *
 * A subscriber that answered 2xx is recorded (hook_deliveries), so a retry or a replay caused by another subscriber
 * skips it: each subscriber gets each message once in effect (only a crash between its 2xx and that record sends
 * it again, with the same webhook-id).
 * `410 Gone` removes the subscription, as REST Hooks specify (resthooks.org "Unsubscribe": "if the subscriber
 * returns 410, the sender should remove the subscription"; Zapier answers 410 for a turned-off Zap,
 * https://docs.zapier.com/platform/build/hook-trigger). Other answers follow the one retry rule (classify.ts):
 * 408/423/429/5xx and network errors retry the job (Retry-After honoured), any other 4xx makes it permanent (dead,
 * replayable once the subscriber is fixed).
 */
export interface RestHooksConfig {
  store: HookStore
  /** `whsec_<base64 key>` */
  secret: string
  policy?: Partial<DeliveryPolicy>
  timeoutMs?: number
  now?: () => number
  logger?: Logger
}

export const restHooksPolicy: DeliveryPolicy = policyWithHorizon(REST_HOOKS_DESTINATION, { concurrency: 2, batchSize: 1, leaseMs: 60_000 })

export interface RestHooksDestination extends Destination {
  /** Re-reads which events have subscribers (after a subscribe / unsubscribe, and periodically for other instances). */
  refresh(): Promise<void>
}

export function restHooksDestination(config: RestHooksConfig): RestHooksDestination {
  let webhook: Webhook
  try {
    webhook = new Webhook(config.secret)
  } catch (err) {
    throw new Error(`BRIDGE_HOOKS_SECRET is not a valid Standard Webhooks secret (whsec_<base64>): ${(err as Error).message}`)
  }
  const now = config.now ?? Date.now
  const timeoutMs = config.timeoutMs ?? 10_000
  // accepts() runs on the ingest path for every message and must be synchronous: it reads this cached set.
  let subscribed = new Set<string>()

  async function post(sub: HookSubscription, m: Message, body: string): Promise<DeliveryResult> {
    const answer = await postSigned({ url: sub.targetUrl, id: m.messageId, body, webhook, now, timeoutMs })
    if (!isAnswer(answer)) return answer
    const text = answer.text.trim().slice(0, 200)
    const error = `hook ${sub.id} answered ${answer.status}${text ? `: ${text}` : ''}`
    return classifyStatus(answer.status, error, answer.retryAfterMs)
  }

  async function send(m: Message): Promise<DeliveryResult> {
    if (m.type !== 'track') return { status: 'ignored', reason: 'EventNotSupported: REST hooks subscribe to track events' }
    const subs = await config.store.list(m.event)
    if (!subs.length) return { status: 'ignored', reason: `no REST hook subscribes to "${m.event}"` }
    const done = await config.store.deliveredTo(m.messageId, subs.map((s) => s.id))
    const body = JSON.stringify(m)
    let gone = false
    const results = await Promise.all(
      subs
        .filter((s) => !done.has(s.id))
        .map(async (s) => {
          const result = await post(s, m, body)
          if (result.status === 'delivered') await config.store.recordDelivery(s.id, m.messageId, now())
          if (result.status === 'permanent' && result.statusCode === 410) {
            await config.store.unsubscribe(s.id)
            gone = true
            config.logger?.info('REST hook unsubscribed: the subscriber answered 410 Gone', { hook: s.id, event: s.event })
            return { status: 'delivered' } as DeliveryResult
          }
          return result
        })
    )
    if (gone) await refresh()
    const retry = results.filter((r): r is Extract<DeliveryResult, { status: 'retry' }> => r.status === 'retry')
    if (retry.length) {
      const after = retry.map((r) => r.retryAfterMs).filter((x): x is number => x !== undefined)
      return { status: 'retry', error: retry.map((r) => r.error).join('; '), statusCode: retry[0].statusCode, retryAfterMs: after.length ? Math.max(...after) : undefined }
    }
    const permanent = results.filter((r): r is Extract<DeliveryResult, { status: 'permanent' }> => r.status === 'permanent')
    if (permanent.length) return { status: 'permanent', error: permanent.map((r) => r.error).join('; '), statusCode: permanent[0].statusCode }
    return { status: 'delivered' }
  }

  async function refresh(): Promise<void> {
    subscribed = new Set(await config.store.subscribedEvents())
  }

  return {
    name: REST_HOOKS_DESTINATION,
    sandboxed: false,
    target: 'REST hook subscribers (POST /api/hooks)',
    policy: { ...restHooksPolicy, ...config.policy },
    accepts: (m) => m.type === 'track' && subscribed.has(m.event),
    deliver: (messages) => Promise.all(messages.map(send)),
    refresh
  }
}
