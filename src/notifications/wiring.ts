import { randomBytes } from 'node:crypto'
import type { Router } from 'express'
import type { Logger } from '../log.ts'
import type { Destination } from '../destinations/types.ts'
import { policyFromEnv } from '../destinations/types.ts'
import { inAppDestination, inAppPolicy } from '../destinations/in-app.ts'
import { appWebhookDestination, appWebhookPolicy } from '../destinations/app-webhook.ts'
import { createAppSandbox, type AppSandboxState } from '../sandboxes/app.ts'
import type { FaultSwitch } from '../sandboxes/faults.ts'
import { NotificationHub } from './hub.ts'
import { openNotificationStore } from './open.ts'
import { notificationsRouter } from './routes.ts'
import type { NotificationStore } from './store.ts'

export interface NotificationPartsOptions {
  env: NodeJS.ProcessEnv
  /** The bridge's DATABASE_URL: the notifications table lives next to the queue, over its own connection. */
  databaseUrl: string
  /** e.g. http://127.0.0.1:3001/sandbox (SANDBOX_PORT); a function when the port is only known after listen. */
  sandboxBase: string | (() => string)
  /** The bridge serves sandboxes (default true). When false and APP_WEBHOOK_URL is unset, app_webhook is left out. */
  sandboxes?: boolean
  logger?: Logger
  now?: () => number
  /** SSE heartbeat (ms), default 15 s. */
  heartbeatMs?: number
  /** PostgreSQL schema for the notifications table (tests). */
  schema?: string
}

export interface NotificationParts {
  store: NotificationStore
  hub: NotificationHub
  /** Mount on the app before the 404 handler: /api/advocates/:id/notifications[...]. */
  router: Router
  /** in_app and (unless left out) app_webhook, filtered by DESTINATIONS when it is set. */
  destinations: Destination[]
  /** The shop's app sandbox, to serve at /sandbox/app, when APP_WEBHOOK_URL is unset. */
  sandbox?: { vendor: 'app'; router: Router; faults: FaultSwitch; state: AppSandboxState }
  /** Ends SSE streams and closes the store: call after the delivery worker stopped. */
  close(): Promise<void>
}

export const NOTIFICATION_DESTINATIONS = ['in_app', 'app_webhook'] as const

/**
 * Environment:
 *   BRIDGE_APP_API_KEY        key the shop's app uses on /api/advocates/... (unset → 503)
 *   APP_WEBHOOK_URL           the app's webhook endpoint (unset → the app sandbox at <sandboxBase>/app)
 *   APP_WEBHOOK_SECRET        whsec_<base64>; required with APP_WEBHOOK_URL, generated for the sandbox otherwise
 *   APP_WEBHOOK_TIMEOUT_MS    per request, default 10000
 *   NOTIFICATION_DEADLINE_MS  SLA deadline after receipt for both destinations, default 300000 (0 = none)
 *   IN_APP_* / APP_WEBHOOK_*  queue policy overrides (MAX_ATTEMPTS, MAX_AGE_MS, CONCURRENCY, ... see policyFromEnv)
 */
export async function createNotificationParts(options: NotificationPartsOptions): Promise<NotificationParts> {
  const { env } = options
  const deadlineMs = readNumber(env, 'NOTIFICATION_DEADLINE_MS') ?? 5 * 60_000
  const timeoutMs = readNumber(env, 'APP_WEBHOOK_TIMEOUT_MS') ?? 10_000
  const url = env.APP_WEBHOOK_URL?.trim() || undefined
  if (url && !env.APP_WEBHOOK_SECRET) throw new Error('APP_WEBHOOK_URL is set but APP_WEBHOOK_SECRET is not: set the whsec_... secret the app verifies with')
  if (url) {
    try {
      new URL(url)
    } catch {
      throw new Error('APP_WEBHOOK_URL is not a valid URL')
    }
  }
  // Policies first: a bad env value fails startup before anything is opened.
  const inAppPolicyFromEnv = policyFromEnv('in_app', inAppPolicy, env)
  const appPolicyFromEnv = policyFromEnv('app_webhook', appWebhookPolicy, env)

  const store = await openNotificationStore(options.databaseUrl, { schema: options.schema })
  const hub = new NotificationHub()
  const router = notificationsRouter({
    store,
    hub,
    apiKey: env.BRIDGE_APP_API_KEY || undefined,
    heartbeatMs: options.heartbeatMs,
    now: options.now,
    logger: options.logger
  })

  const destinations: Destination[] = [inAppDestination({ store, hub, policy: inAppPolicyFromEnv, deadlineMs, now: options.now })]
  let sandbox: NotificationParts['sandbox']
  try {
    if (url) {
      destinations.push(
        appWebhookDestination({ url, secret: env.APP_WEBHOOK_SECRET!, sandboxed: false, policy: appPolicyFromEnv, timeoutMs, deadlineMs, now: options.now })
      )
    } else if (options.sandboxes !== false) {
      const secret = env.APP_WEBHOOK_SECRET || `whsec_${randomBytes(32).toString('base64')}`
      sandbox = { vendor: 'app', ...createAppSandbox({ secret }) }
      const base = options.sandboxBase
      const sandboxUrl = () => `${(typeof base === 'function' ? base() : base).replace(/\/$/, '')}/app/webhooks/referral-bridge`
      destinations.push(appWebhookDestination({ url: sandboxUrl, secret, sandboxed: true, policy: appPolicyFromEnv, timeoutMs, deadlineMs, now: options.now }))
    } else {
      options.logger?.info('app_webhook left out: APP_WEBHOOK_URL is unset and sandboxes are off')
    }
  } catch (err) {
    await store.close()
    throw err
  }

  const wanted = env.DESTINATIONS?.split(',').map((s) => s.trim()).filter(Boolean)
  let closed: Promise<void> | undefined
  return {
    store,
    hub,
    router,
    destinations: wanted ? destinations.filter((d) => wanted.includes(d.name)) : destinations,
    sandbox,
    close: () =>
      (closed ??= (async () => {
        hub.close()
        await store.close()
      })())
  }
}

function readNumber(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const raw = env[key]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${key} must be a non-negative number, got "${raw}"`)
  return n
}
