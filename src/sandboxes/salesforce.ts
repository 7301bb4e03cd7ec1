import { createVerify, randomBytes } from 'node:crypto'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Salesforce sandbox: the OAuth token endpoint and the slice of REST API v59.0 the bridge and jsforce use.
 *
 * - `POST /services/oauth2/token` (form): `grant_type=refresh_token` (client_id/client_secret/refresh_token) and
 *   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (assertion: a JWT with iss = client id, sub = user,
 *   aud = login URL, exp; the RS256 signature is checked only when `oauth.jwtPublicKeyPem` is given). Errors are
 *   400 `{error, error_description}`: invalid_grant, invalid_client_id, invalid_client, unsupported_grant_type.
 *   Success: `{access_token, instance_url, id, token_type:'Bearer', issued_at, signature, scope}`.
 * - Everything under `/services/data/vXX.X/` needs `Authorization: Bearer <token>`; an unknown or expired token
 *   gets 401 `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` (jsforce refreshes on it).
 *   Past the daily API request limit: 403 `REQUEST_LIMIT_EXCEEDED`. Each answer carries `Sforce-Limit-Info`.
 * - `GET|POST /sobjects/{Lead|Contact|Opportunity}`, `GET|PATCH|DELETE /sobjects/{Object}/{id}`,
 *   `GET /sobjects/{Object}/describe`, `GET|PATCH /sobjects/{Object}/{ExternalIdField}/{value}` (upsert: 201
 *   `{id, success, errors, created:true}`; update: 200 `{..., created:false}` from API 46.0, 204 before; several
 *   matches: 300 with their URLs).
 * - `GET /query?q=` and `/queryAll?q=`: SOQL (see the parser below), pages of 2000 records (or
 *   `Sforce-Query-Options: batchSize=n`, 200..2000) with `nextRecordsUrl` → `GET /query/{locator}`.
 * - Errors are arrays `[{message, errorCode, fields?}]`: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE,
 *   REQUIRED_FIELD_MISSING, DUPLICATE_VALUE, INVALID_FIELD_FOR_INSERT_UPDATE, INVALID_EMAIL_ADDRESS,
 *   JSON_PARSER_ERROR, NOT_FOUND, INVALID_QUERY_LOCATOR.
 * - State (`state`, a {@link SalesforceOrg}) can be seeded directly (`seed`), e.g. Opportunities with a given
 *   LastModifiedDate for the scenario-2 ground truth.
 */

type FieldType = 'id' | 'string' | 'email' | 'picklist' | 'boolean' | 'currency' | 'double' | 'date' | 'datetime' | 'reference'

interface FieldDef {
  name: string
  type: FieldType
  label: string
  required?: boolean
  externalId?: boolean
  unique?: boolean
  /** Read-only (system, formula or compound fields). */
  readonly?: boolean
  defaultValue?: unknown
  picklist?: string[]
}

interface ObjectDef {
  name: string
  label: string
  keyPrefix: string
  fields: FieldDef[]
}

const f = (name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef => ({
  name,
  type,
  label: name.replace(/__c$/, '').replace(/_/g, ' '),
  ...extra
})
const system = [
  f('IsDeleted', 'boolean', { readonly: true, defaultValue: false }),
  f('CreatedDate', 'datetime', { readonly: true }),
  f('LastModifiedDate', 'datetime', { readonly: true }),
  f('SystemModstamp', 'datetime', { readonly: true })
]
const referralFields = (idUnique: boolean) => [
  f('Referral_ID__c', 'string', { externalId: true, unique: idUnique }),
  f('Referral_Advocate_ID__c', 'string'),
  f('Referral_Advocate_Email__c', 'email'),
  f('Referral_Code__c', 'string')
]

export const SALESFORCE_OBJECTS: Record<string, ObjectDef> = {
  Lead: {
    name: 'Lead',
    label: 'Lead',
    keyPrefix: '00Q',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('FirstName', 'string'),
      f('LastName', 'string', { required: true }),
      f('Name', 'string', { readonly: true }),
      f('Company', 'string', { required: true }),
      f('Email', 'email'),
      f('Phone', 'string'),
      f('Status', 'picklist', { defaultValue: 'Open - Not Contacted', picklist: ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', 'Closed - Not Converted'] }),
      f('LeadSource', 'picklist'),
      f('IsConverted', 'boolean', { defaultValue: false }),
      f('ConvertedOpportunityId', 'reference', { readonly: true }),
      ...system,
      ...referralFields(true)
    ]
  },
  Contact: {
    name: 'Contact',
    label: 'Contact',
    keyPrefix: '003',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('FirstName', 'string'),
      f('LastName', 'string', { required: true }),
      f('Name', 'string', { readonly: true }),
      f('Email', 'email'),
      f('AccountId', 'reference'),
      f('LeadSource', 'picklist'),
      ...system,
      ...referralFields(true)
    ]
  },
  Opportunity: {
    name: 'Opportunity',
    label: 'Opportunity',
    keyPrefix: '006',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('Name', 'string', { required: true }),
      f('StageName', 'picklist', { required: true, picklist: ['Prospecting', 'Qualification', 'Needs Analysis', 'Proposal/Price Quote', 'Negotiation/Review', 'Closed Won', 'Closed Lost'] }),
      f('CloseDate', 'date', { required: true }),
      f('Amount', 'currency'),
      f('CurrencyIsoCode', 'picklist', { defaultValue: 'USD', picklist: ['USD', 'EUR', 'GBP', 'CAD', 'AUD', 'JPY'] }),
      f('IsWon', 'boolean', { readonly: true }),
      f('IsClosed', 'boolean', { readonly: true }),
      f('LeadSource', 'picklist'),
      f('AccountId', 'reference'),
      ...system,
      // Several opportunities can come from one referral: an external id, but not unique (upsert may answer 300).
      ...referralFields(false)
    ]
  }
}

export interface SfError {
  message: string
  errorCode: string
  fields?: string[]
}

export class SalesforceApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: SfError[] | unknown
  ) {
    super(Array.isArray(errors) ? (errors as SfError[]).map((e) => e.message).join('; ') : 'salesforce error')
  }
}

const sfErr = (status: number, errorCode: string, message: string, fields?: string[]) =>
  new SalesforceApiError(status, [{ message, errorCode, ...(fields ? { fields } : {}) }])

/** The 18-character form of a 15-character id (case-safe suffix). */
export function to18(id15: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'
  let suffix = ''
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0
    for (let i = 0; i < 5; i++) if (/[A-Z]/.test(id15[chunk * 5 + i])) bits |= 1 << i
    suffix += alphabet[bits]
  }
  return id15 + suffix
}

export type SfRecord = Record<string, unknown>

/** The org: records per object, sessions, API usage. */
export class SalesforceOrg {
  readonly records: Record<string, Map<string, SfRecord>> = { Lead: new Map(), Contact: new Map(), Opportunity: new Map() }
  readonly sessions = new Map<string, { expiresAt: number; user: string }>()
  readonly revokedRefreshTokens = new Set<string>()
  apiRequests = 0
  private seq = 0

  constructor(
    readonly now: () => number,
    readonly orgId = '00D000000000001AAA'
  ) {}

  objectDef(name: string): ObjectDef | undefined {
    const key = Object.keys(SALESFORCE_OBJECTS).find((k) => k.toLowerCase() === name.toLowerCase())
    return key ? SALESFORCE_OBJECTS[key] : undefined
  }

  field(obj: ObjectDef, name: string): FieldDef | undefined {
    return obj.fields.find((x) => x.name.toLowerCase() === name.toLowerCase())
  }

  newId(obj: ObjectDef): string {
    return to18(`${obj.keyPrefix}${'0'.repeat(7)}${String(++this.seq).padStart(5, '0')}`.slice(0, 15))
  }

  find(objName: string, id: string): SfRecord | undefined {
    const map = this.records[this.objectDef(objName)?.name ?? '']
    if (!map) return undefined
    if (id.length === 15) id = to18(id)
    return map.get(id)
  }

  /** Validates and applies a create or update; returns the record id. */
  write(objName: string, body: Record<string, unknown>, existingId?: string, opts: { trusted?: boolean } = {}): string {
    const obj = this.objectDef(objName)
    if (!obj) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    const map = this.records[obj.name]
    const existing = existingId ? map.get(existingId) : undefined
    const values: SfRecord = {}
    const readonlyHit: string[] = []
    for (const [key, value] of Object.entries(body)) {
      if (key === 'attributes') continue
      const def = this.field(obj, key)
      if (!def) throw sfErr(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${obj.name}`)
      if (def.readonly && !opts.trusted) {
        if (def.name !== 'Id') readonlyHit.push(def.name)
        continue
      }
      values[def.name] = this.coerce(def, value)
    }
    if (readonlyHit.length) {
      throw sfErr(
        400,
        'INVALID_FIELD_FOR_INSERT_UPDATE',
        `Unable to create/update fields: ${readonlyHit.join(', ')}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
        readonlyHit
      )
    }
    const merged: SfRecord = { ...(existing ?? {}), ...values }
    if (!existing) for (const def of obj.fields) if (merged[def.name] === undefined && def.defaultValue !== undefined) merged[def.name] = def.defaultValue
    const missing = obj.fields.filter((d) => d.required && (merged[d.name] === undefined || merged[d.name] === null || merged[d.name] === '')).map((d) => d.name)
    if (missing.length) throw sfErr(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`, missing)
    for (const def of obj.fields.filter((d) => d.unique)) {
      const v = merged[def.name]
      if (v === undefined || v === null || v === '') continue
      for (const [id, r] of map) {
        if (id !== existingId && String(r[def.name]).toLowerCase() === String(v).toLowerCase()) {
          throw sfErr(400, 'DUPLICATE_VALUE', `duplicate value found: ${def.name} duplicates value on record with id: ${id}`, [])
        }
      }
    }
    const id = existingId ?? (opts.trusted && typeof body.Id === 'string' ? body.Id : this.newId(obj))
    const stamp = formatSfDateTime(this.now())
    merged.Id = id
    if (!existing || !opts.trusted || values.CreatedDate === undefined) merged.CreatedDate = existing?.CreatedDate ?? values.CreatedDate ?? stamp
    merged.LastModifiedDate = opts.trusted && values.LastModifiedDate ? values.LastModifiedDate : stamp
    merged.SystemModstamp = merged.LastModifiedDate
    merged.IsDeleted = false
    if (obj.name !== 'Opportunity') merged.Name = [merged.FirstName, merged.LastName].filter(Boolean).join(' ')
    if (obj.name === 'Opportunity') {
      merged.IsWon = merged.StageName === 'Closed Won'
      merged.IsClosed = merged.StageName === 'Closed Won' || merged.StageName === 'Closed Lost'
    }
    map.set(id, merged)
    return id
  }

  private coerce(def: FieldDef, value: unknown): unknown {
    if (value === null) return null
    const bad = (kind: string) =>
      sfErr(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${kind} from ${typeof value === 'string' ? 'VALUE_STRING' : 'VALUE_OTHER'} value ${JSON.stringify(value)} or request may be missing a required field`)
    switch (def.type) {
      case 'currency':
      case 'double':
        if (typeof value === 'number') return value
        if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value)
        throw bad(def.type)
      case 'boolean':
        if (typeof value === 'boolean') return value
        throw bad('boolean')
      case 'date':
        if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return value
        throw bad('date')
      case 'datetime':
        if (typeof value === 'string' && !Number.isNaN(parseSfDate(value))) return formatSfDateTime(parseSfDate(value))
        throw bad('datetime')
      case 'email':
        if (typeof value !== 'string') throw bad('email')
        if (value !== '' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
          throw sfErr(400, 'INVALID_EMAIL_ADDRESS', `${def.name}: invalid email address: ${value}`, [def.name])
        }
        return value
      case 'picklist':
        if (typeof value !== 'string') throw bad('picklist')
        if (def.picklist && !def.picklist.includes(value)) {
          throw sfErr(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${def.label}: bad value for restricted picklist field: ${value}`, [def.name])
        }
        return value
      default:
        if (typeof value !== 'string' && typeof value !== 'number') throw bad('string')
        return String(value)
    }
  }

  /** Inserts records as-is (system fields like LastModifiedDate, CreatedDate and Id allowed); returns their ids. */
  seed(objName: string, records: Array<Record<string, unknown>>): string[] {
    return records.map((r) => this.write(objName, r, undefined, { trusted: true }))
  }

  /** Issues a session token (what the OAuth endpoint does); handy for tests that skip OAuth. */
  issueToken(user = 'integration@example.com', ttlMs = 2 * 60 * 60 * 1000): string {
    const token = `${this.orgId.slice(0, 15)}!${randomBytes(24).toString('base64url')}`
    this.sessions.set(token, { expiresAt: this.now() + ttlMs, user })
    return token
  }

  expireAllSessions(): void {
    for (const s of this.sessions.values()) s.expiresAt = 0
  }

  clear(): void {
    for (const m of Object.values(this.records)) m.clear()
  }
}

export interface SalesforceSandboxOptions {
  oauth?: {
    clientId?: string
    clientSecret?: string
    /** Accepted refresh tokens; when unset, any non-empty one not revoked. */
    refreshTokens?: string[]
    /** Users allowed through the JWT bearer flow (pre-authorized); when unset, any. */
    jwtUsers?: string[]
    /** When set, JWT assertions must be RS256-signed with the matching private key. */
    jwtPublicKeyPem?: string
  }
  /** Tokens valid from the start (no OAuth round trip), e.g. for jsforce `accessToken`. */
  accessTokens?: string[]
  sessionTtlMs?: number
  /** Daily API request allocation (REQUEST_LIMIT_EXCEEDED past it). Default 100 000. */
  dailyRequestLimit?: number
  /** Overrides the instance_url returned by the token endpoint (default: where the sandbox was reached). */
  instanceUrl?: string
  now?: () => number
}

const VERSIONS = Array.from({ length: 62 - 20 + 1 }, (_, i) => `${20 + i}.0`)

function readBody(req: Request): unknown {
  const body = req.body
  if (Buffer.isBuffer(body)) {
    const text = body.toString('utf8')
    if (!text.trim()) return {}
    try {
      return JSON.parse(text)
    } catch (err) {
      throw sfErr(400, 'JSON_PARSER_ERROR', `Unexpected character in JSON body: ${(err as Error).message}`)
    }
  }
  return body && typeof body === 'object' ? body : {}
}

function readForm(req: Request): URLSearchParams {
  const body = req.body
  if (Buffer.isBuffer(body)) return new URLSearchParams(body.toString('utf8'))
  if (body && typeof body === 'object') return new URLSearchParams(body as Record<string, string>)
  return new URLSearchParams()
}

export function createSalesforceSandbox(options: SalesforceSandboxOptions = {}) {
  const now = options.now ?? Date.now
  const state = new SalesforceOrg(now)
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  const limit = options.dailyRequestLimit ?? 100_000
  const ttl = options.sessionTtlMs ?? 2 * 60 * 60 * 1000
  const cursors = new Map<string, { records: SfRecord[]; totalSize: number }>()
  let cursorSeq = 0
  for (const t of options.accessTokens ?? []) state.sessions.set(t, { expiresAt: Number.POSITIVE_INFINITY, user: 'integration@example.com' })

  router.use(faults.router())
  router.use(faults.middleware(() => [{ message: 'Too many requests', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]))
  const raw = express.raw({ type: () => true, limit: '10mb' })

  const instanceUrl = (req: Request) => options.instanceUrl ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`

  // ---- OAuth 2.0 ----
  router.post('/services/oauth2/token', raw, (req, res) => {
    const form = readForm(req)
    const o = options.oauth ?? {}
    const fail = (error: string, error_description: string, status = 400) => res.status(status).json({ error, error_description })
    const grant = form.get('grant_type')
    const issue = (user: string) => {
      const token = state.issueToken(user, ttl)
      const base = instanceUrl(req)
      res.json({
        access_token: token,
        signature: randomBytes(32).toString('base64'),
        scope: 'api refresh_token',
        instance_url: base,
        id: `${base}/id/${state.orgId}/005000000000001AAA`,
        token_type: 'Bearer',
        issued_at: String(now())
      })
    }
    if (grant === 'refresh_token') {
      const clientId = form.get('client_id')
      if (!clientId || (o.clientId && clientId !== o.clientId)) return fail('invalid_client_id', 'client identifier invalid')
      if (o.clientSecret && form.get('client_secret') !== o.clientSecret) return fail('invalid_client', 'invalid client credentials')
      const rt = form.get('refresh_token') ?? ''
      if (!rt || state.revokedRefreshTokens.has(rt) || (o.refreshTokens && !o.refreshTokens.includes(rt))) return fail('invalid_grant', 'expired access/refresh token')
      return issue('integration@example.com')
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const assertion = form.get('assertion') ?? ''
      const parts = assertion.split('.')
      if (parts.length !== 3) return fail('invalid_grant', 'invalid assertion')
      let claims: { iss?: string; sub?: string; aud?: string; exp?: number }
      try {
        claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
      } catch {
        return fail('invalid_grant', 'invalid assertion')
      }
      if (o.jwtPublicKeyPem) {
        const ok = createVerify('RSA-SHA256').update(`${parts[0]}.${parts[1]}`).verify(o.jwtPublicKeyPem, Buffer.from(parts[2], 'base64url'))
        if (!ok) return fail('invalid_grant', 'invalid assertion')
      }
      if (!claims.iss || (o.clientId && claims.iss !== o.clientId)) return fail('invalid_client_id', 'client identifier invalid')
      const aud = String(claims.aud ?? '')
      if (!/^https:\/\/(login|test)\.salesforce\.com\/?$/.test(aud) && !aud.startsWith(instanceUrl(req))) return fail('invalid_grant', 'audience is invalid')
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < now()) return fail('invalid_grant', 'expired authorization code')
      if (!claims.sub || (o.jwtUsers && !o.jwtUsers.includes(claims.sub))) return fail('invalid_grant', "user hasn't approved this consumer")
      return issue(claims.sub)
    }
    return fail('unsupported_grant_type', 'grant type not supported')
  })

  // ---- REST API ----
  router.use('/services/data', (req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization ?? ''
    const token = /^(Bearer|OAuth)\s+(.+)$/i.exec(auth)?.[2]
    const session = token ? state.sessions.get(token) : undefined
    if (!session || session.expiresAt <= now()) {
      return res.status(401).json([{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }])
    }
    if (state.apiRequests >= limit) {
      res.set('Sforce-Limit-Info', `api-usage=${state.apiRequests}/${limit}`)
      return res.status(403).json([{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }])
    }
    state.apiRequests++
    res.set('Sforce-Limit-Info', `api-usage=${state.apiRequests}/${limit}`)
    next()
  })

  router.get('/services/data', (req, res) => {
    res.json(VERSIONS.map((version) => ({ label: `v${version}`, url: `/services/data/v${version}`, version })))
  })

  const api = express.Router({ mergeParams: true })
  router.use('/services/data/:version', (req, res, next) => {
    const m = /^v(\d+)\.0$/.exec(String(req.params.version))
    if (!m || !VERSIONS.includes(`${m[1]}.0`)) return res.status(404).json([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }])
    ;(res.locals as { apiVersion: number; versionPath: string }).apiVersion = Number(m[1])
    res.locals.versionPath = `/services/data/${req.params.version}`
    next()
  }, api)

  const handle = (fn: (req: Request, res: Response) => unknown) => (req: Request, res: Response) => {
    try {
      fn(req, res)
    } catch (err) {
      if (err instanceof SalesforceApiError) return res.status(err.status).json(err.errors)
      if (err instanceof SoqlError) return res.status(400).json([{ message: err.message, errorCode: err.errorCode }])
      return res.status(500).json([{ message: String((err as Error).message), errorCode: 'UNKNOWN_EXCEPTION' }])
    }
  }
  const objectOr404 = (name: string) => {
    const obj = state.objectDef(name)
    if (!obj) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    return obj
  }
  const present = (res: Response, objName: string, r: SfRecord, fields?: string[]) => {
    const obj = objectOr404(objName)
    const names = fields ?? obj.fields.map((d) => d.name)
    const out: SfRecord = { attributes: { type: obj.name, url: `${res.locals.versionPath}/sobjects/${obj.name}/${r.Id}` } }
    for (const n of names) {
      const def = state.field(obj, n)
      if (!def) throw sfErr(400, 'INVALID_FIELD', `No such column '${n}' on entity '${obj.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)
      out[def.name] = r[def.name] ?? null
    }
    return out
  }

  api.get('/limits', handle((_req, res) => res.json({ DailyApiRequests: { Max: limit, Remaining: Math.max(0, limit - state.apiRequests) } })))

  api.get('/sobjects/:object/describe', handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    res.json({
      name: obj.name,
      label: obj.label,
      keyPrefix: obj.keyPrefix,
      custom: false,
      createable: true,
      updateable: true,
      queryable: true,
      fields: obj.fields.map((d) => ({
        name: d.name,
        label: d.label,
        type: d.type,
        custom: d.name.endsWith('__c'),
        externalId: Boolean(d.externalId),
        unique: Boolean(d.unique),
        idLookup: d.name === 'Id' || Boolean(d.externalId),
        nillable: !d.required && d.type !== 'boolean',
        createable: !d.readonly,
        updateable: !d.readonly,
        defaultedOnCreate: d.defaultValue !== undefined || Boolean(d.readonly),
        defaultValue: d.defaultValue ?? null,
        length: d.type === 'string' || d.type === 'email' || d.type === 'picklist' ? 255 : 0,
        picklistValues: (d.picklist ?? []).map((v) => ({ value: v, label: v, active: true, defaultValue: v === d.defaultValue }))
      })),
      urls: { sobject: `${res.locals.versionPath}/sobjects/${obj.name}`, describe: `${res.locals.versionPath}/sobjects/${obj.name}/describe` }
    })
  }))

  api.get('/sobjects/:object', handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const recent = [...state.records[obj.name].values()].slice(-10).map((r) => present(res, obj.name, r, ['Id']))
    res.json({ objectDescribe: { name: obj.name, label: obj.label, keyPrefix: obj.keyPrefix }, recentItems: recent })
  }))

  api.post('/sobjects/:object', raw, handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const body = readBody(req) as Record<string, unknown>
    const id = state.write(obj.name, body)
    res.status(201).json({ id, success: true, errors: [] })
  }))

  const fieldsParam = (req: Request) => (typeof req.query.fields === 'string' ? req.query.fields.split(',').map((s) => s.trim()).filter(Boolean) : undefined)

  api.get('/sobjects/:object/:id', handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const r = state.find(obj.name, String(req.params.id))
    if (!r) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    res.json(present(res, obj.name, r, fieldsParam(req)))
  }))

  api.patch('/sobjects/:object/:id', raw, handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const r = state.find(obj.name, String(req.params.id))
    if (!r) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    state.write(obj.name, readBody(req) as Record<string, unknown>, String(r.Id))
    res.status(204).end()
  }))

  api.delete('/sobjects/:object/:id', handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const r = state.find(obj.name, String(req.params.id))
    if (!r) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    state.records[obj.name].delete(String(r.Id))
    res.status(204).end()
  }))

  const byExternalId = (req: Request) => {
    const obj = objectOr404(String(req.params.object))
    const def = state.field(obj, String(req.params.field))
    if (!def || (!def.externalId && def.name !== 'Id')) {
      throw sfErr(404, 'NOT_FOUND', `Provided external ID field does not exist or is not accessible: ${req.params.field}`)
    }
    const value = String(req.params.value)
    const matches = [...state.records[obj.name].values()].filter((r) => r[def.name] !== undefined && r[def.name] !== null && String(r[def.name]).toLowerCase() === value.toLowerCase())
    return { obj, def, value, matches }
  }
  const multiple = (res: Response, obj: ObjectDef, matches: SfRecord[]) =>
    res.status(300).json(matches.map((r) => `${res.locals.versionPath}/sobjects/${obj.name}/${r.Id}`))

  api.get('/sobjects/:object/:field/:value', handle((req, res) => {
    const { obj, matches } = byExternalId(req)
    if (matches.length === 0) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    if (matches.length > 1) return multiple(res, obj, matches)
    res.json(present(res, obj.name, matches[0], fieldsParam(req)))
  }))

  api.patch('/sobjects/:object/:field/:value', raw, handle((req, res) => {
    const { obj, def, value, matches } = byExternalId(req)
    const body = { ...(readBody(req) as Record<string, unknown>) }
    const inBody = Object.keys(body).find((k) => k.toLowerCase() === def.name.toLowerCase())
    if (inBody !== undefined) {
      if (String(body[inBody]) !== value) throw sfErr(400, 'INVALID_FIELD', `The value of ${def.name} in the request body does not match the value in the URL`)
      delete body[inBody]
    }
    if (matches.length > 1) return multiple(res, obj, matches)
    if (matches.length === 1) {
      const id = state.write(obj.name, body, String(matches[0].Id))
      if (res.locals.apiVersion >= 46) return res.status(200).json({ id, success: true, errors: [], created: false })
      return res.status(204).end()
    }
    if (req.query.updateOnly === 'true') throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    const id = state.write(obj.name, def.name === 'Id' ? body : { ...body, [def.name]: value })
    res.status(201).json({ id, success: true, errors: [], created: true })
  }))

  // ---- SOQL ----
  const pageSize = (req: Request) => {
    const m = /batchSize=(\d+)/i.exec(String(req.headers['sforce-query-options'] ?? ''))
    return m ? Math.min(2000, Math.max(200, Number(m[1]))) : 2000
  }
  const page = (req: Request, res: Response, locatorId: string, offset: number) => {
    const cursor = cursors.get(locatorId)
    if (!cursor) throw sfErr(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator')
    const size = pageSize(req)
    const records = cursor.records.slice(offset, offset + size)
    const next = offset + size
    const done = next >= cursor.records.length
    if (done) cursors.delete(locatorId)
    res.json({
      totalSize: cursor.totalSize,
      done,
      ...(done ? {} : { nextRecordsUrl: `${res.locals.versionPath}/query/${locatorId}-${next}` }),
      records
    })
  }
  const runQuery = (all: boolean) =>
    handle((req, res) => {
      const q = req.query.q
      if (typeof q !== 'string' || !q.trim()) throw sfErr(400, 'MALFORMED_QUERY', 'A query string has to be specified')
      const result = executeSoql(state, q, String(res.locals.versionPath), all)
      if (result.countOnly) return res.json({ totalSize: result.totalSize, done: true, records: [] })
      if (result.aggregate && result.records.length > 2000) {
        throw sfErr(400, 'MALFORMED_QUERY', 'Aggregate query does not support queryMore(), use LIMIT to restrict the results to a single batch')
      }
      const locatorId = `01g${String(++cursorSeq).padStart(15, '0')}`
      cursors.set(locatorId, { records: result.records, totalSize: result.totalSize })
      page(req, res, locatorId, 0)
    })
  api.get('/query', runQuery(false))
  api.get('/queryAll', runQuery(true))
  api.get('/query/:locator', handle((req, res) => {
    const m = /^(.+)-(\d+)$/.exec(String(req.params.locator))
    if (!m) throw sfErr(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator')
    page(req, res, m[1], Number(m[2]))
  }))

  router.use((err: { status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400
    res.status(status).json([{ message: err.message ?? 'bad request', errorCode: 'JSON_PARSER_ERROR' }])
  })

  return { router, state, faults }
}

// ---- SOQL execution ----

function pointerMessage(soql: string, pos: number, text: string): string {
  return `\n${soql}\n${' '.repeat(pos)}^\nERROR at Row:1:Column:${pos + 1}\n${text}`
}

function executeSoql(org: SalesforceOrg, soql: string, versionPath: string, _all: boolean): { records: SfRecord[]; totalSize: number; aggregate: boolean; countOnly: boolean } {
  const q = parseSoql(soql)
  const obj = org.objectDef(q.from)
  if (!obj) {
    throw new SoqlError(
      'INVALID_TYPE',
      pointerMessage(soql, q.fromPos, `sObject type '${q.from}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`)
    )
  }
  const resolve = (name: string, pos: number): FieldDef => {
    const def = name.includes('.') ? undefined : org.field(obj, name)
    if (!def) {
      throw new SoqlError(
        'INVALID_FIELD',
        pointerMessage(soql, pos, `No such column '${name}' on entity '${obj.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)
      )
    }
    return def
  }
  const resolveItem = (item: SelectItem): SelectItem => {
    if (item.kind === 'field') return { ...item, field: resolve(item.field, item.pos).name }
    return { ...item, field: item.field ? resolve(item.field, item.pos).name : undefined }
  }
  const select = q.select.map(resolveItem)
  const groupBy = q.groupBy.map((g) => resolve(g.field, g.pos).name)
  const where = q.where ? resolveCond(q.where, resolve) : undefined
  const orderBy = q.orderBy.map((o) => ({ ...o, item: resolveItem(o.item) }))

  let rows = [...org.records[obj.name].values()].filter((r) => !where || matches(obj, org, where, r))
  const aggregate = select.some((s) => s.kind === 'agg') || groupBy.length > 0

  if (!aggregate) {
    rows = sortRows(rows, orderBy.map((o) => ({ key: (r: SfRecord) => r[(o.item as { field: string }).field], def: org.field(obj, (o.item as { field: string }).field), desc: o.desc, nullsLast: o.nullsLast })))
    const totalSize = rows.length
    rows = rows.slice(q.offset ?? 0, q.limit !== undefined ? (q.offset ?? 0) + q.limit : undefined)
    const records = rows.map((r) => {
      const out: SfRecord = { attributes: { type: obj.name, url: `${versionPath}/sobjects/${obj.name}/${r.Id}` } }
      for (const s of select) out[(s as { field: string }).field] = r[(s as { field: string }).field] ?? null
      return out
    })
    return { records, totalSize: q.limit !== undefined || q.offset !== undefined ? records.length : totalSize, aggregate: false, countOnly: false }
  }

  // COUNT() alone: the answer is totalSize, no records.
  if (select.length === 1 && select[0].kind === 'agg' && select[0].fn === 'COUNT' && !select[0].field && groupBy.length === 0) {
    return { records: [], totalSize: rows.length, aggregate: true, countOnly: true }
  }
  for (const s of select) {
    if (s.kind === 'field' && !groupBy.includes(s.field)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, s.pos, `Field must be grouped or aggregated: ${s.field}`))
    if (s.kind === 'agg' && !s.field) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, s.pos, 'COUNT() must be the only element in the SELECT list'))
  }
  const groups = new Map<string, SfRecord[]>()
  for (const r of rows) {
    const key = JSON.stringify(groupBy.map((g) => r[g] ?? null))
    const list = groups.get(key) ?? []
    list.push(r)
    groups.set(key, list)
  }
  if (groupBy.length === 0 && groups.size === 0) groups.set('[]', [])
  const aliases: string[] = []
  let exprN = 0
  for (const s of select) aliases.push(s.kind === 'agg' ? (s.alias ?? `expr${exprN++}`) : s.field)
  const computeAgg = (fn: string, field: string, list: SfRecord[]): unknown => {
    const values = list.map((r) => r[field]).filter((v) => v !== undefined && v !== null)
    switch (fn) {
      case 'COUNT':
        return values.length
      case 'COUNT_DISTINCT':
        return new Set(values.map((v) => (typeof v === 'string' ? v.toLowerCase() : v))).size
      case 'SUM':
        return values.length ? (values as number[]).reduce((a, b) => a + Number(b), 0) : null
      case 'AVG':
        return values.length ? (values as number[]).reduce((a, b) => a + Number(b), 0) / values.length : null
      case 'MIN':
        return values.length ? values.reduce((a, b) => (compareValues(a, b) <= 0 ? a : b)) : null
      case 'MAX':
        return values.length ? values.reduce((a, b) => (compareValues(a, b) >= 0 ? a : b)) : null
    }
    return null
  }
  let results = [...groups.values()].map((list) => {
    const out: SfRecord = { attributes: { type: 'AggregateResult' } }
    select.forEach((s, i) => {
      out[aliases[i]] = s.kind === 'agg' ? computeAgg(s.fn, s.field!, list) : (list[0]?.[s.field] ?? null)
    })
    return out
  })
  const keyFor = (item: SelectItem): string => {
    if (item.kind === 'field') {
      if (!groupBy.includes(item.field)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, item.pos, `Ordered field must be grouped or aggregated: ${item.field}`))
      return select.findIndex((s) => s.kind === 'field' && s.field === item.field) >= 0 ? item.field : item.field
    }
    const i = select.findIndex((s) => s.kind === 'agg' && s.fn === item.fn && s.field === item.field)
    if (i < 0) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, item.pos, 'Ordered aggregate must appear in the SELECT list in this sandbox'))
    return aliases[i]
  }
  results = sortRows(results, orderBy.map((o) => {
    const k = keyFor(o.item)
    return { key: (r: SfRecord) => r[k], def: undefined, desc: o.desc, nullsLast: o.nullsLast }
  }))
  results = results.slice(q.offset ?? 0, q.limit !== undefined ? (q.offset ?? 0) + q.limit : undefined)
  return { records: results, totalSize: results.length, aggregate: true, countOnly: false }
}

function resolveCond(c: Cond, resolve: (name: string, pos: number) => FieldDef): Cond {
  switch (c.kind) {
    case 'and':
    case 'or':
      return { kind: c.kind, items: c.items.map((i) => resolveCond(i, resolve)) }
    case 'not':
      return { kind: 'not', item: resolveCond(c.item, resolve) }
    default:
      return { ...c, field: resolve(c.field, c.pos).name }
  }
}

/** A record value and a literal, made comparable for the field's type. */
function normalize(def: FieldDef | undefined, v: unknown): unknown {
  if (v === undefined || v === null) return null
  if (typeof v === 'object' && v !== null && 'datetime' in v) return def?.type === 'date' ? new Date((v as { datetime: number }).datetime).toISOString().slice(0, 10) : (v as { datetime: number }).datetime
  if (typeof v === 'object' && v !== null && 'date' in v) return def?.type === 'datetime' ? Date.parse(`${(v as { date: string }).date}T00:00:00Z`) : (v as { date: string }).date
  if (def?.type === 'datetime' && typeof v === 'string') return parseSfDate(v)
  if (typeof v === 'string') return v.toLowerCase()
  return v
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  const sa = String(a).toLowerCase()
  const sb = String(b).toLowerCase()
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

function matches(obj: ObjectDef, org: SalesforceOrg, c: Cond, r: SfRecord): boolean {
  switch (c.kind) {
    case 'and':
      return c.items.every((i) => matches(obj, org, i, r))
    case 'or':
      return c.items.some((i) => matches(obj, org, i, r))
    case 'not':
      return !matches(obj, org, c.item, r)
    case 'in': {
      const def = org.field(obj, c.field)
      const v = normalize(def, r[c.field])
      const hit = v !== null && c.values.some((x) => compareValues(v, normalize(def, x)) === 0)
      return c.negate ? !hit && v !== null : hit
    }
    case 'like': {
      const v = r[c.field]
      if (v === undefined || v === null) return false
      const re = new RegExp('^' + c.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', 'is')
      return re.test(String(v))
    }
    case 'cmp': {
      const def = org.field(obj, c.field)
      const v = normalize(def, r[c.field])
      const lit = normalize(def, c.value)
      if (lit === null) return c.op === '=' ? v === null : c.op === '!=' ? v !== null : false
      if (v === null) return c.op === '!='
      const d = compareValues(v, lit)
      switch (c.op) {
        case '=':
          return d === 0
        case '!=':
          return d !== 0
        case '<':
          return d < 0
        case '<=':
          return d <= 0
        case '>':
          return d > 0
        case '>=':
          return d >= 0
      }
      return false
    }
  }
}

function sortRows(rows: SfRecord[], keys: Array<{ key: (r: SfRecord) => unknown; def?: FieldDef; desc: boolean; nullsLast: boolean }>): SfRecord[] {
  if (keys.length === 0) return rows
  return [...rows].sort((a, b) => {
    for (const k of keys) {
      const va = normalize(k.def, k.key(a))
      const vb = normalize(k.def, k.key(b))
      if (va === null && vb === null) continue
      if (va === null) return k.nullsLast ? 1 : -1
      if (vb === null) return k.nullsLast ? -1 : 1
      const d = compareValues(va, vb)
      if (d !== 0) return k.desc ? -d : d
    }
    return 0
  })
}

// ---- SOQL parser ----
// A small SOQL parser, enough for the bridge and its tests:
// `SELECT f, AGG(f) [alias] FROM Object [WHERE cond] [GROUP BY f, ...] [ORDER BY f|AGG(f) [ASC|DESC] [NULLS FIRST|LAST], ...]
// [LIMIT n] [OFFSET n]`. Conditions: `=, !=, <>, <, <=, >, >=, [NOT] IN (...), LIKE, AND, OR, NOT, ( )`; values: strings,
// numbers, true/false/null, date (2026-01-01) and datetime (2026-01-01T00:00:00Z) literals, TODAY, YESTERDAY,
// LAST_N_DAYS:n. Aggregates: COUNT(), COUNT(f), COUNT_DISTINCT(f), SUM, AVG, MIN, MAX. Not modelled: relationship
// paths (Owner.Name), subqueries, HAVING, TYPEOF, date functions, FOR UPDATE. String comparisons are case-insensitive.

export class SoqlError extends Error {
  constructor(
    readonly errorCode: 'MALFORMED_QUERY' | 'INVALID_FIELD' | 'INVALID_TYPE',
    message: string
  ) {
    super(message)
  }
}

type Tok = { kind: 'word' | 'string' | 'number' | 'op' | 'punct'; value: string; pos: number }

export type Value = string | number | boolean | null | { date: string } | { datetime: number }

export type Cond =
  | { kind: 'and' | 'or'; items: Cond[] }
  | { kind: 'not'; item: Cond }
  | { kind: 'cmp'; field: string; pos: number; op: string; value: Value }
  | { kind: 'in'; field: string; pos: number; negate: boolean; values: Value[] }
  | { kind: 'like'; field: string; pos: number; pattern: string }

export type SelectItem =
  | { kind: 'field'; field: string; pos: number }
  | { kind: 'agg'; fn: string; field?: string; pos: number; alias?: string }

export interface OrderItem {
  item: SelectItem
  desc: boolean
  nullsLast: boolean
}

export interface SoqlQuery {
  select: SelectItem[]
  from: string
  fromPos: number
  where?: Cond
  groupBy: Array<{ field: string; pos: number }>
  orderBy: OrderItem[]
  limit?: number
  offset?: number
}

const AGGS = new Set(['COUNT', 'COUNT_DISTINCT', 'SUM', 'AVG', 'MIN', 'MAX'])
const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'GROUP', 'BY', 'ORDER', 'LIMIT', 'OFFSET', 'AND', 'OR', 'NOT', 'IN', 'LIKE', 'ASC', 'DESC', 'NULLS', 'FIRST', 'LAST', 'HAVING'])

function tokenize(q: string): Tok[] {
  const toks: Tok[] = []
  let i = 0
  while (i < q.length) {
    const c = q[i]
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === "'") {
      let j = i + 1
      let s = ''
      while (j < q.length && q[j] !== "'") {
        if (q[j] === '\\' && j + 1 < q.length) {
          const n = q[j + 1]
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n
          j += 2
        } else s += q[j++]
      }
      if (j >= q.length) throw new SoqlError('MALFORMED_QUERY', `line 1:${i} mismatched character '<EOF>' expecting '''`)
      toks.push({ kind: 'string', value: s, pos: i })
      i = j + 1
      continue
    }
    const dt = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2}))?/.exec(q.slice(i))
    if (dt) {
      toks.push({ kind: 'word', value: dt[0], pos: i })
      i += dt[0].length
      continue
    }
    const num = /^-?\d+(\.\d+)?/.exec(q.slice(i))
    if (num) {
      toks.push({ kind: 'number', value: num[0], pos: i })
      i += num[0].length
      continue
    }
    const op = /^(!=|<>|<=|>=|=|<|>)/.exec(q.slice(i))
    if (op) {
      toks.push({ kind: 'op', value: op[0], pos: i })
      i += op[0].length
      continue
    }
    if (c === '(' || c === ')' || c === ',') {
      toks.push({ kind: 'punct', value: c, pos: i })
      i++
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*(:\d+)?/.exec(q.slice(i))
    if (word) {
      toks.push({ kind: 'word', value: word[0], pos: i })
      i += word[0].length
      continue
    }
    throw new SoqlError('MALFORMED_QUERY', `line 1:${i} no viable alternative at character '${c}'`)
  }
  return toks
}

export function parseSoql(q: string): SoqlQuery {
  const toks = tokenize(q)
  let p = 0
  const peek = () => toks[p]
  const isKw = (kw: string, t = peek()) => !!t && t.kind === 'word' && t.value.toUpperCase() === kw
  const unexpected = (t = peek()): never => {
    throw new SoqlError('MALFORMED_QUERY', t ? `unexpected token: '${t.value}'` : 'unexpected token: <EOF>')
  }
  const expectKw = (kw: string) => {
    if (!isKw(kw)) unexpected()
    p++
  }
  const expectPunct = (v: string) => {
    const t = peek()
    if (!t || t.kind !== 'punct' || t.value !== v) unexpected()
    p++
  }
  const ident = (): Tok => {
    const t = peek()
    if (!t || t.kind !== 'word' || KEYWORDS.has(t.value.toUpperCase())) unexpected()
    p++
    return t
  }

  const selectItem = (allowAlias: boolean): SelectItem => {
    const t = ident()
    const next = peek()
    if (next && next.kind === 'punct' && next.value === '(') {
      const fn = t.value.toUpperCase()
      if (!AGGS.has(fn)) throw new SoqlError('MALFORMED_QUERY', `unknown function: ${t.value}`)
      p++
      let field: string | undefined
      const inner = peek()
      if (inner && !(inner.kind === 'punct' && inner.value === ')')) field = ident().value
      expectPunct(')')
      if (!field && fn !== 'COUNT') throw new SoqlError('MALFORMED_QUERY', `${fn}() requires a field`)
      let alias: string | undefined
      const a = peek()
      if (allowAlias && a && a.kind === 'word' && !KEYWORDS.has(a.value.toUpperCase())) {
        alias = a.value
        p++
      }
      return { kind: 'agg', fn, field, pos: t.pos, alias }
    }
    return { kind: 'field', field: t.value, pos: t.pos }
  }

  const value = (): Value => {
    const t = peek()
    if (!t) unexpected()
    p++
    if (t.kind === 'string') return t.value
    if (t.kind === 'number') return Number(t.value)
    if (t.kind === 'word') {
      const u = t.value.toUpperCase()
      if (u === 'NULL') return null
      if (u === 'TRUE') return true
      if (u === 'FALSE') return false
      if (/^\d{4}-\d{2}-\d{2}$/.test(t.value)) return { date: t.value }
      if (/^\d{4}-\d{2}-\d{2}T/.test(t.value)) return { datetime: parseSfDate(t.value) }
      const day = 86_400_000
      const today = Math.floor(Date.now() / day) * day
      if (u === 'TODAY') return { datetime: today }
      if (u === 'YESTERDAY') return { datetime: today - day }
      const n = /^LAST_N_DAYS:(\d+)$/.exec(u)
      if (n) return { datetime: today - Number(n[1]) * day }
    }
    return unexpected(t)
  }

  const comparison = (): Cond => {
    const f = ident()
    if (isKw('NOT') && isKw('IN', toks[p + 1])) {
      p += 2
      return { kind: 'in', field: f.value, pos: f.pos, negate: true, values: list() }
    }
    if (isKw('IN')) {
      p++
      return { kind: 'in', field: f.value, pos: f.pos, negate: false, values: list() }
    }
    if (isKw('LIKE')) {
      p++
      const v = value()
      if (typeof v !== 'string') throw new SoqlError('MALFORMED_QUERY', 'LIKE requires a string')
      return { kind: 'like', field: f.value, pos: f.pos, pattern: v }
    }
    const op = peek()
    if (!op || op.kind !== 'op') unexpected()
    p++
    return { kind: 'cmp', field: f.value, pos: f.pos, op: op.value === '<>' ? '!=' : op.value, value: value() }
  }
  const list = (): Value[] => {
    expectPunct('(')
    const values = [value()]
    while (peek()?.kind === 'punct' && peek().value === ',') {
      p++
      values.push(value())
    }
    expectPunct(')')
    return values
  }
  const unary = (): Cond => {
    if (isKw('NOT')) {
      p++
      return { kind: 'not', item: unary() }
    }
    const t = peek()
    if (t && t.kind === 'punct' && t.value === '(') {
      p++
      const c = orExpr()
      expectPunct(')')
      return c
    }
    return comparison()
  }
  const andExpr = (): Cond => {
    const items = [unary()]
    while (isKw('AND')) {
      p++
      items.push(unary())
    }
    return items.length === 1 ? items[0] : { kind: 'and', items }
  }
  const orExpr = (): Cond => {
    const items = [andExpr()]
    while (isKw('OR')) {
      p++
      items.push(andExpr())
    }
    return items.length === 1 ? items[0] : { kind: 'or', items }
  }

  expectKw('SELECT')
  const select = [selectItem(true)]
  while (peek()?.kind === 'punct' && peek().value === ',') {
    p++
    select.push(selectItem(true))
  }
  expectKw('FROM')
  const from = ident()
  const query: SoqlQuery = { select, from: from.value, fromPos: from.pos, groupBy: [], orderBy: [] }
  if (isKw('WHERE')) {
    p++
    query.where = orExpr()
  }
  if (isKw('GROUP')) {
    p++
    expectKw('BY')
    do {
      if (peek()?.kind === 'punct') p++
      const f = ident()
      query.groupBy.push({ field: f.value, pos: f.pos })
    } while (peek()?.kind === 'punct' && peek().value === ',')
  }
  if (isKw('HAVING')) throw new SoqlError('MALFORMED_QUERY', 'HAVING is not supported by this sandbox')
  if (isKw('ORDER')) {
    p++
    expectKw('BY')
    do {
      if (peek()?.kind === 'punct') p++
      const item = selectItem(false)
      let desc = false
      if (isKw('ASC')) p++
      else if (isKw('DESC')) {
        desc = true
        p++
      }
      let nullsLast = desc // SOQL default: NULLS FIRST ascending, NULLS LAST descending
      if (isKw('NULLS')) {
        p++
        if (isKw('FIRST')) nullsLast = false
        else if (isKw('LAST')) nullsLast = true
        else unexpected()
        p++
      }
      query.orderBy.push({ item, desc, nullsLast })
    } while (peek()?.kind === 'punct' && peek().value === ',')
  }
  if (isKw('LIMIT')) {
    p++
    const t = peek()
    if (!t || t.kind !== 'number') unexpected()
    query.limit = Number(t.value)
    p++
  }
  if (isKw('OFFSET')) {
    p++
    const t = peek()
    if (!t || t.kind !== 'number') unexpected()
    query.offset = Number(t.value)
    p++
  }
  if (p < toks.length) unexpected()
  return query
}

/** Salesforce datetimes look like `2026-01-01T00:00:00.000+0000`; literals like `2026-01-01T00:00:00Z`. */
export function parseSfDate(s: string): number {
  return Date.parse(s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
}

export function formatSfDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000')
}
