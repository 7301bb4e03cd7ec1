import { Client as HubspotClient } from '@hubspot/api-client'
import Mixpanel from 'mixpanel'
import { resolveMixpanelTarget } from '../destinations/mixpanel.ts'
import type { AdvocateReport, AdvocateRow } from './report.ts'

/**
 * The advocate's lifetime referral revenue, computed from the report (all time, i.e. `since` unset) and SET — not
 * incremented — on:
 *
 * - the **HubSpot contact** (upsert by email, `crm.contacts.batchApi.upsert`, ≤ 100 per call): number property
 *   `referral_lifetime_revenue`, plus `referral_lifetime_revenue_currency` and `referral_lifetime_revenue_by_currency`
 *   (text, e.g. `EUR 120.00; USD 1234.50`), created when missing;
 * - the **Mixpanel profile** (`people.set` = `$set`): `referral_lifetime_revenue`, `…_currency`,
 *   `…_by_currency` (an object `{EUR: 120, USD: 1234.5}`).
 *
 * `referral_lifetime_revenue` is the amount in the report's ranking currency (the converted total when the org
 * supports convertCurrency); revenue in other currencies is only in `…_by_currency` — amounts in different
 * currencies are never added up. Re-running gives the same values: `$set` and a property update are idempotent,
 * so it can run after every reconciliation.
 *
 * Who: advocates with an email (HubSpot contacts are keyed on email); Mixpanel distinct_id = the advocate email,
 * else `salesforce-advocate:<id>` — the userId `Referral Revenue Won` uses.
 */
export interface RevenueSyncTargets {
  hubspot?: { accessToken: string; basePath?: string }
  mixpanel?: { token: string; host: string }
}

export interface RevenueValues {
  referral_lifetime_revenue: number
  referral_lifetime_revenue_currency: string | null
  referral_lifetime_revenue_by_currency: Record<string, number>
}

export const HUBSPOT_REVENUE_PROPERTIES = ['referral_lifetime_revenue', 'referral_lifetime_revenue_currency', 'referral_lifetime_revenue_by_currency']

export function lifetimeRevenue(report: AdvocateReport, row: AdvocateRow): RevenueValues {
  const byCurrency = Object.fromEntries(Object.entries(row.revenue).map(([c, v]) => [c, Number(v.amount)]))
  const currency = report.ranking_currency
  const amount = report.converted === 'yes' ? (row.revenue_converted?.amount ?? 0) : currency ? (byCurrency[currency] ?? 0) : 0
  return { referral_lifetime_revenue: amount, referral_lifetime_revenue_currency: currency, referral_lifetime_revenue_by_currency: byCurrency }
}

export function mixpanelDistinctId(row: AdvocateRow): string {
  return row.advocate_email ?? `salesforce-advocate:${row.advocate_id}`
}

export async function syncLifetimeRevenue(report: AdvocateReport, targets: RevenueSyncTargets, onProgress?: (done: number, total: number) => void): Promise<{ hubspot: number; mixpanel: number }> {
  if (report.since) throw new Error('lifetime revenue needs the all-time report (no --since)')
  const rows = report.advocates.filter((r) => r.won > 0 || Object.keys(r.revenue).length > 0)
  const out = { hubspot: 0, mixpanel: 0 }
  if (targets.hubspot) out.hubspot = await syncHubspot(report, rows, targets.hubspot, onProgress)
  if (targets.mixpanel) out.mixpanel = await syncMixpanel(report, rows, targets.mixpanel)
  return out
}

async function syncHubspot(report: AdvocateReport, rows: AdvocateRow[], cfg: NonNullable<RevenueSyncTargets['hubspot']>, onProgress?: (done: number, total: number) => void): Promise<number> {
  const client = new HubspotClient({ accessToken: cfg.accessToken, ...(cfg.basePath ? { basePath: cfg.basePath.replace(/\/+$/, '') } : {}) })
  const existing = new Set((await client.crm.properties.coreApi.getAll('contacts', false)).results.map((p) => p.name))
  const defs = [
    { name: 'referral_lifetime_revenue', label: 'Referral lifetime revenue', type: 'number', fieldType: 'number' },
    { name: 'referral_lifetime_revenue_currency', label: 'Referral lifetime revenue currency', type: 'string', fieldType: 'text' },
    { name: 'referral_lifetime_revenue_by_currency', label: 'Referral lifetime revenue by currency', type: 'string', fieldType: 'textarea' }
  ]
  for (const d of defs) {
    if (existing.has(d.name)) continue
    try {
      await client.crm.properties.coreApi.create('contacts', { ...d, groupName: 'contactinformation', description: 'Closed-won revenue of the referrals this advocate brought (Salesforce), set by referral-bridge' } as never)
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err // 409: created meanwhile by another run
    }
  }
  const withEmail = rows.filter((r) => r.advocate_email)
  for (let i = 0; i < withEmail.length; i += 100) {
    const chunk = withEmail.slice(i, i + 100)
    await client.crm.contacts.batchApi.upsert({
      inputs: chunk.map((r) => {
        const v = lifetimeRevenue(report, r)
        return {
          id: r.advocate_email!,
          idProperty: 'email',
          properties: {
            referral_lifetime_revenue: String(v.referral_lifetime_revenue),
            referral_lifetime_revenue_currency: v.referral_lifetime_revenue_currency ?? '',
            referral_lifetime_revenue_by_currency: Object.entries(r.revenue).map(([c, m]) => `${c} ${m.amount}`).join('; ')
          }
        }
      })
    })
    onProgress?.(Math.min(i + 100, withEmail.length), withEmail.length)
  }
  return withEmail.length
}

async function syncMixpanel(report: AdvocateReport, rows: AdvocateRow[], cfg: NonNullable<RevenueSyncTargets['mixpanel']>): Promise<number> {
  const target = resolveMixpanelTarget({ host: cfg.host })
  const client = Mixpanel.init(cfg.token, { host: target.host, protocol: target.protocol, path: target.path, keepAlive: false } as Mixpanel.InitConfig)
  let next = 0
  const worker = async () => {
    while (next < rows.length) {
      const r = rows[next++]!
      await new Promise<void>((resolve, reject) =>
        client.people.set(mixpanelDistinctId(r), { ...lifetimeRevenue(report, r) } as never, (err: Error | undefined) => (err ? reject(err) : resolve()))
      )
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, rows.length) }, worker))
  return rows.length
}

/** Targets from env: HubSpot (HUBSPOT_ACCESS_TOKEN / HUBSPOT_BASE_URL, else the sandbox) and Mixpanel (MIXPANEL_TOKEN / MIXPANEL_HOST, else the sandbox). */
export function revenueTargetsFromEnv(env: NodeJS.ProcessEnv, sandboxBase: string): RevenueSyncTargets {
  const hubspotBase = env.HUBSPOT_BASE_URL || (env.HUBSPOT_ACCESS_TOKEN ? undefined : `${sandboxBase}/hubspot`)
  return {
    hubspot: { accessToken: env.HUBSPOT_ACCESS_TOKEN || 'sandbox-hubspot-token', ...(hubspotBase ? { basePath: hubspotBase } : {}) },
    mixpanel: { token: env.MIXPANEL_TOKEN || 'sandbox-token', host: env.MIXPANEL_HOST || (env.MIXPANEL_TOKEN ? 'api.mixpanel.com' : `${sandboxBase}/mixpanel`) }
  }
}
