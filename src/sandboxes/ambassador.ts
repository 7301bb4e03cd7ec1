import express, { type Router } from 'express'
import { FaultSwitch } from './faults.ts'
import { safeEqual } from '../sources/signatures.ts'

export const AMBASSADOR_SANDBOX_USERNAME = 'sandbox-user'
export const AMBASSADOR_SANDBOX_TOKEN = 'sandbox-ambassador-token'
export const AMBASSADOR_SANDBOX_CAMPAIGN = '1001'

/**
 * Ambassador API v2 sandbox (docs.getambassador.com/reference "/event/record/", docs/response-codes,
 * docs/overview), the part the ambassador_conversion destination uses:
 *
 *   POST /api/v2/:username/:token/json/event/record/   (form, JSON or query params)
 *
 * Answers like the API: `{"response": {"code": "<status>", "message": "<STATUS TEXT>: ...", "data": {...}}}`;
 * wrong username/token 401; missing `email` or `campaign_uid` 400; an unknown campaign 400; a `transaction_uid`
 * already recorded for the campaign 400 ("rejected", docs/overview; the wording here is ours); otherwise 200, and
 * when the customer is a referred contact (`POST /_sandbox/contacts {email, referrer_email, short_code?}`) or names
 * an ambassador's `short_code`, a commission for the referrer (`revenue` × `commissionRate`). Faults (429/5xx,
 * resets) come from the fault switch.
 *
 * Like Ambassador, a new commission sends a "Commission Created" webhook notification to the URL set with
 * `POST /_sandbox/reward-webhook {"url", "secret"?}`. Ambassador publishes no signature scheme: the notification
 * carries the user's shared secret in `X-Ambassador-Secret` (what src/sources/ambassador.ts checks).
 */
export interface AmbassadorContact {
  email: string
  /** The referring ambassador's email. */
  referrer_email?: string
  short_code?: string
}

export interface AmbassadorCommission {
  uid: string
  transaction_uid: string
  campaign_uid: string
  ambassador_email: string
  customer_email: string
  revenue: number
  amount: number
}

export interface AmbassadorSandboxState {
  contacts: Map<string, AmbassadorContact>
  /** Recorded events by transaction_uid (once each per campaign, as Ambassador enforces). */
  events: Map<string, Record<string, string>>
  /** Authenticated event/record calls, duplicates included. */
  eventCalls: number
  commissions: AmbassadorCommission[]
  rewardWebhooks: Array<{ body: string; status: number | 'network-error' }>
  rewardWebhookUrl?: string
  rejected: number
}

export function createAmbassadorSandbox(options: { username?: string; token?: string; campaignUid?: string; webhookSecret?: string; commissionRate?: number; rewardWebhookUrl?: string; now?: () => number } = {}) {
  const username = options.username ?? AMBASSADOR_SANDBOX_USERNAME
  const token = options.token ?? AMBASSADOR_SANDBOX_TOKEN
  const campaignUid = options.campaignUid ?? AMBASSADOR_SANDBOX_CAMPAIGN
  const rate = options.commissionRate ?? 0.1
  let webhookSecret = options.webhookSecret ?? process.env.AMBASSADOR_WEBHOOK_SECRET ?? 'sandbox-ambassador-webhook-secret'
  const now = options.now ?? Date.now
  const state: AmbassadorSandboxState = { contacts: new Map(), events: new Map(), eventCalls: 0, commissions: [], rewardWebhooks: [], rewardWebhookUrl: options.rewardWebhookUrl, rejected: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  const answer = (status: number, message: string, data: unknown = {}) => ({ response: { code: String(status), message, data } })
  router.use(faults.router())
  router.post('/_sandbox/contacts', express.json(), (req, res) => {
    const body = req.body as AmbassadorContact | AmbassadorContact[]
    for (const c of Array.isArray(body) ? body : [body]) state.contacts.set(c.email.toLowerCase(), c)
    res.status(201).json({ contacts: state.contacts.size })
  })
  router.post('/_sandbox/reward-webhook', express.json(), (req, res) => {
    state.rewardWebhookUrl = typeof req.body?.url === 'string' ? req.body.url : undefined
    if (typeof req.body?.secret === 'string') webhookSecret = req.body.secret
    res.json({ url: state.rewardWebhookUrl ?? null })
  })
  router.use(faults.middleware(() => answer(429, 'TOO MANY REQUESTS'), { faultBody: (status) => answer(status, status === 429 ? 'TOO MANY REQUESTS' : 'SERVER ERROR: Our bad. Try sending your request again.') }))

  router.post('/api/v2/:username/:token/json/event/record', express.urlencoded({ extended: false }), express.json(), (req, res) => {
    if (req.params.username !== username || !safeEqual(req.params.token, token)) {
      state.rejected++
      return res.status(401).json(answer(401, 'UNAUTHORIZED: The account name and API key are not valid credentials.'))
    }
    const params: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') params[k] = v
    for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>)) if (typeof v === 'string' || typeof v === 'number') params[k] = String(v)
    state.eventCalls++
    const missing = ['email', 'campaign_uid'].filter((k) => !params[k])
    if (missing.length) return res.status(400).json(answer(400, `BAD REQUEST: missing ${missing.join(', ')}`))
    if (params.campaign_uid !== campaignUid) return res.status(400).json(answer(400, `BAD REQUEST: campaign_uid ${params.campaign_uid} does not exist`))
    const txn = params.transaction_uid
    if (txn && state.events.has(txn)) return res.status(400).json(answer(400, `BAD REQUEST: transaction_uid ${txn} already exists for this campaign`))
    const email = params.email.toLowerCase()
    state.events.set(txn ?? `auto-${state.events.size + 1}`, params)
    const contact = state.contacts.get(email)
    const referrer = contact?.referrer_email ?? [...state.contacts.values()].find((c) => params.short_code && c.short_code === params.short_code)?.email
    let commission: AmbassadorCommission | undefined
    if (referrer && referrer.toLowerCase() !== email) {
      const revenue = Number(params.revenue ?? 0) || 0
      commission = { uid: `com_${state.commissions.length + 1}`, transaction_uid: txn ?? '', campaign_uid: campaignUid, ambassador_email: referrer, customer_email: email, revenue, amount: Math.round(revenue * rate * 100) / 100 }
      state.commissions.push(commission)
    }
    res.json(answer(200, 'OK: The request was successful. See response body for additional data.', { event: { email, transaction_uid: txn, commission_uid: commission?.uid ?? null } }))
    if (commission) void sendCommissionWebhook(commission)
  })

  async function sendCommissionWebhook(c: AmbassadorCommission): Promise<void> {
    if (!state.rewardWebhookUrl) return
    const referrer = state.contacts.get(c.ambassador_email.toLowerCase())
    const body = JSON.stringify({
      event: 'Commission Created',
      id: `evt_${c.uid}`,
      transaction_uid: c.transaction_uid,
      created_at: new Date(now()).toISOString(),
      short_code: referrer?.short_code,
      campaign_uid: c.campaign_uid,
      revenue: c.revenue,
      ambassador: { email: c.ambassador_email },
      contact: { email: c.customer_email },
      commission: { uid: c.uid, amount: c.amount, status: 'pending' }
    })
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 500 * attempt))
      try {
        const r = await fetch(state.rewardWebhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ambassador-secret': webhookSecret }, body })
        state.rewardWebhooks.push({ body, status: r.status })
        if (r.ok) break
      } catch {
        state.rewardWebhooks.push({ body, status: 'network-error' })
      }
    }
  }

  return { router, state, faults }
}
