import { parseArgs } from 'node:util'
import type { Connection } from 'jsforce'
import { loadConfig, sandboxBaseFromEnv } from '../config.ts'
import { openStore } from '../queue/open.ts'
import { loadTrackingPlan } from '../tracking-plan/plan.ts'
import { createDestinations } from '../destinations/registry.ts'
import { parseSince } from '../server/admin-routes.ts'
import { connectSalesforce, salesforceAuthFromEnv } from './auth.ts'
import { checkSetup, checkTable } from './setup-check.ts'
import { organizationIdOf, reconcile } from './reconcile.ts'
import { advocateReport, reportCsv, reportTable, type AdvocateReport } from './report.ts'
import { revenueTargetsFromEnv, syncLifetimeRevenue } from './revenue-sync.ts'
import { watermarkFor } from './watermark.ts'
import { hubspotWins } from '../hubspot/report.ts'

export const SALESFORCE_USAGE = `referral-bridge salesforce <command>

  setup --check                         describe Lead/Contact/Opportunity; list missing referral fields (exit 1 if any)
  reconcile [--since 30d|ISO] [--page-size n] [--no-sync] [--sandbox]
                                        won referral opportunities modified since the watermark → Referral Revenue Won
                                        (deduped with the Outbound Message push), then set lifetime revenue on
                                        HubSpot contacts and Mixpanel profiles
  sync-revenue [--sandbox]              only the lifetime revenue update

referral-bridge report advocates [--since 30d] [--format table|csv|json] [--currency USD] [--convert]

Salesforce credentials: SALESFORCE_CLIENT_ID + SALESFORCE_CLIENT_SECRET + SALESFORCE_REFRESH_TOKEN, or
SALESFORCE_CLIENT_ID + SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY (JWT bearer); SALESFORCE_LOGIN_URL
(https://test.salesforce.com for a sandbox org). None: the sandbox of a local bridge (127.0.0.1:SANDBOX_PORT,
default 3001); reconcile reads it only with --sandbox.`

type Print = (s: string) => void

function sandboxBase(env: NodeJS.ProcessEnv): string {
  return sandboxBaseFromEnv(env)
}

async function connect(env: NodeJS.ProcessEnv): Promise<Connection> {
  return connectSalesforce(salesforceAuthFromEnv(env, sandboxBase(env)))
}

/** `referral-bridge salesforce …` */
export async function salesforceCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const print: Print = (s) => void out.write(s + '\n')
  const [sub, ...rest] = args
  if (sub === 'setup') {
    const { values } = parseArgs({ args: rest, options: { check: { type: 'boolean' } } })
    if (!values.check) {
      print('salesforce setup --check verifies the org; creating fields is a manual step (docs/salesforce.md)')
      return 2
    }
    const result = await checkSetup(await connect(env))
    out.write(checkTable(result))
    return result.ok ? 0 : 1
  }
  if (sub === 'reconcile') {
    const { values } = parseArgs({ args: rest, options: { since: { type: 'string' }, 'page-size': { type: 'string' }, 'no-sync': { type: 'boolean' }, sandbox: { type: 'boolean' } } })
    // Anyone on the machine can write into the sandbox org: its opportunities become revenue events only on request.
    if (salesforceAuthFromEnv(env, sandboxBase(env)).sandboxed && !values.sandbox) {
      print('no Salesforce credentials (SALESFORCE_REFRESH_TOKEN or SALESFORCE_PRIVATE_KEY): refusing to reconcile from the local sandbox without --sandbox')
      return 2
    }
    const config = loadConfig(env)
    const conn = await connect(env)
    const store = await openStore(config.databaseUrl)
    const watermark = await watermarkFor(config.databaseUrl)
    const destinations = await createDestinations({ env, sandboxBase: sandboxBase(env) })
    try {
      print(`reconciling won referral opportunities (watermark: ${watermark.describe})`)
      const summary = await reconcile({
        conn,
        organizationId: organizationIdOf(conn, env),
        store,
        plan: loadTrackingPlan(config.trackingPlanDir),
        destinations,
        watermark,
        since: values.since ? parseSince(values.since) : undefined,
        pageSize: values['page-size'] ? Number(values['page-size']) : undefined,
        onProgress: (p) => out.write(`\r  ${p.fetched}/${p.total} read, ${p.stored} new, ${p.duplicates} already known`)
      })
      if (summary.pages) out.write('\n')
      print(
        `${summary.fetched} won opportunit${summary.fetched === 1 ? 'y' : 'ies'} read in ${summary.pages} page(s): ${summary.stored} new Referral Revenue Won, ` +
          `${summary.duplicates} already known (push or earlier run), ${summary.quarantined} quarantined; watermark ${summary.watermark ?? 'unchanged'}`
      )
      if (summary.stored) print('a running bridge delivers the new events (or start one: referral-bridge serve)')
      if (!values['no-sync']) await syncRevenue(conn, env, print)
      return 0
    } finally {
      await Promise.all(destinations.map((d) => d.close?.()))
      await watermark.close()
      await store.close()
    }
  }
  if (sub === 'sync-revenue') {
    const { values } = parseArgs({ args: rest, options: { sandbox: { type: 'boolean' } } })
    // Same rule as reconcile: sandbox opportunities must not become lifetime revenue on real HubSpot contacts.
    if (salesforceAuthFromEnv(env, sandboxBase(env)).sandboxed && !values.sandbox) {
      print('no Salesforce credentials (SALESFORCE_REFRESH_TOKEN or SALESFORCE_PRIVATE_KEY): refusing to read the local sandbox without --sandbox')
      return 2
    }
    await syncRevenue(await connect(env), env, print)
    return 0
  }
  print(SALESFORCE_USAGE)
  return sub === undefined || sub === 'help' ? 0 : 2
}

async function syncRevenue(conn: Connection, env: NodeJS.ProcessEnv, print: Print): Promise<void> {
  const report = await advocateReport(conn, { defaultCurrency: env.SALESFORCE_CURRENCY })
  const done = await syncLifetimeRevenue(report, revenueTargetsFromEnv(env, sandboxBase(env)))
  print(`lifetime referral revenue set on ${done.hubspot} HubSpot contact(s) and ${done.mixpanel} Mixpanel profile(s)`)
}

/** `referral-bridge report advocates …` */
export async function reportCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const print: Print = (s) => void out.write(s + '\n')
  const [sub, ...rest] = args
  if (sub !== 'advocates') {
    print(SALESFORCE_USAGE)
    return 2
  }
  const { values } = parseArgs({
    args: rest,
    options: { since: { type: 'string' }, format: { type: 'string', default: 'table' }, currency: { type: 'string' }, convert: { type: 'boolean' }, limit: { type: 'string' } }
  })
  const format = values.format
  if (format !== 'table' && format !== 'csv' && format !== 'json') {
    print(`--format must be table, csv or json, got "${format}"`)
    return 2
  }
  const since = values.since ? parseSince(values.since) : undefined
  // HubSpot won deals come from the bridge's store (src/hubspot/report.ts).
  const store = await openStore(loadConfig(env).databaseUrl)
  let otherWins
  try {
    otherWins = await hubspotWins(store, since)
  } finally {
    await store.close()
  }
  const report = await advocateReport(await connect(env), {
    since,
    currency: values.currency,
    convert: values.convert,
    defaultCurrency: env.SALESFORCE_CURRENCY,
    otherWins
  })
  out.write(renderReport(report, format, values.limit ? Number(values.limit) : undefined))
  return 0
}

export function renderReport(report: AdvocateReport, format: 'table' | 'csv' | 'json', limit?: number): string {
  if (format === 'json') return JSON.stringify(report, null, 2) + '\n'
  if (format === 'csv') return reportCsv(report)
  return reportTable(report, limit)
}
