import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Mixpanel Ingestion API sandbox (docs.mixpanel.com/reference/ingestion-api), as the official `mixpanel` npm
 * package and a raw HTTP client see it:
 *
 * - `POST|GET /track`: project token in each event's `properties.token`; body is `data=<base64 JSON>` (form, what
 *   the SDK sends; GET carries it in the query) or a JSON / NDJSON array. Answers `1` / `0`, or with `verbose=1`
 *   `{"status":1,"error":null}` / `{"status":0,"error":"..."}`. Like the real endpoint it answers `1` for an
 *   unknown project token and silently drops events older than five days (both recorded in `state.dropped`).
 * - `POST|GET /import`: HTTP Basic auth with the project secret (`secret:`), a service account
 *   (`username:secret` plus `project_id` query) or the project token (`token:`); 401
 *   `{"code":401,"error":"Invalid credentials","status":"Unauthorized"}`. `strict=1` validates every record and
 *   answers 200 `{"code":200,"num_records_imported":n,"status":"OK"}` or 400 with `failed_records` (the valid
 *   records are still imported: a 400 is a partial success). Without `strict=1` the plain `1` (what the `mixpanel`
 *   SDK expects), whatever the records: invalid ones are dropped silently (into `state.dropped`).
 * - `POST|GET /engage`: people updates `$set`, `$set_once`, `$add`, `$union`, `$append`, `$remove`, `$unset`,
 *   `$delete` keyed by `$token` + `$distinct_id`.
 * - Limits: 2000 records and 10 MB uncompressed per request (413 `request exceeds max limit of 10485760 bytes`). The real rate
 *   limit (2 GB of JSON or ~30k events per second per project, rolling minute) is far above anything a test
 *   sends, so it is off by default; `PUT /_sandbox/rate-limit` turns a steady limit on, answered with Mixpanel's
 *   429 body. Mixpanel does not document a Retry-After header; the sandbox sends one (shared fault switch).
 *
 * Dedupe: two events with the same (event, distinct_id, time, $insert_id) are one event (the latest copy wins,
 * as in Mixpanel's query-time dedupe); `state.received` counts every copy, `state.events` holds each key once.
 * Introspection (not a Mixpanel API): `GET /_sandbox/events`, `GET /_sandbox/profiles[/:distinct_id]`.
 */
export interface MixpanelStoredEvent {
  event: string
  properties: Record<string, unknown>
  endpoint: 'track' | 'import'
  /** Sandbox clock when the (latest copy of the) event was accepted. */
  receivedAt: number
}

export interface MixpanelProfile {
  distinct_id: string
  properties: Record<string, unknown>
  updatedAt: number
}

export interface MixpanelSandboxState {
  /** Keyed by the dedupe key `event \0 distinct_id \0 time(ms) \0 $insert_id` (or a unique key when no $insert_id). */
  events: Map<string, MixpanelStoredEvent>
  /** Every event record accepted, duplicates included. */
  received: number
  /** Records the API answered with success for but did not keep (unknown token, older than 5 days on /track...). */
  dropped: Array<{ endpoint: string; reason: string; record: unknown }>
  profiles: Map<string, MixpanelProfile>
  engageUpdates: number
}

export interface MixpanelSandboxOptions {
  /** Project token; when set, other tokens are treated as an unknown project. */
  token?: string
  /** Project (API) secret accepted on /import; when unset any non-empty Basic username is accepted. */
  secret?: string
  serviceAccount?: { username: string; secret: string; projectId: string }
  now?: () => number
}

// docs.mixpanel.com/reference/import-events: "each request ... up to 2000 events and 10MB uncompressed". /track
// keeps the historical limits of the same 2000 events.
const MAX_BYTES = 10 * 1024 * 1024
const MAX_RECORDS = 2000
const FIVE_DAYS_MS = 5 * 24 * 60 * 60 * 1000
const MIN_TIME_MS = Date.UTC(1971, 0, 1)
/** Placeholder distinct_ids Mixpanel's /import rejects (docs: "Import Events", invalid distinct_id). */
const INVALID_DISTINCT_IDS = new Set(['anon', 'anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '00000000-0000-0000-0000-000000000000', '<nil>', '0', '-1', 'true', 'false', '[]', '{}', 'lmy47d'])
/** `$insert_id`: at most 36 characters, alphanumeric or '-'. */
const INSERT_ID = /^[A-Za-z0-9-]{1,36}$/

export const MIXPANEL_RATE_LIMIT_BODY = {
  code: 429,
  error: 'Project exceeded rate limits. Please retry the request with exponential backoff.',
  status: 'Too Many Requests'
}

class PayloadError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400
  ) {
    super(message)
  }
}

/** `time` may be seconds or milliseconds since epoch; normalise to ms. */
export function mixpanelTimeMs(time: unknown): number | undefined {
  if (typeof time !== 'number' || !Number.isFinite(time)) return undefined
  return time < 1e11 ? Math.round(time * 1000) : Math.round(time)
}

function decodeData(raw: string): unknown {
  const trimmed = raw.trim()
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) return JSON.parse(trimmed)
  return JSON.parse(Buffer.from(trimmed, 'base64').toString('utf8'))
}

/** The records of one ingestion request, whatever encoding the client chose. */
function readRecords(req: Request): Array<Record<string, unknown>> {
  let decoded: unknown
  try {
    if (req.method === 'GET') {
      const data = req.query.data
      if (typeof data !== 'string' || !data) throw new PayloadError('data, missing or empty')
      decoded = decodeData(data)
    } else {
      const body = req.body
      let text: string
      // Content-Encoding: gzip is accepted on /import (Import Events reference): express.raw (body-parser) inflates
      // it before this point, so the 10 MB check below is on the uncompressed body, as Mixpanel counts it
      // (docs.mixpanel.com/troubleshooting/errors/413-payload-too-large).
      if (Buffer.isBuffer(body)) text = body.toString('utf8')
      else if (body && typeof body === 'object') text = JSON.stringify(body) // already parsed upstream (application/json)
      else text = ''
      if (Buffer.byteLength(text) > MAX_BYTES) throw new PayloadError(`request exceeds max limit of ${MAX_BYTES} bytes`, 413)
      const type = String(req.headers['content-type'] ?? '')
      if (type.includes('application/x-www-form-urlencoded')) {
        const data = new URLSearchParams(text).get('data')
        if (!data) throw new PayloadError('data, missing or empty')
        decoded = decodeData(data)
      } else if (type.includes('ndjson')) {
        decoded = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
      } else {
        if (!text.trim()) throw new PayloadError('data, missing or empty')
        decoded = JSON.parse(text)
      }
    }
  } catch (err) {
    if (err instanceof PayloadError) throw err
    throw new PayloadError('unable to parse request body: invalid JSON')
  }
  const records = Array.isArray(decoded) ? decoded : [decoded]
  if (records.length > MAX_RECORDS) throw new PayloadError(`request exceeds max limit of ${MAX_RECORDS} records`)
  if (records.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) throw new PayloadError('each record must be a JSON object')
  return records as Array<Record<string, unknown>>
}

function basicAuth(req: Request): { user: string; pass: string } | undefined {
  const header = req.headers.authorization ?? ''
  if (!header.startsWith('Basic ')) return undefined
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
  const i = decoded.indexOf(':')
  return i < 0 ? { user: decoded, pass: '' } : { user: decoded.slice(0, i), pass: decoded.slice(i + 1) }
}

export function createMixpanelSandbox(options: MixpanelSandboxOptions = {}) {
  const now = options.now ?? Date.now
  const state: MixpanelSandboxState = { events: new Map(), received: 0, dropped: [], profiles: new Map(), engageUpdates: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  let unkeyed = 0

  router.use(faults.router())
  router.use(
    faults.middleware(() => MIXPANEL_RATE_LIMIT_BODY, {
      // The Ingestion API's error shape `{code, error, status}` for injected faults too.
      faultBody: (status) => (status === 429 ? MIXPANEL_RATE_LIMIT_BODY : { code: status, error: `sandbox fault: ${status}`, status: status >= 500 ? 'Internal Server Error' : 'Bad Request' })
    })
  )

  const verbose = (req: Request) => req.query.verbose === '1'
  /** The legacy `/track`-style answer. */
  const legacy = (req: Request, res: Response, ok: boolean, error?: string, statusCode?: number) => {
    const code = statusCode ?? (ok ? 200 : 400)
    if (verbose(req)) return res.status(code).json({ status: ok ? 1 : 0, error: ok ? null : (error ?? 'unknown error') })
    return res.status(code).type('text/plain').send(ok ? '1' : '0')
  }

  const tokenKnown = (token: unknown) => typeof token === 'string' && token !== '' && (!options.token || token === options.token)

  function store(endpoint: 'track' | 'import', record: Record<string, unknown>, timeMs: number) {
    const properties: Record<string, unknown> = { ...(record.properties as Record<string, unknown>), time: timeMs }
    const insertId = properties.$insert_id
    const distinctId = String(properties.distinct_id ?? '')
    const key =
      typeof insertId === 'string' && INSERT_ID.test(insertId)
        ? [record.event, distinctId, timeMs, insertId].join('\u0000')
        : `unkeyed-${++unkeyed}`
    state.received++
    state.events.set(key, { event: String(record.event), properties, endpoint, receivedAt: now() })
  }

  // Above the 10 MB documented limit, so an oversized request gets Mixpanel's own 413 body rather than the parser's.
  const raw = express.raw({ type: () => true, limit: '12mb' })

  const track = (req: Request, res: Response) => {
    let records: Array<Record<string, unknown>>
    try {
      records = readRecords(req)
    } catch (err) {
      const e = err as PayloadError
      return legacy(req, res, false, e.message, e.statusCode)
    }
    let wellFormed = 0
    for (const record of records) {
      const props = record.properties as Record<string, unknown> | undefined
      if (typeof record.event !== 'string' || !record.event || !props || typeof props !== 'object') continue
      wellFormed++
      if (!tokenKnown(props.token)) {
        state.dropped.push({ endpoint: 'track', reason: 'unknown or missing project token', record })
        continue
      }
      const timeMs = props.time === undefined ? now() : mixpanelTimeMs(props.time)
      if (timeMs === undefined) {
        state.dropped.push({ endpoint: 'track', reason: 'invalid time', record })
        continue
      }
      if (timeMs < now() - FIVE_DAYS_MS) {
        state.dropped.push({ endpoint: 'track', reason: 'older than 5 days: /track only ingests recent events, use /import', record })
        continue
      }
      store('track', record, Math.min(timeMs, now()))
    }
    if (wellFormed === 0) return legacy(req, res, false, 'no well-formed events in payload (each needs "event" and "properties")')
    return legacy(req, res, true)
  }

  const importHandler = (req: Request, res: Response) => {
    const strict = req.query.strict === '1'
    const auth = basicAuth(req)
    const sa = options.serviceAccount
    const authorized = ((): boolean => {
      if (!auth?.user) return false
      if (sa && auth.user === sa.username) return auth.pass === sa.secret && req.query.project_id === sa.projectId
      if (options.token && auth.user === options.token && !auth.pass) return true
      if (options.secret) return auth.user === options.secret && !auth.pass
      return !sa // nothing configured: any credentials
    })()
    if (!authorized) return res.status(401).json({ code: 401, error: 'Invalid credentials', status: 'Unauthorized' })
    let records: Array<Record<string, unknown>>
    try {
      records = readRecords(req)
    } catch (err) {
      const e = err as PayloadError
      if (e.statusCode === 413) return res.status(413).json({ code: 413, error: e.message, status: 'Request Entity Too Large' })
      return res.status(400).json({ code: 400, error: e.message, status: 'Bad Request' })
    }
    const failed: Array<{ index: number; insert_id?: string; field: string; message: string }> = []
    let imported = 0
    records.forEach((record, index) => {
      const props = record.properties as Record<string, unknown> | undefined
      const insertId = typeof props?.$insert_id === 'string' ? props.$insert_id : undefined
      const fail = (field: string, message: string) => failed.push({ index, ...(insertId ? { insert_id: insertId } : {}), field, message })
      if (typeof record.event !== 'string' || !record.event) return fail('event', "'event' must be a non-empty string")
      if (!props || typeof props !== 'object') return fail('properties', "'properties' must be an object")
      const timeMs = mixpanelTimeMs(props.time)
      if (timeMs === undefined) return fail('properties.time', "'properties.time' is invalid: must be specified as seconds since epoch")
      if (timeMs < MIN_TIME_MS) return fail('properties.time', "'properties.time' is invalid: must be after 1971-01-01")
      if (typeof props.distinct_id !== 'string' && typeof props.distinct_id !== 'number') {
        return fail('properties.distinct_id', "'properties.distinct_id' is required (use an empty string for events without a user)")
      }
      if (INVALID_DISTINCT_IDS.has(String(props.distinct_id).toLowerCase())) {
        return fail('properties.distinct_id', `'properties.distinct_id' is invalid: "${props.distinct_id}" is a placeholder value`)
      }
      if (strict && insertId === undefined) return fail('properties.$insert_id', "'properties.$insert_id' is required")
      if (insertId !== undefined && !INSERT_ID.test(insertId)) {
        return fail('properties.$insert_id', "'properties.$insert_id' is invalid: must be at most 36 characters, alphanumeric or '-'")
      }
      // Mixpanel overwrites a time more than an hour ahead with the ingestion time.
      store('import', record, timeMs > now() + 3_600_000 ? now() : timeMs)
      imported++
    })
    if (!strict) {
      // Without strict=1 Mixpanel does not validate the batch for the caller (Import Events reference: strict=1
      // "will validate the batch and return errors per event that failed"): the answer is the plain `1` the
      // official `mixpanel` SDK checks for (lib/mixpanel-node.js treats anything else as an error), and records
      // that would fail validation are dropped silently (`state.dropped`) rather than reported as `0`.
      for (const f of failed) state.dropped.push({ endpoint: 'import', reason: f.message, record: records[f.index] })
      return legacy(req, res, true)
    }
    if (failed.length) {
      return res.status(400).json({
        code: 400,
        error: 'some data points in the request failed validation',
        status: 'Bad Request',
        num_records_imported: imported,
        failed_records: failed
      })
    }
    return res.status(200).json({ code: 200, num_records_imported: imported, status: 'OK' })
  }

  const engage = (req: Request, res: Response) => {
    let updates: Array<Record<string, unknown>>
    try {
      updates = readRecords(req)
    } catch (err) {
      const e = err as PayloadError
      return legacy(req, res, false, e.message, e.statusCode)
    }
    let applied = 0
    let error: string | undefined
    for (const u of updates) {
      const distinctId = u.$distinct_id
      if (!tokenKnown(u.$token)) {
        if (typeof u.$token === 'string' && u.$token) state.dropped.push({ endpoint: 'engage', reason: 'unknown project token', record: u })
        else error = '$token, missing or empty'
        continue
      }
      if (typeof distinctId !== 'string' && typeof distinctId !== 'number') {
        error = '$distinct_id, missing or empty'
        continue
      }
      const id = String(distinctId)
      const problem = applyEngage(state, id, u, now())
      if (problem) {
        error = problem
        continue
      }
      state.engageUpdates++
      applied++
    }
    return legacy(req, res, applied > 0 || (!error && updates.length > 0), error)
  }

  for (const [path, handler] of [
    ['/track', track],
    ['/import', importHandler],
    ['/engage', engage]
  ] as const) {
    router.get(path, handler)
    router.post(path, raw, handler)
  }

  router.get('/_sandbox/events', (_req, res) => {
    res.json({ received: state.received, events: [...state.events.values()], dropped: state.dropped })
  })
  router.get('/_sandbox/profiles', (_req, res) => res.json({ profiles: [...state.profiles.values()] }))
  router.get('/_sandbox/profiles/:distinctId', (req, res) => {
    const p = state.profiles.get(String(req.params.distinctId))
    return p ? res.json(p) : res.status(404).json({ error: 'no such profile', status: 0 })
  })

  // Bodies parsed upstream (e.g. malformed JSON) fail here with Mixpanel's shape instead of an HTML page.
  router.use((err: { status?: number; message?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400
    if (req.path.startsWith('/import')) return res.status(status).json({ code: status, error: err.message ?? 'bad request', status: 'Bad Request' })
    return legacy(req, res, false, err.message ?? 'bad request', status)
  })

  return { router, state, faults }
}

/** Applies one people update; returns an error message when it is invalid. */
function applyEngage(state: MixpanelSandboxState, id: string, u: Record<string, unknown>, now: number): string | undefined {
  const ops = ['$set', '$set_once', '$add', '$union', '$append', '$remove', '$unset', '$delete'].filter((k) => k in u)
  if (ops.length === 0) return 'no profile operation ($set, $set_once, $add, $union, $append, $remove, $unset, $delete)'
  if (ops.includes('$delete')) {
    state.profiles.delete(id)
    return undefined
  }
  const profile = state.profiles.get(id) ?? { distinct_id: id, properties: {}, updatedAt: now }
  const props = profile.properties
  for (const op of ops) {
    const value = u[op]
    if (op === '$unset') {
      if (!Array.isArray(value)) return '$unset must be a list of property names'
      for (const k of value) delete props[String(k)]
      continue
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return `${op} must be an object`
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      switch (op) {
        case '$set':
          props[k] = v
          break
        case '$set_once':
          if (!(k in props)) props[k] = v
          break
        case '$add': {
          if (typeof v !== 'number') return `$add values must be numbers (${k})`
          const current = typeof props[k] === 'number' ? (props[k] as number) : 0
          props[k] = current + v
          break
        }
        case '$union': {
          if (!Array.isArray(v)) return `$union values must be lists (${k})`
          const list = Array.isArray(props[k]) ? [...(props[k] as unknown[])] : []
          for (const item of v) if (!list.some((x) => JSON.stringify(x) === JSON.stringify(item))) list.push(item)
          props[k] = list
          break
        }
        case '$append': {
          const list = Array.isArray(props[k]) ? [...(props[k] as unknown[])] : []
          list.push(v)
          props[k] = list
          break
        }
        case '$remove': {
          if (Array.isArray(props[k])) props[k] = (props[k] as unknown[]).filter((x) => JSON.stringify(x) !== JSON.stringify(v))
          break
        }
      }
    }
  }
  if (!u.$ignore_time) props.$last_seen = new Date(now).toISOString()
  profile.updatedAt = now
  state.profiles.set(id, profile)
  return undefined
}
