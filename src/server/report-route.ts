import express, { type Router } from 'express'
import type { Connection } from 'jsforce'
import { requireAdminToken } from './admin-auth.ts'
import { parseSince } from './admin-routes.ts'
import { advocateReport, reportCsv } from '../salesforce/report.ts'
import { hubspotWins } from '../hubspot/report.ts'
import type { Store } from '../queue/store.ts'
import { connectSalesforce, salesforceAuthFromEnv } from '../salesforce/auth.ts'

export interface ReportDeps {
  /** Bearer token (BRIDGE_ADMIN_TOKEN); unset ⇒ the route is closed (503), like /admin. */
  adminToken?: string
  /** A Salesforce connection (src/salesforce/auth.ts connectSalesforce); called per request, so it may cache. */
  connect: () => Promise<Connection>
  defaultCurrency?: string
  now?: () => number
  /** The bridge's store: HubSpot won deals come from its `Referral Revenue Won` messages (src/hubspot/report.ts). */
  store?: Store
}

/**
 * `GET /api/reports/advocates?since=30d&format=json|csv&currency=USD&convert=true` — the advocate revenue report
 * (src/salesforce/report.ts) over HTTP, bearer BRIDGE_ADMIN_TOKEN. Salesforce errors answer 502 with the error code.
 */
export function reportRouter(deps: ReportDeps): Router {
  const r = express.Router()
  r.use('/api/reports', requireAdminToken(deps.adminToken))
  r.get('/api/reports/advocates', async (req, res) => {
    const q = req.query as Record<string, unknown>
    const format = typeof q.format === 'string' ? q.format : 'json'
    if (format !== 'json' && format !== 'csv') return res.status(400).json({ error: 'invalid_request', message: 'format must be json or csv' })
    let since: number | undefined
    try {
      since = typeof q.since === 'string' && q.since ? parseSince(q.since, deps.now?.() ?? Date.now()) : undefined
    } catch (err) {
      return res.status(400).json({ error: 'invalid_request', message: (err as Error).message.replace('--since', 'since') })
    }
    try {
      const report = await advocateReport(await deps.connect(), {
        since,
        currency: typeof q.currency === 'string' && q.currency ? q.currency : undefined,
        convert: q.convert === 'true',
        defaultCurrency: deps.defaultCurrency,
        now: deps.now?.(),
        otherWins: deps.store ? await hubspotWins(deps.store, since) : undefined
      })
      if (format === 'csv') return res.status(200).type('text/csv; charset=utf-8').set('Content-Disposition', 'attachment; filename="advocates.csv"').send(reportCsv(report))
      res.json(report)
    } catch (err) {
      const e = err as { errorCode?: string; name?: string; message?: string }
      res.status(502).json({ error: 'salesforce_error', code: e.errorCode ?? e.name ?? 'ERROR', message: e.message ?? String(err) })
    }
  })
  return r
}

/**
 * One Connection per process, made on first use (jsforce refreshes its session); a failed connect is retried on
 * the next request. Without Salesforce credentials: the sandbox this bridge serves on its loopback sandbox listener.
 */
export function salesforceConnector(env: NodeJS.ProcessEnv, sandboxBase: () => string): () => Promise<Connection> {
  let conn: Promise<Connection> | undefined
  return () => {
    conn ??= connectSalesforce(salesforceAuthFromEnv(env, sandboxBase())).catch((err) => {
      conn = undefined
      throw err
    })
    return conn
  }
}
