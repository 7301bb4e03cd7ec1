/**
 * Salesforce destination function (Segment Functions runtime, Node 20): upserts referral Leads keyed on the
 * external id field `Referral_ID__c`, so a redelivery updates the same Lead.
 *
 * Written without imports, against Segment's documented globals only (see ../globals.d.ts): `jsforce`, `cache`,
 * `crypto`, and the error classes. Built into one plain script by `referral-bridge functions build salesforce`
 * (dist/functions/salesforce.js) — paste or deploy that file.
 *
 * Settings (function.json): either `instanceUrl` + `accessToken`, or the OAuth 2.0 refresh-token flow
 * (`clientId`, `clientSecret`, `refreshToken`, `loginUrl`); jsforce's OAuth2 refreshes the session on
 * INVALID_SESSION_ID and repeats the request. See README.md for the full contract and error table.
 */

const SF_FRIEND_EVENTS = ['Referral Created', 'Referred Friend Signed Up']
const SF_API_VERSION = '59.0'
const SF_EXTERNAL_ID = 'Referral_ID__c'
/** Upserts in flight at once in onBatch (jsforce's own default maxRequest is 10). */
const SF_PARALLEL = 6
/** onBatch starts no Salesforce call after this long, so it returns per-item results inside Segment's 5 s. */
const SF_BATCH_BUDGET_MS = 4000
/** Sessions normally last 2 h (org setting); refresh proactively well before. */
const SF_SESSION_TTL_MS = 50 * 60 * 1000
/** Defaults for the fields Salesforce requires on a new Lead, used only when the create fails without them. */
const SF_DEFAULT_COMPANY = '[not provided]'
const SF_DEFAULT_LAST_NAME = '[not provided]'

/** Salesforce error codes that mean "this record (or these settings) will not work however often it is sent". */
const SF_PERMANENT_CODES = [
  'REQUIRED_FIELD_MISSING',
  'INVALID_FIELD',
  'MALFORMED_ID',
  'DUPLICATE_VALUE',
  'DUPLICATES_DETECTED',
  'INVALID_EMAIL_ADDRESS',
  'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
  'INVALID_FIELD_FOR_INSERT_UPDATE',
  'FIELD_CUSTOM_VALIDATION_EXCEPTION',
  'STRING_TOO_LONG',
  'JSON_PARSER_ERROR',
  'INVALID_TYPE',
  'NOT_FOUND',
  'MULTIPLE_CHOICES',
  'INSUFFICIENT_ACCESS_OR_READONLY',
  'INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY',
  'API_DISABLED_FOR_ORG',
  'CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY'
]
/** Transient: the same request may succeed later. */
const SF_RETRY_CODES = ['REQUEST_LIMIT_EXCEEDED', 'SERVER_UNAVAILABLE', 'UNKNOWN_EXCEPTION', 'UNABLE_TO_LOCK_ROW', 'REQUEST_RUNNING_TOO_LONG', 'QUERY_TIMEOUT']
const SF_NETWORK_CODES = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET']

interface SfLead {
  referralId: string
  fields: Record<string, string>
}

interface SfFailure {
  /** HTTP-like status for batch items: 429/503 retried, 400/401 permanent. */
  status: number
  kind: 'retry' | 'settings' | 'record'
  code: string
  message: string
  retryAfterMs?: number
  /** REQUIRED_FIELD_MISSING: which fields. */
  fields?: string[]
}

// ---- handlers ------------------------------------------------------------------------------------------------

async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  await sfDeliverOne(event, settings)
}

async function onIdentify(event: SegmentIdentifyEvent, settings: FunctionSettings): Promise<void> {
  await sfDeliverOne(event, settings)
}

/**
 * One upsert per referral id (events for the same referral are merged, later values win), at most SF_PARALLEL at
 * once, per-index results. The Salesforce sandbox (and many orgs' integration users) lack the composite sObject
 * collection upsert, so this uses single-record upserts, each with its own status.
 */
async function onBatch(events: SegmentEvent[], settings: FunctionSettings): Promise<SegmentBatchItemResult[]> {
  const results: SegmentBatchItemResult[] = events.map(() => ({ status: 200 }))
  const byReferral = new Map<string, { lead: SfLead; indexes: number[] }>()
  events.forEach((event, i) => {
    try {
      const lead = sfLeadFromEvent(event)
      const seen = byReferral.get(lead.referralId)
      if (seen) {
        Object.assign(seen.lead.fields, lead.fields)
        seen.indexes.push(i)
      } else byReferral.set(lead.referralId, { lead, indexes: [i] })
    } catch (err) {
      const e = err as Error
      results[i] = { status: 400, errormessage: `${e.name}: ${e.message}` }
    }
  })
  if (byReferral.size === 0) return results
  const groups = [...byReferral.values()]
  const apply = (group: { indexes: number[] }, r: SegmentBatchItemResult) => group.indexes.forEach((i) => (results[i] = r))

  let conn: SfConnection
  try {
    conn = await sfConnect(settings)
  } catch (err) {
    const f = sfFailure(err)
    groups.forEach((g) => apply(g, sfItemResult(f)))
    return results
  }
  const deadline = Date.now() + SF_BATCH_BUDGET_MS
  let next = 0
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++]!
      if (Date.now() > deadline) {
        apply(group, { status: 503, errormessage: 'not sent: batch time budget used up before this lead; retry' })
        continue
      }
      const failure = await sfUpsert(conn, group.lead, settings)
      apply(group, failure ? sfItemResult(failure) : { status: 200 })
    }
  }
  await Promise.all(Array.from({ length: Math.min(SF_PARALLEL, groups.length) }, worker))
  return results
}

// ---- mapping -------------------------------------------------------------------------------------------------

function sfString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const s = String(value).trim()
  return s === '' ? undefined : s
}

function sfEmail(value: unknown): string | undefined {
  const s = sfString(value)
  return s && s.includes('@') ? s.toLowerCase() : undefined
}

/** Event → the Lead to upsert. Throws EventNotSupported / InvalidEventPayload. */
function sfLeadFromEvent(event: SegmentEvent): SfLead {
  let source: Record<string, any>
  let email: string | undefined
  let advocateId: string | undefined
  let advocateEmail: string | undefined
  if (event.type === 'identify') {
    source = event.traits ?? {}
    const friend = source.referral_role === 'friend' || sfString(source.referred_by) !== undefined || sfString(source.referral_id) !== undefined
    if (!friend) throw new EventNotSupported('identify of a non-referred person: only referred friends become Salesforce Leads')
    email = sfEmail(source.email)
    advocateEmail = sfEmail(source.referred_by ?? source.advocate_email)
    advocateId = sfString(source.advocate_id) ?? advocateEmail
  } else if (event.type === 'track') {
    if (!SF_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to Salesforce`)
    source = event.properties ?? {}
    email = sfEmail(source.friend_email)
    advocateEmail = sfEmail(source.advocate_email)
    advocateId = sfString(source.advocate_id) ?? advocateEmail
  } else {
    throw new EventNotSupported(`${event.type} is not sent to Salesforce`)
  }
  const referralId = sfString(source.referral_id)
  if (!referralId) throw new InvalidEventPayload(`${event.type === 'track' ? event.event : 'identify'} has no referral_id: Leads are upserted on ${SF_EXTERNAL_ID}`)
  const fields: Record<string, string> = { LeadSource: 'Referral' }
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) fields[name] = value
  }
  set('Email', email)
  set('FirstName', sfString(source.first_name ?? source.firstName))
  set('LastName', sfString(source.last_name ?? source.lastName))
  set('Referral_Advocate_ID__c', advocateId)
  set('Referral_Advocate_Email__c', advocateEmail)
  set('Referral_Code__c', sfString(source.referral_code ?? source.coupon_code))
  return { referralId, fields }
}

// ---- Salesforce calls ----------------------------------------------------------------------------------------

type SfConnection = InstanceType<typeof jsforce.Connection>

function sfSettingsKey(settings: FunctionSettings): string {
  const material = [settings.loginUrl, settings.clientId, settings.refreshToken, settings.instanceUrl, settings.accessToken].map((v) => String(v ?? '')).join('\u0000')
  return `salesforce-session:${crypto.createHash('sha256').update(material).digest('hex').slice(0, 24)}`
}

/**
 * A jsforce Connection. Refresh-token settings: the first session comes from the token endpoint (cached per
 * settings for 50 min through `cache`), and the Connection carries `oauth2` + `refreshToken`, so jsforce itself
 * refreshes on a 401 INVALID_SESSION_ID and repeats the request; the new session replaces the cached one.
 * Access-token settings: used as is (no refresh possible).
 */
async function sfConnect(settings: FunctionSettings): Promise<SfConnection> {
  const refreshToken = sfString(settings.refreshToken)
  const clientId = sfString(settings.clientId)
  const loginUrl = (sfString(settings.loginUrl) ?? 'https://login.salesforce.com').replace(/\/+$/, '')
  const version = sfString(settings.apiVersion) ?? SF_API_VERSION
  if (refreshToken) {
    if (!clientId) throw new ValidationError('clientId setting is required with refreshToken (the connected app consumer key)')
    const oauth2 = { clientId, clientSecret: sfString(settings.clientSecret), loginUrl, redirectUri: 'http://localhost/unused' }
    const key = sfSettingsKey(settings)
    const session = await cache.load(key, SF_SESSION_TTL_MS, async () => {
      const oauth = new jsforce.OAuth2(oauth2)
      const res = await oauth.refreshToken(refreshToken)
      return { accessToken: res.access_token, instanceUrl: res.instance_url }
    })
    const conn = new jsforce.Connection({ oauth2, instanceUrl: session.instanceUrl, accessToken: session.accessToken, refreshToken, version })
    conn.on('refresh', (accessToken: string) => {
      // The next call reuses the refreshed session instead of the expired cached one.
      cache.delete(key)
      void cache.load(key, SF_SESSION_TTL_MS, () => ({ accessToken, instanceUrl: conn.instanceUrl }))
    })
    return conn
  }
  const accessToken = sfString(settings.accessToken)
  const instanceUrl = sfString(settings.instanceUrl)?.replace(/\/+$/, '')
  if (!accessToken || !instanceUrl) {
    throw new ValidationError('settings need either refreshToken + clientId (+ clientSecret, loginUrl) or instanceUrl + accessToken')
  }
  return new jsforce.Connection({ instanceUrl, accessToken, version })
}

/**
 * PATCH /sobjects/Lead/Referral_ID__c/{id}: creates the Lead (201) or updates it (200/204). The referral id is
 * URL-encoded (jsforce's `sobject().upsert()` joins it into the path as is). Salesforce requires LastName and
 * Company on a new Lead; the event rarely has them, and sending placeholders on every call would overwrite what
 * sales typed on an existing Lead. So: without them first; on REQUIRED_FIELD_MISSING for LastName/Company only
 * (= a create), once more with the placeholders. Returns undefined on success.
 */
async function sfUpsert(conn: SfConnection, lead: SfLead, settings: FunctionSettings): Promise<SfFailure | undefined> {
  const url = `/sobjects/Lead/${SF_EXTERNAL_ID}/${encodeURIComponent(lead.referralId)}`
  const send = (fields: Record<string, string>) =>
    conn.request({ method: 'PATCH', url, body: JSON.stringify(fields), headers: { 'content-type': 'application/json' } })
  try {
    await send(lead.fields)
    return undefined
  } catch (err) {
    const f = sfFailure(err)
    const defaults: Record<string, string> = {
      LastName: sfString(settings.defaultLastName) ?? SF_DEFAULT_LAST_NAME,
      Company: sfString(settings.defaultCompany) ?? SF_DEFAULT_COMPANY
    }
    const missing = f.fields ?? []
    if (f.code !== 'REQUIRED_FIELD_MISSING' || missing.length === 0 || !missing.every((name) => name in defaults)) return f
    const fields = { ...lead.fields }
    for (const name of missing) if (fields[name] === undefined) fields[name] = defaults[name]!
    try {
      await send(fields)
      return undefined
    } catch (retryErr) {
      return sfFailure(retryErr)
    }
  }
}

/** Any jsforce / network error → a classified failure. Unknown errors are retried (a visible dead letter beats a silent drop). */
function sfFailure(err: unknown): SfFailure {
  const e = err as { name?: string; errorCode?: string; message?: string; code?: string; data?: any; fields?: unknown; cause?: { code?: string } }
  const message = e?.message ?? String(err)
  if (e?.name === 'ValidationError') return { status: 400, kind: 'settings', code: 'SETTINGS', message }
  const code = String(e?.errorCode ?? e?.name ?? 'UNKNOWN')
  // jsforce 1.11 (Segment's documented version) copies the error body onto the Error (`e.fields`); jsforce 2+ keeps it in `e.data`.
  const fields = Array.isArray(e?.data?.fields) ? (e.data.fields as string[]) : Array.isArray(e?.fields) ? (e.fields as string[]) : undefined
  const label = `Salesforce ${code}: ${message}`
  if (code === 'INVALID_SESSION_ID') {
    // Only reached without refresh settings (or when the refreshed session is refused too).
    return { status: 401, kind: 'settings', code, message: `${label} (the session expired or is invalid; configure clientId/clientSecret/refreshToken so it can be refreshed)` }
  }
  if (/^invalid_(grant|client_id|client)$|^unsupported_grant_type$/.test(code) || /Unable to refresh session/.test(message)) {
    return { status: 401, kind: 'settings', code, message: `Salesforce OAuth ${code}: ${message} (check clientId, clientSecret, refreshToken and loginUrl)` }
  }
  if (code === 'REQUEST_LIMIT_EXCEEDED') return { status: 429, kind: 'retry', code, message: label, retryAfterMs: 60_000 }
  if (SF_RETRY_CODES.includes(code)) return { status: 503, kind: 'retry', code, message: label }
  if (SF_PERMANENT_CODES.includes(code)) return { status: 400, kind: 'record', code, message: label, ...(fields ? { fields } : {}) }
  const http = /^ERROR_HTTP_(\d{3})$/.exec(code)
  if (http) {
    const status = Number(http[1])
    const retry = status === 408 || status === 429 || (status >= 500 && status !== 501)
    return { status, kind: retry ? 'retry' : 'record', code, message: `Salesforce HTTP ${status}: ${message.slice(0, 200)}` }
  }
  const network = e?.code ?? e?.cause?.code
  if (e?.name === 'FetchError' || (network && SF_NETWORK_CODES.includes(network))) {
    return { status: 503, kind: 'retry', code: network ?? 'NETWORK', message: `network error talking to Salesforce: ${message}` }
  }
  return { status: 503, kind: 'retry', code, message: `${label} (unclassified, retried)` }
}

function sfItemResult(f: SfFailure): SegmentBatchItemResult {
  return { status: f.status, errormessage: f.message, ...(f.retryAfterMs !== undefined ? { retryAfterMs: f.retryAfterMs } : {}) }
}

/** Segment's error classes for one failed Lead. */
function sfThrow(f: SfFailure): never {
  if (f.kind === 'retry') {
    const e = new RetryError(f.message)
    e.status = f.status
    if (f.retryAfterMs !== undefined) e.retryAfterMs = f.retryAfterMs
    throw e
  }
  const e = new ValidationError(f.message)
  e.status = f.status
  throw e
}

async function sfDeliverOne(event: SegmentEvent, settings: FunctionSettings): Promise<void> {
  const lead = sfLeadFromEvent(event)
  let conn: SfConnection
  try {
    conn = await sfConnect(settings)
  } catch (err) {
    sfThrow(sfFailure(err))
  }
  const failure = await sfUpsert(conn, lead, settings)
  if (failure) sfThrow(failure)
}

// Makes this file a module for the type checker (its helpers stay out of the global scope); the build removes it.
export {}
