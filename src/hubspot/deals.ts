import { Client } from '@hubspot/api-client'
import type { HubspotDealFacts } from '../sources/hubspot.ts'

/**
 * What the bridge reads of a HubSpot deal, through the official @hubspot/api-client (CRM v3 objects, v4
 * associations, as Segment's action-destinations pin them):
 *   GET  /crm/v3/objects/deals/{id}?properties=amount,deal_currency_code,closedate,dealstage
 *   GET  /crm/v4/objects/deals/{id}/associations/contacts            (paged, ≤ 500)
 *   POST /crm/v3/objects/contacts/batch/read  {inputs: [{id}], properties: [email]}
 *   POST /crm/v3/objects/deals/search        closed-won deals modified since a watermark (reconciliation)
 * A deal without `deal_currency_code` is in the account's company currency, which the API does not return on the
 * deal: `HUBSPOT_CURRENCY` (default USD) supplies it.
 */
export interface HubspotDealsConfig {
  accessToken: string
  /** The HubSpot API (default https://api.hubapi.com) or the sandbox `<sandboxBase>/hubspot`. */
  basePath?: string
  /** Company currency for deals without deal_currency_code. */
  defaultCurrency?: string
}

export const DEAL_PROPERTIES = ['amount', 'deal_currency_code', 'closedate', 'dealstage', 'hs_lastmodifieddate']

export interface HubspotDealClient {
  deal(dealId: string): Promise<HubspotDealFacts>
  contactsOf(dealId: string): Promise<Array<{ id: string; email?: string }>>
  /** One page of deals in `stages` modified at or after `sinceMs`, oldest first; `after` from the previous page. */
  wonSince(sinceMs: number, stages: string[], after?: string): Promise<{ deals: Array<HubspotDealFacts & { modifiedAt: number }>; after?: string }>
}

export function hubspotDealClient(config: HubspotDealsConfig): HubspotDealClient {
  const client = new Client({
    accessToken: config.accessToken,
    ...(config.basePath ? { basePath: config.basePath.replace(/\/+$/, '') } : {}),
    // No client-side retries: a webhook must be answered within HubSpot's 5 s, and HubSpot's own retries (and the
    // reconciliation's next run) do the retrying.
    numberOfApiCallRetries: 0
  })
  const currency = config.defaultCurrency ?? 'USD'
  const facts = (d: { id: string; properties: Record<string, string | null> }): HubspotDealFacts => ({
    id: d.id,
    amount: d.properties.amount ?? null,
    currency: d.properties.deal_currency_code || currency,
    closedAt: d.properties.closedate ?? null,
    stage: d.properties.dealstage ?? null
  })
  return {
    async deal(dealId) {
      return facts(await client.crm.deals.basicApi.getById(dealId, DEAL_PROPERTIES))
    },
    async contactsOf(dealId) {
      const ids: string[] = []
      let after: string | undefined
      do {
        const page = await client.crm.associations.v4.basicApi.getPage('deals', dealId, 'contacts', after, 500)
        ids.push(...page.results.map((r) => String(r.toObjectId)))
        after = page.paging?.next?.after
      } while (after)
      if (!ids.length) return []
      const out: Array<{ id: string; email?: string }> = []
      for (let i = 0; i < ids.length; i += 100) {
        const batch = await client.crm.contacts.batchApi.read({ inputs: ids.slice(i, i + 100).map((id) => ({ id })), properties: ['email'], propertiesWithHistory: [] })
        out.push(...batch.results.map((c) => ({ id: c.id, email: c.properties.email?.toLowerCase() || undefined })))
      }
      // HubSpot answers a batch in any order: keep the association order (the first associated contact first).
      return ids.map((id) => out.find((c) => c.id === id) ?? { id })
    },
    async wonSince(sinceMs, stages, after) {
      const page = await client.crm.deals.searchApi.doSearch({
        filterGroups: [
          {
            filters: [
              { propertyName: 'dealstage', operator: 'IN' as never, values: stages },
              { propertyName: 'hs_lastmodifieddate', operator: 'GTE' as never, value: String(sinceMs) }
            ]
          }
        ],
        sorts: ['hs_lastmodifieddate'],
        properties: DEAL_PROPERTIES,
        limit: 100,
        after: after as never
      })
      return {
        deals: page.results.map((d) => ({ ...facts(d), modifiedAt: Date.parse(d.properties.hs_lastmodifieddate ?? '') || 0 })),
        after: page.paging?.next?.after
      }
    }
  }
}

/**
 * The deal client the bridge uses: HubSpot with `HUBSPOT_ACCESS_TOKEN` (and `HUBSPOT_BASE_URL` if set), else the
 * local sandbox at `<sandboxBase>/hubspot` — the same rule as the HubSpot destination. Undefined when neither a
 * token nor a sandbox is there.
 */
export function hubspotDealClientFromEnv(env: NodeJS.ProcessEnv, sandboxBase: string | undefined): HubspotDealClient | undefined {
  const token = env.HUBSPOT_ACCESS_TOKEN
  const basePath = env.HUBSPOT_BASE_URL || (!token && sandboxBase ? `${sandboxBase}/hubspot` : undefined)
  if (!token && !basePath) return undefined
  return hubspotDealClient({ accessToken: token || 'sandbox-hubspot-token', basePath, defaultCurrency: env.HUBSPOT_CURRENCY || undefined })
}
