import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import type { Express } from 'express'
import { loadConfig, describeDatabase, type BridgeConfig } from './config.ts'
import { systemClock, type Clock } from './clock.ts'
import { createLogger, type Logger } from './log.ts'
import { Metrics } from './metrics.ts'
import { openStore } from './queue/open.ts'
import type { Store } from './queue/store.ts'
import { DeliveryWorker, type WorkerOptions } from './queue/worker.ts'
import { loadSources } from './sources/registry.ts'
import type { Source } from './sources/types.ts'
import { loadTrackingPlan, type TrackingPlan } from './tracking-plan/plan.ts'
import { reloadTrackingPlan, type PlanReload } from './tracking-plan/reload.ts'
import { createDestinations } from './destinations/registry.ts'
import type { Destination } from './destinations/types.ts'
import { createSandboxes, type Sandbox } from './sandboxes/index.ts'
import { createApp } from './server/app.ts'
import { createNotificationParts, type NotificationParts } from './notifications/wiring.ts'
import { createHookParts, type HookParts } from './hooks/wiring.ts'
import { hubspotDealClientFromEnv, type HubspotDealClient } from './hubspot/deals.ts'

export interface BridgeOptions {
  config?: BridgeConfig
  clock?: Clock
  logger?: Logger
  /** Override the destinations (tests); default: the registry, sandboxed where credentials are missing. */
  destinations?: Destination[] | ((sandboxBase: string) => Promise<Destination[]>)
  worker?: Partial<Omit<WorkerOptions, 'clock' | 'logger' | 'metrics'>>
  /** Serve vendor sandboxes under /sandbox/<vendor> (default: on). */
  sandboxes?: boolean
  /** Start delivering on start() (default: on). */
  deliver?: boolean
}

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

export interface Bridge {
  app: Express
  store: Store
  worker: DeliveryWorker
  sources: Map<string, Source>
  /** The running plan (changes on reload). */
  readonly plan: TrackingPlan
  /** Re-reads TRACKING_PLAN_DIR; on lint errors the running plan stays (also on SIGHUP and POST /admin/plan/reload). */
  reloadPlan(): PlanReload
  destinations: Destination[]
  sandboxes: Sandbox[]
  notifications: NotificationParts
  /** REST Hooks (Zapier / Make): subscriptions API and the rest_hooks destination. */
  hooks: HookParts
  metrics: Metrics
  logger: Logger
  url: string
  stop(graceMs?: number): Promise<void>
}

/**
 * Wires the bridge: store → app (webhooks, admin, metrics, sandboxes) → listen → destinations (they need the
 * bound port to find the sandboxes) → delivery worker. `stop()` is the graceful shutdown: stop accepting,
 * finish or release in-flight jobs, flush Segment, close the store.
 */
export async function startBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const config = options.config ?? loadConfig()
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? createLogger()
  const metrics = new Metrics()
  const store = await openStore(config.databaseUrl)
  const sources = await loadSources()
  let plan = loadTrackingPlan(config.trackingPlanDir)
  // A plan change goes live without a restart, but only once it lints: a broken file keeps the old plan running.
  const reloadPlan = (): PlanReload => {
    const result = reloadTrackingPlan(config.trackingPlanDir, plan)
    if (!result.ok) {
      logger.error('tracking plan NOT reloaded: the files do not lint; the running plan stays', { trackingPlan: plan.fingerprint, errors: result.errors })
      return result
    }
    if (result.changed) logger.info('tracking plan reloaded', { trackingPlan: result.plan.fingerprint, previous: plan.fingerprint })
    else logger.info('tracking plan unchanged', { trackingPlan: plan.fingerprint })
    plan = result.plan
    return result
  }
  const onHangup = () => void reloadPlan()
  let sandboxBase = ''
  let hubspotDeals: HubspotDealClient | undefined
  const notifications = await createNotificationParts({
    env: config.env,
    databaseUrl: config.databaseUrl,
    sandboxBase: () => sandboxBase,
    sandboxes: options.sandboxes !== false,
    logger
  })
  const hooks = await createHookParts({ env: config.env, databaseUrl: config.databaseUrl, plan: () => plan, logger })
  const sandboxes = options.sandboxes === false ? [] : [...createSandboxes(), ...(notifications.sandbox ? [notifications.sandbox] : [])]
  let destinations: Destination[] = []
  let worker: DeliveryWorker | undefined
  // Closed until the destinations exist: a webhook accepted earlier would be committed with no jobs.
  let accepting = false
  let stopping = false

  const app = createApp({
    sources,
    store,
    plan: () => plan,
    planDir: config.trackingPlanDir,
    reloadPlan,
    destinations: () => destinations,
    env: config.env,
    logger,
    metrics,
    clock,
    bodyLimit: config.bodyLimit,
    onAccepted: () => worker?.notify(),
    onRequeued: () => worker?.notify(),
    adminToken: config.adminToken,
    sandboxes,
    version,
    accepting: () => accepting,
    routers: [notifications.router, hooks.router],
    hubspotDeals: () => (hubspotDeals ??= hubspotDealClientFromEnv(config.env, options.sandboxes === false ? undefined : sandboxBase || undefined))
  })

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s))
    s.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  sandboxBase = `${url}/sandbox`
  try {
    destinations =
      typeof options.destinations === 'function'
        ? await options.destinations(sandboxBase)
        : (options.destinations ?? (await createDestinations({ env: config.env, sandboxBase, extra: notifications.destinations })))
    // Configured by env alone (BRIDGE_HOOKS_API_KEY), so it joins an overridden list too.
    destinations = [...destinations, ...hooks.destinations.filter((h) => !destinations.some((d) => d.name === h.name))]
  } catch (err) {
    // A configuration error (unknown DESTINATIONS, bad secret format...): release the port and the store so the
    // process exits with the message instead of hanging half-started.
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await notifications.close()
    await hooks.close()
    await store.close()
    throw err
  }
  worker = new DeliveryWorker(store, destinations, { clock, logger, metrics, ...options.worker })
  accepting = !stopping
  // DELIVERY=off runs an ingest-only instance (another instance, or a later start, delivers).
  if (options.deliver ?? config.env.DELIVERY !== 'off') worker.start()

  const publicUrl = (config.publicUrl ?? url).replace(/\/$/, '')
  logger.info('referral-bridge listening', {
    url,
    webhookUrls: Object.fromEntries([...sources.keys()].map((name) => [name, `${publicUrl}/webhooks/${name}`])),
    store: describeDatabase(config.databaseUrl),
    sources: [...sources.values()].map((s) => ({ name: s.name, configured: s.secretEnv.some((v) => !!config.env[v]) })),
    destinations: destinations.map((d) => ({ name: d.name, sandboxed: d.sandboxed, target: d.target })),
    trackingPlan: plan.fingerprint
  })
  process.on('SIGHUP', onHangup)
  for (const d of destinations.filter((x) => x.sandboxed)) {
    logger.info(`destination ${d.name} is sandboxed: no credentials set, delivering to ${d.target}`)
  }

  let stopped: Promise<void> | undefined
  const stop = (graceMs = 10_000) =>
    (stopped ??= (async () => {
      accepting = false
      stopping = true
      process.off('SIGHUP', onHangup)
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      await worker!.stop(graceMs)
      await Promise.all(destinations.map((d) => d.close?.().catch((err) => logger.error('destination close failed', { destination: d.name, error: err }))))
      await notifications.close()
      await hooks.close()
      server.closeAllConnections()
      await closed
      await store.close()
      logger.info('referral-bridge stopped')
    })())

  return { app, store, worker, sources, get plan() { return plan }, reloadPlan, destinations, sandboxes, notifications, hooks, metrics, logger, url, stop }
}
