import { createServer, type Server, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import type { Express } from 'express'
import { loadConfig, describeDatabase, type BridgeConfig } from './config.ts'
import { systemClock, type Clock } from './clock.ts'
import { createLogger, useScrubber, type Logger } from './log.ts'
import { createScrubber, secretValuesFromEnv } from './scrub.ts'
import { scrubbedDestination } from './destinations/scrubbed.ts'
import { createSandboxApp } from './server/sandbox-app.ts'
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
  /** Serve vendor sandboxes on 127.0.0.1:SANDBOX_PORT under /sandbox/<vendor> (default: on unless SANDBOX_PORT=off). */
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
  /** The sandbox listener (`http://127.0.0.1:<port>`), undefined when sandboxes are off. */
  sandboxUrl: string | undefined
  /** `<sandboxUrl>/sandbox`: what destinations without credentials append `/<vendor>` to. */
  sandboxBase: string
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
  // Every configured secret value is removed from what is logged and stored from here on (src/scrub.ts).
  const scrub = createScrubber(secretValuesFromEnv(config.env))
  useScrubber(logger, scrub)
  const store = await openStore(config.databaseUrl)
  const sources = await loadSources()
  const metrics = new Metrics(sources.keys())
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
  const sandboxesOn = options.sandboxes !== false && config.sandboxPort !== undefined
  let sandboxBase = `http://127.0.0.1:${config.sandboxPort ?? 3001}/sandbox`
  let hubspotDeals: HubspotDealClient | undefined
  const notifications = await createNotificationParts({
    env: config.env,
    databaseUrl: config.databaseUrl,
    sandboxBase: () => sandboxBase,
    sandboxes: sandboxesOn,
    logger
  })
  const hooks = await createHookParts({ env: config.env, databaseUrl: config.databaseUrl, plan: () => plan, logger })
  const sandboxes = sandboxesOn ? [...createSandboxes(), ...(notifications.sandbox ? [notifications.sandbox] : [])] : []
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
    maxDepth: config.maxDepth,
    scrub,
    metricsToken: config.metricsToken,
    sandboxBase: () => sandboxBase,
    onAccepted: () => worker?.notify(),
    onRequeued: () => worker?.notify(),
    adminToken: config.adminToken,
    version,
    accepting: () => accepting,
    routers: [notifications.router, hooks.router],
    hubspotDeals: () => (hubspotDeals ??= hubspotDealClientFromEnv(config.env, sandboxesOn ? sandboxBase : undefined))
  })

  const timeouts = { requestTimeoutMs: config.requestTimeoutMs, headersTimeoutMs: config.headersTimeoutMs }
  const server = await listen(app, config.port, config.host, timeouts)
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  // The sandboxes get their own listener on loopback whatever HOST is: they are unauthenticated by design.
  let sandboxServer: Server | undefined
  let sandboxUrl: string | undefined
  if (sandboxesOn) {
    try {
      sandboxServer = await listen(createSandboxApp(sandboxes), config.sandboxPort!, '127.0.0.1', timeouts)
    } catch (err) {
      await closeServer(server)
      await notifications.close()
      await store.close()
      throw new Error(`the sandboxes could not listen on 127.0.0.1:${config.sandboxPort} (${(err as Error).message}); set SANDBOX_PORT to a free port, 0 for any, or off`)
    }
    sandboxUrl = `http://127.0.0.1:${(sandboxServer.address() as AddressInfo).port}`
    sandboxBase = `${sandboxUrl}/sandbox`
  }
  try {
    destinations =
      typeof options.destinations === 'function'
        ? await options.destinations(sandboxBase)
        : (options.destinations ?? (await createDestinations({ env: config.env, sandboxBase, extra: notifications.destinations })))
    // Configured by env alone (BRIDGE_HOOKS_API_KEY), so it joins an overridden list too.
    destinations = [...destinations, ...hooks.destinations.filter((h) => !destinations.some((d) => d.name === h.name))]
    // A destination with credentials never talks to a sandbox, and a sandboxed one needs the listener.
    for (const d of destinations) {
      if (!d.sandboxed && d.target.includes(sandboxBase)) throw new Error(`destination ${d.name} has credentials but targets the sandbox ${d.target}; unset its *_BASE_URL/HOST override`)
    }
    destinations = destinations.map((d) => scrubbedDestination(d, scrub))
  } catch (err) {
    // A configuration error (unknown DESTINATIONS, bad secret format...): release the port and the store so the
    // process exits with the message instead of hanging half-started.
    await closeServer(server)
    if (sandboxServer) await closeServer(sandboxServer)
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
    sandboxed: destinations.filter((d) => d.sandboxed).map((d) => d.name),
    sandboxUrl: sandboxUrl ?? 'off',
    trackingPlan: plan.fingerprint
  })
  process.on('SIGHUP', onHangup)
  for (const d of destinations.filter((x) => x.sandboxed)) {
    logger.info(`destination ${d.name} is sandboxed: no credentials set, delivering to ${d.target}`)
    if (!sandboxUrl) logger.warn(`destination ${d.name} has no credentials and the sandboxes are off (SANDBOX_PORT=off): its deliveries will fail until credentials are set`)
  }
  if (sandboxUrl) {
    logger.info(`vendor sandboxes on ${sandboxBase}/<vendor> (loopback only)`)
    if (!destinations.some((d) => d.sandboxed)) logger.warn('every destination has credentials, yet the vendor sandboxes are listening on loopback: set SANDBOX_PORT=off in production')
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
      if (sandboxServer) await closeServer(sandboxServer)
      await store.close()
      logger.info('referral-bridge stopped')
    })())

  return { app, store, worker, sources, get plan() { return plan }, reloadPlan, destinations, sandboxes, notifications, hooks, metrics, logger, url, sandboxUrl, sandboxBase, stop }
}

/**
 * Slow clients: the headers must arrive within headersTimeoutMs and the whole request (headers and body)
 * within requestTimeoutMs (default 30 s), else Node answers 408 and closes the socket. With the body limit that
 * is also the body-rate floor (512 KB in 30 s ≈ 17 KB/s at the limit). Node checks these every
 * connectionsCheckingInterval (default 30 s, which would double the bound), so we check every second.
 */
function listen(app: RequestListener, port: number, host: string, t: { requestTimeoutMs: number; headersTimeoutMs: number }): Promise<Server> {
  const server = createServer(
    {
      requestTimeout: t.requestTimeoutMs,
      headersTimeout: t.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersTimeoutMs / 4)))
    },
    app
  )
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise<void>((resolve) => server.close(() => resolve()))
}
