import { randomUUID } from 'node:crypto'
import type { Connection } from 'jsforce'
import type { Store } from '../queue/store.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import { normalizeItem } from '../ingest/normalize.ts'
import { salesforce, salesforceItem, SALESFORCE_SOURCE_NAME } from '../sources/salesforce.ts'
import { describeFields, parseSfDateTime, queryPages, soqlDateTime, type SfRow } from './soql.ts'
import type { Watermark } from './watermark.ts'

/**
 * Periodic SOQL reconciliation: catches every won referral opportunity the Outbound Message push missed (endpoint
 * down past Salesforce's 24 h of retries, rule misconfigured, message deleted from the queue...).
 *
 *   SELECT <fields> FROM Opportunity
 *   WHERE IsWon = true AND Referral_ID__c != null AND LastModifiedDate > <watermark − overlap>
 *   ORDER BY LastModifiedDate ASC, Id ASC
 *
 * Pages follow `nextRecordsUrl`. Each page goes through the normal ingest path: the `salesforce` source's
 * `items()` (key `opportunity-won:<Id>`, the same key the push uses) → `normalizeItem` (plan check, routing) →
 * `store.accept` in one transaction. An opportunity the push already delivered is a duplicate and creates no new
 * work, so running it twice (or overlapping with the push) never doubles a `Referral Revenue Won`.
 *
 * The watermark (largest LastModifiedDate committed) is saved after each page. The overlap (default 5 min)
 * re-reads records committed around the previous run's end (transactions that were still open, clock skew);
 * re-reading is free thanks to the dedupe.
 */
export interface ReconcileDeps {
  conn: Connection
  organizationId: string
  store: Store
  plan: TrackingPlan
  destinations: Destination[]
  watermark: Watermark
  now?: () => number
  /** Start here instead of the watermark (ms). */
  since?: number
  overlapMs?: number
  /** Records per page (Sforce-Query-Options batchSize, 200..2000). */
  pageSize?: number
  onProgress?: (p: { fetched: number; total: number; stored: number; duplicates: number }) => void
}

export interface ReconcileSummary {
  /** Won opportunities read from Salesforce. */
  fetched: number
  /** New: not seen by push or an earlier run; each became a Referral Revenue Won (or a quarantined item). */
  stored: number
  duplicates: number
  quarantined: number
  pages: number
  startedFrom?: string
  watermark?: string
  soql: string
}

/** Opportunity fields sent to the source; the optional ones only when the org has them. */
export const RECONCILE_FIELDS = ['Id', 'Amount', 'CloseDate', 'StageName', 'IsWon', 'LastModifiedDate', 'Referral_ID__c', 'Referral_Advocate_ID__c', 'Referral_Advocate_Email__c', 'Referral_Code__c']
export const OPTIONAL_FIELDS = ['CurrencyIsoCode', 'Referral_Friend_Email__c']

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const now = deps.now ?? Date.now
  const described = await describeFields(deps.conn, 'Opportunity')
  const fields = [...RECONCILE_FIELDS, ...OPTIONAL_FIELDS.filter((f) => described.has(f.toLowerCase()))]
  const mark = await deps.watermark.get()
  const start = deps.since ?? (mark !== undefined ? mark - (deps.overlapMs ?? 5 * 60_000) : undefined)
  const soql =
    `SELECT ${fields.join(', ')} FROM Opportunity WHERE IsWon = true AND Referral_ID__c != null` +
    (start !== undefined ? ` AND LastModifiedDate > ${soqlDateTime(start)}` : '') +
    ' ORDER BY LastModifiedDate ASC, Id ASC'
  const runId = `salesforce-reconcile-${randomUUID()}`
  const summary: ReconcileSummary = { fetched: 0, stored: 0, duplicates: 0, quarantined: 0, pages: 0, soql, ...(start !== undefined ? { startedFrom: new Date(start).toISOString() } : {}) }
  let high = mark ?? -Infinity

  await queryPages(
    deps.conn,
    soql,
    async (records, page) => {
      const receivedAt = now()
      const items = records.map((r) =>
        normalizeItem(
          salesforce,
          salesforceItem({ organizationId: deps.organizationId, origin: 'reconciliation', sObjectType: 'Opportunity', fields: asText(r, fields) }),
          deps.plan,
          deps.destinations,
          receivedAt
        )
      )
      const result = items.length
        ? await deps.store.accept({
            source: SALESFORCE_SOURCE_NAME,
            requestId: `${runId}-${page.index}`,
            receivedAt,
            rawBody: JSON.stringify({ origin: 'reconciliation', soql, page: page.index, records }),
            headers: {},
            items
          })
        : { stored: [], duplicates: [] }
      summary.fetched += records.length
      summary.pages++
      summary.stored += result.stored.length
      summary.duplicates += result.duplicates.length
      summary.quarantined += items.filter((i) => result.stored.includes(i.id) && i.status === 'quarantined').length
      for (const r of records) {
        const t = parseSfDateTime(r.LastModifiedDate)
        if (Number.isFinite(t) && t > high) high = t
      }
      if (Number.isFinite(high) && high !== mark) await deps.watermark.set(high)
      deps.onProgress?.({ fetched: summary.fetched, total: page.totalSize, stored: summary.stored, duplicates: summary.duplicates })
    },
    { pageSize: deps.pageSize }
  )
  if (Number.isFinite(high)) summary.watermark = new Date(high).toISOString()
  return summary
}

/** A REST record → the text form an Outbound Message carries (numbers and booleans as their XML text). */
export function asText(record: SfRow, fields: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {}
  for (const f of fields) {
    const v = record[f]
    out[f] = v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v)
  }
  return out
}

/** The org id of a Connection (from the OAuth identity URL `…/id/<orgId>/<userId>`), else SALESFORCE_ORGANIZATION_ID. */
export function organizationIdOf(conn: Connection, env: NodeJS.ProcessEnv = process.env): string {
  const id = conn.userInfo?.organizationId ?? env.SALESFORCE_ORGANIZATION_ID
  if (!id) throw new Error('cannot tell the Salesforce organization id: set SALESFORCE_ORGANIZATION_ID')
  return id
}
