import { createVerify, randomBytes } from 'node:crypto'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'
import { formatSfDateTime, SALESFORCE_OBJECTS, SalesforceApiError, SalesforceOrg, sfErr, type ObjectDef, type SfError, type SfRecord } from './salesforce-org.ts'
import { executeSoql, SoqlError } from './salesforce-soql.ts'

export { SALESFORCE_OBJECTS, SalesforceApiError, SalesforceOrg, to18, parseSfDate, formatSfDateTime, type SfRecord, type SfError } from './salesforce-org.ts'
export { parseSoql, SoqlError, type SoqlQuery, type Cond, type SelectItem, type OrderItem, type Value } from './salesforce-soql.ts'

/**
 * Salesforce sandbox: the login endpoints and the slice of REST API v59.0 the bridge and jsforce use. The org model
 * (objects, validation, ids, sessions) is in salesforce-org.ts, SOQL in salesforce-soql.ts; this file is HTTP only.
 *
 * - `POST /services/oauth2/token` (form): grants `refresh_token`, `password`, `client_credentials` and
 *   `urn:ietf:params:oauth:grant-type:jwt-bearer` (an RS256 assertion, always signature-checked: against
 *   `oauth.jwtPublicKeyPem`, else a key pair generated for the sandbox; then iss, aud, exp, sub). Errors are 400
 *   `{error, error_description}`: invalid_grant, invalid_client_id, invalid_client, unsupported_grant_type.
 *   Success: `{access_token, instance_url, id, token_type:'Bearer', issued_at, signature, scope}`.
 * - `POST /services/Soap/u/{version}`: SOAP login() as jsforce sends it; `GET /id/{org}/{user}`: identity.
 * - Everything under `/services/data/vXX.X/` needs `Authorization: Bearer <token>`; an unknown or expired token
 *   gets 401 `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` (jsforce refreshes on it).
 *   Past the daily API request limit: 403 `REQUEST_LIMIT_EXCEEDED`. Each answer carries `Sforce-Limit-Info`.
 * - `GET /sobjects` (describeGlobal), `GET|POST /sobjects/{Lead|Contact|Opportunity}`, `GET|PATCH|DELETE
 *   /sobjects/{Object}/{id}`, `GET /sobjects/{Object}/describe`, `GET|PATCH /sobjects/{Object}/{ExternalIdField}/{value}`
 *   (upsert: 201 `{id, success, errors, created:true}`; update: 200 `{..., created:false}` from API 46.0, 204
 *   before; several matches: 300 with their URLs).
 * - sObject Collections under `/composite/sobjects` (≤ 200 records, per-record results, allOrNone).
 * - `GET /query?q=` and `/queryAll?q=`: SOQL, pages of 2000 records (or `Sforce-Query-Options: batchSize=n`,
 *   200..2000) with `nextRecordsUrl` → `GET /query/{locator}`.
 * - Errors are arrays `[{message, errorCode, fields?}]`; unknown routes are 404 NOT_FOUND in that shape.
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
    /**
     * The connected app's certificate: JWT assertions must be RS256-signed with the matching private key. Unset: a
     * key pair generated for this sandbox (`state.jwtKeyPair().privateKeyPem` signs), never "any signature".
     */
    jwtPublicKeyPem?: string
    /** Username → password (with the security token appended, as Salesforce expects) for the OAuth
     *  username-password grant and SOAP `login()`. Unset: any non-empty username and password. */
    users?: Record<string, string>
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

const escapeXml = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const unescapeXml = (v: string) => v.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')
const soapFault = (code: string, text: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault><faultcode>${code}</faultcode><faultstring>${escapeXml(text)}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`

/** sObject Collections take at most 200 records per request (developer.salesforce.com "sObject Collections"). */
const COLLECTION_LIMIT = 200
const NOT_FOUND = [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]

/** A per-record result of sObject Collections: errors carry `statusCode` (not `errorCode`) and `fields`. */
function saveError(err: unknown): { success: false; errors: Array<{ statusCode: string; message: string; fields: string[] }> } {
  const list: SfError[] = err instanceof SalesforceApiError && Array.isArray(err.errors) ? (err.errors as SfError[]) : [{ errorCode: 'UNKNOWN_EXCEPTION', message: String((err as Error)?.message ?? err) }]
  return { success: false, errors: list.map((e) => ({ statusCode: e.errorCode, message: e.message, fields: e.fields ?? [] })) }
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
  router.use(
    faults.middleware(() => [{ message: 'Too many requests', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], {
      // Injected faults answer Salesforce's error array (developer.salesforce.com "Status Codes and Error Responses").
      faultBody: (status) =>
        status >= 500
          ? [{ message: 'Server is temporarily unavailable. Please try again later.', errorCode: 'SERVER_UNAVAILABLE' }]
          : [{ message: 'Too many requests', errorCode: status === 429 || status === 403 ? 'REQUEST_LIMIT_EXCEEDED' : 'UNKNOWN_EXCEPTION' }]
    })
  )
  const raw = express.raw({ type: () => true, limit: '10mb' })

  // Where the sandbox was reached, prefix included; taken before any sub-router changes req.baseUrl.
  router.use((req, res, next) => {
    res.locals.instanceUrl = options.instanceUrl ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`
    next()
  })
  const instanceUrl = (req: Request) => String(req.res?.locals.instanceUrl)

  const checkPassword = (user: string, password: string) => {
    const users = options.oauth?.users
    if (!user || !password) return false
    return !users || users[user] === password
  }

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
        id: `${base}/id/${state.orgId}/${state.userId}`,
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
    // Username-password flow (help.salesforce.com "OAuth 2.0 Username-Password Flow for Special Scenarios"):
    // client_id + client_secret + username + password(+security token); no refresh token is issued.
    if (grant === 'password') {
      const clientId = form.get('client_id')
      if (!clientId || (o.clientId && clientId !== o.clientId)) return fail('invalid_client_id', 'client identifier invalid')
      if (o.clientSecret && form.get('client_secret') !== o.clientSecret) return fail('invalid_client', 'invalid client credentials')
      const user = form.get('username') ?? ''
      if (!checkPassword(user, form.get('password') ?? '')) return fail('invalid_grant', 'authentication failure')
      return issue(user)
    }
    // Client credentials flow (help.salesforce.com "OAuth 2.0 Client Credentials Flow for Server-to-Server
    // Integration"): the connected app's run-as user; a wrong secret is `invalid_client`.
    if (grant === 'client_credentials') {
      const clientId = form.get('client_id')
      if (!clientId || (o.clientId && clientId !== o.clientId)) return fail('invalid_client_id', 'client identifier invalid')
      if (!form.get('client_secret') || (o.clientSecret && form.get('client_secret') !== o.clientSecret)) return fail('invalid_client', 'invalid client credentials')
      return issue('integration@example.com')
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const assertion = form.get('assertion') ?? ''
      const parts = assertion.split('.')
      if (parts.length !== 3) return fail('invalid_grant', 'invalid assertion')
      let claims: { iss?: string; sub?: string; aud?: string; exp?: number }
      let header: { alg?: string }
      try {
        header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))
        claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
      } catch {
        return fail('invalid_grant', 'invalid assertion')
      }
      // Salesforce only takes RS256 and checks it against the connected app's certificate; a bad signature is
      // `invalid_grant` (help.salesforce.com "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration").
      const publicKey = o.jwtPublicKeyPem ?? state.jwtKeyPair().publicKeyPem
      if (header.alg !== 'RS256') return fail('invalid_grant', 'invalid assertion')
      const ok = createVerify('RSA-SHA256').update(`${parts[0]}.${parts[1]}`).verify(publicKey, Buffer.from(parts[2], 'base64url'))
      if (!ok) return fail('invalid_grant', 'invalid assertion')
      if (!claims.iss || (o.clientId && claims.iss !== o.clientId)) return fail('invalid_client_id', 'client identifier invalid')
      const aud = String(claims.aud ?? '')
      if (!/^https:\/\/(login|test)\.salesforce\.com\/?$/.test(aud) && !aud.startsWith(instanceUrl(req))) return fail('invalid_grant', 'audience is invalid')
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < now()) return fail('invalid_grant', 'expired authorization code')
      if (!claims.sub || (o.jwtUsers && !o.jwtUsers.includes(claims.sub))) return fail('invalid_grant', "user hasn't approved this consumer")
      return issue(claims.sub)
    }
    return fail('unsupported_grant_type', 'grant type not supported')
  })

  // ---- SOAP login (partner WSDL), as jsforce's `conn.login()` sends it without a client secret ----
  // POST /services/Soap/u/{version}, text/xml `<login><username/><password/></login>`. The answer is a loginResponse
  // with serverUrl/sessionId/userId/userInfo.organizationId (developer.salesforce.com "login() / LoginResult");
  // a bad password is an HTTP 500 SOAP fault `sf:INVALID_LOGIN` (jsforce throws its faultstring). jsforce keeps
  // only the scheme and host of serverUrl, so SOAP login works with the sandbox served at a host root.
  router.post('/services/Soap/u/:version', raw, (req, res) => {
    const xml = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : ''
    const tag = (name: string) => unescapeXml(new RegExp(`<(?:\\w+:)?${name}>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1] ?? '')
    const user = tag('username')
    const version = String(req.params.version)
    res.type('text/xml; charset=utf-8')
    if (!/<(?:\w+:)?login[\s>]/.test(xml)) return res.status(500).send(soapFault('sf:INVALID_OPERATION', 'INVALID_OPERATION: only login() is modelled by this sandbox'))
    if (!checkPassword(user, tag('password'))) {
      return res.status(500).send(soapFault('sf:INVALID_LOGIN', 'INVALID_LOGIN: Invalid username, password, security token; or user locked out.'))
    }
    const token = state.issueToken(user, ttl)
    const base = instanceUrl(req)
    res.send(
      `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>` +
        `<metadataServerUrl>${base}/services/Soap/m/${version}/${state.orgId}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox>` +
        `<serverUrl>${base}/services/Soap/u/${version}/${state.orgId}</serverUrl><sessionId>${escapeXml(token)}</sessionId><userId>${state.userId}</userId>` +
        `<userInfo><organizationId>${state.orgId}</organizationId><organizationName>Referral Bridge Sandbox</organizationName><userEmail>${escapeXml(user)}</userEmail><userFullName>Integration User</userFullName><userId>${state.userId}</userId><userName>${escapeXml(user)}</userName></userInfo>` +
        `</result></loginResponse></soapenv:Body></soapenv:Envelope>`
    )
  })

  // ---- Identity URL (help.salesforce.com "Identity URLs"): GET /id/{orgId}/{userId}, token as Bearer or oauth_token ----
  router.get('/id/:orgId/:userId', (req, res) => {
    const bearer = /^(Bearer|OAuth)\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[2]
    const token = bearer ?? (typeof req.query.oauth_token === 'string' ? req.query.oauth_token : undefined)
    const session = token ? state.sessions.get(token) : undefined
    // An invalid token on the identity service is a 403 with a plain-text reason, not a REST error array.
    if (!session || session.expiresAt <= now()) return res.status(403).type('text/plain').send('Bad_OAuth_Token')
    if (req.params.orgId !== state.orgId || req.params.userId !== state.userId) return res.status(404).json([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }])
    const base = instanceUrl(req)
    const v = '{version}'
    res.json({
      id: `${base}/id/${state.orgId}/${state.userId}`,
      asserted_user: true,
      user_id: state.userId,
      organization_id: state.orgId,
      username: session.user,
      nick_name: session.user.split('@')[0],
      display_name: 'Integration User',
      email: session.user,
      email_verified: true,
      first_name: 'Integration',
      last_name: 'User',
      timezone: 'GMT',
      active: true,
      user_type: 'STANDARD',
      language: 'en_US',
      locale: 'en_US',
      utcOffset: 0,
      last_modified_date: formatSfDateTime(0),
      is_app_installed: true,
      urls: {
        enterprise: `${base}/services/Soap/c/${v}/${state.orgId}`,
        partner: `${base}/services/Soap/u/${v}/${state.orgId}`,
        rest: `${base}/services/data/v${v}/`,
        sobjects: `${base}/services/data/v${v}/sobjects/`,
        query: `${base}/services/data/v${v}/query/`,
        profile: `${base}/${state.userId}`
      }
    })
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
  api.get('/', (req, res) => {
    const v = String(res.locals.versionPath)
    res.json({
      sobjects: `${v}/sobjects`,
      query: `${v}/query`,
      queryAll: `${v}/queryAll`,
      composite: `${v}/composite`,
      limits: `${v}/limits`,
      identity: `${instanceUrl(req)}/id/${state.orgId}/${state.userId}`
    })
  })
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

  // describeGlobal (developer.salesforce.com "Describe Global"): GET /sobjects.
  api.get('/sobjects', handle((_req, res) => {
    const v = String(res.locals.versionPath)
    res.json({
      encoding: 'UTF-8',
      maxBatchSize: COLLECTION_LIMIT,
      sobjects: Object.values(SALESFORCE_OBJECTS).map((o) => ({
        name: o.name,
        label: o.label,
        labelPlural: `${o.label}s`.replace(/ys$/, 'ies'),
        keyPrefix: o.keyPrefix,
        custom: false,
        createable: true,
        updateable: true,
        deletable: true,
        queryable: true,
        searchable: true,
        retrieveable: true,
        urls: { sobject: `${v}/sobjects/${o.name}`, describe: `${v}/sobjects/${o.name}/describe`, rowTemplate: `${v}/sobjects/${o.name}/{ID}` }
      }))
    })
  }))

  // ---- sObject Collections (developer.salesforce.com "sObject Collections": create, update, upsert, delete,
  // retrieve). Up to 200 records; 200 OK with one result per record in order; `allOrNone: true` rolls every record
  // back when one fails, and the others answer ALL_OR_NONE_OPERATION_ROLLED_BACK. jsforce sends array
  // create/update/upsert/destroy/retrieve here from API 42.0 (upsert from 46.0).
  const collection = (req: Request): { allOrNone: boolean; records: Array<Record<string, unknown>> } => {
    const body = readBody(req) as { allOrNone?: unknown; records?: unknown }
    if (!Array.isArray(body.records)) throw sfErr(400, 'JSON_PARSER_ERROR', 'The request body must contain a records array')
    if (body.records.length > COLLECTION_LIMIT) throw sfErr(400, 'EXCEEDED_ID_LIMIT', `record limit reached. cannot submit more than ${COLLECTION_LIMIT} records into this call`)
    return { allOrNone: body.allOrNone === true, records: body.records as Array<Record<string, unknown>> }
  }
  const typeOf = (r: Record<string, unknown>, fallback?: string): string => {
    const t = (r.attributes as { type?: unknown } | undefined)?.type ?? fallback
    if (typeof t !== 'string' || !t) throw sfErr(400, 'INVALID_TYPE', 'Must send a concrete entity type.')
    return objectOr404(t).name
  }
  /** Runs each record's write; with allOrNone, a failure restores every object to its state before the call. */
  const applyAll = <T extends Record<string, unknown>>(allOrNone: boolean, steps: Array<() => T>) => {
    const snapshot = allOrNone ? Object.fromEntries(Object.entries(state.records).map(([k, m]) => [k, new Map([...m].map(([id, r]) => [id, { ...r }]))])) : undefined
    const results: Array<T | ReturnType<typeof saveError>> = steps.map((step) => {
      try {
        return step()
      } catch (err) {
        return saveError(err)
      }
    })
    if (!snapshot || results.every((r) => r.success)) return results
    for (const [k, m] of Object.entries(snapshot)) {
      state.records[k].clear()
      for (const [id, r] of m) state.records[k].set(id, r)
    }
    return results.map((r) =>
      r.success
        ? { id: (r as { id?: unknown }).id, success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }] }
        : r
    )
  }
  api.post('/composite/sobjects', raw, handle((req, res) => {
    const { allOrNone, records } = collection(req)
    res.json(applyAll(allOrNone, records.map((r) => () => {
      const { attributes: _a, ...fields } = r
      if (fields.Id !== undefined || fields.id !== undefined) throw sfErr(400, 'INVALID_FIELD', 'cannot specify Id in an insert call', ['Id'])
      return { id: state.write(typeOf(r), fields), success: true, errors: [] }
    })))
  }))
  api.patch('/composite/sobjects', raw, handle((req, res) => {
    const { allOrNone, records } = collection(req)
    res.json(applyAll(allOrNone, records.map((r) => () => {
      const { attributes: _a, id, Id, ...fields } = r
      const target = state.find(typeOf(r), String(id ?? Id ?? ''))
      if (!target) throw sfErr(404, 'ENTITY_IS_DELETED', 'entity is deleted', [])
      return { id: state.write(typeOf(r), fields, String(target.Id)), success: true, errors: [] }
    })))
  }))
  api.patch('/composite/sobjects/:object/:field', raw, handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const def = state.field(obj, String(req.params.field))
    if (!def || (!def.externalId && def.name !== 'Id')) throw sfErr(404, 'NOT_FOUND', `Provided external ID field does not exist or is not accessible: ${req.params.field}`)
    const { allOrNone, records } = collection(req)
    res.json(applyAll(allOrNone, records.map((r) => () => {
      const { attributes: _a, ...body } = r
      const key = Object.keys(body).find((k) => k.toLowerCase() === def.name.toLowerCase())
      const value = key !== undefined ? body[key] : undefined
      if (value === undefined || value === null || value === '') throw sfErr(400, 'MISSING_ARGUMENT', `${def.name} not specified`, [def.name])
      if (key !== undefined) delete body[key]
      const found = [...state.records[obj.name].values()].filter((x) => x[def.name] !== undefined && x[def.name] !== null && String(x[def.name]).toLowerCase() === String(value).toLowerCase())
      if (found.length > 1) throw sfErr(300, 'DUPLICATE_EXTERNAL_ID', `The record you are attempting to edit, or one of its related records, has duplicate values for ${def.name}`, [def.name])
      if (found.length === 1) return { id: state.write(obj.name, body, String(found[0].Id)), success: true, errors: [], created: false }
      return { id: state.write(obj.name, def.name === 'Id' ? body : { ...body, [def.name]: value }), success: true, errors: [], created: true }
    })))
  }))
  api.delete('/composite/sobjects', handle((req, res) => {
    const ids = String(req.query.ids ?? '').split(',').map((x) => x.trim()).filter(Boolean)
    if (ids.length === 0) throw sfErr(400, 'MISSING_ARGUMENT', 'ids not specified')
    if (ids.length > COLLECTION_LIMIT) throw sfErr(400, 'EXCEEDED_ID_LIMIT', `record limit reached. cannot submit more than ${COLLECTION_LIMIT} records into this call`)
    res.json(applyAll(req.query.allOrNone === 'true', ids.map((id) => () => {
      const obj = Object.values(SALESFORCE_OBJECTS).find((o) => id.startsWith(o.keyPrefix))
      const r = obj ? state.find(obj.name, id) : undefined
      if (!obj || !r) throw sfErr(404, 'ENTITY_IS_DELETED', 'entity is deleted', [])
      state.records[obj.name].delete(String(r.Id))
      return { id: String(r.Id), success: true, errors: [] }
    })))
  }))
  api.post('/composite/sobjects/:object', raw, handle((req, res) => {
    const obj = objectOr404(String(req.params.object))
    const body = readBody(req) as { ids?: unknown; fields?: unknown }
    if (!Array.isArray(body.ids) || !Array.isArray(body.fields)) throw sfErr(400, 'JSON_PARSER_ERROR', 'ids and fields are required')
    if (body.ids.length > 2000) throw sfErr(400, 'EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 2000 records into this call')
    res.json(body.ids.map((id) => {
      const r = state.find(obj.name, String(id))
      return r ? present(res, obj.name, r, (body.fields as unknown[]).map(String)) : null
    }))
  }))

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

  // Unknown resources answer Salesforce's REST error array, never the bridge's own error shape.
  api.use((_req, res) => res.status(404).json(NOT_FOUND))
  router.use((_req, res) => res.status(404).json(NOT_FOUND))

  router.use((err: { status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400
    res.status(status).json([{ message: err.message ?? 'bad request', errorCode: 'JSON_PARSER_ERROR' }])
  })

  return { router, state, faults }
}

