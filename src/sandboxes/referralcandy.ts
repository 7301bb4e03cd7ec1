import express, { type Router } from 'express'
import { createHash } from 'node:crypto'
import { FaultSwitch } from './faults.ts'
import { referralCandySignature, SANDBOX_ACCESS_ID, SANDBOX_SECRET, type ReferralCandyReferral } from '../referralcandy/api.ts'
import { safeEqual } from '../sources/signatures.ts'

/**
 * ReferralCandy REST API sandbox (https://www.referralcandy.com/api): `GET /api/v2/referrals.json` with the
 * documented `accessID` + `timestamp` + `signature` (hex MD5(secret + sorted "name=value" strings)). A wrong
 * access id or signature, or a timestamp more than 10 minutes away from the sandbox clock, answers 401 with a
 * JSON `message` (the API documents 401 = "Authentication credentials provided were incorrect"; the exact body
 * is not documented). `period_from` / `period_to` (Unix seconds, inclusive) filter on `referral_timestamp`.
 * Seed referrals with `state.referrals.push(...)` or `POST /_sandbox/referrals` (JSON array or one record).
 */
export interface ReferralCandySandboxState {
  referrals: ReferralCandyReferral[]
  /** purchase.json calls that recorded a purchase, by external_reference_id (once each: ReferralCandy's order id). */
  purchases: Map<string, Record<string, string>>
  /** purchase.json calls, duplicates included. */
  purchaseCalls: number
  /** Custom-reward webhooks sent back (one per recorded purchase of a referred friend), with the answer. */
  rewardWebhooks: Array<{ body: string; status: number | 'network-error' }>
  /** Where the custom-reward webhook goes (`POST /_sandbox/reward-webhook {"url"}`), unset = not sent. */
  rewardWebhookUrl?: string
  /** Authenticated referrals.json calls, with their query (signature removed). */
  requests: Array<Record<string, string>>
  rejected: number
}

export const TIMESTAMP_WINDOW_SECONDS = 600

export function createReferralCandySandbox(options: { accessId?: string; secret?: string; now?: () => number; rewardWebhookUrl?: string } = {}) {
  const accessId = options.accessId ?? SANDBOX_ACCESS_ID
  const secret = options.secret ?? (process.env.REFERRALCANDY_API_SECRET || SANDBOX_SECRET)
  const now = options.now ?? Date.now
  const state: ReferralCandySandboxState = { referrals: [], purchases: new Map(), purchaseCalls: 0, rewardWebhooks: [], rewardWebhookUrl: options.rewardWebhookUrl, requests: [], rejected: 0 }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  router.use(faults.router())
  router.post('/_sandbox/referrals', express.json(), (req, res) => {
    const body = req.body as ReferralCandyReferral | ReferralCandyReferral[]
    state.referrals.push(...(Array.isArray(body) ? body : [body]))
    res.status(201).json({ referrals: state.referrals.length })
  })
  router.post('/_sandbox/reward-webhook', express.json(), (req, res) => {
    state.rewardWebhookUrl = typeof req.body?.url === 'string' ? req.body.url : undefined
    res.json({ url: state.rewardWebhookUrl ?? null })
  })
  router.use(faults.middleware(() => ({ message: 'Too Many Requests' })))

  /**
   * `POST /api/v2/purchase.json` (form or query params, signed like every call): records the purchase once per
   * `external_reference_id` (a repeat answers 200 and changes nothing, as an order id should), and when the buyer
   * (`email`) is a referred friend in `state.referrals`, issues the advocate's reward: the custom-reward webhook
   * `{referral_email, referral_timestamp, referring_email}` signed `X-Referral-Candy-Signature` = hex MD5(secret +
   * body) (help.referralcandy.com "Custom reward"), POSTed to `rewardWebhookUrl`, retried a few times on failure.
   */
  router.post('/api/v2/purchase.json', express.urlencoded({ extended: false }), async (req, res) => {
    const params: Record<string, string> = {}
    for (const [k, v] of new URLSearchParams(req.originalUrl.split('?')[1] ?? '')) params[k] = v
    for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>)) if (typeof v === 'string') params[k] = v
    const reject = (message: string) => {
      state.rejected++
      res.status(401).json({ message })
    }
    if (!params.accessID || !params.timestamp || !params.signature) return reject('accessID, timestamp and signature are required')
    if (params.accessID !== accessId) return reject('Authentication credentials provided were incorrect: unknown accessID')
    if (!/^\d+$/.test(params.timestamp) || Math.abs(now() / 1000 - Number(params.timestamp)) > TIMESTAMP_WINDOW_SECONDS) {
      return reject('Authentication credentials provided were incorrect: timestamp must be the current Unix time in seconds')
    }
    if (!safeEqual(referralCandySignature(secret, params), params.signature.toLowerCase())) {
      return reject('Authentication credentials provided were incorrect: signature does not match')
    }
    state.purchaseCalls++
    const missing = ['email', 'first_name', 'last_name', 'order_timestamp', 'browser_ip', 'user_agent', 'invoice_amount', 'currency_code', 'external_reference_id'].filter((k) => !params[k])
    if (missing.length) return res.status(400).json({ message: `missing parameter(s): ${missing.join(', ')}` })
    const orderId = params.external_reference_id
    if (state.purchases.has(orderId)) return res.json({ message: 'Success' })
    const { signature: _s, ...purchase } = params
    state.purchases.set(orderId, purchase)
    res.json({ message: 'Success' })
    const referral = state.referrals.find((r) => r.referral_email?.toLowerCase() === params.email.toLowerCase())
    if (!referral?.referring_email || !state.rewardWebhookUrl) return
    const body = JSON.stringify({ referral_email: params.email.toLowerCase(), referral_timestamp: Number(params.order_timestamp), referring_email: referral.referring_email })
    const signature = createHash('md5').update(secret + body).digest('hex')
    // Retried like a vendor's webhook sender, on a short schedule (0.5 s, 1 s, 1.5 s ... ~27 s in all) so a bridge
    // that is restarting receives it.
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 500 * attempt))
      try {
        const r = await fetch(state.rewardWebhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-referral-candy-signature': signature }, body })
        state.rewardWebhooks.push({ body, status: r.status })
        if (r.ok) break
      } catch {
        state.rewardWebhooks.push({ body, status: 'network-error' })
      }
    }
  })

  router.get('/api/v2/referrals.json', (req, res) => {
    // The raw query, not Express' parsed one: the signature is over the exact strings.
    const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '')
    const params: Record<string, string> = {}
    for (const [k, v] of query) params[k] = v
    const reject = (message: string) => {
      state.rejected++
      res.status(401).json({ message })
    }
    if (!params.accessID || !params.timestamp || !params.signature) return reject('accessID, timestamp and signature are required')
    if (params.accessID !== accessId) return reject('Authentication credentials provided were incorrect: unknown accessID')
    const ts = Number(params.timestamp)
    if (!/^\d+$/.test(params.timestamp) || Math.abs(now() / 1000 - ts) > TIMESTAMP_WINDOW_SECONDS) {
      return reject('Authentication credentials provided were incorrect: timestamp must be the current Unix time in seconds')
    }
    if (!safeEqual(referralCandySignature(secret, params), params.signature.toLowerCase())) {
      return reject('Authentication credentials provided were incorrect: signature does not match')
    }
    const { signature: _signature, ...logged } = params
    state.requests.push(logged)
    const from = params.period_from !== undefined ? Number(params.period_from) : -Infinity
    const to = params.period_to !== undefined ? Number(params.period_to) : Infinity
    if (Number.isNaN(from) || Number.isNaN(to)) return res.status(400).json({ message: 'period_from and period_to must be Unix timestamps (seconds)' })
    const referrals = state.referrals.filter((r) => {
      const t = Number(r.referral_timestamp)
      return t >= from && t <= to
    })
    res.json({ message: 'Success', referrals })
  })

  return { router, state, faults }
}
