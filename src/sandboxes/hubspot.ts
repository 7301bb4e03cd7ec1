import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { randomUUID } from 'node:crypto'
import { FaultSwitch } from './faults.ts'

/**
 * HubSpot CRM v3 sandbox, faithful enough for the official `@hubspot/api-client` (pointed here with `basePath`)
 * and for our destination function to meet every error it handles in production:
 *
 * - contacts: `POST/GET /crm/v3/objects/contacts`, `GET/PATCH/DELETE /crm/v3/objects/contacts/{id}?idProperty=`,
 *   `POST /crm/v3/objects/contacts/batch/{read,create,update,upsert}` (≤ 100 inputs), `POST .../search`
 * - properties: `GET/POST /crm/v3/properties/contacts`, `GET /crm/v3/properties/contacts/{name}`
 * - OAuth: `POST /oauth/v1/token` (refresh_token grant)
 *
 * Error bodies follow HubSpot's `Error` shape `{status:'error', message, correlationId, category, errors?, context?}`:
 * 401 INVALID_AUTHENTICATION, 404 OBJECT_NOT_FOUND, 409 CONFLICT "Contact already exists. Existing ID: N",
 * 400 VALIDATION_ERROR (INVALID_EMAIL, PROPERTY_DOESNT_EXIST, INVALID_OPTION, READ_ONLY_VALUE), 429 with
 * `policyName: TEN_SECONDLY_ROLLING` (100 requests / 10 s by default, as for a private app on a paid tier).
 * Batch writes are all-or-nothing on validation, like HubSpot's (one bad input ⇒ 400 for the whole batch).
 * Email is unique (case-insensitive), so is every `hasUniqueValue` property.
 *
 * Approximations (documented, not hidden): a unique-value conflict on a custom property answers 409 CONFLICT with
 * our own wording; list/search ordering is by id; no associations, no property history, no GDPR delete.
 */

export interface HubspotContact {
  id: string
  properties: Record<string, string>
  createdAt: string
  updatedAt: string
  archived: boolean
}

export interface HubspotPropertyOption {
  label: string
  value: string
  displayOrder?: number
  hidden?: boolean
  description?: string
}

export interface HubspotProperty {
  name: string
  label: string
  type: string
  fieldType: string
  groupName: string
  description: string
  options: HubspotPropertyOption[]
  hasUniqueValue: boolean
  hidden: boolean
  formField: boolean
  calculated: boolean
  externalOptions: boolean
  displayOrder: number
  createdAt: string
  updatedAt: string
  archived: boolean
  modificationMetadata: { archivable: boolean; readOnlyDefinition: boolean; readOnlyValue: boolean }
}

export interface HubspotSandboxState {
  /** Live contacts by id (archived ones are removed). */
  contacts: Map<string, HubspotContact>
  properties: Map<string, HubspotProperty>
  /** Every API request that reached a route (after faults/rate limit/auth), e.g. `POST /crm/v3/objects/contacts/batch/upsert`. */
  calls: string[]
  /** Bearer tokens issued by /oauth/v1/token. */
  issuedTokens: Set<string>
  nextId: number
}

export interface HubspotSandboxOptions {
  /** Accepted private-app / OAuth access token. Unset: any non-empty bearer token is accepted. */
  accessToken?: string
  /** OAuth app: unset accepts any client and any non-empty refresh token. */
  oauth?: { clientId: string; clientSecret: string; refreshToken: string }
  /** Default HubSpot burst limit 100 / 10 s; `null` disables it. */
  rateLimit?: { limit: number; windowMs: number } | null
}

const BATCH_LIMIT = 100
const LIFECYCLE_STAGES = ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer', 'evangelist', 'other']
const LEAD_STATUSES = ['NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED', 'BAD_TIMING']
const READ_ONLY = new Set(['hs_object_id', 'createdate', 'lastmodifieddate'])
const DEFAULT_RETURNED = ['email', 'firstname', 'lastname', 'createdate', 'lastmodifieddate', 'hs_object_id']
// HubSpot checks the shape of an address, not its deliverability.
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/

function builtInProperty(name: string, label: string, extra: Partial<HubspotProperty> = {}): HubspotProperty {
  const at = '2019-08-06T02:41:08.029Z'
  return {
    name,
    label,
    type: 'string',
    fieldType: 'text',
    groupName: 'contactinformation',
    description: '',
    options: [],
    hasUniqueValue: false,
    hidden: false,
    formField: true,
    calculated: false,
    externalOptions: false,
    displayOrder: -1,
    createdAt: at,
    updatedAt: at,
    archived: false,
    modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: false },
    ...extra
  }
}

function enumOptions(values: string[], label: (v: string) => string = (v) => v): HubspotPropertyOption[] {
  return values.map((value, displayOrder) => ({ label: label(value), value, displayOrder, hidden: false }))
}

function defaultProperties(): Map<string, HubspotProperty> {
  const list = [
    builtInProperty('email', 'Email'),
    builtInProperty('firstname', 'First Name'),
    builtInProperty('lastname', 'Last Name'),
    builtInProperty('phone', 'Phone Number'),
    builtInProperty('company', 'Company Name'),
    builtInProperty('hs_object_id', 'Record ID', {
      type: 'number',
      fieldType: 'number',
      hasUniqueValue: true,
      modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: true }
    }),
    builtInProperty('createdate', 'Create Date', {
      type: 'datetime',
      fieldType: 'date',
      modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: true }
    }),
    builtInProperty('lastmodifieddate', 'Last Modified Date', {
      type: 'datetime',
      fieldType: 'date',
      modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: true }
    }),
    builtInProperty('lifecyclestage', 'Lifecycle Stage', {
      type: 'enumeration',
      fieldType: 'radio',
      options: enumOptions(LIFECYCLE_STAGES)
    }),
    builtInProperty('hs_lead_status', 'Lead Status', {
      type: 'enumeration',
      fieldType: 'radio',
      groupName: 'sales_properties',
      options: enumOptions(LEAD_STATUSES)
    })
  ]
  return new Map(list.map((p) => [p.name, p]))
}

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
  return new HttpError(
    400,
    hubspotError('VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(problems)}`, {
      errors: problems.map((p) => ({
        message: p.message,
        code: p.error,
        in: p.name,
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
  const state: HubspotSandboxState = {
    contacts: new Map(),
    properties: defaultProperties(),
    calls: [],
    issuedTokens: new Set(),
    nextId: 101
  }
  const faults = new FaultSwitch()
  const rate = options.rateLimit === undefined ? { limit: 100, windowMs: 10_000 } : options.rateLimit
  if (rate) faults.setRateLimit(rate)

  const router: Router = express.Router()
  router.use(faults.router())
  router.use(
    faults.middleware(() => ({
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      correlationId: randomUUID(),
      policyName: 'TEN_SECONDLY_ROLLING',
      groupName: 'publicapi:private-app:sandbox'
    }))
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

  const findBy = (idProperty: string | undefined, id: string): HubspotContact | undefined => {
    if (!idProperty || idProperty === 'hs_object_id') return state.contacts.get(id)
    const needle = idProperty === 'email' ? id.toLowerCase() : id
    for (const c of state.contacts.values()) {
      const v = c.properties[idProperty]
      if (v !== undefined && (idProperty === 'email' ? v.toLowerCase() : v) === needle) return c
    }
    return undefined
  }

  const checkIdProperty = (idProperty: string | undefined) => {
    if (!idProperty || idProperty === 'hs_object_id' || idProperty === 'email') return
    const p = state.properties.get(idProperty)
    if (!p) throw plainValidation(`Property "${idProperty}" does not exist`)
    if (!p.hasUniqueValue) throw plainValidation(`Unable to perform update/upsert by non-unique 0-1 property ${idProperty}`)
  }

  /** Property-level validation, all problems at once, as HubSpot reports them. */
  const validateProperties = (props: unknown, inputIndex?: number): Record<string, string> => {
    if (props === undefined || props === null) return {}
    if (typeof props !== 'object' || Array.isArray(props)) throw plainValidation('Invalid input JSON on line 1: properties must be an object')
    const out: Record<string, string> = {}
    const problems: PropertyProblem[] = []
    const problem = (name: string, error: string, message: string) =>
      problems.push({ isValid: false, message, error, name, localizedErrorMessage: message })
    for (const [name, raw] of Object.entries(props as Record<string, unknown>)) {
      const def = state.properties.get(name)
      if (!def) {
        problem(name, 'PROPERTY_DOESNT_EXIST', `Property "${name}" does not exist`)
        continue
      }
      if (READ_ONLY.has(name) || def.modificationMetadata.readOnlyValue) {
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
      out[name] = value
    }
    if (problems.length) throw validationError(problems, inputIndex)
    return out
  }

  /** Email and hasUniqueValue properties must not collide with another contact (or another input of the same batch). */
  const checkUnique = (props: Record<string, string>, selfId: string | undefined, claimed: Map<string, string>) => {
    for (const [name, value] of Object.entries(props)) {
      if (value === '') continue
      const def = state.properties.get(name)
      if (name !== 'email' && !def?.hasUniqueValue) continue
      const key = `${name}\u0000${name === 'email' ? value.toLowerCase() : value}`
      const existing = findBy(name, value)
      const other = existing && existing.id !== selfId ? existing.id : claimed.get(key) !== selfId ? claimed.get(key) : undefined
      if (other) {
        if (name === 'email') throw new HttpError(409, hubspotError('CONFLICT', `Contact already exists. Existing ID: ${other}`))
        throw new HttpError(409, hubspotError('CONFLICT', `A contact with ${name}=${value} already exists (unique value). Existing ID: ${other}`))
      }
      claimed.set(key, selfId ?? `new:${claimed.size}`)
    }
  }

  const stamp = (c: HubspotContact) => {
    c.properties.hs_object_id = c.id
    c.properties.lastmodifieddate = c.updatedAt
    c.properties.createdate = c.createdAt
  }

  const createContact = (props: Record<string, string>): HubspotContact => {
    const at = now()
    const c: HubspotContact = { id: String(state.nextId++), properties: { ...props }, createdAt: at, updatedAt: at, archived: false }
    stamp(c)
    state.contacts.set(c.id, c)
    return c
  }

  const updateContact = (c: HubspotContact, props: Record<string, string>) => {
    for (const [k, v] of Object.entries(props)) {
      if (v === '') delete c.properties[k]
      else c.properties[k] = v
    }
    c.updatedAt = now()
    stamp(c)
  }

  const view = (c: HubspotContact, properties?: string[]) => {
    const names = properties && properties.length ? properties : DEFAULT_RETURNED
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

  const C = '/crm/v3/objects/contacts'

  // ---- batch --------------------------------------------------------------------------------------------------
  router.post(`${C}/batch/read`, handle((req, res) => {
    const inputs = inputsOf(req.body)
    const { idProperty, properties } = req.body as { idProperty?: string; properties?: string[] }
    checkIdProperty(idProperty)
    const results = []
    const missing: string[] = []
    for (const input of inputs) {
      const c = findBy(idProperty, String(input.id))
      if (c) results.push(view(c, properties))
      else missing.push(String(input.id))
    }
    if (missing.length) {
      return res.status(207).json({
        status: 'COMPLETE',
        results,
        numErrors: 1,
        errors: [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.', context: { ids: missing } }],
        ...batchTimes()
      })
    }
    res.json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  router.post(`${C}/batch/create`, handle((req, res) => {
    const inputs = inputsOf(req.body)
    const validated = inputs.map((input, i) => validateProperties(input.properties, i))
    const claimed = new Map<string, string>()
    validated.forEach((props, i) => checkUnique(props, `new:${i}`, claimed))
    const results = validated.map((props) => view(createContact(props), Object.keys(props)))
    res.status(201).json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  router.post(`${C}/batch/update`, handle((req, res) => {
    const inputs = inputsOf(req.body)
    const targets = inputs.map((input) => {
      const idProperty = (input.idProperty as string | undefined) ?? undefined
      checkIdProperty(idProperty)
      return findBy(idProperty, String(input.id))
    })
    const missing = inputs.filter((_, i) => !targets[i]).map((input) => String(input.id))
    if (missing.length) throw notFound('Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.', { ids: missing })
    const validated = inputs.map((input, i) => validateProperties(input.properties, i))
    const claimed = new Map<string, string>()
    validated.forEach((props, i) => checkUnique(props, targets[i]!.id, claimed))
    const results = validated.map((props, i) => {
      updateContact(targets[i]!, props)
      return view(targets[i]!, Object.keys(props))
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
      checkIdProperty(idProperty)
      const key = `${idProperty}\u0000${idProperty === 'email' ? String(input.id).toLowerCase() : String(input.id)}`
      if (seen.has(key)) dupes.push(String(input.id))
      seen.add(key)
    }
    if (dupes.length) throw plainValidation(`Duplicate IDs found in batch input: [${dupes.join(', ')}]. IDs must be unique`)
    const plan = inputs.map((input, i) => {
      const idProperty = input.idProperty as string
      const id = String(input.id)
      const props = validateProperties({ ...((input.properties as object) ?? {}), ...(idProperty !== 'hs_object_id' ? { [idProperty]: id } : {}) }, i)
      const target = findBy(idProperty, id)
      if (!target && idProperty === 'hs_object_id') throw notFound(undefined, { ids: [id] })
      return { props, target }
    })
    const claimed = new Map<string, string>()
    plan.forEach(({ props, target }, i) => checkUnique(props, target?.id ?? `new:${i}`, claimed))
    const results = plan.map(({ props, target }) => {
      if (target) {
        updateContact(target, props)
        return { ...view(target, Object.keys(props)), new: false }
      }
      return { ...view(createContact(props), Object.keys(props)), new: true }
    })
    res.json({ status: 'COMPLETE', results, ...batchTimes() })
  }))

  // ---- search -------------------------------------------------------------------------------------------------
  router.post(`${C}/search`, handle((req, res) => {
    const body = (req.body ?? {}) as {
      filterGroups?: Array<{ filters?: Array<{ propertyName: string; operator: string; value?: string; values?: string[] }> }>
      properties?: string[]
      limit?: number
      after?: string | number
    }
    const groups = body.filterGroups ?? []
    if (groups.length > 5) throw plainValidation('Too many filter groups: a maximum of 5 is allowed')
    const match = (c: HubspotContact, f: { propertyName: string; operator: string; value?: string; values?: string[] }): boolean => {
      const v = c.properties[f.propertyName]
      const eq = (a: string | undefined, b: string | undefined) =>
        a !== undefined && b !== undefined && (f.propertyName === 'email' ? a.toLowerCase() === b.toLowerCase() : a === String(b))
      switch (f.operator) {
        case 'EQ':
          return eq(v, f.value === undefined ? undefined : String(f.value))
        case 'NEQ':
          return !eq(v, f.value === undefined ? undefined : String(f.value))
        case 'HAS_PROPERTY':
          return v !== undefined && v !== ''
        case 'NOT_HAS_PROPERTY':
          return v === undefined || v === ''
        case 'IN':
          return (f.values ?? []).some((x) => eq(v, String(x)))
        case 'CONTAINS_TOKEN':
          return v !== undefined && v.toLowerCase().includes(String(f.value ?? '').replace(/\*/g, '').toLowerCase())
        default:
          throw plainValidation(`Unsupported operator in sandbox: ${f.operator}`)
      }
    }
    const all = [...state.contacts.values()].filter(
      (c) => groups.length === 0 || groups.some((g) => (g.filters ?? []).every((f) => match(c, f)))
    )
    const limit = Math.min(Math.max(Number(body.limit ?? 10), 1), 200)
    const start = Number(body.after ?? 0)
    const page = all.slice(start, start + limit)
    res.json({
      total: all.length,
      results: page.map((c) => view(c, body.properties)),
      ...(start + limit < all.length ? { paging: { next: { after: String(start + limit) } } } : {})
    })
  }))

  // ---- basic --------------------------------------------------------------------------------------------------
  router.get(C, handle((req, res) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 10), 1), 100)
    const after = req.query.after !== undefined ? Number(req.query.after) : 0
    const sorted = [...state.contacts.values()].sort((a, b) => Number(a.id) - Number(b.id))
    const rest = sorted.filter((c) => Number(c.id) > after)
    const page = rest.slice(0, limit)
    const properties = listParam(req.query.properties)
    const next = rest.length > limit ? page[page.length - 1]!.id : undefined
    res.json({
      results: page.map((c) => view(c, properties)),
      ...(next ? { paging: { next: { after: next, link: `${req.baseUrl}${C}?after=${next}` } } } : {})
    })
  }))

  router.post(C, handle((req, res) => {
    const props = validateProperties((req.body as { properties?: unknown })?.properties)
    checkUnique(props, undefined, new Map())
    const c = createContact(props)
    res.status(201).json(view(c, [...new Set([...Object.keys(props), ...DEFAULT_RETURNED])]))
  }))

  router.get(`${C}/:id`, handle((req, res) => {
    const idProperty = req.query.idProperty as string | undefined
    checkIdProperty(idProperty)
    const c = findBy(idProperty, String(req.params.id))
    if (!c) throw notFound()
    res.json(view(c, listParam(req.query.properties)))
  }))

  router.patch(`${C}/:id`, handle((req, res) => {
    const idProperty = req.query.idProperty as string | undefined
    checkIdProperty(idProperty)
    const c = findBy(idProperty, String(req.params.id))
    if (!c) throw notFound()
    const props = validateProperties((req.body as { properties?: unknown })?.properties)
    checkUnique(props, c.id, new Map())
    updateContact(c, props)
    res.json(view(c, [...new Set([...Object.keys(props), ...DEFAULT_RETURNED])]))
  }))

  router.delete(`${C}/:id`, handle((req, res) => {
    const idProperty = req.query.idProperty as string | undefined
    const c = findBy(idProperty, String(req.params.id))
    if (c) state.contacts.delete(c.id)
    res.status(204).end()
  }))

  // ---- properties ---------------------------------------------------------------------------------------------
  const P = '/crm/v3/properties/contacts'
  router.get(P, handle((req, res) => {
    const archived = req.query.archived === 'true'
    res.json({ results: [...state.properties.values()].filter((p) => p.archived === archived) })
  }))

  router.get(`${P}/:name`, handle((req, res) => {
    const p = state.properties.get(String(req.params.name))
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
    if (state.properties.has(b.name!)) {
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
    state.properties.set(p.name, p)
    res.status(201).json(p)
  }))

  // Malformed JSON and other body errors in HubSpot's shape.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!err) return next()
    const status = (err as { status?: number }).status ?? 500
    res.status(status).json(hubspotError(status === 400 ? 'VALIDATION_ERROR' : 'INTERNAL_ERROR', `Invalid input JSON: ${(err as Error).message}`))
  })

  return { router, state, faults }
}

/** Live contacts with this email (case-insensitive): tests assert "exactly one". */
export function contactsWithEmail(state: HubspotSandboxState, email: string): HubspotContact[] {
  return [...state.contacts.values()].filter((c) => c.properties.email?.toLowerCase() === email.toLowerCase())
}
