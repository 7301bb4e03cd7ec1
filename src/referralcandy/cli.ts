import { parseArgs } from 'node:util'
import { loadConfig, sandboxBaseFromEnv } from '../config.ts'
import { openStore } from '../queue/open.ts'
import { loadSources } from '../sources/registry.ts'
import { loadTrackingPlan } from '../tracking-plan/plan.ts'
import { createDestinations } from '../destinations/registry.ts'
import { parseSince } from '../server/admin-routes.ts'
import { progress } from '../cli/progress.ts'
import { referralCandyClientFromEnv } from './api.ts'
import { pollReferrals, pollWatermarkFor } from './poll.ts'

export const REFERRALCANDY_USAGE = `referral-bridge referralcandy <command>

  poll [--since 7d|ISO] [--sandbox]     referrals.json since the last poll (minus 24 h overlap; first run: 30 days)
                                        → the webhook's ingest path; referrals the webhook delivered are duplicates

Credentials: REFERRALCANDY_ACCESS_ID + REFERRALCANDY_API_SECRET (REFERRALCANDY_API_BASE_URL to override the API).
None: refused, unless --sandbox reads the sandbox of a local bridge (127.0.0.1:SANDBOX_PORT, default 3001).
See docs/referralcandy.md.`

/** `referral-bridge referralcandy …` */
export async function referralcandyCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const print = (s: string) => void out.write(s + '\n')
  const [sub, ...rest] = args
  if (sub !== 'poll') {
    print(REFERRALCANDY_USAGE)
    return sub === undefined || sub === 'help' ? 0 : 2
  }
  const { values } = parseArgs({ args: rest, options: { since: { type: 'string' }, sandbox: { type: 'boolean' } } })
  const since = values.since ? parseSince(values.since) : undefined
  const config = loadConfig(env)
  const sandboxBase = sandboxBaseFromEnv(env)
  // Whatever the sandbox holds is test data anyone on the machine can write: it is only read when asked for, so a
  // forgotten REFERRALCANDY_ACCESS_ID cannot turn invented referrals into CRM contacts.
  if (!env.REFERRALCANDY_ACCESS_ID && !values.sandbox) {
    print('REFERRALCANDY_ACCESS_ID is not set: refusing to poll the local sandbox without --sandbox (set REFERRALCANDY_ACCESS_ID and REFERRALCANDY_API_SECRET for the real API)')
    return 2
  }
  const client = referralCandyClientFromEnv(env, values.sandbox ? sandboxBase : undefined)
  const store = await openStore(config.databaseUrl)
  const watermark = await pollWatermarkFor(config.databaseUrl)
  const destinations = await createDestinations({ env, sandboxBase })
  try {
    print(`polling ${client.baseUrl}/referrals.json (watermark: ${watermark.describe})`)
    const report = progress('committing referrals')
    const summary = await pollReferrals({
      store,
      sources: await loadSources(),
      plan: loadTrackingPlan(config.trackingPlanDir),
      destinations,
      client,
      watermark,
      since,
      onProgress: (p) => report(p.done, p.total)
    })
    print(
      `${summary.fetched} referral(s) from ${summary.periodFrom} to ${summary.periodTo}: ${summary.stored} new (missed by the webhook), ` +
        `${summary.duplicates} already known, ${summary.quarantined} quarantined, ${summary.skipped} skipped (no emails or purchase time); ` +
        `watermark ${summary.watermark ?? 'unchanged'}`
    )
    if (summary.stored) print('a running bridge delivers the new events (or start one: referral-bridge serve)')
    return 0
  } finally {
    await Promise.all(destinations.map((d) => d.close?.()))
    await watermark.close()
    await store.close()
  }
}
