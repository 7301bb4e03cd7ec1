import { parseArgs } from 'node:util'
import { dirname, join, resolve } from 'node:path'
import { loadConfig } from '../config.ts'
import { openStore } from '../queue/open.ts'
import { loadTrackingPlan } from '../tracking-plan/plan.ts'
import { createDestinations } from '../destinations/registry.ts'
import { parseSince } from '../server/admin-routes.ts'
import { fileWatermark, postgresWatermark, type Watermark } from '../salesforce/watermark.ts'
import { hubspotDealClientFromEnv } from './deals.ts'
import { reconcileHubspot } from './reconcile.ts'

export const HUBSPOT_USAGE = `referral-bridge hubspot <command>

  reconcile [--since 30d|ISO]           closed-won deals modified since the watermark → Referral Revenue Won for the
                                        referred ones (deduped with the webhook on the deal id)

HubSpot access: HUBSPOT_ACCESS_TOKEN (+ HUBSPOT_BASE_URL); none: the sandbox of a bridge running on PORT.
Won stages: HUBSPOT_WON_STAGES (default closedwon). See docs/hubspot.md.`

/** Next to the Salesforce one: a file beside the SQLite database, or a row of referral_bridge_kv on PostgreSQL. */
export async function hubspotWatermarkFor(databaseUrl: string): Promise<Watermark> {
  if (databaseUrl.startsWith('sqlite:')) return fileWatermark(join(dirname(resolve(databaseUrl.slice('sqlite:'.length))), 'hubspot-reconcile.json'))
  return postgresWatermark(databaseUrl, 'hubspot.reconcile.watermark')
}

export async function hubspotCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const print = (s: string) => void out.write(s + '\n')
  const [sub, ...rest] = args
  if (sub !== 'reconcile') {
    print(HUBSPOT_USAGE)
    return sub === undefined || sub === 'help' ? 0 : 2
  }
  const { values } = parseArgs({ args: rest, options: { since: { type: 'string' } } })
  const config = loadConfig(env)
  const sandboxBase = `http://127.0.0.1:${env.PORT || 3000}/sandbox`
  const client = hubspotDealClientFromEnv(env, sandboxBase)!
  const store = await openStore(config.databaseUrl)
  const watermark = await hubspotWatermarkFor(config.databaseUrl)
  const destinations = await createDestinations({ env, sandboxBase })
  try {
    print(`reconciling closed-won HubSpot deals (watermark: ${watermark.describe})`)
    const summary = await reconcileHubspot({
      client,
      store,
      plan: loadTrackingPlan(config.trackingPlanDir),
      destinations,
      watermark,
      env,
      since: values.since ? parseSince(values.since) : undefined,
      onProgress: (p) => out.write(`\r  ${p.fetched} read, ${p.stored} new, ${p.duplicates} already known`)
    })
    if (summary.pages) out.write('\n')
    print(
      `${summary.fetched} won deal(s) read in ${summary.pages} page(s): ${summary.stored - summary.notReferred - summary.quarantined} new Referral Revenue Won, ` +
        `${summary.notReferred} not referred, ${summary.duplicates} already known (webhook or earlier run), ${summary.quarantined} quarantined; watermark ${summary.watermark ?? 'unchanged'}`
    )
    return 0
  } finally {
    await Promise.all(destinations.map((d) => d.close?.()))
    await watermark.close()
    await store.close()
  }
}
