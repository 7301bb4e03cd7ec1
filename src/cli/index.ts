import { parseArgs } from 'node:util'
import { loadConfig, sandboxBaseFromEnv } from '../config.ts'
import { openStore } from '../queue/open.ts'
import type { Store, JobRow } from '../queue/store.ts'
import { filterFrom } from '../server/admin-routes.ts'
import { replayDeadLetters } from '../ops/dead-letter.ts'
import { replayQuarantine } from '../ops/quarantine.ts'
import { loadSources } from '../sources/registry.ts'
import { loadTrackingPlan } from '../tracking-plan/plan.ts'
import { createDestinations } from '../destinations/registry.ts'
import { progress } from './progress.ts'

const USAGE = `referral-bridge <command>

  serve                                 run the bridge (webhooks, delivery, admin API, sandboxes)
  dlq list [filters] [--json]           dead-lettered jobs
  dlq show <job-id>                     one dead job with its event and attempts
  dlq replay (<job-id>... | --all) [filters]
                                        replay dead jobs with their original ids
  events show <id>                      a webhook (inbox, message or job id): raw body, messages, attempts
  quarantine list [--source s] [--event e] [--json]
  quarantine replay [--source s]        re-normalize quarantined items with the current plan
  functions new|build|deploy|test ...   destination functions (docs/adding-a-destination.md)
  plan lint|diff|preview|types|docs|push|pull ...   the tracking plan as code (referral-bridge plan help)
  salesforce setup --check | reconcile [--since 30d] | sync-revenue   Salesforce loop (docs/salesforce.md)
  hubspot reconcile [--since 30d]       closed-won HubSpot deals the webhook missed (docs/hubspot.md)
  referralcandy poll [--since 7d]       commit referrals the ReferralCandy webhook missed (docs/referralcandy.md)
  report advocates [--since 30d] [--format table|csv|json]   advocates ranked by closed-won revenue
  report advocates --friends-purchased-within 30d [--min 3] | report friends --signed-up-not-purchased
                                        the analysts' cohorts from the store (docs/analysts.md)

filters: --destination d --source s --event e --since 7d --error text --limit n
The CLI opens the store named by DATABASE_URL directly (default ./data/bridge.sqlite).`

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [command, sub, ...rest] = argv
  const print = (s: string) => out.write(s + '\n')
  try {
    switch (command) {
      case 'serve':
        return await serve()
      case 'dlq':
        return await withStore((store) => dlq(store, sub, rest, print))
      case 'events':
        if (sub !== 'show' || !rest[0]) return usage(print)
        return await withStore((store) => showEvent(store, rest[0], print))
      case 'quarantine':
        return await withStore((store) => quarantine(store, sub, rest, print))
      case 'functions': {
        const { functionsCommand } = await import('../functions/cli.ts')
        return await functionsCommand([sub, ...rest].filter((x) => x !== undefined))
      }
      case 'salesforce': {
        const { salesforceCommand } = await import('../salesforce/cli.ts')
        return await salesforceCommand([sub, ...rest].filter((x) => x !== undefined), out)
      }
      case 'hubspot': {
        const { hubspotCommand } = await import('../hubspot/cli.ts')
        return await hubspotCommand([sub, ...rest].filter((x) => x !== undefined), out)
      }
      case 'referralcandy': {
        const { referralcandyCommand } = await import('../referralcandy/cli.ts')
        return await referralcandyCommand([sub, ...rest].filter((x) => x !== undefined), out)
      }
      case 'report': {
        const cohorts = await import('../reports/cli.ts')
        const args = [sub, ...rest].filter((x) => x !== undefined)
        if (cohorts.isCohortReport(args)) return await withStore((store) => cohorts.cohortReportCommand(args, store, out))
        const { reportCommand } = await import('../salesforce/cli.ts')
        return await reportCommand([sub, ...rest].filter((x) => x !== undefined), out)
      }
      case 'plan': {
        const { planCommand } = await import('../tracking-plan/cli.ts')
        return await planCommand([sub, ...rest].filter((x) => x !== undefined), out)
      }
      case 'help':
      case '--help':
      case undefined:
        print(USAGE)
        return command ? 0 : 1
      default:
        print(`unknown command "${command}"\n`)
        return usage(print)
    }
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`)
    return 1
  }
}

function usage(print: (s: string) => void): number {
  print(USAGE)
  return 2
}

async function withStore(fn: (store: Store) => Promise<number>): Promise<number> {
  const store = await openStore(loadConfig().databaseUrl)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

const filterOptions = {
  destination: { type: 'string' },
  source: { type: 'string' },
  event: { type: 'string' },
  since: { type: 'string' },
  error: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' }
} as const

async function dlq(store: Store, sub: string | undefined, args: string[], print: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: filterOptions, allowPositionals: true })
  const filter = filterFrom(values)
  if (sub === 'list') {
    const jobs = await store.listJobs('dead', filter)
    if (values.json) print(JSON.stringify(jobs, null, 2))
    else printJobs(jobs, print)
    return 0
  }
  if (sub === 'show' && positionals[0]) {
    const inboxId = await store.resolveInboxId(positionals[0])
    const detail = inboxId && (await store.getEvent(inboxId))
    if (!detail) return notFound(positionals[0], print)
    const job = detail.jobs.find((j) => j.id === positionals[0])
    print(JSON.stringify({ job, attempts: detail.attempts.filter((a) => a.jobId === positionals[0]), event: detail.inbox.id, message: detail.messages.find((m) => m.messageId === job?.messageId)?.message }, null, 2))
    return 0
  }
  if (sub === 'replay') {
    if (!positionals.length && !values.all && !Object.values(filter).some((v) => v !== undefined)) {
      print('dlq replay needs job ids, filters, or --all')
      return 2
    }
    const result = await replayDeadLetters(store, positionals.length ? { ids: positionals } : { filter }, Date.now(), progress('replaying'))
    print(`replayed ${result.replayed} of ${result.matched} matching dead job(s); a running bridge delivers them with their original ids`)
    return 0
  }
  return usage(print)
}

function printJobs(jobs: JobRow[], print: (s: string) => void) {
  if (!jobs.length) return print('no dead jobs')
  print(['job', 'destination', 'event', 'attempts', 'last error'].join('\t'))
  for (const j of jobs) print([j.id, j.destination, j.event, j.attempts, (j.lastError ?? '').slice(0, 120)].join('\t'))
  print(`${jobs.length} dead job(s)`)
}

async function showEvent(store: Store, id: string, print: (s: string) => void): Promise<number> {
  const inboxId = await store.resolveInboxId(id)
  const detail = inboxId && (await store.getEvent(inboxId))
  if (!detail) return notFound(id, print)
  print(JSON.stringify(detail, null, 2))
  return 0
}

async function quarantine(store: Store, sub: string | undefined, args: string[], print: (s: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { source: { type: 'string' }, event: { type: 'string' }, json: { type: 'boolean' } } })
  if (sub === 'list') {
    const rows = await store.listQuarantine({ source: values.source, event: values.event })
    if (values.json) print(JSON.stringify(rows, null, 2))
    else if (!rows.length) print('quarantine is empty')
    else for (const r of rows) print(`${r.inboxId}\t${r.event ?? r.eventType}\t${r.reasons.join('; ')}`)
    return 0
  }
  if (sub === 'replay') {
    const config = loadConfig()
    const destinations = await createDestinations({ env: config.env, sandboxBase: sandboxBaseFromEnv(config.env) })
    const summary = await replayQuarantine(
      { store, sources: await loadSources(), plan: loadTrackingPlan(config.trackingPlanDir), destinations, now: Date.now() },
      { source: values.source },
      progress('re-normalizing')
    )
    await Promise.all(destinations.map((d) => d.close?.()))
    print(`examined ${summary.examined}: ${summary.routed} now routed, ${summary.stillQuarantined} still quarantined`)
    for (const [reason, count] of Object.entries(summary.remaining)) print(`  ${count} × ${reason}`)
    return 0
  }
  return usage(print)
}

function notFound(id: string, print: (s: string) => void): number {
  print(`no webhook, message or job with id "${id}"`)
  return 1
}

async function serve(): Promise<number> {
  const { startBridge } = await import('../bridge.ts')
  const bridge = await startBridge()
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      bridge.logger.info('shutting down', { signal })
      bridge.stop().then(resolve, resolve)
    }
    process.once('SIGTERM', () => shutdown('SIGTERM'))
    process.once('SIGINT', () => shutdown('SIGINT'))
  })
  return 0
}
