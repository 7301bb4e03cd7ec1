import { randomUUID } from 'node:crypto'
import type { Store } from '../queue/store.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import type { Watermark } from '../salesforce/watermark.ts'
import { normalizeItem } from '../ingest/normalize.ts'
import { withReferral } from '../ingest/hubspot-deals.ts'
import { dealWonItem, hubspot, HUBSPOT_SOURCE_NAME, wonStages } from '../sources/hubspot.ts'
import type { HubspotDealClient } from './deals.ts'

/**
 * Catches every won deal the webhook missed (app uninstalled for a while, endpoint down past HubSpot's 10 retries,
 * subscription paused), in the shape of the Salesforce reconciliation (src/salesforce/reconcile.ts):
 *
 *   POST /crm/v3/objects/deals/search  dealstage IN <HUBSPOT_WON_STAGES> AND hs_lastmodifieddate >= <watermark − overlap>
 *                                      sorted by hs_lastmodifieddate ascending, 100 per page (`after` paging)
 *
 * Each deal becomes the same item the webhook makes (`deal-won:<id>`, src/sources/hubspot.ts), with its contacts and
 * referral looked up the same way, and goes through normalizeItem + store.accept: a deal the webhook already
 * committed is a duplicate, so running it twice never doubles a `Referral Revenue Won`. The watermark (largest
 * hs_lastmodifieddate committed) is saved after each page; the overlap (default 5 min) re-reads the edge.
 * The search API caps one query at 10,000 results (developers.hubspot.com "CRM API | Search", limits): a longer
 * backlog is read in several runs, each starting from the saved watermark.
 */
export interface HubspotReconcileDeps {
  client: HubspotDealClient
  store: Store
  plan: TrackingPlan
  destinations: Destination[]
  watermark: Watermark
  env?: NodeJS.ProcessEnv
  now?: () => number
  since?: number
  overlapMs?: number
  onProgress?: (p: { fetched: number; stored: number; duplicates: number }) => void
}

export interface HubspotReconcileSummary {
  fetched: number
  stored: number
  duplicates: number
  /** Won deals with no referred contact (stored as ignored, never revenue). */
  notReferred: number
  quarantined: number
  pages: number
  startedFrom?: string
  watermark?: string
}

export async function reconcileHubspot(deps: HubspotReconcileDeps): Promise<HubspotReconcileSummary> {
  const now = deps.now ?? Date.now
  const mark = await deps.watermark.get()
  const start = deps.since ?? (mark !== undefined ? mark - (deps.overlapMs ?? 5 * 60_000) : 0)
  const summary: HubspotReconcileSummary = { fetched: 0, stored: 0, duplicates: 0, notReferred: 0, quarantined: 0, pages: 0, startedFrom: new Date(start).toISOString() }
  const runId = `hubspot-reconcile-${randomUUID()}`
  let high = mark ?? -Infinity
  let after: string | undefined
  do {
    const page = await deps.client.wonSince(start, wonStages(deps.env), after)
    after = page.after
    const receivedAt = now()
    const items = []
    for (const deal of page.deals) {
      const { modifiedAt, ...facts } = deal
      const payload = await withReferral({ origin: 'reconciliation', dealId: facts.id, deal: facts }, { lookup: deps.client, store: deps.store })
      items.push(normalizeItem(hubspot, dealWonItem(payload), deps.plan, deps.destinations, receivedAt))
      if (modifiedAt > high) high = modifiedAt
    }
    const result = items.length
      ? await deps.store.accept({
          source: HUBSPOT_SOURCE_NAME,
          requestId: `${runId}-${summary.pages}`,
          receivedAt,
          rawBody: JSON.stringify({ origin: 'reconciliation', since: start, page: summary.pages, deals: page.deals }),
          headers: {},
          items
        })
      : { stored: [], duplicates: [] }
    summary.pages++
    summary.fetched += page.deals.length
    summary.stored += result.stored.length
    summary.duplicates += result.duplicates.length
    summary.notReferred += items.filter((i) => result.stored.includes(i.id) && i.status === 'ignored').length
    summary.quarantined += items.filter((i) => result.stored.includes(i.id) && i.status === 'quarantined').length
    if (Number.isFinite(high) && high !== mark) await deps.watermark.set(high)
    deps.onProgress?.({ fetched: summary.fetched, stored: summary.stored, duplicates: summary.duplicates })
  } while (after)
  if (Number.isFinite(high)) summary.watermark = new Date(high).toISOString()
  return summary
}
