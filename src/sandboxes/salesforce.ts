import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'
import { SalesforceApiError, SalesforceOrg, sfErr, type ObjectDef, type SfRecord } from './salesforce-org.ts'
import { executeSoql, SoqlError } from './salesforce-soql.ts'

export { SALESFORCE_OBJECTS, SalesforceApiError, SalesforceOrg, to18, parseSfDate, formatSfDateTime, type SfRecord, type SfError } from './salesforce-org.ts'
export { parseSoql, SoqlError, type SoqlQuery, type Cond, type SelectItem, type OrderItem, type Value } from './salesforce-soql.ts'

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

