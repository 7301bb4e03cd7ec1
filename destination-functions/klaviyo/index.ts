/**
 * Klaviyo destination function (Segment Functions runtime, Node 20): track → Klaviyo event (its metric triggers
 * flows, e.g. the friend welcome email on `Referred Friend Signed Up`), identify → profile upsert.
 *
 * Written without imports, against Segment's documented globals only (see ../globals.d.ts): `fetch`, `btoa`,
 * the error classes. Built into one plain script by `referral-bridge functions build klaviyo`
 * (dist/functions/klaviyo.js) — paste or deploy that file.
 *
 * Settings: apiKey (private key, required), baseUrl (optional, our extension: API base URL, e.g. the local
 * sandbox), revision (optional, default the pinned KV_REVISION). See README.md for the full contract.
 */

const KV_DEFAULT_BASE_URL = 'https://a.klaviyo.com'
/** Pinned API revision: the request and error shapes below were written against it. */
const KV_REVISION = '2024-10-15'

/** Which property holds the email of the profile an event belongs to, per event. */
const KV_PROFILE_EMAIL: Record<string, string> = {
  'Referred Friend Signed Up': 'friend_email',
  'Referral Created': 'friend_email',
  'Order Completed': 'friend_email',
  'Referral Revenue Won': 'advocate_email'
}
/** Which property holds the profile's first name, per event (the rest of the profile is left alone). */
const KV_PROFILE_FIRST_NAME: Record<string, string> = {
  'Referred Friend Signed Up': 'friend_first_name',
  'Referral Created': 'friend_first_name'
}
/** Identify traits copied to the profile's custom properties (first/last name and email are profile attributes). */
const KV_PROFILE_TRAITS = ['referral_role', 'referral_code', 'referred_by', 'referral_id', 'source_platform']

interface KvFailure {
  status: number
  message: string
  retryAfterMs?: number
}

// ---- handlers ------------------------------------------------------------------------------------------------

/** One Klaviyo event: metric name = event name, unique_id = messageId (Klaviyo keeps the first per profile+metric+id). */
async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  const properties = event.properties ?? {}
  const email = kvEventEmail(event)
  if (!email) {
    throw new InvalidEventPayload(`${event.event} has no ${KV_PROFILE_EMAIL[event.event] ?? 'properties.email'}: Klaviyo profiles are keyed on email here`)
  }
  const profile: Record<string, unknown> = { email }
  const firstName = kvString(properties[KV_PROFILE_FIRST_NAME[event.event] ?? 'first_name'])
  if (firstName) profile.first_name = firstName
  const attributes: Record<string, unknown> = {
    properties,
    metric: { data: { type: 'metric', attributes: { name: event.event } } },
    profile: { data: { type: 'profile', attributes: profile } }
  }
  const time = kvString(event.timestamp)
  if (time && !Number.isNaN(Date.parse(time))) attributes.time = new Date(Date.parse(time)).toISOString()
  const messageId = kvString(event.messageId)
  if (messageId) attributes.unique_id = messageId
  if (typeof properties.revenue === 'number' && Number.isFinite(properties.revenue)) attributes.value = properties.revenue
  await kvRequest(settings, '/api/events', { data: { type: 'event', attributes } })
}

/** Profile upsert (`POST /api/profile-import`, matched on email) with the referral traits as custom properties. */
async function onIdentify(event: SegmentIdentifyEvent, settings: FunctionSettings): Promise<void> {
  const traits = event.traits ?? {}
  const email = kvEmail(traits.email)
  if (!email) throw new InvalidEventPayload('identify has no traits.email: Klaviyo profiles are keyed on email here')
  const attributes: Record<string, unknown> = { email }
  const first = kvString(traits.first_name ?? traits.firstName)
  const last = kvString(traits.last_name ?? traits.lastName)
  if (first) attributes.first_name = first
  if (last) attributes.last_name = last
  const properties: Record<string, unknown> = {}
  for (const key of KV_PROFILE_TRAITS) {
    const v = kvString(traits[key])
    if (v !== undefined) properties[key] = v
  }
  // Mixpanel cohort membership synced back by the bridge (POST /webhooks/mixpanel-cohorts): true / false per cohort.
  for (const [k, v] of Object.entries(traits)) if (/^mixpanel_cohort_[a-z0-9_]+$/.test(k) && typeof v === 'boolean') properties[k] = v
  if (Object.keys(properties).length) attributes.properties = properties
  await kvRequest(settings, '/api/profile-import', { data: { type: 'profile', attributes } })
}

// No onBatch: Klaviyo's bulk endpoint (POST /api/event-bulk-create-jobs) is an asynchronous job whose per-event
// failures are only visible later through the job, so a batch handler could not return honest per-item results
// within Segment's 5 s. One call per event (350/s burst, 3500/min steady) is ample for referral volumes, and a
// time-sensitive event never waits for a batch to fill.

// ---- mapping -------------------------------------------------------------------------------------------------

function kvString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const s = String(value).trim()
  return s === '' ? undefined : s
}

function kvEmail(value: unknown): string | undefined {
  const s = kvString(value)
  return s && s.includes('@') ? s.toLowerCase() : undefined
}

/** The profile an event belongs to: the event's own email property, else properties.email, context.traits.email, or an email userId. */
function kvEventEmail(event: SegmentTrackEvent): string | undefined {
  const p = event.properties ?? {}
  let field = KV_PROFILE_EMAIL[event.event]
  if (event.event === 'Referral Reward Earned') field = p.recipient_role === 'friend' ? 'friend_email' : 'advocate_email'
  return (field ? kvEmail(p[field]) : undefined) ?? kvEmail(p.email) ?? kvEmail(event.context?.traits?.email) ?? kvEmail(event.userId)
}

// ---- Klaviyo calls -------------------------------------------------------------------------------------------

async function kvRequest(settings: FunctionSettings, path: string, body: unknown): Promise<void> {
  const apiKey = kvString(settings.apiKey)
  if (!apiKey) throw new ValidationError('apiKey setting is required (a Klaviyo private API key, pk_...)')
  const base = (kvString(settings.baseUrl) ?? KV_DEFAULT_BASE_URL).replace(/\/+$/, '')
  const revision = kvString(settings.revision) ?? KV_REVISION
  let response: Response
  try {
    response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        Authorization: `Klaviyo-API-Key ${apiKey}`,
        revision,
        accept: 'application/vnd.api+json',
        'content-type': 'application/vnd.api+json'
      },
      body: JSON.stringify(body)
    })
  } catch (err) {
    // node-fetch 2 (Segment's `fetch`) rejects with a FetchError carrying `code` (ECONNREFUSED, ECONNRESET, ...).
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
    const why = e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
    const retry = new RetryError(`network error talking to Klaviyo: ${why}`)
    throw retry
  }
  if (response.status >= 200 && response.status < 300) {
    await response.text().catch(() => '')
    return
  }
  kvThrow(await kvFailure(response))
}

/** A non-2xx answer → status, message built from the JSON:API `errors[]` (code, detail, source pointer/parameter), Retry-After. */
async function kvFailure(response: Response): Promise<KvFailure> {
  const text = await response.text().catch(() => '')
  let errors: Array<{ code?: string; title?: string; detail?: string; source?: { pointer?: string; parameter?: string } }> = []
  try {
    const parsed = JSON.parse(text)
    if (Array.isArray(parsed?.errors)) errors = parsed.errors
  } catch {
    // Not JSON (a proxy's 502 page, an empty 503): the status says enough.
  }
  const parts = errors.map((e) => {
    const where = e.source?.pointer ? ` (at ${e.source.pointer})` : e.source?.parameter ? ` (parameter ${e.source.parameter})` : ''
    return `${e.code ?? 'error'}: ${e.detail ?? e.title ?? ''}${where}`
  })
  const detail = parts.length ? parts.join('; ') : text.slice(0, 200)
  const failure: KvFailure = { status: response.status, message: `Klaviyo ${response.status}${detail ? ` ${detail}` : ''}` }
  const retryAfter = response.headers.get('retry-after')
  if (retryAfter) {
    const seconds = Number(retryAfter)
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now()
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms
  }
  return failure
}

/** Segment's error classes for a failed call. */
function kvThrow(f: KvFailure): never {
  if (f.status === 429 || f.status === 408 || (f.status >= 500 && f.status !== 501)) {
    const e = new RetryError(f.message)
    e.status = f.status
    if (f.retryAfterMs !== undefined) e.retryAfterMs = f.retryAfterMs
    throw e
  }
  if (f.status === 401 || f.status === 403) {
    const e = new ValidationError(`${f.message} (check the apiKey setting: a private key with the events:write and profiles:write scopes)`)
    e.status = f.status
    throw e
  }
  if (f.status === 410) {
    const e = new ValidationError(`${f.message} (the API revision is retired: update the revision setting)`)
    e.status = f.status
    throw e
  }
  // 400 invalid / parse_error, 404, 405, 409 duplicate_profile, 415 ...: the request will not succeed as it is.
  const e = new ValidationError(f.message)
  e.status = f.status
  throw e
}

// Makes this file a module for the type checker (its helpers stay out of the global scope); the build removes it.
export {}
