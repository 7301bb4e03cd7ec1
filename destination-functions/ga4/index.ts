/**
 * Google Analytics 4 destination function (Segment Functions runtime, Node 20): referral events and orders
 * through the Measurement Protocol (developers.google.com/analytics/devguides/collection/protocol/ga4).
 *
 * - `Order Completed` → the recommended `purchase` event: transaction_id = order_id, value = revenue,
 *   currency (required with a value), plus the referral ids, so revenue by referral is a GA4 report.
 * - every other track → a custom event named after it in GA's naming rules ("Referral Created" →
 *   `referral_created`), with the referral ids and the scalar properties GA accepts.
 * - `user_id` = our userId; `client_id` = the GA cookie id when the event carries one
 *   (`properties.ga_client_id`, `context.ga_client_id`, or the `_ga` cookie value in `context.ga_cookie`), else
 *   derived stably from userId/anonymousId, so one person's events land on one client in GA.
 * - No PII: Google Analytics' terms forbid sending email addresses, so `*_email` properties are left out and
 *   an id that is an email (userId, advocate_id, friend_id) is sent as its SHA-256.
 *
 * Errors: /mp/collect answers 2xx even for a malformed payload ("does not return HTTP error codes"), so bad
 * payloads are caught here before sending (InvalidEventPayload); 429/5xx and network failures → RetryError;
 * other 4xx (a wrong measurement id / host) → ValidationError.
 *
 * Written without imports, against Segment's documented globals only: `fetch` (node-fetch 2), `crypto`.
 */

const GA4_DEFAULT_BASE_URL = 'https://www.google-analytics.com'
const GA4_NAME_MAX = 40
const GA4_VALUE_MAX = 100
const GA4_MAX_PARAMS = 25
/** Referral ids carried on every event (the join keys analysts need). */
const GA4_ID_PARAMS = ['referral_id', 'referral_code', 'advocate_id', 'friend_id', 'source_platform']
/** GA rejects timestamps more than 72 hours in the past (Measurement Protocol reference, timestamp_micros). */
const GA4_MAX_BACKDATE_MS = 72 * 60 * 60 * 1000

async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  const cfg = ga4Config(settings)
  const properties = event.properties ?? {}
  const ga4Event = event.event === 'Order Completed' ? ga4Purchase(event) : { name: ga4EventName(event.event), params: ga4Params(properties) }
  const body: Record<string, unknown> = {
    client_id: ga4ClientId(event),
    events: [ga4Event]
  }
  if (event.userId) body.user_id = ga4NoPii(String(event.userId))
  const ts = Date.parse(String(event.timestamp ?? ''))
  if (Number.isFinite(ts) && Date.now() - ts < GA4_MAX_BACKDATE_MS && ts <= Date.now() + 60_000) body.timestamp_micros = ts * 1000
  await ga4Send(cfg, body)
}

// ---- mapping -------------------------------------------------------------------------------------------------

function ga4Purchase(event: SegmentTrackEvent): { name: string; params: Record<string, unknown> } {
  const p = event.properties ?? {}
  const value = typeof p.revenue === 'number' ? p.revenue : typeof p.total === 'number' ? p.total : undefined
  const currency = typeof p.currency === 'string' ? p.currency.toUpperCase() : undefined
  if (value !== undefined && !(currency && /^[A-Z]{3}$/.test(currency))) {
    throw new InvalidEventPayload('Order Completed has revenue but no ISO-4217 currency: GA4 drops a purchase value without one')
  }
  const transactionId = p.order_id ?? p.checkout_id ?? event.messageId
  if (!transactionId) throw new InvalidEventPayload('Order Completed has no order_id: GA4 purchases need a transaction_id')
  return {
    name: 'purchase',
    params: { ...ga4Params(p), transaction_id: String(transactionId), ...(value !== undefined ? { value, currency } : {}) }
  }
}

/** GA event names: letters, digits and `_`, starting with a letter, ≤ 40 characters. */
function ga4EventName(name: string): string {
  let n = name.trim().toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '')
  if (!/^[a-z]/.test(n)) n = `event_${n}`
  return n.slice(0, GA4_NAME_MAX)
}

/** The referral ids first, then other scalar properties, within GA's limits; no email addresses. */
function ga4Params(properties: Record<string, any>): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  const add = (key: string, value: unknown) => {
    if (Object.keys(out).length >= GA4_MAX_PARAMS - 4) return // room for transaction_id, value, currency, engagement
    const name = ga4EventName(key)
    if (name in out || /email/.test(name) || /^(_|firebase_|ga_|google_)/.test(name)) return
    if (typeof value === 'number' && Number.isFinite(value)) out[name] = value
    else if (typeof value === 'string' && value !== '') out[name] = ga4NoPii(value).slice(0, GA4_VALUE_MAX)
    else if (typeof value === 'boolean') out[name] = String(value)
  }
  for (const key of GA4_ID_PARAMS) add(key, properties[key])
  for (const [key, value] of Object.entries(properties)) add(key, value)
  // Without engagement_time_msec GA does not count the user as active (sending-events guide).
  out.engagement_time_msec = 1
  return out
}

function ga4NoPii(value: string): string {
  return value.includes('@') ? crypto.createHash('sha256').update(value.trim().toLowerCase()).digest('hex') : value
}

/** The GA cookie id when known; else a stable id in GA's own "<random>.<timestamp>" shape, from the person's ids. */
function ga4ClientId(event: SegmentEvent): string {
  const p = (event as SegmentTrackEvent).properties ?? {}
  const known = p.ga_client_id ?? event.context?.ga_client_id
  if (typeof known === 'string' && known) return known
  const cookie = event.context?.ga_cookie
  // The _ga cookie is "GA1.<n>.<random>.<timestamp>"; its last two parts are the client id.
  const fromCookie = typeof cookie === 'string' ? /^GA\d\.\d+\.(\d+\.\d+)$/.exec(cookie)?.[1] : undefined
  if (fromCookie) return fromCookie
  const person = String(event.userId ?? event.anonymousId ?? event.messageId ?? '')
  const hex = crypto.createHash('sha256').update(`referral-bridge:${person}`).digest('hex')
  return `${parseInt(hex.slice(0, 8), 16)}.${parseInt(hex.slice(8, 16), 16)}`
}

// ---- sending -------------------------------------------------------------------------------------------------

function ga4Config(settings: FunctionSettings): { url: string } {
  const measurementId = typeof settings.measurementId === 'string' ? settings.measurementId.trim() : ''
  const apiSecret = typeof settings.apiSecret === 'string' ? settings.apiSecret.trim() : ''
  if (!measurementId) throw new ValidationError('measurementId setting is required (Admin → Data Streams → your stream → Measurement ID, G-...)')
  if (!apiSecret) throw new ValidationError('apiSecret setting is required (Admin → Data Streams → your stream → Measurement Protocol API secrets)')
  const base = (typeof settings.baseUrl === 'string' && settings.baseUrl ? settings.baseUrl : GA4_DEFAULT_BASE_URL).replace(/\/+$/, '')
  const q = new URLSearchParams({ measurement_id: measurementId, api_secret: apiSecret })
  return { url: `${base}/mp/collect?${q}` }
}

async function ga4Send(cfg: { url: string }, body: Record<string, unknown>): Promise<void> {
  let res: Response
  try {
    res = await fetch(cfg.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    throw new RetryError(`network error talking to GA4: ${e?.code ?? e?.message ?? String(err)}`)
  }
  if (res.status >= 200 && res.status < 300) return
  const text = await res.text().catch(() => '')
  if (res.status === 429 || res.status >= 500) {
    const retry = new RetryError(`GA4 ${res.status}: ${text.slice(0, 200)}`)
    retry.status = res.status
    const after = Number(res.headers.get('retry-after'))
    if (Number.isFinite(after) && after > 0) retry.retryAfterMs = after * 1000
    throw retry
  }
  throw new ValidationError(`GA4 ${res.status}: ${text.slice(0, 200)} (check measurementId and baseUrl)`)
}

// Makes this file a module for the type checker (its helpers stay out of the global scope); the build removes it.
export {}
