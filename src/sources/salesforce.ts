import type { Source, WebhookItem, WebhookRequest } from './types.ts'
import { safeEqual } from './signatures.ts'
import { currencyCode, decimalToMinor, fromIsoString, minorToDecimal, normalizeEmail } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { orQuarantine, trackDraft } from '../tracking-plan/draft.ts'
import { ackEnvelope, parseOutboundMessage, redactSessionId, sameSalesforceId, sfId18, XmlError } from '../salesforce/outbound-message.ts'

/**
 * Salesforce → bridge: an Opportunity of a referral reached Closed Won. Two paths feed this one source, so both
 * produce the same inbox item and the store dedupes them:
 *
 * - **push**: an Outbound Message (workflow rule / flow on Opportunity, StageName = Closed Won) POSTs a SOAP
 *   `notifications()` envelope to `/webhooks/salesforce?secret=…` (`text/xml; charset=utf-8`). The answer is the
 *   SOAP `<Ack>true</Ack>` Salesforce expects, sent only after the commit, so an unacknowledged message is retried by
 *   Salesforce (for up to 24 h).
 * - **reconciliation** (src/salesforce/reconcile.ts): a SOQL query for won referral opportunities modified since a
 *   watermark, turned into the same payload and committed through `items()` + `normalize()` + `store.accept`.
 *
 * Idempotency key of a won opportunity: `opportunity-won:<18-char Opportunity Id>` — not the notification id (the
 * reconciliation has none) and not LastModifiedDate (any later edit would make a second "won"). So one opportunity
 * yields at most one `Referral Revenue Won`, whichever path saw it first; a later amount change is reflected by the
 * report (which reads Salesforce), not by a second event. Notifications that are not a won Opportunity are
 * acknowledged and stored as ignored under their notification id (so Salesforce stops resending them).
 *
 * Authentication: Outbound Messages are not signed. The bridge requires (1) the shared secret in the URL
 * (`?secret=`, env `SALESFORCE_WEBHOOK_SECRET`) and (2) `OrganizationId` equal to `SALESFORCE_ORGANIZATION_ID`
 * (15- or 18-character form). That is weaker than a signature: anyone who learns the URL and the org id can post.
 * Stronger options: accept only Salesforce's IP ranges at your proxy, or use the Salesforce client certificate
 * (mutual TLS: the Outbound Message presents Salesforce's certificate; verify it at the TLS terminator).
 */
export interface SalesforceWonPayload {
  organizationId: string
  /** How it reached the bridge. */
  origin: 'outbound-message' | 'reconciliation'
  notificationId?: string
  sObjectType: string
  /** Field values as text, as an Outbound Message carries them (reconciliation converts its JSON to the same). */
  fields: Record<string, string | null>
}

export interface SalesforceOutboundPayload {
  organizationId: string
  actionId: string
  hasSessionId: boolean
  notifications: Array<{ id: string; sObjectType: string; fields: Record<string, string | null> }>
}

export const SALESFORCE_SOURCE_NAME = 'salesforce'

/** The inbox key of one notification / reconciled record (see the header). */
export function salesforceItemKey(payload: SalesforceWonPayload): { key: string; eventType: string } {
  const f = payload.fields
  const won = f.IsWon === 'true' || (f.IsWon === undefined && f.StageName === 'Closed Won')
  if (payload.sObjectType === 'Opportunity' && won && f.Id) return { key: `opportunity-won:${sfId18(f.Id)}`, eventType: 'opportunity.closed_won' }
  const type = `${payload.sObjectType.toLowerCase()}.updated`
  return { key: `notification:${payload.notificationId ?? `${f.Id ?? 'unknown'}:${f.LastModifiedDate ?? ''}`}`, eventType: type }
}

export function salesforceItem(payload: SalesforceWonPayload): WebhookItem {
  return { ...salesforceItemKey(payload), payload }
}

const env = () => process.env

export const salesforce: Source<SalesforceOutboundPayload> = {
  name: SALESFORCE_SOURCE_NAME,
  secretEnv: ['SALESFORCE_WEBHOOK_SECRET', 'SALESFORCE_WEBHOOK_SECRET_PREVIOUS'],
  contentTypes: ['text/xml', 'application/xml'],
  label: 'Salesforce (Outbound Message, Opportunity Closed Won)',
  dedupeKey: '`opportunity-won:<Opportunity Id>` (push and reconciliation dedupe)',
  authScheme: 'Outbound Message: shared secret in ?secret= plus OrganizationId = SALESFORCE_ORGANIZATION_ID (Outbound Messages are not signed)',
  sharedSecretOnly: true,

  // The org id lives in the bridge's environment; the third parameter lets the ingest route pass its env
  // explicitly (falls back to process.env, which is the bridge's env in production).
  verify(request: WebhookRequest, secret: string, environment: NodeJS.ProcessEnv = env()) {
    const received = request.query.secret
    if (!received) return { ok: false, reason: 'missing ?secret= parameter on the Outbound Message endpoint URL' }
    if (!safeEqual(secret, received)) return { ok: false, reason: 'shared secret does not match' }
    // The bridge's env first; process.env as well so an operator (or a test) can set it after start.
    const expectedOrg = environment.SALESFORCE_ORGANIZATION_ID || process.env.SALESFORCE_ORGANIZATION_ID
    if (!expectedOrg) return { ok: false, reason: 'SALESFORCE_ORGANIZATION_ID is not set: Outbound Messages from any org are refused' }
    let org: string
    try {
      org = parseOutboundMessage(request.rawBody.toString('utf8')).organizationId
    } catch {
      return { ok: true } // not an Outbound Message at all: parse() answers 400 with the reason
    }
    return sameSalesforceId(org, expectedOrg) ? { ok: true } : { ok: false, reason: `OrganizationId ${org} is not SALESFORCE_ORGANIZATION_ID` }
  },

  redactRawBody(request) {
    return redactSessionId(request.rawBody.toString('utf8'))
  },

  parse(request) {
    try {
      const m = parseOutboundMessage(request.rawBody.toString('utf8'))
      return { organizationId: m.organizationId, actionId: m.actionId, hasSessionId: m.hasSessionId, notifications: m.notifications }
    } catch (err) {
      if (err instanceof XmlError) throw new Error(`not a Salesforce Outbound Message: ${err.message}`)
      throw err
    }
  },

  payloadSchema: {
    type: 'object',
    required: ['organizationId', 'actionId', 'notifications'],
    properties: {
      organizationId: { type: 'string', pattern: '^00D[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$' },
      actionId: { type: 'string', minLength: 1 },
      hasSessionId: { type: 'boolean' },
      notifications: {
        type: 'array',
        minItems: 1,
        maxItems: 100,
        items: {
          type: 'object',
          required: ['id', 'sObjectType', 'fields'],
          properties: {
            id: { type: 'string', minLength: 1 },
            sObjectType: { type: 'string', minLength: 1 },
            fields: { type: 'object', additionalProperties: { type: ['string', 'null'] } }
          }
        }
      }
    }
  },

  items(payload) {
    return payload.notifications.map((n) =>
      salesforceItem({ organizationId: payload.organizationId, origin: 'outbound-message', notificationId: n.id, sObjectType: n.sObjectType, fields: n.fields })
    )
  },

  acknowledge() {
    return { contentType: 'text/xml; charset=utf-8', body: ackEnvelope(true) }
  },

  normalize(item) {
    if (item.eventType !== 'opportunity.closed_won') return []
    const { fields: f } = item.payload as SalesforceWonPayload
    // Single-currency orgs have no CurrencyIsoCode field: their currency is the corporate one.
    const currency = currencyCode(f.CurrencyIsoCode ?? env().SALESFORCE_CURRENCY ?? 'USD', 'Opportunity.CurrencyIsoCode')
    if (f.Amount === null || f.Amount === undefined) throw new InvalidPayloadError('Opportunity.Amount is missing: add Amount to the Outbound Message fields')
    const minor = decimalToMinor(f.Amount, currency, 'Opportunity.Amount')
    const advocateEmail = normalizeEmail(f.Referral_Advocate_Email__c)
    const advocateId = f.Referral_Advocate_ID__c || advocateEmail
    const closedAt = f.CloseDate ? closeDate(f.CloseDate) : f.LastModifiedDate ? fromIsoString(f.LastModifiedDate, 'Opportunity.LastModifiedDate') : undefined
    if (!closedAt) throw new InvalidPayloadError('Opportunity.CloseDate is missing: add CloseDate to the Outbound Message fields')
    const userId = advocateEmail ?? (advocateId ? `salesforce-advocate:${advocateId}` : undefined)
    return [
      trackDraft(
        'Referral Revenue Won',
        {
          opportunity_id: sfId18(f.Id!),
          amount: minorToDecimal(minor, currency),
          amount_minor: minor,
          currency,
          referral_id: orQuarantine(f.Referral_ID__c),
          advocate_id: orQuarantine(advocateId),
          advocate_email: advocateEmail,
          friend_email: normalizeEmail(f.Referral_Friend_Email__c),
          closed_at: closedAt,
          source_platform: 'salesforce'
        },
        { role: 'track', ...(userId ? { userId } : { anonymousId: `salesforce-opportunity:${sfId18(f.Id!)}` }), timestamp: closedAt }
      )
    ]
  }
}

/** CloseDate is a date (`2026-05-01`): midnight UTC. */
function closeDate(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return fromIsoString(`${value}T00:00:00.000Z`, 'Opportunity.CloseDate')
  return fromIsoString(value, 'Opportunity.CloseDate')
}
