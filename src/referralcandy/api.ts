import { createHash } from 'node:crypto'

/**
 * Signed client for ReferralCandy's REST API (https://www.referralcandy.com/api, v2:
 * `https://my.referralcandy.com/api/v2/<method>.json`).
 *
 * Every call carries `accessID`, `timestamp` (Unix seconds) and `signature` = hex MD5(API secret + the sorted
 * `name=value` strings of all params, joined with no separator). Values are signed unencoded and URL-encoded on
 * the wire. The timestamp is taken afresh for every attempt, so a retry after a long Retry-After is still
 * inside the server's clock window.
 *
 * Env: `REFERRALCANDY_ACCESS_ID`, `REFERRALCANDY_API_SECRET` (the same secret that signs the webhook),
 * `REFERRALCANDY_API_BASE_URL` (default https://my.referralcandy.com/api/v2).
 */
export const DEFAULT_BASE_URL = 'https://my.referralcandy.com/api/v2'

export type Params = Record<string, string | number | boolean | undefined>

/** hex MD5(secret + sorted "name=value" strings joined with no separator). `signature` itself is never signed. */
export function referralCandySignature(secret: string, params: Params): string {
  const pairs = Object.entries(params)
    .filter(([name, value]) => name !== 'signature' && value !== undefined)
    .map(([name, value]) => `${name}=${value}`)
    .sort()
  return createHash('md5').update(secret + pairs.join(''), 'utf8').digest('hex')
}

/** A record of `referrals.json` (fields as seen in ReferralCandy's list; all optional, the API is loosely typed). */
export interface ReferralCandyReferral {
  referral_email?: string
  referring_email?: string
  /** Unix seconds of the referred purchase (the webhook's `referral_timestamp`). */
  referral_timestamp?: number | string
  referral_order_time?: string
  review_period_over?: boolean
  shopify_order_number?: number | string
  external_reference_id?: string
  [field: string]: unknown
}

export class ReferralCandyApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body?: unknown
  ) {
    super(message)
    this.name = 'ReferralCandyApiError'
  }
}

export interface ReferralCandyClientOptions {
  accessId: string
  secret: string
  baseUrl?: string
  /** ms since epoch; the signed `timestamp` is this in seconds. */
  now?: () => number
  fetch?: typeof fetch
  sleep?: (ms: number) => Promise<void>
  /** Retries after a 429 or a 5xx / network error (default 3). */
  maxRetries?: number
  /** Longest Retry-After we are willing to wait (default 60 s); longer fails the call. */
  maxRetryAfterMs?: number
  timeoutMs?: number
}

export interface ReferralCandyClient {
  readonly baseUrl: string
  get<T = Record<string, unknown>>(method: string, params?: Params): Promise<T>
}

export function referralCandyClient(options: ReferralCandyClientOptions): ReferralCandyClient {
  const baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const doFetch = options.fetch ?? fetch
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const maxRetries = options.maxRetries ?? 3
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000

  async function attempt(method: string, params: Params): Promise<{ status: number; body: unknown; retryAfter: string | null }> {
    const signed: Params = { ...params, accessID: options.accessId, timestamp: Math.floor(now() / 1000) }
    signed.signature = referralCandySignature(options.secret, signed)
    const query = new URLSearchParams()
    for (const [k, v] of Object.entries(signed)) if (v !== undefined) query.set(k, String(v))
    const res = await doFetch(`${baseUrl}/${method}.json?${query}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000)
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: res.status, body, retryAfter: res.headers.get('retry-after') }
  }

  return {
    baseUrl,
    async get<T>(method: string, params: Params = {}): Promise<T> {
      for (let retry = 0; ; retry++) {
        let r: Awaited<ReturnType<typeof attempt>>
        try {
          r = await attempt(method, params)
        } catch (err) {
          if (retry < maxRetries) {
            await sleep(backoffMs(retry))
            continue
          }
          throw new ReferralCandyApiError(`ReferralCandy ${method}.json: request failed after ${retry + 1} attempt(s): ${(err as Error).message}`, 0)
        }
        if (r.status >= 200 && r.status < 300) return r.body as T
        const detail = messageOf(r.body)
        if (r.status === 401) {
          throw new ReferralCandyApiError(
            `ReferralCandy ${method}.json: 401 authentication failed${detail}: check REFERRALCANDY_ACCESS_ID and REFERRALCANDY_API_SECRET (Account > Profile > API Tokens) and that this host's clock is right`,
            401,
            r.body
          )
        }
        if (r.status === 403) {
          throw new ReferralCandyApiError(`ReferralCandy ${method}.json: 403 forbidden${detail}: authenticated, but the method is not available (suspended account or plan)`, 403, r.body)
        }
        if (r.status === 429) {
          const wait = retryAfterMs(r.retryAfter, now()) ?? backoffMs(retry)
          if (retry < maxRetries && wait <= maxRetryAfterMs) {
            await sleep(wait)
            continue
          }
          throw new ReferralCandyApiError(`ReferralCandy ${method}.json: 429 rate limited${detail} (gave up after ${retry + 1} attempt(s), Retry-After ${r.retryAfter ?? 'absent'})`, 429, r.body)
        }
        if (r.status >= 500) {
          if (retry < maxRetries) {
            await sleep(retryAfterMs(r.retryAfter, now()) ?? backoffMs(retry))
            continue
          }
          throw new ReferralCandyApiError(`ReferralCandy ${method}.json: ${r.status} server error${detail} (gave up after ${retry + 1} attempt(s))`, r.status, r.body)
        }
        throw new ReferralCandyApiError(`ReferralCandy ${method}.json: ${r.status}${detail}`, r.status, r.body)
      }
    }
  }
}

/** Fetches `referrals.json` for a period (Unix seconds, inclusive). */
export async function listReferrals(client: ReferralCandyClient, period: { from?: number; to?: number } = {}): Promise<ReferralCandyReferral[]> {
  const body = await client.get<{ referrals?: unknown }>('referrals', { period_from: period.from, period_to: period.to })
  if (!body || typeof body !== 'object' || !Array.isArray(body.referrals)) {
    throw new ReferralCandyApiError(`ReferralCandy referrals.json: unexpected answer (no "referrals" array): ${JSON.stringify(body).slice(0, 200)}`, 200, body)
  }
  return body.referrals as ReferralCandyReferral[]
}

/** The sandbox served by a bridge on PORT when no REFERRALCANDY_ACCESS_ID is set. */
export const SANDBOX_ACCESS_ID = 'sandbox-access-id'
export const SANDBOX_SECRET = 'sandbox-secret'

export function referralCandyClientFromEnv(env: NodeJS.ProcessEnv = process.env, sandboxBase?: string): ReferralCandyClient {
  const accessId = env.REFERRALCANDY_ACCESS_ID
  if (!accessId) {
    if (!sandboxBase) throw new Error('set REFERRALCANDY_ACCESS_ID and REFERRALCANDY_API_SECRET (ReferralCandy Account > Profile > API Tokens)')
    return referralCandyClient({ accessId: SANDBOX_ACCESS_ID, secret: env.REFERRALCANDY_API_SECRET || SANDBOX_SECRET, baseUrl: `${sandboxBase}/referralcandy/api/v2` })
  }
  const secret = env.REFERRALCANDY_API_SECRET
  if (!secret) throw new Error('REFERRALCANDY_ACCESS_ID is set but REFERRALCANDY_API_SECRET is not')
  return referralCandyClient({ accessId, secret, baseUrl: env.REFERRALCANDY_API_BASE_URL || DEFAULT_BASE_URL })
}

function messageOf(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>
    const parts = [b.message, b.reason].filter((x) => typeof x === 'string' && x)
    if (parts.length) return ` (${parts.join(': ')})`
  }
  return typeof body === 'string' && body ? ` (${body.slice(0, 200)})` : ''
}

/** Retry-After as seconds or an HTTP date → ms. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined
  const s = Number(header)
  if (Number.isFinite(s) && s >= 0) return s * 1000
  const t = Date.parse(header)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

function backoffMs(retry: number): number {
  return Math.min(30_000, 1000 * 2 ** retry)
}
