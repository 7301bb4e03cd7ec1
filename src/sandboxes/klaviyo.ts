import { randomUUID } from 'node:crypto'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Klaviyo API sandbox (developers.klaviyo.com, JSON:API, date-versioned):
 *
 * - Every request needs `Authorization: Klaviyo-API-Key <private key>` (401 `not_authenticated` when missing or
 *   another scheme, 401 `authentication_failed` for a wrong key) and a `revision` header naming a released
 *   revision (400 `invalid` when missing or unknown). Bodies must be JSON (`application/vnd.api+json` or
 *   `application/json`; else 415).
 * - `POST /api/events`: `{data:{type:'event', attributes:{properties, time?, value?, unique_id?, metric:{data:{type:
 *   'metric', attributes:{name}}}, profile:{data:{type:'profile', attributes:{email|phone_number|external_id ...}}}}}}`
 *   → 202 Accepted, empty body. The profile is upserted from the event. Dedupe as Klaviyo documents it: for one
 *   (profile, metric, unique_id) only the first event is kept; without unique_id Klaviyo uses the event time to
 *   the second, so two unkeyed events of one metric for one profile in the same second collapse.
 * - `POST /api/profile-import`: upsert by id, email, external_id or phone_number; 201 created / 200 updated with
 *   the profile resource.
 * - `GET /api/profiles/{id}`.
 * - Errors: `{errors:[{id, status, code, title, detail, source:{pointer|parameter}}]}`.
 * - `POST /api/event-bulk-create-jobs`: up to 1000 events for one or more profiles → 202; validated as a whole,
 *   then deduped event by event like Create Event (so a repeated unique_id inside one request is stored once).
 * - Rate limits per endpoint, burst (per second) and steady (per minute), as documented: events 350/s 3500/m,
 *   profile-import 75/s 700/m, bulk events 10/s 150/m; 429 `throttled` with Retry-After, and every other answer of
 *   those endpoints carries RateLimit-Limit / -Remaining / -Reset for the steady window. Plus the shared fault switch.
 * - Unknown routes: 404 `not_found` in the same error shape.
 *
 * State: `events` by metric name (with `acceptedAt`, the sandbox time the event was first accepted), `profiles` by
 * id, counters of every event received and duplicates dropped. Introspection: `GET /_sandbox/events`, `/_sandbox/profiles`.
 */
export interface KlaviyoEvent {
  id: string
  metric: string
  profileId: string
  uniqueId: string
  properties: Record<string, unknown>
  time: string
  value?: number
  acceptedAt: number
}

export interface KlaviyoProfile {
  id: string
  attributes: Record<string, unknown> & { email?: string; phone_number?: string; external_id?: string; properties: Record<string, unknown> }
  created: string
  updated: string
}

export interface KlaviyoSandboxState {
  events: Map<string, KlaviyoEvent[]>
  profiles: Map<string, KlaviyoProfile>
  eventsReceived: number
  duplicateEvents: number
}

export interface KlaviyoRateLimit {
  burstPerSecond: number
  steadyPerMinute: number
}

export interface KlaviyoSandboxOptions {
  /** Private API key; when unset any `pk_`-style non-empty key is accepted. */
  apiKey?: string
  /** Accepted revisions; default: Klaviyo's released revisions 2023-02-22 .. 2026-10-15. */
  revisions?: string[]
  /** Per-endpoint limits; `false` turns them off. */
  rateLimits?: false | Partial<Record<KlaviyoEndpoint, KlaviyoRateLimit>>
  now?: () => number
}

export const KLAVIYO_REVISIONS = [
  '2023-02-22', '2023-06-15', '2023-07-15', '2023-08-15', '2023-09-15', '2023-10-15', '2023-12-15',
  '2024-02-15', '2024-05-15', '2024-06-15', '2024-07-15', '2024-10-15',
  '2025-01-15', '2025-04-15', '2025-07-15', '2025-10-15',
  '2026-01-15', '2026-04-15', '2026-07-15', '2026-10-15'
]

export type KlaviyoEndpoint = 'events' | 'profile-import' | 'event-bulk-create-jobs'

/** Each endpoint's documented tier (API reference, "Rate limits" of Create Event, Create or Update Profile, Bulk Create Events). */
export const KLAVIYO_DEFAULT_LIMITS: Record<KlaviyoEndpoint, KlaviyoRateLimit> = {
  events: { burstPerSecond: 350, steadyPerMinute: 3500 },
  'profile-import': { burstPerSecond: 75, steadyPerMinute: 700 },
  'event-bulk-create-jobs': { burstPerSecond: 10, steadyPerMinute: 150 }
}
/** Bulk Create Events: "Accepts up to 1,000 events per request" (klaviyo-2024-10-15 spec, /api/event-bulk-create-jobs). */
const BULK_EVENTS_LIMIT = 1000

interface JsonApiError {
  id: string
  status: number
  code: string
  title: string
  detail: string
  source: { pointer?: string; parameter?: string }
}

class KlaviyoError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly source: JsonApiError['source'] = { pointer: '/data/' },
    readonly headers: Record<string, string> = {}
  ) {
    super(detail)
  }
  body(): { errors: JsonApiError[] } {
    return { errors: [{ id: randomUUID(), status: this.status, code: this.code, title: this.title, detail: this.detail, source: this.source }] }
  }
}

const invalid = (detail: string, pointer: string) => new KlaviyoError(400, 'invalid', 'Invalid input.', detail, { pointer })

function throttleBody(detail = 'Request was throttled. Expected available in 1 second.') {
  return new KlaviyoError(429, 'throttled', 'Request was throttled.', detail).body()
}

/** Sliding-window burst + steady limiter for one endpoint. */
class Limiter {
  private hits: number[] = []
  constructor(
    private readonly rule: KlaviyoRateLimit,
    private readonly now: () => number
  ) {}
  /** Seconds to wait, or 0 when the request may proceed (and is counted). */
  take(): number {
    const t = this.now()
    this.hits = this.hits.filter((h) => h > t - 60_000)
    const lastSecond = this.hits.filter((h) => h > t - 1_000)
    if (lastSecond.length >= this.rule.burstPerSecond) return Math.max(1, Math.ceil((lastSecond[0] + 1_000 - t) / 1000))
    if (this.hits.length >= this.rule.steadyPerMinute) return Math.max(1, Math.ceil((this.hits[0] + 60_000 - t) / 1000))
    this.hits.push(t)
    return 0
  }

  /** The steady (per-minute) window as the RateLimit-* headers report it. */
  steady(): { limit: number; remaining: number; resetSeconds: number } {
    const t = this.now()
    const inWindow = this.hits.filter((h) => h > t - 60_000)
    return {
      limit: this.rule.steadyPerMinute,
      remaining: Math.max(0, this.rule.steadyPerMinute - inWindow.length),
      resetSeconds: inWindow.length ? Math.max(1, Math.ceil((inWindow[0] + 60_000 - t) / 1000)) : 60
    }
  }
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

function readJson(req: Request): unknown {
  const body = req.body
  if (Buffer.isBuffer(body)) {
    const text = body.toString('utf8')
    try {
      return JSON.parse(text)
    } catch {
      throw new KlaviyoError(400, 'parse_error', 'Malformed request.', 'JSON parse error - Expecting value', { pointer: '/data/' })
    }
  }
  return body
}

export function createKlaviyoSandbox(options: KlaviyoSandboxOptions = {}) {
  const now = options.now ?? Date.now
  const state: KlaviyoSandboxState = { events: new Map(), profiles: new Map(), eventsReceived: 0, duplicateEvents: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  const revisions = new Set(options.revisions ?? KLAVIYO_REVISIONS)
  const limits = options.rateLimits === false ? undefined : { ...KLAVIYO_DEFAULT_LIMITS, ...options.rateLimits }
  const limiters: Record<KlaviyoEndpoint, Limiter | undefined> = {
    events: limits ? new Limiter(limits.events, now) : undefined,
    'profile-import': limits ? new Limiter(limits['profile-import'], now) : undefined,
    'event-bulk-create-jobs': limits ? new Limiter(limits['event-bulk-create-jobs'], now) : undefined
  }
  const seen = new Set<string>()

  router.use(faults.router())
  router.use(
    faults.middleware(() => throttleBody(), {
      // Injected faults answer JSON:API error documents as well.
      faultBody: (status) => (status === 429 ? throttleBody() : new KlaviyoError(status, status >= 500 ? 'error' : 'invalid', status >= 500 ? 'A server error occurred.' : 'Invalid input.', `Sandbox fault: ${status}.`).body()),
      errorContentType: 'application/vnd.api+json'
    })
  )
  const raw = express.raw({ type: () => true, limit: '5mb' })

  const guard = (endpoint?: KlaviyoEndpoint) => (req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization ?? ''
    const m = /^Klaviyo-API-Key\s+(\S+)$/.exec(auth)
    if (!m) return next(new KlaviyoError(401, 'not_authenticated', 'Authentication credentials were not provided.', 'Missing or invalid authorization scheme. Please use Klaviyo-API-Key.'))
    if (options.apiKey && m[1] !== options.apiKey) return next(new KlaviyoError(401, 'authentication_failed', 'Incorrect authentication credentials.', 'Incorrect authentication credentials.'))
    const revision = req.headers.revision
    if (typeof revision !== 'string' || !revision) return next(new KlaviyoError(400, 'invalid', 'Invalid input.', 'The revision header is required.', { parameter: 'revision' }))
    if (!revisions.has(revision.replace(/\.pre$/, ''))) {
      return next(new KlaviyoError(400, 'invalid', 'Invalid input.', `'${revision}' is not a valid revision. See https://developers.klaviyo.com/en/docs/api_versioning_and_deprecation_policy`, { parameter: 'revision' }))
    }
    if (req.method === 'POST') {
      const type = String(req.headers['content-type'] ?? '')
      if (!type.includes('json')) return next(new KlaviyoError(415, 'unsupported_media_type', 'Unsupported media type.', `Unsupported media type "${type}" in request.`))
    }
    if (endpoint && limiters[endpoint]) {
      const wait = limiters[endpoint]!.take()
      if (wait > 0) {
        return next(new KlaviyoError(429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${wait} second${wait === 1 ? '' : 's'}.`, { pointer: '/data/' }, { 'Retry-After': String(wait) }))
      }
      // developers.klaviyo.com "Rate limits, status codes, and errors": every non-429 answer reports the steady window.
      const w = limiters[endpoint]!.steady()
      res.set({ 'RateLimit-Limit': String(w.limit), 'RateLimit-Remaining': String(w.remaining), 'RateLimit-Reset': String(w.resetSeconds) })
    }
    next()
  }

  const findProfile = (attrs: Record<string, unknown>, id?: string): KlaviyoProfile | undefined => {
    if (id && state.profiles.has(id)) return state.profiles.get(id)
    for (const p of state.profiles.values()) {
      if (typeof attrs.email === 'string' && p.attributes.email?.toLowerCase() === attrs.email.toLowerCase()) return p
      if (typeof attrs.external_id === 'string' && p.attributes.external_id === attrs.external_id) return p
      if (typeof attrs.phone_number === 'string' && p.attributes.phone_number === attrs.phone_number) return p
    }
    return undefined
  }

  /** Validates profile attributes and upserts; returns the profile and whether it was created. */
  const upsertProfile = (data: Record<string, unknown>, pointer: string): { profile: KlaviyoProfile; created: boolean } => {
    if (data.type !== 'profile') throw invalid(`'type' must be 'profile'`, `${pointer}/type`)
    const attrs = (data.attributes ?? {}) as Record<string, unknown>
    if (typeof attrs !== 'object' || Array.isArray(attrs)) throw invalid('attributes must be an object', `${pointer}/attributes`)
    const id = typeof data.id === 'string' ? data.id : undefined
    if (!id && !attrs.email && !attrs.phone_number && !attrs.external_id) {
      throw invalid('One of email, phone_number, external_id or id is required to identify a profile.', `${pointer}/attributes`)
    }
    if (attrs.email !== undefined && (typeof attrs.email !== 'string' || !EMAIL.test(attrs.email))) {
      throw invalid(`Invalid email address: ${String(attrs.email)}`, `${pointer}/attributes/email`)
    }
    if (attrs.properties !== undefined && (typeof attrs.properties !== 'object' || attrs.properties === null || Array.isArray(attrs.properties))) {
      throw invalid('properties must be an object', `${pointer}/attributes/properties`)
    }
    const stamp = new Date(now()).toISOString()
    const existing = findProfile(attrs, id)
    const { properties, ...rest } = attrs as { properties?: Record<string, unknown> }
    if (existing) {
      Object.assign(existing.attributes, Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)))
      existing.attributes.properties = { ...existing.attributes.properties, ...(properties ?? {}) }
      existing.updated = stamp
      return { profile: existing, created: false }
    }
    const profile: KlaviyoProfile = { id: id ?? `01${randomUUID().replace(/-/g, '').toUpperCase().slice(0, 24)}`, attributes: { ...rest, properties: { ...(properties ?? {}) } }, created: stamp, updated: stamp }
    state.profiles.set(profile.id, profile)
    return { profile, created: true }
  }

  const presentProfile = (p: KlaviyoProfile) => ({
    data: {
      type: 'profile',
      id: p.id,
      attributes: { email: null, phone_number: null, external_id: null, first_name: null, last_name: null, ...p.attributes, created: p.created, updated: p.updated },
      links: { self: `https://a.klaviyo.com/api/profiles/${p.id}/` }
    }
  })

  /** Checks one event's attributes (pointer: where they sit in the request); throws Klaviyo's 400 `invalid`. */
  const checkEvent = (a: Record<string, unknown>, at: string, requireProfile: boolean) => {
    if (!a.properties || typeof a.properties !== 'object' || Array.isArray(a.properties)) throw invalid("'properties' is a required field and must be an object", `${at}/properties`)
    const metric = (a.metric as { data?: { type?: string; attributes?: { name?: unknown } } } | undefined)?.data
    if (!metric || metric.type !== 'metric' || typeof metric.attributes?.name !== 'string' || !metric.attributes.name) {
      throw invalid("'name' is a required field for the metric", `${at}/metric/data/attributes/name`)
    }
    const profileData = (a.profile as { data?: Record<string, unknown> } | undefined)?.data
    if (requireProfile && !profileData) throw invalid("'profile' is a required field", `${at}/profile/data`)
    let timeMs = now()
    if (a.time !== undefined) {
      timeMs = typeof a.time === 'string' ? Date.parse(a.time) : NaN
      if (Number.isNaN(timeMs)) throw invalid(`Invalid datetime: ${String(a.time)}`, `${at}/time`)
      if (timeMs < Date.UTC(2000, 0, 1) || timeMs > now() + 365 * 86_400_000) throw invalid('Event time must be between 2000 and one year from now.', `${at}/time`)
    }
    if (a.value !== undefined && typeof a.value !== 'number') throw invalid("'value' must be a number", `${at}/value`)
    if (a.unique_id !== undefined && typeof a.unique_id !== 'string') throw invalid("'unique_id' must be a string", `${at}/unique_id`)
    return { metricName: metric.attributes.name, profileData, timeMs }
  }

  /** Stores an event unless Klaviyo's dedupe drops it: the first per (profile, metric, unique_id) wins. */
  const recordEvent = (a: Record<string, unknown>, metricName: string, profile: KlaviyoProfile, timeMs: number) => {
    state.eventsReceived++
    // Without unique_id Klaviyo dedupes on the event time to the second.
    const uniqueId = (a.unique_id as string | undefined) ?? String(Math.floor(timeMs / 1000))
    const key = `${profile.id}\u0000${metricName}\u0000${uniqueId}`
    if (seen.has(key)) {
      state.duplicateEvents++
      return
    }
    seen.add(key)
    const list = state.events.get(metricName) ?? []
    list.push({
      id: randomUUID(),
      metric: metricName,
      profileId: profile.id,
      uniqueId,
      properties: a.properties as Record<string, unknown>,
      time: new Date(timeMs).toISOString(),
      ...(typeof a.value === 'number' ? { value: a.value } : {}),
      acceptedAt: now()
    })
    state.events.set(metricName, list)
  }

  router.post('/api/events', guard('events'), raw, (req, res, next) => {
    try {
      const body = readJson(req) as { data?: Record<string, unknown> }
      const data = body?.data
      if (!data || typeof data !== 'object') throw invalid("'data' is a required field", '/data')
      if (data.type !== 'event') throw invalid(`'type' must be 'event'`, '/data/type')
      const a = (data.attributes ?? {}) as Record<string, unknown>
      const { metricName, profileData, timeMs } = checkEvent(a, '/data/attributes', true)
      const { profile } = upsertProfile(profileData!, '/data/attributes/profile/data')
      recordEvent(a, metricName, profile, timeMs)
      res.status(202).end()
    } catch (err) {
      next(err)
    }
  })

  // Bulk Create Events (klaviyo-2024-10-15 spec, POST /api/event-bulk-create-jobs → 202): one entry per profile with
  // its events. The whole request is validated first (a bad event is a 400 naming its pointer, nothing is stored);
  // then each event goes through the same dedupe as Create Event, so two events of one profile and metric with the
  // same unique_id inside one bulk request are stored once.
  router.post('/api/event-bulk-create-jobs', guard('event-bulk-create-jobs'), raw, (req, res, next) => {
    try {
      const body = readJson(req) as { data?: Record<string, unknown> }
      const data = body?.data
      if (!data || typeof data !== 'object') throw invalid("'data' is a required field", '/data')
      if (data.type !== 'event-bulk-create-job') throw invalid(`'type' must be 'event-bulk-create-job'`, '/data/type')
      const entries = ((data.attributes as Record<string, unknown> | undefined)?.['events-bulk-create'] as { data?: unknown } | undefined)?.data
      if (!Array.isArray(entries)) throw invalid("'events-bulk-create' is a required field", '/data/attributes/events-bulk-create/data')
      const total = entries.reduce((n: number, e) => n + (((e as { attributes?: { events?: { data?: unknown[] } } }).attributes?.events?.data ?? []) as unknown[]).length, 0)
      if (total > BULK_EVENTS_LIMIT) throw invalid(`A maximum of ${BULK_EVENTS_LIMIT} events is allowed per request; got ${total}.`, '/data/attributes/events-bulk-create/data')
      const planned = entries.map((entry, i) => {
        const at = `/data/attributes/events-bulk-create/data/${i}`
        const e = entry as { type?: unknown; attributes?: { profile?: { data?: Record<string, unknown> }; events?: { data?: unknown } } }
        if (e.type !== 'event-bulk-create') throw invalid(`'type' must be 'event-bulk-create'`, `${at}/type`)
        const profileData = e.attributes?.profile?.data
        if (!profileData) throw invalid("'profile' is a required field", `${at}/attributes/profile/data`)
        const events = e.attributes?.events?.data
        if (!Array.isArray(events) || events.length === 0) throw invalid("'events' is a required field", `${at}/attributes/events/data`)
        return {
          profileData,
          at,
          events: events.map((ev, j) => {
            const x = ev as { type?: unknown; attributes?: Record<string, unknown> }
            if (x.type !== 'event') throw invalid(`'type' must be 'event'`, `${at}/attributes/events/data/${j}/type`)
            const attrs = x.attributes ?? {}
            return { attrs, ...checkEvent(attrs, `${at}/attributes/events/data/${j}/attributes`, false) }
          })
        }
      })
      for (const p of planned) {
        const { profile } = upsertProfile(p.profileData, `${p.at}/attributes/profile/data`)
        for (const ev of p.events) recordEvent(ev.attrs, ev.metricName, profile, ev.timeMs)
      }
      res.status(202).end()
    } catch (err) {
      next(err)
    }
  })

  router.post('/api/profile-import', guard('profile-import'), raw, (req, res, next) => {
    try {
      const body = readJson(req) as { data?: Record<string, unknown> }
      if (!body?.data || typeof body.data !== 'object') throw invalid("'data' is a required field", '/data')
      const { profile, created } = upsertProfile(body.data, '/data')
      res.status(created ? 201 : 200).type('application/vnd.api+json').send(JSON.stringify(presentProfile(profile)))
    } catch (err) {
      next(err)
    }
  })

  router.get('/api/profiles/:id', guard(), (req, res, next) => {
    const p = state.profiles.get(String(req.params.id))
    if (!p) return next(new KlaviyoError(404, 'not_found', 'Not found.', `A profile with id ${req.params.id} does not exist.`, { parameter: 'id' }))
    res.type('application/vnd.api+json').send(JSON.stringify(presentProfile(p)))
  })

  router.get('/_sandbox/events', (_req, res) => {
    res.json({ received: state.eventsReceived, duplicates: state.duplicateEvents, events: Object.fromEntries(state.events) })
  })
  router.get('/_sandbox/profiles', (_req, res) => res.json({ profiles: [...state.profiles.values()] }))

  // Unknown routes answer in Klaviyo's JSON:API error shape, never the bridge's.
  router.use((req: Request, _res: Response, next: NextFunction) => {
    next(new KlaviyoError(404, 'not_found', 'Not found.', `No route matches ${req.method} ${req.path}.`, { parameter: 'path' }))
  })

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e =
      err instanceof KlaviyoError
        ? err
        : new KlaviyoError(400, 'parse_error', 'Malformed request.', (err as Error)?.message ?? 'malformed request')
    for (const [k, v] of Object.entries(e.headers)) res.set(k, v)
    res.status(e.status).type('application/vnd.api+json').send(JSON.stringify(e.body()))
  })

  return { router, state, faults }
}

/** Profiles whose email matches (case-insensitive). */
export function klaviyoProfileByEmail(state: KlaviyoSandboxState, email: string): KlaviyoProfile | undefined {
  return [...state.profiles.values()].find((p) => p.attributes.email?.toLowerCase() === email.toLowerCase())
}
