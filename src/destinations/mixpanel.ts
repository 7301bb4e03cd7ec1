import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import type { ClientRequest, IncomingMessage } from 'node:http'
import Mixpanel from 'mixpanel'
import type { Message, TrackMessage, IdentifyMessage } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import { planProperties } from '../tracking-plan/read.ts'
import { defaultPolicy, type Destination, type DeliveryResult, type DeliveryPolicy } from './types.ts'
import { mixpanelImporter } from './mixpanel-import.ts'

/**
 * Mixpanel: events through /import with fetch, people updates through the official `mixpanel` npm package.
 *
 * - Events: always `/import` (any age), called with fetch by `mixpanel-import.ts` (strict mode, per-record
 *   `failed_records`, 2,000 events / 10 MB batches, gzip). `$insert_id` is derived from the messageId and `time` is
 *   the message timestamp, so a redelivered message has the same (event, distinct_id, time, $insert_id) and Mixpanel
 *   keeps it once.
 * - `$insert_id` must be ≤ 36 characters of [A-Za-z0-9-]; our messageIds are longer (`rb-<source>-<32 hex>-<role>`),
 *   so a messageId that does not fit is replaced by the first 36 hex characters of its SHA-256, as Mixpanel's
 *   docs suggest. Deterministic, so dedupe still holds.
 * - identify → people `$set` (email → `$email`, first_name → `$first_name`, last_name → `$last_name`, the rest
 *   as is: referred_by, referral_code, referral_role ...). `$set` is idempotent. `source_platform` is the latest
 *   platform ($set); `first_source_platform` (first touch) is written with `$set_once`.
 * - Referral counts: `people.increment('referrals_count')` would count a redelivered `Referral Created` twice
 *   (`$add` has no dedupe key), so instead the advocate's profile gets `$union` `{referral_ids: [referral_id]}`:
 *   a set, idempotent under retries and reordering; the count is the list's length in Mixpanel reports.
 *
 * For /engage, the SDK reports failures as `Error("Mixpanel Server Error: <body>")` with no status code or headers
 * (mixpanel-node#229), and real 429 bodies carry no code (`{"error":"Project exceeded rate limits...","status":0}`).
 * To classify properly we read the HTTP status and Retry-After of the SDK's own request through Node's
 * `http.client.request.start` / `http.client.response.finish` diagnostics channels, tying each request to the call
 * that made it with AsyncLocalStorage. No monkey-patching; requests made outside our calls are ignored. The SDK
 * has no request timeout either, so the same capture lets us abort a hung request after `timeoutMs`.
 *
 * Pointing it at a sandbox: `host` may be a URL (`http://127.0.0.1:3001/sandbox/mixpanel`); the SDK (people updates)
 * gets host, protocol and path prefix from it, and /import is posted to `<url>/import`. A secret or service account
 * is only sent over HTTPS outside the sandbox; the sandbox is reached with the project token as Basic username,
 * which /import accepts, so the local path is the production path.
 */
export interface MixpanelDestinationConfig {
  token: string
  /** Project API secret (deprecated by Mixpanel but still accepted on /import). */
  secret?: string
  /** Service account (recommended for /import). */
  serviceAccount?: { username: string; secret: string; projectId: string }
  /** `api.mixpanel.com`, `api-eu.mixpanel.com`, `127.0.0.1:3001`, or a URL `http://127.0.0.1:3001/sandbox/mixpanel`. */
  host: string
  protocol?: 'http' | 'https'
  /** Path prefix (e.g. `/sandbox/mixpanel`); taken from `host` when that is a URL. */
  path?: string
  sandboxed: boolean
  policy?: Partial<DeliveryPolicy>
  /** Per-request timeout; the SDK has none. */
  timeoutMs?: number
}

interface Capture {
  request?: ClientRequest
  statusCode?: number
  retryAfter?: string
}


const captures = new AsyncLocalStorage<Capture>()
const byRequest = new WeakMap<object, Capture>()
let subscribed = false

function subscribeOnce(): void {
  if (subscribed) return
  subscribed = true
  diagnostics.subscribe('http.client.request.start', (msg) => {
    const capture = captures.getStore()
    const request = (msg as { request: ClientRequest }).request
    if (capture && request) {
      capture.request = request
      byRequest.set(request, capture)
    }
  })
  diagnostics.subscribe('http.client.response.finish', (msg) => {
    const { request, response } = msg as { request: ClientRequest; response: IncomingMessage }
    const capture = byRequest.get(request)
    if (!capture) return
    capture.statusCode = response.statusCode
    const ra = response.headers['retry-after']
    capture.retryAfter = Array.isArray(ra) ? ra[0] : ra
  })
}

/** Mixpanel's `$insert_id`: ≤ 36 chars, alphanumeric or '-'. */
export function mixpanelInsertId(messageId: string): string {
  return /^[A-Za-z0-9-]{1,36}$/.test(messageId) ? messageId : createHash('sha256').update(messageId).digest('hex').slice(0, 36)
}

const TRAIT_MAP: Record<string, string> = { email: '$email', first_name: '$first_name', last_name: '$last_name', name: '$name', phone: '$phone' }

export function mixpanelPeopleSet(traits: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(traits)) {
    if (v === undefined || v === null) continue
    out[TRAIT_MAP[k] ?? k] = v
  }
  return out
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

export function resolveMixpanelTarget(config: Pick<MixpanelDestinationConfig, 'host' | 'protocol' | 'path'>): { host: string; protocol: 'http' | 'https'; path: string } {
  if (config.host.includes('://')) {
    const url = new URL(config.host)
    const protocol = url.protocol.replace(':', '')
    if (protocol !== 'http' && protocol !== 'https') throw new Error(`mixpanel: unsupported protocol ${url.protocol}`)
    const path = (config.path ?? url.pathname).replace(/\/+$/, '')
    return { host: url.host, protocol, path }
  }
  return { host: config.host, protocol: config.protocol ?? 'https', path: (config.path ?? '').replace(/\/+$/, '') }
}

export function mixpanelDestination(config: MixpanelDestinationConfig): Destination {
  subscribeOnce()
  const policy: DeliveryPolicy = { ...defaultPolicy, concurrency: 4, ...config.policy }
  const target = resolveMixpanelTarget(config)
  if ((config.secret || config.serviceAccount) && target.protocol !== 'https' && !config.sandboxed) {
    throw new Error('mixpanel: the API secret / service account is only sent over HTTPS; use an https host')
  }
  const timeoutMs = config.timeoutMs ?? 10_000
  // People updates (/engage) go through the SDK with the project token; events never do (see importEvents below).
  const client = Mixpanel.init(config.token, {
    host: target.host,
    protocol: target.protocol,
    path: target.path,
    keepAlive: true,
    logger: quietLogger
  })
  const importer = mixpanelImporter({ ...config, target, timeoutMs })

  /** Runs one SDK call and turns its outcome into a DeliveryResult using the captured HTTP status. */
  function call(label: string, start: (cb: (err: Error | undefined) => void) => void): Promise<DeliveryResult> {
    const capture: Capture = {}
    return new Promise<DeliveryResult>((resolve) => {
      let settled = false
      const finish = (result: DeliveryResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(result)
      }
      const timer = setTimeout(() => {
        capture.request?.destroy()
        finish({ status: 'retry', error: `timeout: Mixpanel ${label} took longer than ${timeoutMs} ms` })
      }, timeoutMs)
      try {
        captures.run(capture, () =>
          start((err) => {
            if (!err) return finish({ status: 'delivered' })
            finish(classify(label, err, capture))
          })
        )
      } catch (err) {
        // The SDK throws synchronously on configuration errors (bad time, protocol): retrying will not help.
        finish({ status: 'permanent', error: `Mixpanel ${label}: ${(err as Error).message}` })
      }
    })
  }

  /** After the event went in: the advocate's referral set. */
  async function afterEvent(m: Message, result: DeliveryResult): Promise<DeliveryResult> {
    if (result.status !== 'delivered' || m.type !== 'track') return result
    const created = planProperties(m, 'Referral Created')
    const advocate = created?.advocate_id
    const referralId = created?.referral_id
    if (advocate && referralId) {
      // Idempotent stand-in for people.increment('referrals_count'): see the header comment.
      return call('engage $union', (cb) => client.people.union(advocate, { referral_ids: [referralId] }, cb))
    }
    return result
  }

  async function identify(m: IdentifyMessage, distinctId: string): Promise<DeliveryResult> {
    const { first_source_platform: first, ...traits } = m.traits
    const set = mixpanelPeopleSet(traits)
    if (Object.keys(set).length === 0) return { status: 'ignored', reason: 'identify without traits' }
    const result = await call('engage $set', (cb) => client.people.set(distinctId, set, cb))
    // First touch: `$set_once` "works just like $set, except it will not overwrite existing property values"
    // (https://docs.mixpanel.com/reference/profile-set-property-once), so a later source never replaces it while
    // `source_platform` ($set) is the latest. A retried job repeats both calls; both are idempotent.
    const once = first ?? traits.source_platform
    if (result.status !== 'delivered' || typeof once !== 'string') return result
    return call('engage $set_once', (cb) => client.people.set_once(distinctId, 'first_source_platform', once, cb))
  }

  return {
    name: 'mixpanel',
    sandboxed: config.sandboxed,
    target: `${target.protocol}://${target.host}${target.path} (/import)`,
    policy,
    accepts: (m) => Boolean(m.userId ?? m.anonymousId),
    deliver: async (messages) => {
      // Every event through /import, in as few requests as the limits allow; identify calls one by one (/engage).
      const results: DeliveryResult[] = new Array(messages.length)
      const events: Array<{ index: number; message: TrackMessage }> = []
      await Promise.all(
        messages.map(async (m, index) => {
          const distinctId = m.userId ?? m.anonymousId
          if (!distinctId) results[index] = { status: 'ignored', reason: 'no userId or anonymousId' }
          else if (m.type === 'identify') results[index] = await identify(m, distinctId)
          else events.push({ index, message: m })
        })
      )
      const imported = await importer.importEvents(events.map((e) => e.message))
      await Promise.all(events.map(async (e, i) => (results[e.index] = await afterEvent(e.message, imported[i]))))
      return results
    }
  }
}

function classify(label: string, err: Error, capture: Capture): DeliveryResult {
  const message = `Mixpanel ${label}: ${err.message}`
  if (capture.statusCode !== undefined) {
    if (capture.statusCode >= 200 && capture.statusCode < 300) {
      // 200 with body `0`: the payload was not accepted and a retry will send the same payload.
      return { status: 'permanent', error: message, statusCode: capture.statusCode }
    }
    return classifyStatus(capture.statusCode, message, parseRetryAfter(capture.retryAfter, Date.now()))
  }
  // No response at all: network error (ECONNRESET, ECONNREFUSED ...), retried by classifyError.
  return classifyError(err)
}
