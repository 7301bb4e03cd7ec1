import type { Store } from '../queue/store.ts'
import type { WebhookItem } from '../sources/types.ts'
import type { HubspotDealClient } from '../hubspot/deals.ts'
import { HUBSPOT_SOURCE_NAME, wonStages, type HubspotDealItemPayload, type HubspotReferralFacts } from '../sources/hubspot.ts'
import { inboxId } from './normalize.ts'

/**
 * A HubSpot deal event names only the deal id: before the item is normalized, look up what `Referral Revenue Won`
 * needs (see src/sources/hubspot.ts). The referral comes from the bridge's own store: the first associated contact
 * whose email is a referred friend of a stored `Referral Created` / `Referred Friend Signed Up` (Store.findReferral),
 * so the advocate is the one the platform named, not a CRM field someone has to maintain.
 *
 * A deal already committed (`hubspot:deal-won:<id>`) is not looked up again: HubSpot's retries cost no API calls.
 * A deal whose stage is no longer won (moved back before we looked) is kept under its event id as ignored, so a
 * later real win is not mistaken for a duplicate. Errors (HubSpot down, 429 past the client's retries) propagate:
 * the webhook is answered 503 and HubSpot retries it; the reconciliation catches what retries do not.
 */
export interface DealLookupDeps {
  lookup: HubspotDealClient | undefined
  store: Store
  env: NodeJS.ProcessEnv
}

export async function lookUpHubspotDeals(source: string, items: WebhookItem[], deps: DealLookupDeps): Promise<WebhookItem[]> {
  if (source !== HUBSPOT_SOURCE_NAME) return items
  // No way to read the deal: refuse (503) rather than commit a won deal we cannot price; HubSpot retries for 24 h.
  if (!deps.lookup && items.some((i) => i.key.startsWith('deal-won:'))) throw new HubspotAccessMissing('HUBSPOT_ACCESS_TOKEN is not set, so the won deal cannot be read')
  if (!deps.lookup) return items
  const out: WebhookItem[] = []
  for (const item of items) {
    const p = item.payload as HubspotDealItemPayload
    if (!item.key.startsWith('deal-won:') || p.deal || (await deps.store.resolveInboxId(inboxId(source, item.key)))) {
      out.push(item)
      continue
    }
    const deal = await deps.lookup.deal(p.dealId)
    if (!deal.stage || !wonStages(deps.env).includes(deal.stage)) {
      out.push({ key: `event:${p.event?.eventId ?? `${p.dealId}-${Date.now()}`}`, eventType: 'deal.stage-reverted', payload: { ...p, deal } })
      continue
    }
    out.push({ ...item, payload: await withReferral({ ...p, deal }, { lookup: deps.lookup, store: deps.store }) })
  }
  return out
}

/** Adds the associated contacts and the referral of the first one that was referred. */
export async function withReferral(p: HubspotDealItemPayload, deps: { lookup: HubspotDealClient; store: Store }): Promise<HubspotDealItemPayload> {
  const contacts = await deps.lookup.contactsOf(p.dealId)
  let referral: HubspotReferralFacts | undefined
  for (const c of contacts) {
    if (!c.email) continue
    const match = await deps.store.findReferral({ emails: [c.email] })
    if (match) {
      referral = { referralId: match.referralId, advocateId: match.advocateId, advocateEmail: match.advocateEmail, friendEmail: c.email, contactId: c.id }
      break
    }
  }
  return { ...p, contacts, ...(referral ? { referral } : {}) }
}

export class HubspotAccessMissing extends Error {
  override name = 'HubspotAccessMissing'
}
