import type { Connection } from 'jsforce'

/** SOQL helpers shared by the reconciliation, the report and the setup check. */

export type SfRow = Record<string, unknown>

interface QueryPage {
  totalSize: number
  done: boolean
  nextRecordsUrl?: string
  records: SfRow[]
}

/** A string literal: backslash-escapes `\` and `'` as SOQL requires. */
export function soqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** A dateTime literal (`2026-05-01T10:00:00Z`, second precision). */
export function soqlDateTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** A date literal (`2026-05-01`). */
export function soqlDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** Salesforce datetimes come as `2026-05-01T10:00:00.000+0000`. */
export function parseSfDateTime(value: unknown): number {
  if (typeof value !== 'string') return NaN
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
}

/**
 * Runs a (non-aggregate) query and follows `nextRecordsUrl` until `done`, one REST call per page
 * (`Sforce-Query-Options: batchSize=` sets the page size, 200..2000). `onPage` sees each page as it arrives.
 */
export async function queryPages(
  conn: Connection,
  soql: string,
  onPage: (records: SfRow[], page: { index: number; totalSize: number }) => Promise<void> | void,
  opts: { pageSize?: number } = {}
): Promise<{ totalSize: number; pages: number }> {
  const headers = opts.pageSize ? { 'Sforce-Query-Options': `batchSize=${opts.pageSize}` } : undefined
  let page = await conn.request<QueryPage>({ method: 'GET', url: `/query?q=${encodeURIComponent(soql)}`, ...(headers ? { headers } : {}) })
  let index = 0
  for (;;) {
    await onPage(page.records, { index, totalSize: page.totalSize })
    index++
    if (page.done || !page.nextRecordsUrl) return { totalSize: page.totalSize, pages: index }
    page = await conn.request<QueryPage>({ method: 'GET', url: page.nextRecordsUrl, ...(headers ? { headers } : {}) })
  }
}

export async function queryAll(conn: Connection, soql: string, opts: { pageSize?: number } = {}): Promise<SfRow[]> {
  const out: SfRow[] = []
  await queryPages(conn, soql, (records) => void out.push(...records), opts)
  return out
}

/**
 * Aggregate queries cannot use queryMore (Salesforce refuses more than 2000 grouped rows), so they are paged by key:
 * `GROUP BY <key>, … ORDER BY <key> LIMIT 2000`, then again with `<key> >= last` (rows of the last key may be
 * split across pages, so that key is re-read and the page's copy dropped). `build(after)` returns the SOQL for the
 * page starting after / at `after`.
 */
export async function aggregateByKey(conn: Connection, keyField: string, build: (keyCondition: string) => string, limit = 2000): Promise<SfRow[]> {
  const out: SfRow[] = []
  let from: string | undefined
  for (;;) {
    const soql = build(from === undefined ? '' : ` AND ${keyField} >= ${soqlString(from)}`) + ` ORDER BY ${keyField} LIMIT ${limit}`
    const page = await conn.request<QueryPage>({ method: 'GET', url: `/query?q=${encodeURIComponent(soql)}` })
    if (page.records.length < limit) {
      out.push(...page.records)
      return out
    }
    // A full page: the last key's rows may continue on the next page, so that key is read again from there.
    const last = String(page.records[page.records.length - 1]![keyField])
    const complete = page.records.filter((r) => String(r[keyField]).toLowerCase() !== last.toLowerCase())
    if (complete.length === 0) throw new Error(`more than ${limit} aggregate rows for ${keyField} = ${last}`)
    out.push(...complete)
    from = last
  }
}

export interface FieldInfo {
  name: string
  type: string
  custom: boolean
  externalId: boolean
  unique: boolean
}

export async function describeFields(conn: Connection, sobject: string): Promise<Map<string, FieldInfo>> {
  const d = await conn.request<{ fields: FieldInfo[] }>(`/sobjects/${sobject}/describe`)
  return new Map(d.fields.map((f) => [f.name.toLowerCase(), f]))
}
