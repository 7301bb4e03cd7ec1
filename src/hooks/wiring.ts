import { createHmac } from 'node:crypto'
import type { Router } from 'express'
import type { Logger } from '../log.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import { policyFromEnv } from '../destinations/types.ts'
import { REST_HOOKS_DESTINATION, restHooksDestination, restHooksPolicy } from '../destinations/rest-hooks.ts'
import { openHookStore } from './open.ts'
import { hooksRouter } from './routes.ts'
import type { HookStore } from './store.ts'

export interface HookPartsOptions {
  env: NodeJS.ProcessEnv
  databaseUrl: string
  plan: () => TrackingPlan
  logger?: Logger
  now?: () => number
  /** PostgreSQL schema (tests). */
  schema?: string
}

export interface HookParts {
  store: HookStore
  router: Router
  /** rest_hooks, unless hooks are off (no key, no secret) or DESTINATIONS leaves it out. */
  destinations: Destination[]
  close(): Promise<void>
}

/**
 * Environment:
 *   BRIDGE_HOOKS_API_KEY     bearer key of the REST Hooks API (unset → 503, and no deliveries unless the secret is set)
 *   BRIDGE_HOOKS_SECRET      whsec_<base64>: signs deliveries; unset → derived from BRIDGE_HOOKS_API_KEY (HMAC, one-way)
 *   HOOKS_REFRESH_MS         how often an instance re-reads which events have subscribers (default 5000): a
 *                            subscription made through another instance takes effect within that time
 *   REST_HOOKS_*             queue policy overrides (MAX_AGE_MS, CONCURRENCY, ... see policyFromEnv)
 */
export async function createHookParts(options: HookPartsOptions): Promise<HookParts> {
  const { env } = options
  const apiKey = env.BRIDGE_HOOKS_API_KEY?.trim() || undefined
  const secret = env.BRIDGE_HOOKS_SECRET?.trim() || (apiKey ? derivedSecret(apiKey) : undefined)
  const policy = policyFromEnv(REST_HOOKS_DESTINATION, restHooksPolicy, env)
  const refreshMs = Number(env.HOOKS_REFRESH_MS || 5_000)
  if (!Number.isFinite(refreshMs) || refreshMs < 100) throw new Error(`HOOKS_REFRESH_MS must be a number ≥ 100, got "${env.HOOKS_REFRESH_MS}"`)

  const store = await openHookStore(options.databaseUrl, { schema: options.schema })
  let destination: ReturnType<typeof restHooksDestination> | undefined
  try {
    if (secret) destination = restHooksDestination({ store, secret, policy, now: options.now, logger: options.logger })
    await destination?.refresh()
  } catch (err) {
    await store.close()
    throw err
  }
  const router = hooksRouter({ store, apiKey, plan: options.plan, changed: async () => destination?.refresh(), now: options.now, logger: options.logger })
  const timer = destination
    ? setInterval(() => destination!.refresh().catch((err) => options.logger?.warn('REST hook subscriptions not re-read', { error: err })), refreshMs)
    : undefined
  timer?.unref()

  const wanted = env.DESTINATIONS?.split(',').map((s) => s.trim()).filter(Boolean)
  const destinations = destination && (!wanted || wanted.includes(REST_HOOKS_DESTINATION)) ? [destination] : []
  let closed: Promise<void> | undefined
  return {
    store,
    router,
    destinations,
    close: () =>
      (closed ??= (async () => {
        if (timer) clearInterval(timer)
        await store.close()
      })())
  }
}

/** A signing secret subscribers can be given without giving them the API key (HMAC is one-way). */
export function derivedSecret(apiKey: string): string {
  return `whsec_${createHmac('sha256', apiKey).update('referral-bridge REST hooks signing secret').digest('base64')}`
}
