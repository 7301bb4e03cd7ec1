import type { Source, WebhookItem, WebhookRequest } from './types.ts'
import { verifyHubspotV3 } from '../hubspot/signature.ts'
import { decimalToMinor, currencyCode, fromIsoString, minorToDecimal, normalizeEmail } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { trackDraft } from '../tracking-plan/draft.ts'

/**
 * HubSpot CRM webhooks (developers.hubspot.com/docs/api/webhooks): the app subscribes to `deal.propertyChange` on
 * `dealstage`; HubSpot POSTs a JSON array of up to 100 events
 * (`{eventId, subscriptionId, portalId, appId, occurredAt, subscriptionType, attemptNumber, objectId, propertyName,
 * propertyValue, changeSource}`) signed with `X-HubSpot-Signature-v3` (src/hubspot/signature.ts; client secret in
 * `HUBSPOT_CLIENT_SECRET`, 5-minute timestamp window). HubSpot retries a failed or slow (> 5 s) delivery up to 10
 * times over 24 h, so a 503 while the deal cannot be looked up is safe.
 *
 * The event names only the deal id. Before normalizing, the ingest path (src/ingest/hubspot-deals.ts) looks the
 * deal up through @hubspot/api-client — amount, currency, close date, associated contacts (v4 associations) — and
 * finds the referral of the first associated contact that is a referred friend in the bridge's own store. The
 * looked-up values are stored with the item, so a quarantine replay re-normalizes without calling HubSpot again.
 *
 * Idempotency key of a won deal: `deal-won:<deal id>` — like Salesforce's `opportunity-won:<Id>`: neither the event
 * id (HubSpot sends a new one when the stage is set to closed-won again) nor the time. One deal yields at most one
 * `Referral Revenue Won`, whether the webhook or the reconciliation (src/hubspot/reconcile.ts) saw it first.
 * Other events are stored as ignored under `event:<eventId>`, so HubSpot's retries of them are duplicates.
 */
export interface HubspotWebhookEvent {
  eventId: number
  subscriptionId?: number
  portalId?: number
  appId?: number
  occurredAt: number
  subscriptionType: string
  attemptNumber?: number
  objectId: number
  propertyName?: string
  propertyValue?: string
  changeSource?: string
}

/** What the deal lookup adds; the same shape whichever path (webhook, reconciliation) found the deal. */
export interface HubspotDealFacts {
  id: string
  /** Decimal text as HubSpot stores it, e.g. "1234.56". */
  amount: string | null
  currency: string | null
  /** ISO-8601 */
  closedAt: string | null
  stage: string | null
}

export interface HubspotReferralFacts {
  referralId?: string
  advocateId: string
  advocateEmail?: string
  friendEmail?: string
  /** The associated contact whose email matched the referral. */
  contactId: string
}

export interface HubspotDealItemPayload {
  origin: 'webhook' | 'reconciliation'
  dealId: string
  event?: HubspotWebhookEvent
  /** Filled by the lookup; absent when it has not run (then the item is quarantined, see normalize). */
  deal?: HubspotDealFacts
  /** Emails of the associated contacts (lower-cased). */
  contacts?: Array<{ id: string; email?: string }>
  /** Absent when no associated contact is a referred friend: the deal is not referral revenue. */
  referral?: HubspotReferralFacts
}

export const HUBSPOT_SOURCE_NAME = 'hubspot'
export const DEFAULT_WON_STAGES = ['closedwon']

/** `HUBSPOT_WON_STAGES` (comma list of internal stage ids; default `closedwon`, the default pipeline's). */
export function wonStages(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = env.HUBSPOT_WON_STAGES?.split(',').map((s) => s.trim()).filter(Boolean)
  return list?.length ? list : DEFAULT_WON_STAGES
}

export function isWonStageChange(e: HubspotWebhookEvent, env: NodeJS.ProcessEnv = process.env): boolean {
  return e.subscriptionType === 'deal.propertyChange' && e.propertyName === 'dealstage' && !!e.propertyValue && wonStages(env).includes(e.propertyValue)
}

export function dealWonItem(payload: HubspotDealItemPayload): WebhookItem {
  return { key: `deal-won:${payload.dealId}`, eventType: 'deal.won', payload }
}

/** The URL HubSpot called: PUBLIC_URL when set (behind a proxy the Host header is the proxy's), else Host + proto. */
function requestUri(request: WebhookRequest, env: NodeJS.ProcessEnv): string {
  const query = new URLSearchParams(Object.entries(request.query).filter((e): e is [string, string] => e[1] !== undefined)).toString()
  const proto = request.headers['x-forwarded-proto']?.split(',')[0].trim() || 'http'
  const base = env.PUBLIC_URL?.replace(/\/$/, '') || `${proto}://${request.headers['x-forwarded-host'] ?? request.headers.host}`
  return `${base}/webhooks/${HUBSPOT_SOURCE_NAME}${query ? `?${query}` : ''}`
}

export const hubspot: Source<HubspotWebhookEvent[]> = {
  name: HUBSPOT_SOURCE_NAME,
  secretEnv: ['HUBSPOT_CLIENT_SECRET', 'HUBSPOT_CLIENT_SECRET_PREVIOUS'],
  contentTypes: ['application/json'],
  label: 'HubSpot (CRM webhooks: deal stage → closed won)',
  dedupeKey: 'deal id for a won deal (`deal-won:<id>`), else the event id',
  authScheme: 'X-HubSpot-Signature-v3: base64 HMAC-SHA256(client secret, method + URI + body + X-HubSpot-Request-Timestamp), 5-minute window',

  verify(request, secret, env = process.env) {
    return verifyHubspotV3({
      secret,
      method: 'POST',
      uri: requestUri(request, env),
      body: request.rawBody.toString('utf8'),
      signature: request.headers['x-hubspot-signature-v3'],
      timestamp: request.headers['x-hubspot-request-timestamp'],
      now: request.receivedAt.getTime()
    })
  },

  payloadSchema: {
    type: 'array',
    minItems: 1,
    maxItems: 1000,
    items: {
      type: 'object',
      required: ['eventId', 'subscriptionType', 'objectId', 'occurredAt'],
      properties: {
        eventId: { type: 'integer' },
        subscriptionType: { type: 'string' },
        objectId: { type: 'integer' },
        occurredAt: { type: 'integer' },
        propertyName: { type: 'string' },
        propertyValue: { type: 'string' }
      }
    }
  },

  items(events) {
    const items = new Map<string, WebhookItem>()
    for (const event of events) {
      const item: WebhookItem = isWonStageChange(event)
        ? dealWonItem({ origin: 'webhook', dealId: String(event.objectId), event })
        : { key: `event:${event.eventId}`, eventType: event.subscriptionType, payload: { origin: 'webhook', dealId: String(event.objectId), event } }
      // A batch can carry the same deal twice (stage set, unset, set): one item per key.
      if (!items.has(item.key)) items.set(item.key, item)
    }
    return [...items.values()]
  },

  normalize(item) {
    const p = item.payload as HubspotDealItemPayload
    if (!item.key.startsWith('deal-won:')) return []
    if (!p.deal) throw new InvalidPayloadError(`deal ${p.dealId} was not looked up (HubSpot access not configured?): set HUBSPOT_ACCESS_TOKEN and replay`)
    if (!p.referral) return []
    const d = p.deal
    if (d.amount === null || d.amount === '') throw new InvalidPayloadError(`deal ${d.id} has no amount`)
    if (!d.currency) throw new InvalidPayloadError(`deal ${d.id} has no deal_currency_code and HUBSPOT_CURRENCY is unset`)
    const currency = currencyCode(d.currency, 'deal_currency_code')
    const minor = decimalToMinor(d.amount, currency, 'amount')
    if (!d.closedAt) throw new InvalidPayloadError(`deal ${d.id} has no closedate`)
    const closedAt = fromIsoString(d.closedAt, 'closedate')
    const r = p.referral
    const advocateEmail = normalizeEmail(r.advocateEmail)
    return [
      trackDraft(
        'Referral Revenue Won',
        {
          opportunity_id: d.id,
          amount: minorToDecimal(minor, currency),
          amount_minor: minor,
          currency,
          referral_id: r.referralId ?? `hubspot-deal:${d.id}`,
          advocate_id: r.advocateId,
          advocate_email: advocateEmail,
          friend_email: normalizeEmail(r.friendEmail),
          closed_at: closedAt,
          source_platform: 'hubspot'
        },
        { role: 'track', userId: advocateEmail ?? r.advocateId, timestamp: closedAt }
      )
    ]
  }
}
