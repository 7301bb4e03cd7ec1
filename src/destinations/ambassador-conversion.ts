import type { Message, TrackMessage } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import { policyWithHorizon, type Destination, type DeliveryPolicy, type DeliveryResult } from './types.ts'

export const AMBASSADOR_CONVERSION = 'ambassador_conversion'

/**
 * Rewards from CRM outcomes, Ambassador edition: a `Referral Revenue Won` for a friend Ambassador referred is
 * recorded as a campaign event for the friend, so Ambassador creates the referring ambassador's commission (and
 * sends its "Commission Created" webhook back to the bridge).
 *
 *   POST https://getambassador.com/api/v2/<username>/<token>/json/event/record/
 *        email (the friend), campaign_uid, revenue, transaction_uid, first_name, short_code (when known)
 *   docs.getambassador.com/reference "/event/record/"; credentials in the path (docs.getambassador.com/docs/authentication);
 *   answers `{"response": {"code", "message", "data"}}` with 200 / 400 / 401 / 404 / 500
 *   (docs.getambassador.com/docs/response-codes).
 *
 * Exactly once in effect: "Transaction IDs must be unique for each /event/record/ call for given campaign ... If a
 * transaction ID exists for given campaign then the call will be rejected" (docs.getambassador.com/docs/overview).
 * `transaction_uid` = the opportunity / deal id, so a retry, a replay or a resend after a crash is rejected by
 * Ambassador instead of creating a second commission, and that rejection (400 naming the transaction id) counts
 * as delivered here. The exact wording of that 400 is not documented: we match "transaction" + "exist".
 * `short_code` (the referrer's mbsy code) is "required for initial commissions"; the friend was referred
 * through Ambassador, which already attributes them, and the bridge sends the code when the message carries one
 * (`referral_code`). Which referrals are Ambassador's: the referral id src/sources/ambassador.ts gives them
 * (`ambassador_…`).
 * Ambassador is migrating accounts to order/record (knowledgebase.getambassador.com/api-migration-for-event-record;
 * transaction_uid → order_id): event/record is the API the issue names and the one classic accounts have.
 */
export interface AmbassadorConversionConfig {
  username: string
  token: string
  campaignUid: string
  /** e.g. https://getambassador.com/api/v2, or `<sandboxBase>/ambassador/api/v2` */
  baseUrl: string | (() => string)
  sandboxed: boolean
  policy?: Partial<DeliveryPolicy>
  now?: () => number
  timeoutMs?: number
}

export const ambassadorConversionPolicy: DeliveryPolicy = policyWithHorizon(AMBASSADOR_CONVERSION, { concurrency: 2, batchSize: 1, leaseMs: 60_000 })

export function isAmbassadorWin(m: Message): m is TrackMessage {
  return (
    m.type === 'track' &&
    m.event === 'Referral Revenue Won' &&
    typeof m.properties.referral_id === 'string' &&
    m.properties.referral_id.startsWith('ambassador_') &&
    typeof m.properties.friend_email === 'string' &&
    typeof m.properties.opportunity_id === 'string'
  )
}

export function eventRecordParams(m: TrackMessage, campaignUid: string): URLSearchParams {
  const p = m.properties as { friend_email: string; amount?: number; opportunity_id: string; referral_code?: string }
  const params = new URLSearchParams({
    email: p.friend_email,
    campaign_uid: campaignUid,
    transaction_uid: p.opportunity_id,
    first_name: p.friend_email.split('@')[0]!,
    // The friend is an existing referred contact, not a new ambassador to enroll.
    auto_create: '0'
  })
  if (typeof p.amount === 'number') params.set('revenue', String(p.amount))
  if (typeof p.referral_code === 'string' && p.referral_code) params.set('short_code', p.referral_code)
  return params
}

/** Ambassador's refusal of a transaction id it already recorded: the conversion is there, so it is delivered. */
export function isDuplicateTransaction(status: number, text: string): boolean {
  return status === 400 && /transaction/i.test(text) && /exist/i.test(text)
}

export function ambassadorConversionDestination(config: AmbassadorConversionConfig): Destination {
  const now = config.now ?? Date.now
  const base = () => (typeof config.baseUrl === 'function' ? config.baseUrl() : config.baseUrl).replace(/\/+$/, '')
  const url = () => `${base()}/${encodeURIComponent(config.username)}/${encodeURIComponent(config.token)}/json/event/record/`

  async function send(m: Message): Promise<DeliveryResult> {
    if (!isAmbassadorWin(m)) return { status: 'ignored', reason: 'not an Ambassador referral won in a CRM' }
    let res: Response
    try {
      res = await fetch(url(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: eventRecordParams(m, config.campaignUid),
        signal: AbortSignal.timeout(config.timeoutMs ?? 30_000)
      })
    } catch (err) {
      return classifyError(err)
    }
    const text = (await res.text().catch(() => '')).trim().slice(0, 300)
    if (isDuplicateTransaction(res.status, text)) return { status: 'delivered' }
    // The token is part of the URL: errors name the endpoint, never the URL.
    return classifyStatus(res.status, `Ambassador event/record answered ${res.status}${text ? `: ${text}` : ''}`, parseRetryAfter(res.headers.get('retry-after'), now()))
  }

  return {
    name: AMBASSADOR_CONVERSION,
    sandboxed: config.sandboxed,
    get target() {
      return `${base()}/<username>/<token>/json/event/record/`
    },
    policy: { ...ambassadorConversionPolicy, ...config.policy },
    accepts: isAmbassadorWin,
    deliver: (messages) => Promise.all(messages.map(send))
  }
}
