import express, { type Request, type Response, type Router } from 'express'
import type { ValidateFunction } from 'ajv'
import type { Source, WebhookRequest } from '../sources/types.ts'
import type { Store } from '../queue/store.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Clock } from '../clock.ts'
import { newAjv } from '../tracking-plan/plan.ts'
import { normalizeItem } from './normalize.ts'
import { attributeOrders } from './attribution.ts'
import { BodyRefused, checkJsonText, checkParsed, decodeUtf8 } from './body-guard.ts'
import { scrubDeep, type Scrub } from '../scrub.ts'
import { lookUpHubspotDeals } from './hubspot-deals.ts'
import type { HubspotDealClient } from '../hubspot/deals.ts'
import { cohortEvents } from './cohort-events.ts'

export interface IngestDeps {
  sources: Map<string, Source>
  store: Store
  plan: () => TrackingPlan
  destinations: () => Destination[]
  env: NodeJS.ProcessEnv
  logger: Logger
  metrics: Metrics
  clock: Clock
  bodyLimit: string
  /** Nesting limit checked before any parsing (WEBHOOK_MAX_DEPTH). */
  maxDepth: number
  /** Removes configured secret values from what is stored and logged (src/scrub.ts). */
  scrub: Scrub
  /** Called after a commit so idle delivery lanes start at once. */
  onAccepted: () => void
  /** HubSpot deal lookup for `POST /webhooks/hubspot` (src/ingest/hubspot-deals.ts); undefined = not configured. */
  hubspotDeals?: () => HubspotDealClient | undefined
}

// Headers that authenticate a request never reach the store or the logs.
const SECRET_HEADERS = /signature|hmac|secret|authorization|token|cookie|jws/i

/**
 * POST /webhooks/:source. Order matters: verify the signature over the raw bytes, then parse, then check the
 * payload schema, then commit, and only then answer exactly 200 (several platforms treat any other 2xx as a
 * failure). Every refusal is a 4xx/5xx with a JSON body naming the problem, and stores nothing.
 */
export function webhookRouter(deps: IngestDeps): Router {
  const router = express.Router()
  const ajv = newAjv()
  const validators = new Map<string, ValidateFunction>()
  for (const [name, source] of deps.sources) validators.set(name, ajv.compile(source.payloadSchema))

  const reject = (req: Request, res: Response, source: string, status: number, error: string, message: string, extra: object = {}) => {
    deps.metrics.rejected.inc({ source, reason: error })
    deps.logger.warn('webhook rejected', { requestId: res.locals.requestId, source, status, error, detail: message })
    res.status(status).json({ error, message, ...extra })
  }

  router.post('/webhooks/:source', async (req, res) => {
    const name = String(req.params.source)
    const source = deps.sources.get(name)
    if (!source) {
      return reject(req, res, 'unknown', 404, 'unknown_source', `no webhook source named "${name}"`, { sources: [...deps.sources.keys()] })
    }
    const secretVars = source.secretEnv.filter((v) => deps.env[v])
    if (!deps.env[source.secretEnv[0]]) {
      // 503 so the platform retries: once the operator sets the secret, its queued deliveries go through.
      return reject(req, res, name, 503, 'source_not_configured', `${name} webhooks are refused until ${source.secretEnv[0]} is set`)
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (!source.contentTypes.includes(contentType)) {
      return reject(req, res, name, 415, 'unsupported_media_type', `${name} sends ${source.contentTypes.join(' or ')}, got "${contentType || 'none'}"`)
    }
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const request: WebhookRequest = {
      rawBody,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v])),
      query: Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, typeof v === 'string' ? v : undefined])),
      receivedAt: new Date(deps.clock.now())
    }
    const attempts = secretVars.map((v) => source.verify(request, deps.env[v]!, deps.env))
    const verified = attempts.find((r) => r.ok) ?? attempts[0]
    if (!verified.ok) return reject(req, res, name, 401, 'invalid_signature', verified.reason, { scheme: source.authScheme })

    let payload: unknown
    let text: string
    try {
      text = decodeUtf8(rawBody)
      // Depth, duplicate and prototype keys on the text, before JSON.parse builds anything recursive from it.
      if (/[/+]json$/.test(contentType)) checkJsonText(text, deps.maxDepth)
      payload = source.parse ? source.parse(request) : JSON.parse(text)
      checkParsed(payload, deps.maxDepth)
    } catch (err) {
      if (err instanceof BodyRefused) return reject(req, res, name, 400, err.code, err.message)
      if (err instanceof RangeError) return reject(req, res, name, 400, 'too_deep', `body nested too deeply to parse (WEBHOOK_MAX_DEPTH is ${deps.maxDepth})`)
      return reject(req, res, name, 400, 'malformed_body', `body is not valid ${contentType}: ${(err as Error).message}`)
    }
    const validate = validators.get(name)!
    if (!validate(payload)) {
      const errors = (validate.errors ?? []).map((e) => ({
        pointer: e.keyword === 'required' ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}` : e.instancePath || '/',
        message: e.message
      }))
      return reject(req, res, name, 422, 'schema_violation', `payload does not match the ${name} webhook schema`, { errors })
    }
    const unroutable = source.unroutable?.(payload, request)
    if (unroutable) return reject(req, res, name, 501, 'not_implemented', unroutable)

    let sourceItems = source.items(payload, request)
    try {
      // HubSpot deal events carry only the deal id: look the deal up first (503 on failure, so HubSpot retries).
      sourceItems = await lookUpHubspotDeals(name, sourceItems, { lookup: deps.hubspotDeals?.(), store: deps.store, env: deps.env })
    } catch (err) {
      deps.logger.warn('hubspot deal lookup failed', { requestId: res.locals.requestId, error: err })
      const why = (err as Error).name === 'HubspotAccessMissing' ? (err as Error).message : `HubSpot answered ${(err as { code?: number }).code ?? 'nothing'}`
      return reject(req, res, name, 503, 'lookup_failed', `the deal could not be read from HubSpot (${why}); nothing was stored, retry later`)
    }

    try {
      const plan = deps.plan()
      const destinations = deps.destinations()
      const normalized = sourceItems.map((item) => normalizeItem(source, item, plan, destinations, request.receivedAt.getTime()))
      // Orders that do not name the advocate are joined to a stored referral by the buyer's identity (scenario 3).
      const attributed = await attributeOrders(name, normalized, { store: deps.store, plan, destinations, receivedAt: request.receivedAt.getTime() })
      // One event per fact whatever the order of arrival (issue 15): Referral Created once, Referral Converted on the advocate.
      let items = await cohortEvents(attributed, { store: deps.store, plan, destinations, receivedAt: request.receivedAt.getTime() })
      const headers = Object.fromEntries(
        Object.entries(request.headers)
          .filter(([k, v]) => v !== undefined && !SECRET_HEADERS.test(k))
          .map(([k, v]) => [k, deps.scrub(v!)])
      )
      // A platform that quotes one of our secrets (a misconfigured template, an echoed key) does not get it stored.
      const json = JSON.stringify(items)
      if (deps.scrub(json) !== json) items = scrubDeep(items, deps.scrub)
      const result = await deps.store.accept({
        source: name,
        requestId: res.locals.requestId,
        receivedAt: request.receivedAt.getTime(),
        rawBody: deps.scrub(source.redactRawBody ? source.redactRawBody(request) : text),
        headers,
        items
      })
      deps.metrics.accepted.inc({ source: name }, result.stored.length)
      deps.metrics.duplicates.inc({ source: name }, result.duplicates.length)
      const quarantined = items.filter((i) => result.stored.includes(i.id) && i.status === 'quarantined').length
      if (quarantined) deps.metrics.quarantined.inc({ source: name }, quarantined)
      // winston runs its formats (redaction, timestamp, JSON) before the transport drops a disabled level: skip the
      // whole call when info is off, as it is under load.
      if (deps.logger.isInfoEnabled()) deps.logger.info('webhook accepted', { requestId: res.locals.requestId, source: name, stored: result.stored, duplicates: result.duplicates.length, quarantined })
      if (result.stored.length) deps.onAccepted()
      const summary = { stored: result.stored.length, duplicates: result.duplicates.length, ids: [...result.stored, ...result.duplicates] }
      const ack = source.acknowledge?.(summary)
      if (ack) res.status(200).type(ack.contentType).send(ack.body)
      else res.status(200).json({ ok: true, ...summary })
    } catch (err) {
      // Not committed: the platform must retry, so 503, never 200.
      deps.logger.error('webhook not stored', { requestId: res.locals.requestId, source: name, error: err })
      reject(req, res, name, 503, 'store_unavailable', 'the webhook could not be stored; retry later')
    }
  })
  return router
}

/** express.raw for webhook routes: every content type is read as bytes (signatures are over bytes). */
export function rawBody(limit: string) {
  return express.raw({ type: () => true, limit })
}

/** `512kb`, `1mb`, `2048` → bytes (the units express.raw accepts for WEBHOOK_BODY_LIMIT). */
export function parseByteLimit(limit: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit)
  if (!m) throw new Error(`WEBHOOK_BODY_LIMIT must look like 512kb, 1mb or a byte count, got "${limit}"`)
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b']
  return Math.floor(Number(m[1]) * unit)
}
