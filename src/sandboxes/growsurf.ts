import express, { type Router } from 'express'
import { createHmac } from 'node:crypto'
import { FaultSwitch } from './faults.ts'
import { safeEqual } from '../sources/signatures.ts'

export const GROWSURF_SANDBOX_API_KEY = 'sandbox-growsurf-api-key'
export const GROWSURF_SANDBOX_CAMPAIGN = 'sandbox-campaign'

/**
 * GrowSurf REST API sandbox (docs.growsurf.com/developer-tools/rest-api; growsurf/growsurf-mcp:growsurf-docs/
 * rest-api-reference.md and rest-api-guidelines.md @477553d), the part the growsurf_conversion destination uses:
 *
 *   POST /v2/campaign/:id/participant/:participantId/ref   "Trigger Referral by Participant ID", Bearer API key.
 *
 * As documented, the outcome is in the 200 body, not the status: `{success: true, "Successfully awarded referral
 * credit."}` when the participant's referralStatus was CREDIT_PENDING (it becomes CREDIT_AWARDED), otherwise
 * `{success: false}` with "Referral credit has already been awarded" or "Participant was not referred". Errors the
 * sandbox gives a status to: a missing or wrong API key 401, an unknown program or participant 404 (the trigger
 * page shows only 200s and rest-api-guidelines.md says "any non-200 ... can be considered an error"; the 401/404
 * statuses and their bodies, shaped like the documented 429 body, are our assumption — confirm against a real
 * account), and 429 `{name: "RateLimit", code: "RATE_LIMIT", ...}` with
 * `GrowSurf-Retry-After-<policy>-Milliseconds` (inject with the fault switch; `retryAfterSeconds` adds Retry-After).
 *
 * Like GrowSurf, an award sends the referrer's PARTICIPANT_REACHED_A_GOAL webhook (webhooks-events-reference.md:
 * `{event, createdAt, data: {participant, reward}}`, reward `{id, approved, isReferrer, referrerId, referredId}`),
 * signed `GrowSurf-Signature: ts=<ms>,v=<hex HMAC-SHA256(secret, ts + "." + body)>` (webhooks.md), to the URL set
 * with `POST /_sandbox/reward-webhook {"url", "secret"?}`, retried on a short schedule like ReferralCandy's sandbox.
 * Seed participants with `POST /_sandbox/participants` (one or an array of `{id, email, referredBy?}`).
 */
export interface GrowSurfParticipant {
  id: string
  email: string
  firstName?: string
  lastName?: string
  /** The referrer's participant id. */
  referredBy?: string
  referralStatus?: 'CREDIT_PENDING' | 'CREDIT_AWARDED' | 'CREDIT_EXPIRED'
}

export interface GrowSurfSandboxState {
  participants: Map<string, GrowSurfParticipant>
  /** Every authenticated trigger call, with its answer and the caller's Idempotency-Key (GrowSurf ignores it). */
  triggerCalls: Array<{ participantId: string; idempotencyKey?: string; success: boolean; message: string }>
  /** Credits awarded (participant ids): GrowSurf's own dedupe, once per referred participant. */
  awarded: string[]
  rewardWebhooks: Array<{ body: string; status: number | 'network-error' }>
  rewardWebhookUrl?: string
  rejected: number
}

export function createGrowSurfSandbox(options: { apiKey?: string; campaignId?: string; webhookSecret?: string; rewardWebhookUrl?: string; now?: () => number } = {}) {
  const apiKey = options.apiKey ?? GROWSURF_SANDBOX_API_KEY
  const campaignId = options.campaignId ?? GROWSURF_SANDBOX_CAMPAIGN
  let webhookSecret = options.webhookSecret ?? process.env.GROWSURF_WEBHOOK_SECRET ?? 'sandbox-growsurf-webhook-secret'
  const now = options.now ?? Date.now
  const state: GrowSurfSandboxState = { participants: new Map(), triggerCalls: [], awarded: [], rewardWebhooks: [], rewardWebhookUrl: options.rewardWebhookUrl, rejected: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  router.use(faults.router())
  router.post('/_sandbox/participants', express.json(), (req, res) => {
    const body = req.body as GrowSurfParticipant | GrowSurfParticipant[]
    for (const p of Array.isArray(body) ? body : [body]) {
      state.participants.set(p.id, { ...p, referralStatus: p.referralStatus ?? (p.referredBy ? 'CREDIT_PENDING' : undefined) })
    }
    res.status(201).json({ participants: state.participants.size })
  })
  router.post('/_sandbox/reward-webhook', express.json(), (req, res) => {
    state.rewardWebhookUrl = typeof req.body?.url === 'string' ? req.body.url : undefined
    if (typeof req.body?.secret === 'string') webhookSecret = req.body.secret
    res.json({ url: state.rewardWebhookUrl ?? null })
  })
  const error = (status: number, name: string, code: string, message: string) => ({ name, code, message, status, level: 'error', timestamp: new Date(now()).toISOString() })
  router.use(
    faults.middleware(() => error(429, 'RateLimit', 'RATE_LIMIT', 'You have reached your minute limit.'), {
      faultBody: (status) => (status === 429 ? { ...error(429, 'RateLimit', 'RATE_LIMIT', 'You have reached your minute limit.'), policyName: 'MINUTE' } : error(status, 'Error', 'SANDBOX_FAULT', `sandbox fault: ${status}`)),
      headers: (res, _window, limited) => {
        if (limited) res.set('GrowSurf-Retry-After-Minute-Milliseconds', '1000')
      }
    })
  )

  router.post('/v2/campaign/:id/participant/:participantId/ref', express.json(), (req, res) => {
    const auth = req.get('authorization') ?? ''
    const token = /^Bearer (.+)$/.exec(auth)?.[1]
    if (!token || !safeEqual(token, apiKey)) {
      state.rejected++
      return res.status(401).json(error(401, 'Unauthorized', 'UNAUTHORIZED', 'Invalid or missing API key'))
    }
    if (req.params.id !== campaignId) return res.status(404).json(error(404, 'NotFound', 'CAMPAIGN_NOT_FOUND', `Program ${req.params.id} not found`))
    const participant = state.participants.get(req.params.participantId)
    if (!participant) return res.status(404).json(error(404, 'NotFound', 'PARTICIPANT_NOT_FOUND', `Participant ${req.params.participantId} not found`))
    const answer = (success: boolean, message: string) => {
      state.triggerCalls.push({ participantId: participant.id, idempotencyKey: req.get('idempotency-key') ?? undefined, success, message })
      res.json({ success, message })
    }
    if (!participant.referredBy) return answer(false, 'Participant was not referred')
    if (participant.referralStatus !== 'CREDIT_PENDING') return answer(false, 'Referral credit has already been awarded')
    participant.referralStatus = 'CREDIT_AWARDED'
    state.awarded.push(participant.id)
    answer(true, 'Successfully awarded referral credit.')
    void sendRewardWebhook(participant)
  })

  async function sendRewardWebhook(friend: GrowSurfParticipant): Promise<void> {
    const referrer = state.participants.get(friend.referredBy!)
    if (!state.rewardWebhookUrl || !referrer) return
    const createdAt = now()
    const body = JSON.stringify({
      event: 'PARTICIPANT_REACHED_A_GOAL',
      createdAt,
      data: {
        participant: { ...person(referrer), referee: person(friend) },
        reward: { id: `prew_${friend.id}`, rewardId: 'crew_sandbox', approved: true, isReferrer: true, couponCode: null, referrerId: referrer.id, referredId: friend.id }
      }
    })
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 500 * attempt))
      // Signed per attempt: `ts` is the time of the delivery attempt (the bridge refuses ones older than 5 minutes).
      const ts = String(now())
      const signature = createHmac('sha256', webhookSecret).update(`${ts}.${body}`).digest('hex')
      try {
        const r = await fetch(state.rewardWebhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'growsurf-signature': `ts=${ts},v=${signature}` }, body })
        state.rewardWebhooks.push({ body, status: r.status })
        if (r.ok) break
      } catch {
        state.rewardWebhooks.push({ body, status: 'network-error' })
      }
    }
  }

  return { router, state, faults }
}

function person(p: GrowSurfParticipant) {
  return { id: p.id, email: p.email, firstName: p.firstName ?? null, lastName: p.lastName ?? null, shareUrl: `https://example.com?grsf=${p.id}`, referralStatus: p.referralStatus }
}
