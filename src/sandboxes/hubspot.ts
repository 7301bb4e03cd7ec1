import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { randomUUID } from 'node:crypto'
import { FaultSwitch, type RateWindow } from './faults.ts'
import { AssociationStore, defaultTypeId, objectTypeFrom, validTypeIds } from './hubspot-associations.ts'
import {
  DEFAULT_RETURNED,
  defaultProperties,
  HUBSPOT_OBJECT_TYPES,
  LAST_MODIFIED,
  OBJECT_TYPE_IDS,
  type HubspotObjectType,
  type HubspotProperty,
  type HubspotPropertyOption
} from './hubspot-properties.ts'

export type { HubspotProperty, HubspotPropertyOption, HubspotObjectType } from './hubspot-properties.ts'

/**
 * HubSpot CRM sandbox, faithful enough for the official `@hubspot/api-client` (pointed here with `basePath`)
 * and for our destination function to meet every error it handles in production:
 *
 * - objects (contacts, companies, deals): `POST/GET /crm/v3/objects/{type}`, `GET/PATCH/DELETE /crm/v3/objects/{type}/{id}
 *   ?idProperty=`, `POST /crm/v3/objects/{type}/batch/{read,create,update,upsert}` (≤ 100 inputs), `POST .../search`
 *   (EQ, NEQ, GT, GTE, LT, LTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN; sorts; ≤ 200 a page)
 * - properties: `GET/POST /crm/v3/properties/{type}`, `GET /crm/v3/properties/{type}/{name}`
 * - associations v4: `PUT .../associations/default/{toType}/{toId}`, `PUT .../associations/{toType}/{toId}` (typed),
 *   `GET .../associations/{toType}`, `DELETE .../associations/{toType}/{toId}`, and
 *   `POST /crm/v4/associations/{from}/{to}/batch/{associate/default,create,read,archive}`
 * - OAuth: `POST /oauth/v1/token` (refresh_token grant)
 *
 * Error bodies follow HubSpot's `Error` shape `{status:'error', message, correlationId, category, errors?, context?}`
 * (developers.hubspot.com "Handling errors"): 401 INVALID_AUTHENTICATION, 404 OBJECT_NOT_FOUND, 409 CONFLICT "Contact
 * already exists. Existing ID: N", 400 VALIDATION_ERROR whose `errors[]` are `{message, code, context.propertyName}`.
 * Rate limits (developers.hubspot.com "API usage guidelines and limits"): 100 requests / 10 s by default (a private
 * app on Free/Starter), 250 000 a day; every answer carries X-HubSpot-RateLimit-* headers, and a 429 — steady or
 * injected through `/_sandbox/faults` — names `policyName: TEN_SECONDLY_ROLLING`, which is what
 * `@hubspot/api-client`'s RetryDecorator retries on.
 * Batch writes are all-or-nothing on validation, like HubSpot's (one bad input ⇒ 400 for the whole batch).
 * Contact email is unique (case-insensitive), so is every `hasUniqueValue` property.
 *
 * Approximations (documented, not hidden): a unique-value conflict on a custom property answers 409 CONFLICT with
 * our own wording; list/search ordering is by id unless `sorts` is given; no property history, no GDPR delete,
 * no pipelines API (deals use the default pipeline's stages), no association labels.
 */

export interface HubspotObject {
  id: string
  properties: Record<string, string>
  createdAt: string
  updatedAt: string
  archived: boolean
}
export type HubspotContact = HubspotObject

export interface HubspotSandboxState {
  /** Live contacts by id (archived ones are removed). */
  contacts: Map<string, HubspotObject>
  companies: Map<string, HubspotObject>
  deals: Map<string, HubspotObject>
  /** Contact properties (kept at the top level: the destination tests and the bridge read it). */
  properties: Map<string, HubspotProperty>
  /** Property definitions of every object type (`objectProperties.contacts === properties`). */
  objectProperties: Record<HubspotObjectType, Map<string, HubspotProperty>>
  associations: AssociationStore
  /** Every API request that reached a route (after faults/rate limit/auth), e.g. `POST /crm/v3/objects/contacts/batch/upsert`. */
  calls: string[]
  /** Bearer tokens issued by /oauth/v1/token. */
  issuedTokens: Set<string>
  nextId: number
  /** Requests counted against the daily limit. */
  dailyUsed: number
}

export interface HubspotSandboxOptions {
  /** Accepted private-app / OAuth access token. Unset: any non-empty bearer token is accepted. */
  accessToken?: string
  /** OAuth app: unset accepts any client and any non-empty refresh token. */
  oauth?: { clientId: string; clientSecret: string; refreshToken: string }
  /** Default HubSpot burst limit 100 / 10 s; `null` disables it. */
  rateLimit?: { limit: number; windowMs: number } | null
  /** Daily request allocation reported in X-HubSpot-RateLimit-Daily (default 250 000, Free/Starter). */
  dailyLimit?: number
  /** The account (hub) id, reported in 429 bodies. */
  portalId?: number
  /** Called when a PATCH / batch update changes a property value (the webhook sender, hubspot-webhooks.ts, listens). */
  onPropertyChange?: (change: { type: HubspotObjectType; id: string; property: string; value: string; at: string }) => void
}

const BATCH_LIMIT = 100
// HubSpot checks the shape of an address, not its deliverability.
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/
const SINGULAR: Record<HubspotObjectType, string> = { contacts: 'CONTACT', companies: 'COMPANY', deals: 'DEAL' }

/** HubSpot's error body. */
export function hubspotError(category: string, message: string, extra: Record<string, unknown> = {}) {
  return { status: 'error', message, correlationId: randomUUID(), category, ...extra }
}

interface PropertyProblem {
  isValid: false
  message: string
  error: string
  name: string
  localizedErrorMessage: string
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown
  ) {
    super(typeof body === 'object' && body && 'message' in body ? String((body as { message: unknown }).message) : `HTTP ${status}`)
  }
}

function validationError(problems: PropertyProblem[], inputIndex?: number): HttpError {
  // HubSpot's VALIDATION_ERROR lists `{message, code, context}` per property; the spec's optional `in` is not sent here.
  return new HttpError(
    400,
    hubspotError('VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(problems)}`, {
      errors: problems.map((p) => ({
        message: p.message,
        code: p.error,
        context: inputIndex === undefined ? { propertyName: [p.name] } : { propertyName: [p.name], inputIndex: [String(inputIndex)] }
      }))
    })
  )
}

function plainValidation(message: string): HttpError {
  return new HttpError(400, hubspotError('VALIDATION_ERROR', message))
}

function notFound(message = 'Object not found.  objectId are usually numeric.', context?: Record<string, unknown>): HttpError {
  return new HttpError(404, hubspotError('OBJECT_NOT_FOUND', message, context ? { context } : {}))
}

export function createHubspotSandbox(options: HubspotSandboxOptions = {}) {
  const contactProps = defaultProperties('contacts')
  const state: HubspotSandboxState = {
    contacts: new Map(),
    companies: new Map(),
    deals: new Map(),
    properties: contactProps,
    objectProperties: { contacts: contactProps, companies: defaultProperties('companies'), deals: defaultProperties('deals') },
    associations: new AssociationStore(),
    calls: [],
    issuedTokens: new Set(),
    nextId: 101,
    dailyUsed: 0
  }
  const portalId = options.portalId ?? 62515
  const dailyLimit = options.dailyLimit ?? 250_000
  const faults = new FaultSwitch()
  const rate = options.rateLimit === undefined ? { limit: 100, windowMs: 10_000 } : options.rateLimit
  if (rate) faults.setRateLimit(rate)

  // developers.hubspot.com "API usage guidelines and limits": a burst 429 is this body; @hubspot/api-client retries a
  // 429 only when policyName is TEN_SECONDLY_ROLLING (lib/src/services/decorators/RetryDecorator.js).
  const tenSecondly = () => ({
    status: 'error',
    message: 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName: 'TEN_SECONDLY_ROLLING',
    groupName: `publicapi:private-app:${portalId}`,
    portalId
  })
  // The X-HubSpot-RateLimit-* headers of a private app (same guide, "Rate limit headers"; the HubSpot changelog
  // 2018-11-06 "Rate limit information headers will be included in HTTP responses").
  const rateHeaders = (res: Response, w: RateWindow | undefined) => {
    state.dailyUsed++
    res.set('X-HubSpot-RateLimit-Daily', String(dailyLimit))
    res.set('X-HubSpot-RateLimit-Daily-Remaining', String(Math.max(0, dailyLimit - state.dailyUsed)))
    if (!w) return
    res.set('X-HubSpot-RateLimit-Interval-Milliseconds', String(w.windowMs))
    res.set('X-HubSpot-RateLimit-Max', String(w.limit))
    res.set('X-HubSpot-RateLimit-Remaining', String(w.remaining))
    res.set('X-HubSpot-RateLimit-Secondly', String(Math.round(w.limit / (w.windowMs / 1000))))
    res.set('X-HubSpot-RateLimit-Secondly-Remaining', String(Math.round(w.remaining / (w.windowMs / 1000))))
  }

  const router: Router = express.Router()
  router.use(faults.router())
  router.use(
    faults.middleware(tenSecondly, {
      faultBody: (status) =>
        status === 429 ? tenSecondly() : hubspotError(status >= 500 ? 'INTERNAL_ERROR' : 'VALIDATION_ERROR', status >= 500 ? 'internal error' : `HTTP ${status}`),
      headers: (res, w) => rateHeaders(res, w)
    })
  )

  // ---- OAuth (no bearer needed) -------------------------------------------------------------------------------
  router.post('/oauth/v1/token', express.urlencoded({ extended: false }), express.json(), (req, res) => {
    state.calls.push('POST /oauth/v1/token')
    const body = (req.body ?? {}) as Record<string, string | undefined>
    if (body.grant_type !== 'refresh_token' && body.grant_type !== 'authorization_code') {
      return res.status(400).json({ status: 'BAD_GRANT_TYPE', message: `unknown grant_type: ${body.grant_type ?? ''}`, correlationId: randomUUID() })
    }
    const o = options.oauth
    if (o && (body.client_id !== o.clientId || body.client_secret !== o.clientSecret)) {
      return res.status(400).json({ status: 'BAD_CLIENT_ID', message: 'missing or unknown client id', correlationId: randomUUID() })
    }
    if (body.grant_type === 'refresh_token' && (!body.refresh_token || (o && body.refresh_token !== o.refreshToken))) {
      return res.status(400).json({ status: 'BAD_REFRESH_TOKEN', message: 'missing or unknown refresh token', correlationId: randomUUID() })
    }
    const accessToken = `sandbox-oauth-${randomUUID()}`
    state.issuedTokens.add(accessToken)
    res.json({ token_type: 'bearer', refresh_token: body.refresh_token ?? randomUUID(), access_token: accessToken, expires_in: 1800 })
  })

  // ---- Bearer auth --------------------------------------------------------------------------------------------
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/crm/')) return next()
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : ''
    const ok = token !== '' && (!options.accessToken || token === options.accessToken || state.issuedTokens.has(token))
    if (!ok) {
      return res
        .status(401)
        .json(
          hubspotError(
            'INVALID_AUTHENTICATION',
            token
              ? 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview'
              : 'Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview'
          )
        )
    }
    state.calls.push(`${req.method} ${req.path}`)
    next()
  })
  router.use('/crm', express.json({ limit: '5mb' }))

  // ---- helpers ------------------------------------------------------------------------------------------------
  const now = () => new Date().toISOString()
  const records = (type: HubspotObjectType) => state[type]
  const propsOf = (type: HubspotObjectType) => state.objectProperties[type]
  const isEmailKey = (type: HubspotObjectType, name: string) => type === 'contacts' && name === 'email'

  const findBy = (type: HubspotObjectType, idProperty: string | undefined, id: string): HubspotObject | undefined => {
    if (!idProperty || idProperty === 'hs_object_id') return records(type).get(id)
    const email = isEmailKey(type, idProperty)
    const needle = email ? id.toLowerCase() : id
    for (const c of records(type).values()) {
      const v = c.properties[idProperty]
      if (v !== undefined && (email ? v.toLowerCase() : v) === needle) return c
    }
    return undefined
  }

  const checkIdProperty = (type: HubspotObjectType, idProperty: string | undefined) => {
    if (!idProperty || idProperty === 'hs_object_id' || isEmailKey(type, idProperty)) return
    const p = propsOf(type).get(idProperty)
    if (!p) throw plainValidation(`Property "${idProperty}" does not exist`)
    if (!p.hasUniqueValue) throw plainValidation(`Unable to perform update/upsert by non-unique ${OBJECT_TYPE_IDS[type]} property ${idProperty}`)
  }

  /** Property-level validation, all problems at once, as HubSpot reports them. */
  const validateProperties = (type: HubspotObjectType, props: unknown, inputIndex?: number): Record<string, string> => {
    if (props === undefined || props === null) return {}
    if (typeof props !== 'object' || Array.isArray(props)) throw plainValidation('Invalid input JSON on line 1: properties must be an object')
    const out: Record<string, string> = {}
    const problems: PropertyProblem[] = []
    const problem = (name: string, error: string, message: string) =>
      problems.push({ isValid: false, message, error, name, localizedErrorMessage: message })
    for (const [name, raw] of Object.entries(props as Record<string, unknown>)) {
      const def = propsOf(type).get(name)
      if (!def) {
        problem(name, 'PROPERTY_DOESNT_EXIST', `Property "${name}" does not exist`)
        continue
      }
      if (def.modificationMetadata.readOnlyValue) {
        problem(name, 'READ_ONLY_VALUE', `${name} is a read only property; its value cannot be set.`)
        continue
      }
      const value = raw === null || raw === undefined ? '' : String(raw)
      if (name === 'email' && value !== '' && !EMAIL_RE.test(value)) {
        problem(name, 'INVALID_EMAIL', `Email address ${value} is invalid`)
        continue
      }
      if (def.type === 'enumeration' && value !== '') {
        const allowed = def.options.map((o) => o.value)
        const chosen = def.fieldType === 'checkbox' ? value.split(';') : [value]
        const bad = chosen.find((v) => !allowed.includes(v))
        if (bad !== undefined) {
          problem(name, 'INVALID_OPTION', `${bad} was not one of the allowed options: [${allowed.join(', ')}]`)
          continue
        }
      }
      if (def.type === 'number' && value !== '' && !Number.isFinite(Number(value))) {
        problem(name, 'INVALID_INTEGER', `${value} is not a valid number`)
        continue
      }
      // Datetime values are epoch milliseconds or ISO 8601 (developers.hubspot.com "Properties": date and datetime).
      if (def.type === 'datetime' && value !== '' && !/^\d+$/.test(value) && Number.isNaN(Date.parse(value))) {
        problem(name, 'INVALID_DATE', `${value} is not a valid date or datetime`)
        continue
      }
      out[name] = value
    }
    if (problems.length) throw validationError(problems, inputIndex)
    return out
  }

  /** Email and hasUniqueValue properties must not collide with another record (or another input of the same batch). */
  const checkUnique = (type: HubspotObjectType, props: Record<string, string>, selfId: string | undefined, claimed: Map<string, string>) => {
    for (const [name, value] of Object.entries(props)) {
      if (value === '') continue
      const def = propsOf(type).get(name)
      const email = isEmailKey(type, name)
      if (!email && !def?.hasUniqueValue) continue
      const key = `${name}\u0000${email ? value.toLowerCase() : value}`
      const existing = findBy(type, name, value)
      const other = existing && existing.id !== selfId ? existing.id : claimed.get(key) !== selfId ? claimed.get(key) : undefined
      if (other) {
        if (email) throw new HttpError(409, hubspotError('CONFLICT', `Contact already exists. Existing ID: ${other}`))
        throw new HttpError(409, hubspotError('CONFLICT', `A record with ${name}=${value} already exists (unique value). Existing ID: ${other}`))
      }
      claimed.set(key, selfId ?? `new:${claimed.size}`)
    }
  }

  const stamp = (type: HubspotObjectType, c: HubspotObject) => {
    c.properties.hs_object_id = c.id
    c.properties[LAST_MODIFIED[type]] = c.updatedAt
    c.properties.createdate = c.createdAt
    if (type === 'deals') c.properties.hs_is_closed_won = String(c.properties.dealstage === 'closedwon')
  }

  const createObject = (type: HubspotObjectType, props: Record<string, string>): HubspotObject => {
    const at = now()
    const c: HubspotObject = { id: String(state.nextId++), properties: { ...props }, createdAt: at, updatedAt: at, archived: false }
    if (type === 'deals' && c.properties.pipeline === undefined) c.properties.pipeline = 'default'
    stamp(type, c)
    records(type).set(c.id, c)
    return c
  }

  const updateObject = (type: HubspotObjectType, c: HubspotObject, props: Record<string, string>) => {
    const changed = Object.entries(props).filter(([k, v]) => (c.properties[k] ?? '') !== v)
    for (const [k, v] of Object.entries(props)) {
      if (v === '') delete c.properties[k]
      else c.properties[k] = v
    }
    c.updatedAt = now()
    stamp(type, c)
    for (const [property, value] of changed) options.onPropertyChange?.({ type, id: c.id, property, value, at: c.updatedAt })
  }

  const view = (type: HubspotObjectType, c: HubspotObject, properties?: string[]) => {
    const names = properties && properties.length ? properties : DEFAULT_RETURNED[type]
    const props: Record<string, string | null> = {}
    for (const n of names) props[n] = c.properties[n] ?? null
    return { id: c.id, properties: props, createdAt: c.createdAt, updatedAt: c.updatedAt, archived: false }
  }

  const listParam = (v: unknown): string[] | undefined => {
    if (v === undefined) return undefined
    const arr = Array.isArray(v) ? v : [v]
    return arr.flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean)
  }

  const inputsOf = (body: unknown): Array<Record<string, unknown>> => {
    const inputs = (body as { inputs?: unknown })?.inputs
    if (!Array.isArray(inputs)) throw plainValidation('Invalid input JSON on line 1: inputs must be an array')
    if (inputs.length > BATCH_LIMIT) throw plainValidation(`Batch input limit of ${BATCH_LIMIT} exceeded. Provided ${inputs.length} inputs.`)
    return inputs as Array<Record<string, unknown>>
  }

  const batchTimes = () => {
    const at = now()
    return { startedAt: at, completedAt: at }
  }

  const handle =
    (fn: (req: Request, res: Response) => void) =>
    (req: Request, res: Response) => {
      try {
        fn(req, res)
      } catch (err) {
        if (err instanceof HttpError) return res.status(err.status).json(err.body)
        res.status(500).json(hubspotError('INTERNAL_ERROR', err instanceof Error ? err.message : String(err)))
      }
    }

  /** `associations` on a v3 create: `[{to:{id}, types:[{associationCategory, associationTypeId}]}]`. */
  const associateOnCreate = (type: HubspotObjectType, id: string, associations: unknown) => {
    if (!Array.isArray(associations)) return
    for (const a of associations as Array<{ to?: { id?: unknown }; types?: Array<{ associationTypeId?: unknown }> }>) {
      const toId = String(a.to?.id ?? '')
      const typeId = Number(a.types?.[0]?.associationTypeId)
      const toType = HUBSPOT_OBJECT_TYPES.find((t) => t !== type && validTypeIds(type, t).includes(typeId) && records(t).has(toId))
      if (!toType) throw plainValidation(`Invalid association: ${JSON.stringify(a)}`)
      state.associations.add(type, id, toType, toId, typeId)
    }
  }

  // ---- objects (contacts, companies, deals) -----------------------------------------------------------------
  for (const type of HUBSPOT_OBJECT_TYPES) {
    const C = `/crm/v3/objects/${type}`

    router.post(`${C}/batch/read`, handle((req, res) => {
      const inputs = inputsOf(req.body)
      const { idProperty, properties } = req.body as { idProperty?: string; properties?: string[] }
      checkIdProperty(type, idProperty)
      const results = []
      const missing: string[] = []
      for (const input of inputs) {
        const c = findBy(type, idProperty, String(input.id))
        if (c) results.push(view(type, c, properties))
        else missing.push(String(input.id))
      }
      if (missing.length) {
        return res.status(207).json({
          status: 'COMPLETE',
          results,
          numErrors: 1,
          errors: [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: `Could not get some ${SINGULAR[type]} objects, they may be deleted or not exist. Check that ids are valid.`, context: { ids: missing } }],
          ...batchTimes()
        })
      }
      res.json({ status: 'COMPLETE', results, ...batchTimes() })
    }))

    router.post(`${C}/batch/create`, handle((req, res) => {
      const inputs = inputsOf(req.body)
      const validated = inputs.map((input, i) => validateProperties(type, input.properties, i))
      const claimed = new Map<string, string>()
      validated.forEach((props, i) => checkUnique(type, props, `new:${i}`, claimed))
      const results = validated.map((props, i) => {
        const c = createObject(type, props)
        associateOnCreate(type, c.id, inputs[i]!.associations)
        return view(type, c, Object.keys(props))
      })
      res.status(201).json({ status: 'COMPLETE', results, ...batchTimes() })
    }))

    router.post(`${C}/batch/update`, handle((req, res) => {
      const inputs = inputsOf(req.body)
      const targets = inputs.map((input) => {
        const idProperty = (input.idProperty as string | undefined) ?? undefined
        checkIdProperty(type, idProperty)
        return findBy(type, idProperty, String(input.id))
      })
      const missing = inputs.filter((_, i) => !targets[i]).map((input) => String(input.id))
      if (missing.length) throw notFound(`Could not get some ${SINGULAR[type]} objects, they may be deleted or not exist. Check that ids are valid.`, { ids: missing })
      const validated = inputs.map((input, i) => validateProperties(type, input.properties, i))
      const claimed = new Map<string, string>()
      validated.forEach((props, i) => checkUnique(type, props, targets[i]!.id, claimed))
      const results = validated.map((props, i) => {
        updateObject(type, targets[i]!, props)
        return view(type, targets[i]!, Object.keys(props))
      })
      res.json({ status: 'COMPLETE', results, ...batchTimes() })
    }))

    router.post(`${C}/batch/upsert`, handle((req, res) => {
      const inputs = inputsOf(req.body)
      const seen = new Set<string>()
      const dupes: string[] = []
      for (const input of inputs) {
        const idProperty = input.idProperty as string | undefined
        if (!idProperty) throw plainValidation('idProperty is required for upsert')
        checkIdProperty(type, idProperty)
        const key = `${idProperty}\u0000${isEmailKey(type, idProperty) ? String(input.id).toLowerCase() : String(input.id)}`
        if (seen.has(key)) dupes.push(String(input.id))
        seen.add(key)
      }
      if (dupes.length) throw plainValidation(`Duplicate IDs found in batch input: [${dupes.join(', ')}]. IDs must be unique`)
      const plan = inputs.map((input, i) => {
        const idProperty = input.idProperty as string
        const id = String(input.id)
        const props = validateProperties(type, { ...((input.properties as object) ?? {}), ...(idProperty !== 'hs_object_id' ? { [idProperty]: id } : {}) }, i)
        const target = findBy(type, idProperty, id)
        if (!target && idProperty === 'hs_object_id') throw notFound(undefined, { ids: [id] })
        return { props, target }
      })
      const claimed = new Map<string, string>()
      plan.forEach(({ props, target }, i) => checkUnique(type, props, target?.id ?? `new:${i}`, claimed))
      const results = plan.map(({ props, target }) => {
        if (target) {
          updateObject(type, target, props)
          return { ...view(type, target, Object.keys(props)), new: false }
        }
        return { ...view(type, createObject(type, props), Object.keys(props)), new: true }
      })
      res.json({ status: 'COMPLETE', results, ...batchTimes() })
    }))

    // developers.hubspot.com "CRM API | Search": filterGroups (≤ 5) OR-ed, filters AND-ed; sorts; limit ≤ 200.
    router.post(`${C}/search`, handle((req, res) => {
      type Filter = { propertyName: string; operator: string; value?: unknown; highValue?: unknown; values?: unknown[] }
      const body = (req.body ?? {}) as {
        filterGroups?: Array<{ filters?: Filter[] }>
        properties?: string[]
        sorts?: Array<string | { propertyName: string; direction?: string }>
        limit?: number
        after?: string | number
      }
      const groups = body.filterGroups ?? []
      if (groups.length > 5) throw plainValidation('Too many filter groups: a maximum of 5 is allowed')
      const numeric = (name: string) => ['number', 'datetime', 'date'].includes(propsOf(type).get(name)?.type ?? '')
      const asNumber = (name: string, v: unknown): number => {
        const s = String(v)
        if (propsOf(type).get(name)?.type === 'number' || /^-?\d+(\.\d+)?$/.test(s)) return Number(s)
        return Date.parse(s)
      }
      const match = (c: HubspotObject, f: Filter): boolean => {
        const v = c.properties[f.propertyName]
        const email = isEmailKey(type, f.propertyName)
        const eq = (a: string | undefined, b: unknown) =>
          a !== undefined && b !== undefined && (email ? a.toLowerCase() === String(b).toLowerCase() : numeric(f.propertyName) ? asNumber(f.propertyName, a) === asNumber(f.propertyName, b) : a === String(b))
        const cmp = (b: unknown) => (v === undefined || v === '' ? NaN : asNumber(f.propertyName, v) - asNumber(f.propertyName, b))
        switch (f.operator) {
          case 'EQ':
            return eq(v, f.value)
          case 'NEQ':
            return !eq(v, f.value)
          case 'GT':
            return cmp(f.value) > 0
          case 'GTE':
            return cmp(f.value) >= 0
          case 'LT':
            return cmp(f.value) < 0
          case 'LTE':
            return cmp(f.value) <= 0
          case 'BETWEEN':
            return cmp(f.value) >= 0 && cmp(f.highValue) <= 0
          case 'HAS_PROPERTY':
            return v !== undefined && v !== ''
          case 'NOT_HAS_PROPERTY':
            return v === undefined || v === ''
          case 'IN':
            return (f.values ?? []).some((x) => eq(v, x))
          case 'NOT_IN':
            return !(f.values ?? []).some((x) => eq(v, x))
          case 'CONTAINS_TOKEN':
            return v !== undefined && v.toLowerCase().includes(String(f.value ?? '').replace(/\*/g, '').toLowerCase())
          default:
            throw plainValidation(`Unsupported operator in sandbox: ${f.operator}`)
        }
      }
      let all = [...records(type).values()].filter((c) => groups.length === 0 || groups.some((g) => (g.filters ?? []).every((f) => match(c, f))))
      const sort = body.sorts?.[0]
      if (sort) {
        const name = typeof sort === 'string' ? sort.replace(/^-/, '') : sort.propertyName
        const desc = typeof sort === 'string' ? sort.startsWith('-') : sort.direction === 'DESCENDING'
        all = [...all].sort((a, b) => {
          const x = a.properties[name]
          const y = b.properties[name]
          const d = numeric(name) ? asNumber(name, x ?? 0) - asNumber(name, y ?? 0) : String(x ?? '').localeCompare(String(y ?? ''))
          return desc ? -d : d
        })
      }
      const limit = Math.min(Math.max(Number(body.limit ?? 10), 1), 200)
      const start = Number(body.after ?? 0)
      const page = all.slice(start, start + limit)
      res.json({
        total: all.length,
        results: page.map((c) => view(type, c, body.properties)),
        ...(start + limit < all.length ? { paging: { next: { after: String(start + limit) } } } : {})
      })
    }))

    router.get(C, handle((req, res) => {
      const limit = Math.min(Math.max(Number(req.query.limit ?? 10), 1), 100)
      const after = req.query.after !== undefined ? Number(req.query.after) : 0
      const sorted = [...records(type).values()].sort((a, b) => Number(a.id) - Number(b.id))
      const rest = sorted.filter((c) => Number(c.id) > after)
      const page = rest.slice(0, limit)
      const properties = listParam(req.query.properties)
      const next = rest.length > limit ? page[page.length - 1]!.id : undefined
      res.json({
        results: page.map((c) => view(type, c, properties)),
        ...(next ? { paging: { next: { after: next, link: `${req.baseUrl}${C}?after=${next}` } } } : {})
      })
    }))

    router.post(C, handle((req, res) => {
      const body = (req.body ?? {}) as { properties?: unknown; associations?: unknown }
      const props = validateProperties(type, body.properties)
      checkUnique(type, props, undefined, new Map())
      const c = createObject(type, props)
      associateOnCreate(type, c.id, body.associations)
      res.status(201).json(view(type, c, [...new Set([...Object.keys(props), ...DEFAULT_RETURNED[type]])]))
    }))

    router.get(`${C}/:id`, handle((req, res) => {
      const idProperty = req.query.idProperty as string | undefined
      checkIdProperty(type, idProperty)
      const c = findBy(type, idProperty, String(req.params.id))
      if (!c) throw notFound()
      const out: Record<string, unknown> = view(type, c, listParam(req.query.properties))
      const assoc = listParam(req.query.associations)
      if (assoc?.length) {
        out.associations = Object.fromEntries(
          assoc.flatMap((a) => {
            const to = objectTypeFrom(a)
            if (!to) return []
            const list = state.associations.list(type, c.id, to)
            return list.length ? [[to, { results: list.map((l) => ({ id: l.toObjectId, type: `${SINGULAR[type].toLowerCase()}_to_${SINGULAR[to].toLowerCase()}` })) }]] : []
          })
        )
      }
      res.json(out)
    }))

    router.patch(`${C}/:id`, handle((req, res) => {
      const idProperty = req.query.idProperty as string | undefined
      checkIdProperty(type, idProperty)
      const c = findBy(type, idProperty, String(req.params.id))
      if (!c) throw notFound()
      const props = validateProperties(type, (req.body as { properties?: unknown })?.properties)
      checkUnique(type, props, c.id, new Map())
      updateObject(type, c, props)
      res.json(view(type, c, [...new Set([...Object.keys(props), ...DEFAULT_RETURNED[type]])]))
    }))

    router.delete(`${C}/:id`, handle((req, res) => {
      const idProperty = req.query.idProperty as string | undefined
      const c = findBy(type, idProperty, String(req.params.id))
      if (c) {
        records(type).delete(c.id)
        state.associations.forget(type, c.id)
      }
      res.status(204).end()
    }))

    // ---- properties -------------------------------------------------------------------------------------------
    const P = `/crm/v3/properties/${type}`
    router.get(P, handle((req, res) => {
      const archived = req.query.archived === 'true'
      res.json({ results: [...propsOf(type).values()].filter((p) => p.archived === archived) })
    }))

    router.get(`${P}/:name`, handle((req, res) => {
      const p = propsOf(type).get(String(req.params.name))
      if (!p) throw new HttpError(404, hubspotError('OBJECT_NOT_FOUND', `Unable to find property with name ${req.params.name}`))
      res.json(p)
    }))

    router.post(P, handle((req, res) => {
      const b = (req.body ?? {}) as Partial<HubspotProperty> & { options?: HubspotPropertyOption[] }
      const missing = (['name', 'label', 'type', 'fieldType', 'groupName'] as const).filter((k) => !b[k])
      if (missing.length) throw plainValidation(`Invalid input JSON: missing required field(s) ${missing.join(', ')}`)
      if (!/^[a-z][a-z0-9_]*$/.test(b.name!)) throw plainValidation(`Property name ${b.name} is not valid: use lower case letters, digits and underscores`)
      if (!['string', 'number', 'date', 'datetime', 'enumeration', 'bool'].includes(b.type!)) throw plainValidation(`Invalid property type ${b.type}`)
      if (b.type === 'enumeration' && !(b.options ?? []).length) throw plainValidation('Enumeration properties must have at least one option')
      if (propsOf(type).has(b.name!)) {
        throw new HttpError(409, hubspotError('OBJECT_ALREADY_EXISTS', `Property named '${b.name}' already exists.`))
      }
      if (b.hasUniqueValue && b.type !== 'string' && b.type !== 'number') throw plainValidation('Only string and number properties can have unique values')
      const at = now()
      const p: HubspotProperty = {
        name: b.name!,
        label: b.label!,
        type: b.type!,
        fieldType: b.fieldType!,
        groupName: b.groupName!,
        description: b.description ?? '',
        options: (b.options ?? []).map((o, i) => ({ hidden: false, displayOrder: i, ...o })),
        hasUniqueValue: !!b.hasUniqueValue,
        hidden: !!b.hidden,
        formField: !!b.formField,
        calculated: false,
        externalOptions: false,
        displayOrder: b.displayOrder ?? -1,
        createdAt: at,
        updatedAt: at,
        archived: false,
        modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false }
      }
      propsOf(type).set(p.name, p)
      res.status(201).json(p)
    }))
  }

  // ---- associations v4 (developers.hubspot.com "CRM API | Associations v4") ----------------------------------
  const typeParam = (v: unknown): HubspotObjectType => {
    const t = objectTypeFrom(String(v))
    if (!t) throw plainValidation(`Unable to infer object type from: ${String(v)}`)
    return t
  }
  const existing = (type: HubspotObjectType, id: string) => {
    const r = records(type).get(id)
    if (!r) throw notFound(`No ${type.replace(/s$/, '').replace(/ie$/, 'y')} with ID ${id} exists`, { id: [id] })
    return r
  }
  const defaultSpec = (from: HubspotObjectType, to: HubspotObjectType) => {
    const typeId = defaultTypeId(from, to)
    if (typeId === undefined) throw plainValidation(`No default association type exists between ${from} and ${to}`)
    return typeId
  }
  const V4 = '/crm/v4/objects/:fromType/:fromId/associations'

  router.put(`${V4}/default/:toType/:toId`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const fromId = String(req.params.fromId)
    const toId = String(req.params.toId)
    existing(from, fromId)
    existing(to, toId)
    const typeId = defaultSpec(from, to)
    state.associations.add(from, fromId, to, toId, typeId)
    res.json({
      status: 'COMPLETE',
      results: [
        { from: { id: fromId }, to: { id: toId }, associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: typeId } },
        { from: { id: toId }, to: { id: fromId }, associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: defaultSpec(to, from) } }
      ],
      ...batchTimes()
    })
  }))

  router.put(`${V4}/:toType/:toId`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const fromId = String(req.params.fromId)
    const toId = String(req.params.toId)
    existing(from, fromId)
    existing(to, toId)
    const specs = Array.isArray(req.body) ? (req.body as Array<{ associationCategory?: string; associationTypeId?: unknown }>) : []
    if (!specs.length) throw plainValidation('Invalid input JSON: expected an array of association specs')
    for (const s of specs) {
      if (s.associationCategory !== 'HUBSPOT_DEFINED' || !validTypeIds(from, to).includes(Number(s.associationTypeId))) {
        throw plainValidation(`${s.associationCategory}:${String(s.associationTypeId)} is not a valid association type between ${from} and ${to}`)
      }
    }
    for (const s of specs) state.associations.add(from, fromId, to, toId, Number(s.associationTypeId))
    res.status(201).json({ fromObjectTypeId: OBJECT_TYPE_IDS[from], fromObjectId: Number(fromId), toObjectTypeId: OBJECT_TYPE_IDS[to], toObjectId: Number(toId), labels: [] })
  }))

  router.get(`${V4}/:toType`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    existing(from, String(req.params.fromId))
    const list = state.associations.list(from, String(req.params.fromId), to)
    const limit = Math.min(Math.max(Number(req.query.limit ?? 500), 1), 500)
    const start = Number(req.query.after ?? 0)
    res.json({
      results: list.slice(start, start + limit).map((l) => ({ toObjectId: Number(l.toObjectId), associationTypes: l.associationTypes })),
      ...(start + limit < list.length ? { paging: { next: { after: String(start + limit) } } } : {})
    })
  }))

  router.delete(`${V4}/:toType/:toId`, handle((req, res) => {
    state.associations.remove(typeParam(req.params.fromType), String(req.params.fromId), typeParam(req.params.toType), String(req.params.toId))
    res.status(204).end()
  }))

  const B4 = '/crm/v4/associations/:fromType/:toType/batch'
  router.post(`${B4}/associate/default`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const typeId = defaultSpec(from, to)
    const inputs = (req.body as { inputs?: Array<{ from?: { id?: unknown }; to?: { id?: unknown } }> })?.inputs
    if (!Array.isArray(inputs)) throw plainValidation('Invalid input JSON on line 1: inputs must be an array')
    const results = inputs.map((i) => {
      const fromId = String(i.from?.id ?? '')
      const toId = String(i.to?.id ?? '')
      existing(from, fromId)
      existing(to, toId)
      state.associations.add(from, fromId, to, toId, typeId)
      return { from: { id: fromId }, to: { id: toId }, associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: typeId } }
    })
    res.json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  router.post(`${B4}/create`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const inputs = (req.body as { inputs?: Array<{ from?: { id?: unknown }; to?: { id?: unknown }; types?: Array<{ associationCategory?: string; associationTypeId?: unknown }> }> })?.inputs
    if (!Array.isArray(inputs)) throw plainValidation('Invalid input JSON on line 1: inputs must be an array')
    const results = inputs.map((i) => {
      const fromId = String(i.from?.id ?? '')
      const toId = String(i.to?.id ?? '')
      existing(from, fromId)
      existing(to, toId)
      for (const t of i.types ?? []) {
        if (!validTypeIds(from, to).includes(Number(t.associationTypeId))) throw plainValidation(`${String(t.associationTypeId)} is not a valid association type between ${from} and ${to}`)
        state.associations.add(from, fromId, to, toId, Number(t.associationTypeId))
      }
      return { fromObjectTypeId: OBJECT_TYPE_IDS[from], fromObjectId: Number(fromId), toObjectTypeId: OBJECT_TYPE_IDS[to], toObjectId: Number(toId), labels: [] }
    })
    res.status(201).json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  router.post(`${B4}/read`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const inputs = inputsOf(req.body)
    const results = inputs
      .map((i) => String(i.id))
      .filter((id) => records(from).has(id))
      .map((id) => ({ from: { id }, to: state.associations.list(from, id, to).map((l) => ({ toObjectId: Number(l.toObjectId), associationTypes: l.associationTypes })) }))
    res.json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  router.post(`${B4}/archive`, handle((req, res) => {
    const from = typeParam(req.params.fromType)
    const to = typeParam(req.params.toType)
    const inputs = (req.body as { inputs?: Array<{ from?: { id?: unknown }; to?: Array<{ id?: unknown }> }> })?.inputs ?? []
    for (const i of inputs) for (const t of i.to ?? []) state.associations.remove(from, String(i.from?.id ?? ''), to, String(t.id ?? ''))
    res.status(204).end()
  }))

  // Unknown routes answer in HubSpot's error shape, never the bridge's.
  router.use((req: Request, res: Response) => {
    res.status(404).json(hubspotError('OBJECT_NOT_FOUND', `Unable to route ${req.method} ${req.path}: resource not found`))
  })

  // Malformed JSON and other body errors in HubSpot's shape.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!err) return next()
    const status = (err as { status?: number }).status ?? 500
    res.status(status).json(hubspotError(status === 400 ? 'VALIDATION_ERROR' : 'INTERNAL_ERROR', `Invalid input JSON: ${(err as Error).message}`))
  })

  return { router, state, faults }
}

/** Live contacts with this email (case-insensitive): tests assert "exactly one". */
export function contactsWithEmail(state: HubspotSandboxState, email: string): HubspotObject[] {
  return [...state.contacts.values()].filter((c) => c.properties.email?.toLowerCase() === email.toLowerCase())
}
