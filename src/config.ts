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
  /** Loopback port of the vendor sandboxes (`SANDBOX_PORT`, default 3001; 0 = any free port); undefined = `off`. */
  sandboxPort: number | undefined
  /** Nesting limit of webhook JSON bodies, checked before parsing (`WEBHOOK_MAX_DEPTH`, default 64). */
  maxDepth: number
  /** Whole-request bound for slow clients (`REQUEST_TIMEOUT_MS`, default 30 s) and for the headers alone. */
  requestTimeoutMs: number
  headersTimeoutMs: number
  /** Optional bearer token for GET /metrics (`METRICS_TOKEN`). */
  metricsToken?: string
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
    sandboxPort: sandboxPort(env),
    maxDepth: positiveInt(env, 'WEBHOOK_MAX_DEPTH', 64),
    requestTimeoutMs: positiveInt(env, 'REQUEST_TIMEOUT_MS', 30_000),
    headersTimeoutMs: Math.min(positiveInt(env, 'HEADERS_TIMEOUT_MS', 10_000), positiveInt(env, 'REQUEST_TIMEOUT_MS', 30_000)),
    metricsToken: env.METRICS_TOKEN || undefined,
    trackingPlanDir: resolve(env.TRACKING_PLAN_DIR ?? 'tracking-plan'),
    env
  }
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return n
}

function sandboxPort(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.SANDBOX_PORT
  if (raw === 'off') return undefined
  if (raw === undefined || raw === '') return 3001
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`SANDBOX_PORT must be a TCP port or "off", got "${raw}"`)
  return n
}

/**
 * Where the CLI commands (poll, reconcile, replay) find the sandboxes of a bridge running on this machine:
 * always loopback, SANDBOX_PORT (default 3001). They only read it when asked to (`--sandbox`).
 */
export function sandboxBaseFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return `http://127.0.0.1:${sandboxPort(env) ?? 3001}/sandbox`
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
