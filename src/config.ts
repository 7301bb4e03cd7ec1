import { resolve } from 'node:path'

/** Everything configurable comes from the environment (README "Configuration" lists every variable). */
export interface BridgeConfig {
  port: number
  host: string
  /** `sqlite:<path>` or `postgres://...`; unset → ./data/bridge.sqlite */
  databaseUrl: string
  adminToken?: string
  /** Public base URL of this bridge, for the webhook URLs printed at startup and sandbox base URLs. */
  publicUrl?: string
  bodyLimit: string
  trackingPlanDir: string
  env: NodeJS.ProcessEnv
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const port = env.PORT ? Number(env.PORT) : 3000
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a TCP port, got "${env.PORT}"`)
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    databaseUrl: env.DATABASE_URL || `sqlite:${resolve('data/bridge.sqlite')}`,
    adminToken: env.BRIDGE_ADMIN_TOKEN || undefined,
    publicUrl: env.PUBLIC_URL || undefined,
    bodyLimit: env.WEBHOOK_BODY_LIMIT ?? '512kb',
    trackingPlanDir: resolve(env.TRACKING_PLAN_DIR ?? 'tracking-plan'),
    env
  }
}

/** The DSN without credentials, for logs. */
export function describeDatabase(url: string): string {
  if (url.startsWith('sqlite:')) return url
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.hostname}:${u.port || 5432}${u.pathname}`
  } catch {
    return 'postgres (unparsable URL)'
  }
}
