import type { Webhook } from 'standardwebhooks'
import { classifyError } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import type { DeliveryResult } from './types.ts'

export interface SignedPost {
  url: string
  /** `webhook-id`: the message id, so the receiver dedupes a redelivery (Standard Webhooks, "Idempotency"). */
  id: string
  body: string
  webhook: Webhook
  now: () => number
  timeoutMs: number
}

export type SignedPostAnswer = { status: number; text: string; retryAfterMs?: number }

/**
 * One POST signed with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature over
 * `id.timestamp.body`), as the shop's app and REST hook subscribers verify it. Redirects are not followed (a
 * receiver that moved must be reconfigured, not trusted blindly). A network error or timeout comes back already
 * classified; an HTTP answer comes back for the caller to classify, since each receiver's contract differs
 * (410 unsubscribes a REST hook, for instance).
 */
export async function postSigned(p: SignedPost): Promise<SignedPostAnswer | DeliveryResult> {
  const sentAt = p.now()
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'referral-bridge',
    'webhook-id': p.id,
    'webhook-timestamp': String(Math.floor(sentAt / 1000)),
    'webhook-signature': p.webhook.sign(p.id, new Date(sentAt), p.body)
  }
  let res: Response
  try {
    res = await fetch(p.url, { method: 'POST', headers, body: p.body, redirect: 'manual', signal: AbortSignal.timeout(p.timeoutMs) })
  } catch (err) {
    return classifyError(err)
  }
  const text = await res.text().catch(() => '')
  return { status: res.status, text, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), p.now()) }
}

export function isAnswer(r: SignedPostAnswer | DeliveryResult): r is SignedPostAnswer {
  return typeof r.status === 'number'
}
