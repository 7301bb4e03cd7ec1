import type { Connection } from 'jsforce'
import { decimalToMinor, minorToDecimal, minorDigits } from '../normalize/units.ts'
import { aggregateByKey, describeFields, queryPages, soqlDate, soqlDateTime } from './soql.ts'

/**
 * "Which advocates generate the most closed-won revenue": per advocate (`Referral_Advocate_ID__c`), from Salesforce.
 *
 * | column | source |
 * |---|---|
 * | referrals | Leads with a `Referral_ID__c` (every referral the bridge sent is one Lead, upserted on that external id) |
 * | leads | of those, still open (`IsConverted = false`) |
 * | converted | of those, converted |
 * | opportunities | Opportunities with a `Referral_ID__c` (reached through lead conversion field mapping) |
 * | won / lost | `IsWon = true` / `IsClosed = true AND IsWon = false` |
 * | win_rate | won / (won + lost): closed opportunities only; null when none closed |
 * | revenue | sum of `Amount` of won opportunities **per `CurrencyIsoCode`**, exact to the minor unit |
 *
 * Counts are SOQL aggregates (`COUNT(Id) … GROUP BY Referral_Advocate_ID__c, …`), paged by key because aggregate
 * queries have no queryMore. Revenue is read record by record (paged with `nextRecordsUrl`) and summed in integer
 * minor units: in a multi-currency org, SOQL aggregates of currency fields (`SUM(Amount)` with GROUP BY) come back
 * converted to the corporate currency, so they cannot give per-currency totals; and floating-point sums are not
 * "to the cent". With `convert: true` the query also selects `convertCurrency(Amount)` (Salesforce converts to the
 * running user's currency, with dated rates under advanced currency management) and the report adds
 * `revenue_converted`; orgs without multi-currency (and the local sandbox) refuse it, and the report says so.
 *
 * `since` (ms): leads created on or after it, opportunities whose CloseDate is on or after its date.
 * Ranking: revenue in the ranking currency (the converted total when available, else `currency`, else the
 * currency with the most won opportunities), then total won count, then advocate id.
 */
export interface AdvocateRow {
  rank: number
  advocate_id: string
  advocate_email: string | null
  referrals: number
  leads: number
  converted: number
  opportunities: number
  won: number
  lost: number
  win_rate: number | null
  /** Per currency: decimal amount (as a string with the currency's minor digits) and integer minor units. */
  revenue: Record<string, { amount: string; minor: number }>
  revenue_converted?: { amount: number; currency: string | null }
}

export interface AdvocateReport {
  generated_at: string
  since: string | null
  ranking_currency: string | null
  currencies: string[]
  converted: 'yes' | 'not requested' | 'not available'
  totals: { advocates: number; referrals: number; opportunities: number; won: number; revenue: Record<string, { amount: string; minor: number }> }
  advocates: AdvocateRow[]
  queries: string[]
}

export interface ReportOptions {
  since?: number
  /** Ranking currency; default: the one with the most won opportunities. */
  currency?: string
  /** Ask Salesforce for convertCurrency(Amount) (multi-currency orgs). */
  convert?: boolean
  /** Currency of single-currency orgs (they have no CurrencyIsoCode field). */
  defaultCurrency?: string
  pageSize?: number
  now?: number
  /**
   * Won referral revenue from other CRMs (HubSpot deals, src/hubspot/report.ts), already filtered by `since`: each
   * win counts as an opportunity won and its amount joins the advocate's per-currency revenue, in minor units.
   */
  otherWins?: CrmWin[]
}

export interface CrmWin {
  crm: string
  advocateId: string
  advocateEmail?: string
  currency: string
  minor: number
}

const REFERRAL = 'Referral_ID__c != null AND Referral_Advocate_ID__c != null'

export async function advocateReport(conn: Connection, opts: ReportOptions = {}): Promise<AdvocateReport> {
  const queries: string[] = []
  const rows = new Map<string, AdvocateRow>()
  const row = (id: unknown): AdvocateRow => {
    const key = String(id)
    let r = rows.get(key.toLowerCase())
    if (!r) {
      r = { rank: 0, advocate_id: key, advocate_email: null, referrals: 0, leads: 0, converted: 0, opportunities: 0, won: 0, lost: 0, win_rate: null, revenue: {} }
      rows.set(key.toLowerCase(), r)
    }
    return r
  }
  const n = (v: unknown) => Number(v ?? 0)
  const leadSince = opts.since !== undefined ? ` AND CreatedDate >= ${soqlDateTime(opts.since)}` : ''
  const oppSince = opts.since !== undefined ? ` AND CloseDate >= ${soqlDate(opts.since)}` : ''

  // Leads: referrals, open, converted.
  const leadRows = await aggregateByKey(conn, 'Referral_Advocate_ID__c', (key) => {
    const q = `SELECT Referral_Advocate_ID__c, Referral_Advocate_Email__c, IsConverted, COUNT(Id) n FROM Lead WHERE ${REFERRAL}${leadSince}${key} GROUP BY Referral_Advocate_ID__c, Referral_Advocate_Email__c, IsConverted`
    queries.push(q)
    return q
  })
  for (const l of leadRows) {
    const r = row(l.Referral_Advocate_ID__c)
    r.referrals += n(l.n)
    if (l.IsConverted === true) r.converted += n(l.n)
    else r.leads += n(l.n)
    if (!r.advocate_email && typeof l.Referral_Advocate_Email__c === 'string') r.advocate_email = l.Referral_Advocate_Email__c.toLowerCase()
  }

  // Opportunities: count, won, lost.
  const oppRows = await aggregateByKey(conn, 'Referral_Advocate_ID__c', (key) => {
    const q = `SELECT Referral_Advocate_ID__c, IsWon, IsClosed, COUNT(Id) n FROM Opportunity WHERE ${REFERRAL}${oppSince}${key} GROUP BY Referral_Advocate_ID__c, IsWon, IsClosed`
    queries.push(q)
    return q
  })
  for (const o of oppRows) {
    const r = row(o.Referral_Advocate_ID__c)
    r.opportunities += n(o.n)
    if (o.IsWon === true) r.won += n(o.n)
    else if (o.IsClosed === true) r.lost += n(o.n)
  }

  // Revenue, per currency, exact.
  const multiCurrency = (await describeFields(conn, 'Opportunity')).has('currencyisocode')
  const defaultCurrency = (opts.defaultCurrency ?? 'USD').toUpperCase()
  const base = `Referral_Advocate_ID__c, Referral_Advocate_Email__c, Amount${multiCurrency ? ', CurrencyIsoCode' : ''}`
  const where = `FROM Opportunity WHERE IsWon = true AND ${REFERRAL}${oppSince}`
  let converted: AdvocateReport['converted'] = opts.convert ? 'yes' : 'not requested'
  const wonByCurrency = new Map<string, number>()
  const readRevenue = async (withConversion: boolean) => {
    const q = `SELECT ${base}${withConversion ? ', convertCurrency(Amount) convertedAmount' : ''} ${where}`
    queries.push(q)
    const sums = new Map<string, { minor: Map<string, number>; converted: number }>()
    await queryPages(
      conn,
      q,
      (records) => {
        for (const rec of records) {
          if (rec.Amount === null || rec.Amount === undefined) continue
          const currency = String(rec.CurrencyIsoCode ?? defaultCurrency).toUpperCase()
          const key = String(rec.Referral_Advocate_ID__c).toLowerCase()
          const s = sums.get(key) ?? { minor: new Map(), converted: 0 }
          s.minor.set(currency, (s.minor.get(currency) ?? 0) + decimalToMinor(rec.Amount as number, currency, 'Opportunity.Amount'))
          if (withConversion) s.converted += Number(rec.convertedAmount ?? 0)
          sums.set(key, s)
          wonByCurrency.set(currency, (wonByCurrency.get(currency) ?? 0) + 1)
          const r = row(rec.Referral_Advocate_ID__c)
          if (!r.advocate_email && typeof rec.Referral_Advocate_Email__c === 'string') r.advocate_email = rec.Referral_Advocate_Email__c.toLowerCase()
        }
      },
      { pageSize: opts.pageSize }
    )
    return sums
  }
  let sums
  if (opts.convert) {
    try {
      sums = await readRevenue(true)
    } catch (err) {
      const code = (err as { errorCode?: string }).errorCode
      if (code !== 'MALFORMED_QUERY' && code !== 'INVALID_FIELD' && code !== 'INVALID_FUNCTION') throw err
      converted = 'not available'
      wonByCurrency.clear()
      sums = await readRevenue(false)
    }
  } else sums = await readRevenue(false)
  for (const w of opts.otherWins ?? []) {
    const r = row(w.advocateId)
    r.opportunities++
    r.won++
    if (!r.advocate_email && w.advocateEmail) r.advocate_email = w.advocateEmail.toLowerCase()
    const key = w.advocateId.toLowerCase()
    const s = sums.get(key) ?? { minor: new Map<string, number>(), converted: 0 }
    s.minor.set(w.currency, (s.minor.get(w.currency) ?? 0) + w.minor)
    sums.set(key, s)
    wonByCurrency.set(w.currency, (wonByCurrency.get(w.currency) ?? 0) + 1)
  }
  const userCurrency = converted === 'yes' ? await runningUserCurrency(conn) : null
  for (const [key, s] of sums) {
    const r = rows.get(key)!
    for (const [currency, minor] of [...s.minor].sort(([a], [b]) => a.localeCompare(b))) r.revenue[currency] = money(minor, currency)
    if (converted === 'yes') r.revenue_converted = { amount: Math.round(s.converted * 100) / 100, currency: userCurrency }
  }

  const currencies = [...wonByCurrency.keys()].sort()
  const rankingCurrency =
    converted === 'yes' ? userCurrency : (opts.currency?.toUpperCase() ?? ([...wonByCurrency].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null))
  const rankValue = (r: AdvocateRow) => (converted === 'yes' ? (r.revenue_converted?.amount ?? 0) : rankingCurrency ? (r.revenue[rankingCurrency]?.minor ?? 0) : 0)
  const advocates = [...rows.values()].sort((a, b) => rankValue(b) - rankValue(a) || b.won - a.won || a.advocate_id.localeCompare(b.advocate_id))
  advocates.forEach((r, i) => {
    r.rank = i + 1
    const closed = r.won + r.lost
    r.win_rate = closed ? Math.round((r.won / closed) * 10_000) / 10_000 : null
  })
  const totalMinor = new Map<string, number>()
  for (const r of advocates) for (const [c, v] of Object.entries(r.revenue)) totalMinor.set(c, (totalMinor.get(c) ?? 0) + v.minor)
  return {
    generated_at: new Date(opts.now ?? Date.now()).toISOString(),
    since: opts.since !== undefined ? new Date(opts.since).toISOString() : null,
    ranking_currency: rankingCurrency,
    currencies,
    converted,
    totals: {
      advocates: advocates.length,
      referrals: advocates.reduce((a, r) => a + r.referrals, 0),
      opportunities: advocates.reduce((a, r) => a + r.opportunities, 0),
      won: advocates.reduce((a, r) => a + r.won, 0),
      revenue: Object.fromEntries([...totalMinor].sort(([a], [b]) => a.localeCompare(b)).map(([c, m]) => [c, money(m, c)]))
    },
    advocates,
    queries
  }
}

export function money(minor: number, currency: string): { amount: string; minor: number } {
  return { amount: minorToDecimal(minor, currency).toFixed(minorDigits(currency)), minor }
}

async function runningUserCurrency(conn: Connection): Promise<string | null> {
  try {
    const id = conn.userInfo?.id
    if (!id) return null
    const u = await conn.request<{ DefaultCurrencyIsoCode?: string }>(`/sobjects/User/${id}?fields=DefaultCurrencyIsoCode`)
    return u.DefaultCurrencyIsoCode ?? null
  } catch {
    return null
  }
}

// ---- output --------------------------------------------------------------------------------------------------

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`)

export function reportCsv(report: AdvocateReport): string {
  const header = ['rank', 'advocate_id', 'advocate_email', 'referrals', 'leads', 'converted', 'opportunities', 'won', 'lost', 'win_rate', ...report.currencies.map((c) => `revenue_${c}`)]
  if (report.converted === 'yes') header.push('revenue_converted')
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v)
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  const lines = report.advocates.map((r) =>
    [r.rank, r.advocate_id, r.advocate_email, r.referrals, r.leads, r.converted, r.opportunities, r.won, r.lost, r.win_rate, ...report.currencies.map((c) => r.revenue[c]?.amount ?? money(0, c).amount), ...(report.converted === 'yes' ? [r.revenue_converted?.amount ?? 0] : [])]
      .map(cell)
      .join(',')
  )
  return [header.join(','), ...lines].join('\n') + '\n'
}

export function reportTable(report: AdvocateReport, limit = Infinity): string {
  const header = ['#', 'advocate', 'referrals', 'leads', 'converted', 'opps', 'won', 'lost', 'win rate', ...report.currencies.map((c) => `revenue ${c}`)]
  const body = report.advocates.slice(0, limit).map((r) => [String(r.rank), r.advocate_email ?? r.advocate_id, String(r.referrals), String(r.leads), String(r.converted), String(r.opportunities), String(r.won), String(r.lost), pct(r.win_rate), ...report.currencies.map((c) => r.revenue[c]?.amount ?? '—')])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const lines = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)]
  const totals = Object.entries(report.totals.revenue).map(([c, v]) => `${c} ${v.amount}`).join(', ') || '—'
  lines.push('', `${report.totals.advocates} advocates, ${report.totals.referrals} referrals, ${report.totals.opportunities} opportunities, ${report.totals.won} won; revenue ${totals}`)
  lines.push(`ranked by revenue in ${report.ranking_currency ?? '—'}${report.converted === 'not available' ? ' (convertCurrency not available in this org: per-currency only)' : ''}${report.since ? `; since ${report.since}` : ''}`)
  return lines.join('\n') + '\n'
}
