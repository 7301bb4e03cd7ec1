import type { Store } from '../queue/store.ts'
import type { CrmWin } from '../salesforce/report.ts'

/** Enough for years of won deals; past it the report says so rather than silently undercounting. */
export const MAX_HUBSPOT_WINS = 100_000

/**
 * The HubSpot half of the advocate revenue report: the `Referral Revenue Won` messages the bridge committed for
 * HubSpot deals (webhook or reconciliation). Read from the store, not from HubSpot: there, one deal is one message
 * (deduped on `deal-won:<id>`), so each won deal counts once, to the cent (integer `amount_minor`). `since` filters
 * on the deal's close date, as the Salesforce half filters on CloseDate.
 */
export async function hubspotWins(store: Store, since?: number): Promise<CrmWin[]> {
  const rows = await store.recentMessages(0, MAX_HUBSPOT_WINS + 1)
  if (rows.length > MAX_HUBSPOT_WINS) throw new Error(`more than ${MAX_HUBSPOT_WINS} stored messages: the HubSpot revenue report needs a narrower store query`)
  const wins: CrmWin[] = []
  for (const r of rows) {
    const m = r.message
    if (r.status !== 'routed' || m.type !== 'track' || m.event !== 'Referral Revenue Won') continue
    const p = m.properties as { source_platform?: string; advocate_id?: string; advocate_email?: string; currency?: string; amount_minor?: number; closed_at?: string }
    if (p.source_platform !== 'hubspot' || !p.advocate_id || !p.currency || typeof p.amount_minor !== 'number') continue
    if (since !== undefined && Date.parse(p.closed_at ?? '') < since) continue
    wins.push({ crm: 'hubspot', advocateId: p.advocate_id, advocateEmail: p.advocate_email, currency: p.currency, minor: p.amount_minor })
  }
  return wins
}
