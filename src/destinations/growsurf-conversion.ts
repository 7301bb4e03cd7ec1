import type { Message, TrackMessage } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'

export const GROWSURF_CONVERSION = 'growsurf_conversion'

/**
 * Rewards from CRM outcomes, GrowSurf edition: a `Referral Revenue Won` for a friend GrowSurf referred triggers the
 * referral for that referred participant, so GrowSurf awards the referrer's credit (and its rewards), then sends its
 * own PARTICIPANT_REACHED_A_GOAL webhook back to the bridge.
 *
 *   POST https://api.growsurf.com/v2/campaign/:id/participant/:participantId/ref   Authorization: Bearer <API key>
 *   "Trigger Referral by Participant ID" — docs.growsurf.com/developer-tools/rest-api/api-reference
 *   (growsurf/growsurf-mcp:growsurf-docs/rest-api-reference.md@477553d)
 *
 * Exactly once in effect: GrowSurf takes no idempotency key or external id on this call. Its own dedupe is the
 * participant's `referralStatus`: credit is awarded only from CREDIT_PENDING, and a repeat answers
 * 200 `{"success": false, "message": "Referral credit has already been awarded"}` (same doc). So the deal id is
 * not what GrowSurf dedupes on — the referred participant is: one credit per referred friend, however many retries,
 * replays, crashes or won deals. The bridge's side is one job per message; its messageId travels in an
 * `Idempotency-Key` header for traceability (GrowSurf ignores it; the sandbox records it next to each call).
 * Which referrals are GrowSurf's: the referral id src/sources/growsurf.ts gives them, `growsurf:<referrerId>:<referredId>`;
 * the referred participant id is its last part.
 * Answers: 200 `success: true` or "already awarded" → delivered; 200 `success: false` otherwise ("Participant was not
 * referred") → permanent (nothing a retry changes); 401/403/404 permanent; 429 retried after GrowSurf's
 * `GrowSurf-Retry-After-*-Milliseconds` headers (rest-api-guidelines.md "Rate Headers"), else Retry-After; 5xx and
 * network errors retried by the queue. GrowSurf allows 3 concurrent connections per IP (same page), hence concurrency 2.
 */
export interface GrowSurfConversionConfig {
  apiKey: string
  campaignId: string
  /** e.g. https://api.growsurf.com/v2, or `<sandboxBase>/growsurf/v2` */
  baseUrl: string | (() => string)
  sandboxed: boolean
  policy?: Partial<DeliveryPolicy>
  now?: () => number
  timeoutMs?: number
}

export const growSurfConversionPolicy: DeliveryPolicy = policyWithHorizon(GROWSURF_CONVERSION, { concurrency: 2, batchSize: 1, leaseMs: 60_000 })

const REFERRAL_ID = /^growsurf:([^:]+):([^:]+)$/

/** The referred participant's GrowSurf id, from the bridge's GrowSurf referral id. */
export function referredParticipantId(referralId: unknown): string | undefined {
  return typeof referralId === 'string' ? REFERRAL_ID.exec(referralId)?.[2] : undefined
}

export function isGrowSurfWin(m: Message): m is TrackMessage {
  return m.type === 'track' && m.event === 'Referral Revenue Won' && referredParticipantId(m.properties.referral_id) !== undefined
}

/** GrowSurf names the wait per policy in milliseconds; the longest one that is present wins. */
export function growSurfRetryAfterMs(headers: Headers, now: number): number | undefined {
  const ms = ['second', 'minute', 'hour']
    .map((p) => Number(headers.get(`growsurf-retry-after-${p}-milliseconds`)))
    .filter((n) => Number.isFinite(n) && n > 0)
  if (ms.length) return Math.max(...ms)
  return parseRetryAfter(headers.get('retry-after'), now)
}

export function growSurfConversionDestination(config: GrowSurfConversionConfig): Destination {
  const now = config.now ?? Date.now
  const base = () => (typeof config.baseUrl === 'function' ? config.baseUrl() : config.baseUrl).replace(/\/+$/, '')
  const url = (participantId: string) => `${base()}/campaign/${encodeURIComponent(config.campaignId)}/participant/${encodeURIComponent(participantId)}/ref`

  async function send(m: Message, jobKey: string): Promise<DeliveryResult> {
    if (!isGrowSurfWin(m)) return { status: 'ignored', reason: 'not a GrowSurf referral won in a CRM' }
    const participantId = referredParticipantId(m.properties.referral_id)!
    let res: Response
    try {
      res = await fetch(url(participantId), {
        method: 'POST',
        headers: { authorization: `Bearer ${config.apiKey}`, 'content-type': 'application/json', accept: 'application/json', 'idempotency-key': jobKey },
        body: '{}',
        signal: AbortSignal.timeout(config.timeoutMs ?? 30_000)
      })
    } catch (err) {
      return classifyError(err)
    }
    const text = (await res.text().catch(() => '')).trim()
    if (res.status === 200) {
      let body: { success?: unknown; message?: unknown } = {}
      try {
        body = JSON.parse(text)
      } catch {}
      if (body.success === true || /already been awarded/i.test(String(body.message ?? ''))) return { status: 'delivered' }
      return { status: 'permanent', statusCode: 200, error: `GrowSurf did not award referral credit for participant ${participantId}: ${String(body.message ?? text).slice(0, 200)}` }
    }
    return classifyStatus(res.status, `GrowSurf trigger referral answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, growSurfRetryAfterMs(res.headers, now()))
  }

  return {
    name: GROWSURF_CONVERSION,
    sandboxed: config.sandboxed,
    get target() {
      return `${base()}/campaign/${config.campaignId}/participant/:participantId/ref`
    },
    policy: { ...growSurfConversionPolicy, ...config.policy },
    accepts: isGrowSurfWin,
    deliver: (messages) => Promise.all(messages.map((m) => send(m, m.messageId)))
  }
}
