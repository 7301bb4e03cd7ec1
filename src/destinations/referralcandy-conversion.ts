import type { Message, TrackMessage } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import { referralCandySignature, type Params } from '../referralcandy/api.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'

export const REFERRALCANDY_CONVERSION = 'referralcandy_conversion'

/**
 * Rewards from CRM outcomes: a `Referral Revenue Won` (a Salesforce opportunity or HubSpot deal of a friend that
 * ReferralCandy referred) is reported to ReferralCandy as the friend's purchase, so ReferralCandy issues the
 * advocate's reward as it does for a checkout — and then sends its own custom-reward webhook back to the bridge.
 *
 *   POST <base>/purchase.json   (ReferralCandy API v2 "purchase": register a new purchase; signed like every call:
 *                                accessID, timestamp, signature = hex MD5(secret + sorted name=value), see
 *                                src/referralcandy/api.ts; params as the documented PHP client sends them:
 *                                first_name, last_name, email, order_timestamp, browser_ip, user_agent,
 *                                invoice_amount, currency_code, external_reference_id — github.com/likebtn/referralcandy)
 *
 * Exactly once in effect: `external_reference_id` = the opportunity / deal id, ReferralCandy's own order id, so a
 * retry, a replay or a resend after a crash names the same order and is not a second purchase. The signature's
 * timestamp is taken per attempt (the API refuses stale ones). Which referrals are ReferralCandy's: the referral id
 * the bridge gave them (`referralcandy_…`, src/sources/referralcandy.ts).
 * Answers: 2xx delivered; 401/403 and other 4xx permanent (credentials, plan); 429/5xx/network retried by the queue.
 */
export interface ReferralCandyConversionConfig {
  accessId: string
  secret: string
  /** e.g. https://my.referralcandy.com/api/v2, or `<sandboxBase>/referralcandy/api/v2` */
  baseUrl: string | (() => string)
  sandboxed: boolean
  policy?: Partial<DeliveryPolicy>
  now?: () => number
  timeoutMs?: number
}

export const referralCandyConversionPolicy: DeliveryPolicy = policyWithHorizon(REFERRALCANDY_CONVERSION, { concurrency: 2, batchSize: 1, leaseMs: 60_000 })

export function isReferralCandyWin(m: Message): m is TrackMessage {
  return (
    m.type === 'track' &&
    m.event === 'Referral Revenue Won' &&
    typeof m.properties.referral_id === 'string' &&
    m.properties.referral_id.startsWith('referralcandy_') &&
    typeof m.properties.friend_email === 'string'
  )
}

/** The purchase ReferralCandy is told about (without accessID / timestamp / signature). */
export function purchaseParams(m: TrackMessage): Params {
  const p = m.properties as { friend_email: string; amount: number; currency: string; opportunity_id: string; closed_at?: string }
  const local = p.friend_email.split('@')[0]
  return {
    first_name: local,
    last_name: '-',
    email: p.friend_email,
    order_timestamp: Math.floor(Date.parse(p.closed_at ?? m.timestamp) / 1000),
    // A CRM deal has no shopper browser; ReferralCandy uses these for fraud checks only.
    browser_ip: '127.0.0.1',
    user_agent: 'referral-bridge (CRM deal won)',
    invoice_amount: p.amount,
    currency_code: p.currency,
    external_reference_id: p.opportunity_id
  }
}

export function referralCandyConversionDestination(config: ReferralCandyConversionConfig): Destination {
  const now = config.now ?? Date.now
  const base = () => (typeof config.baseUrl === 'function' ? config.baseUrl() : config.baseUrl).replace(/\/+$/, '')

  async function send(m: Message): Promise<DeliveryResult> {
    if (!isReferralCandyWin(m)) return { status: 'ignored', reason: 'not a ReferralCandy referral won in a CRM' }
    const params: Params = { ...purchaseParams(m), accessID: config.accessId, timestamp: Math.floor(now() / 1000) }
    params.signature = referralCandySignature(config.secret, params)
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, String(v))
    let res: Response
    try {
      res = await fetch(`${base()}/purchase.json`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(config.timeoutMs ?? 30_000)
      })
    } catch (err) {
      return classifyError(err)
    }
    const text = (await res.text().catch(() => '')).trim().slice(0, 200)
    return classifyStatus(res.status, `ReferralCandy purchase.json answered ${res.status}${text ? `: ${text}` : ''}`, parseRetryAfter(res.headers.get('retry-after'), now()))
  }

  return {
    name: REFERRALCANDY_CONVERSION,
    sandboxed: config.sandboxed,
    get target() {
      return `${base()}/purchase.json`
    },
    policy: { ...referralCandyConversionPolicy, ...config.policy },
    accepts: isReferralCandyWin,
    deliver: (messages) => Promise.all(messages.map(send))
  }
}
