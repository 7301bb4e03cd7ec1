/**
 * HubSpot destination function (Segment Functions runtime, Node 20): upserts referral contacts keyed on email.
 *
 * Written without imports, against Segment's documented globals only (see ../globals.d.ts): `fetch` (node-fetch 2),
 * `cache`, `crypto`, and the error classes. Built into one plain script by `referral-bridge functions build hubspot`
 * (dist/functions/hubspot.js) — paste or deploy that file.
 *
 * Why `fetch` and not `hubspotlib.hubspot`: Segment documents no version of @hubspot/api-client
 * (segment-docs runtime.md), and batch upsert by `idProperty` only exists in recent clients. The four REST calls
 * below (CRM v3: properties list/create, contacts batch/upsert, contact update) are the same ones the client makes,
 * and work whatever client version a workspace has.
 *
 * Settings: accessToken (private-app token, required), baseUrl (optional, our extension: API base URL, e.g. the
 * local sandbox), referralIdProperty (default referral_id). See README.md for the full contract.
 */

const HS_FRIEND_EVENTS = ['Referral Created', 'Referred Friend Signed Up']
const HS_BATCH_LIMIT = 100
const HS_PROPERTIES_TTL_MS = 60 * 60 * 1000
const HS_TAG = 'Referral Lead'
/** onBatch stops starting HubSpot calls after this long, so it returns per-item results inside Segment's 5 s. */
const HS_BATCH_BUDGET_MS = 4000

interface HsItem {
  email: string
  properties: Record<string, string>
}

interface HsFailure {
  status: number
  message: string
  retryAfterMs?: number
  /** Set on 409 "Contact already exists. Existing ID: N". */
  existingId?: string
}

// ---- handlers ------------------------------------------------------------------------------------------------

async function onIdentify(event: SegmentIdentifyEvent, settings: FunctionSettings): Promise<void> {
  await hsDeliverOne(event, settings)
}

async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  await hsDeliverOne(event, settings)
}

/** ≤ 100 contacts per HubSpot call, one input per email (events for the same email are merged), per-index results. */
async function onBatch(events: SegmentEvent[], settings: FunctionSettings): Promise<SegmentBatchItemResult[]> {
  const results: SegmentBatchItemResult[] = events.map(() => ({ status: 200 }))
  const byEmail = new Map<string, { item: HsItem; indexes: number[] }>()
  events.forEach((event, i) => {
    try {
      const item = hsItemFromEvent(event, settings)
      const seen = byEmail.get(item.email)
      if (seen) {
        Object.assign(seen.item.properties, item.properties)
        seen.indexes.push(i)
      } else byEmail.set(item.email, { item, indexes: [i] })
    } catch (err) {
      const e = err as Error
      results[i] = { status: 400, errormessage: `${e.name}: ${e.message}` }
    }
  })
  if (byEmail.size === 0) return results

  const deadline = Date.now() + HS_BATCH_BUDGET_MS
  const client = hsClient(settings)
  const groups = [...byEmail.values()]
  const apply = (group: { indexes: number[] }, r: SegmentBatchItemResult) => group.indexes.forEach((i) => (results[i] = r))
  try {
    await hsEnsureProperties(client, settings)
    await hsEnsureCohortProperties(client, settings, groups.flatMap((g) => Object.keys(g.item.properties)))
  } catch (err) {
    const f = hsFailure(err)
    groups.forEach((g) => apply(g, hsItemResult(f)))
    return results
  }
  for (let start = 0; start < groups.length; start += HS_BATCH_LIMIT) {
    const chunk = groups.slice(start, start + HS_BATCH_LIMIT)
    const outcomes = await hsUpsert(client, chunk.map((g) => g.item), deadline)
    chunk.forEach((g, j) => apply(g, outcomes[j] ? hsItemResult(outcomes[j]!) : { status: 200 }))
  }
  return results
}

// ---- mapping -------------------------------------------------------------------------------------------------

function hsString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const s = String(value).trim()
  return s === '' ? undefined : s
}

/** Event → the contact to upsert. Throws EventNotSupported / InvalidEventPayload. */
function hsItemFromEvent(event: SegmentEvent, settings: FunctionSettings): HsItem {
  const referralIdProperty = hsString(settings.referralIdProperty) ?? 'referral_id'
  let source: Record<string, any>
  let email: string | undefined
  let friend: boolean
  if (event.type === 'identify') {
    source = event.traits ?? {}
    email = hsString(source.email)
    if (!email) throw new InvalidEventPayload('identify has no traits.email: HubSpot contacts are keyed on email')
    friend = source.referral_role === 'friend' || hsString(source.referred_by) !== undefined
  } else if (event.type === 'track') {
    if (!HS_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to HubSpot`)
    source = event.properties ?? {}
    email = hsString(source.friend_email)
    if (!email) throw new InvalidEventPayload(`${event.event} has no properties.friend_email: HubSpot contacts are keyed on email`)
    friend = true
  } else {
    throw new EventNotSupported(`${event.type} is not sent to HubSpot`)
  }
  email = email.toLowerCase()
  const properties: Record<string, string> = { email }
  const set = (name: string, value: unknown) => {
    const v = hsString(value)
    if (v !== undefined) properties[name] = v
  }
  set(referralIdProperty, source.referral_id)
  set('referral_advocate_email', source.referred_by ?? source.advocate_email)
  set('referral_code', source.referral_code ?? source.coupon_code)
  set('referral_source_platform', source.source_platform)
  // Mixpanel cohort membership synced back by the bridge (POST /webhooks/mixpanel-cohorts): one boolean property
  // per cohort, true while the contact is in it, false once Mixpanel removed it.
  if (event.type === 'identify') for (const [k, v] of Object.entries(source)) if (/^mixpanel_cohort_[a-z0-9_]+$/.test(k) && typeof v === 'boolean') properties[k] = String(v)
  set('firstname', source.first_name ?? source.firstName)
  set('lastname', source.last_name ?? source.lastName)
  if (friend) {
    properties.lifecyclestage = 'lead'
    properties.hs_lead_status = 'NEW'
    properties.referral_tag = HS_TAG
  }
  return { email, properties }
}

// ---- HubSpot calls -------------------------------------------------------------------------------------------

const HS_DEFAULT_BASE_URL = 'https://api.hubapi.com'

/** A thrown HubSpot answer, shaped like @hubspot/api-client's ApiException (code, body, headers) for hsFailure. */
interface HsHttpError {
  code: number
  body: any
  headers: Record<string, string>
  message: string
}

function hsClient(settings: FunctionSettings) {
  const accessToken = hsString(settings.accessToken)
  if (!accessToken) throw new ValidationError('accessToken setting is required (HubSpot private app token)')
  const base = (hsString(settings.baseUrl) ?? HS_DEFAULT_BASE_URL).replace(/\/+$/, '')
  // No retries here: Segment (or our queue) owns retries, and the call must finish within 5 s.
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const headers = new Headers({ Authorization: `Bearer ${accessToken}`, Accept: 'application/json' })
    if (body !== undefined) headers.set('Content-Type', 'application/json')
    const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    const text = await res.text()
    let parsed: any = {}
    try {
      parsed = text ? JSON.parse(text) : {}
    } catch {
      parsed = { message: text.slice(0, 200) }
    }
    if (res.status >= 200 && res.status < 300) return parsed
    const error: HsHttpError = { code: res.status, body: parsed, headers: { ...(res.headers.get('retry-after') ? { 'retry-after': res.headers.get('retry-after')! } : {}) }, message: `HTTP ${res.status}` }
    throw error
  }
  return {
    listContactProperties: () => call('GET', '/crm/v3/properties/contacts?archived=false') as Promise<{ results: Array<{ name: string }> }>,
    createContactProperty: (def: unknown) => call('POST', '/crm/v3/properties/contacts', def),
    upsertContacts: (inputs: Array<{ id: string; idProperty: string; properties: Record<string, string> }>) => call('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs }),
    updateContact: (id: string, properties: Record<string, string>) => call('PATCH', `/crm/v3/objects/contacts/${encodeURIComponent(id)}`, { properties })
  }
}

type HsClient = ReturnType<typeof hsClient>

/** Creates the boolean `mixpanel_cohort_<id>` properties a batch sets that do not exist yet (cached like the others). */
async function hsEnsureCohortProperties(client: HsClient, settings: FunctionSettings, names: string[]): Promise<void> {
  const wanted = [...new Set(names.filter((n) => n.startsWith('mixpanel_cohort_')))]
  if (wanted.length === 0) return
  const tokenHash = crypto.createHash('sha256').update(String(settings.accessToken)).digest('hex').slice(0, 16)
  for (const name of wanted) {
    await cache.load(`hubspot-cohort-property:${hsString(settings.baseUrl) ?? 'api.hubapi.com'}:${tokenHash}:${name}`, HS_PROPERTIES_TTL_MS, async () => {
      try {
        await client.createContactProperty({
          name,
          label: `Mixpanel cohort ${name.slice('mixpanel_cohort_'.length)}`,
          type: 'bool',
          fieldType: 'booleancheckbox',
          groupName: 'contactinformation',
          description: 'Set by the referral-bridge from Mixpanel cohort sync',
          options: [
            { label: 'Yes', value: 'true', displayOrder: 0, hidden: false },
            { label: 'No', value: 'false', displayOrder: 1, hidden: false }
          ]
        } as any)
      } catch (err) {
        // 409: it exists already (created earlier or by another instance).
        if (hsFailure(err).status !== 409) throw err
      }
      return true
    })
  }
}

/** Creates the referral properties that do not exist yet; cached per portal for an hour. */
async function hsEnsureProperties(client: HsClient, settings: FunctionSettings): Promise<void> {
  const referralIdProperty = hsString(settings.referralIdProperty) ?? 'referral_id'
  const tokenHash = crypto.createHash('sha256').update(String(settings.accessToken)).digest('hex').slice(0, 16)
  const key = `hubspot-properties:${hsString(settings.baseUrl) ?? 'api.hubapi.com'}:${tokenHash}:${referralIdProperty}`
  await cache.load(key, HS_PROPERTIES_TTL_MS, async () => {
    const text = (name: string, label: string, hasUniqueValue = false) => ({
      name,
      label,
      type: 'string',
      fieldType: 'text',
      groupName: 'contactinformation',
      description: 'Set by the referral-bridge HubSpot destination function',
      hasUniqueValue
    })
    const wanted = [
      text(referralIdProperty, 'Referral ID', true),
      text('referral_advocate_email', 'Referral advocate email'),
      text('referral_code', 'Referral code'),
      text('referral_source_platform', 'Referral source platform'),
      {
        ...text('referral_tag', 'Referral tag'),
        type: 'enumeration',
        fieldType: 'select',
        options: [{ label: HS_TAG, value: HS_TAG, displayOrder: 0, hidden: false }]
      }
    ]
    const existing = await client.listContactProperties()
    const names = new Set(existing.results.map((p) => p.name))
    for (const def of wanted) {
      if (names.has(def.name)) continue
      try {
        await client.createContactProperty(def)
      } catch (err) {
        // 409: another instance created it between our list and our create; that is what we wanted.
        if (hsFailure(err).status !== 409) throw err
      }
    }
    return true
  })
}

/**
 * Batch upsert by email: a redelivery updates the same contact. Returns one failure (or undefined = success) per
 * input. A 400/409 for the batch is narrowed by halving, so one bad contact fails alone (HubSpot rejects the whole
 * batch when one input is invalid); a 409 "Contact already exists. Existing ID: N" for one contact is resolved
 * by updating contact N.
 */
async function hsUpsert(client: HsClient, items: HsItem[], deadline = Infinity): Promise<Array<HsFailure | undefined>> {
  if (Date.now() > deadline) {
    // Out of time (halving a large rejected batch can take many calls): these are retried, the rest is reported.
    return items.map(() => ({ status: 503, message: 'not sent: batch time budget used up before this contact; retry' }))
  }
  try {
    await client.upsertContacts(items.map((item) => ({ id: item.email, idProperty: 'email', properties: item.properties })))
    return items.map(() => undefined)
  } catch (err) {
    const f = hsFailure(err)
    if ((f.status === 400 || f.status === 409) && items.length > 1) {
      const half = Math.ceil(items.length / 2)
      const left = await hsUpsert(client, items.slice(0, half), deadline)
      const right = await hsUpsert(client, items.slice(half), deadline)
      return [...left, ...right]
    }
    if (f.status === 409 && f.existingId) {
      try {
        await client.updateContact(f.existingId, items[0]!.properties)
        return [undefined]
      } catch (updateErr) {
        return [hsFailure(updateErr)]
      }
    }
    return items.map(() => f)
  }
}

/** A HubSpot answer or a network error (node-fetch's FetchError) → status + message (+ Retry-After). Network errors count as 503. */
function hsFailure(err: unknown): HsFailure {
  const e = err as { code?: unknown; body?: any; headers?: Record<string, string>; message?: string; name?: string }
  if (typeof e?.code !== 'number') {
    const code = (err as { code?: unknown })?.code
    return { status: 503, message: `network error talking to HubSpot: ${typeof code === 'string' ? `${code} ` : ''}${e?.message ?? String(err)}` }
  }
  const body = e.body && typeof e.body === 'object' ? e.body : {}
  const detail = [body.category, body.policyName, body.message].filter(Boolean).join(' ')
  const failure: HsFailure = { status: e.code, message: `HubSpot ${e.code}${detail ? ` ${detail}` : ''}` }
  const retryAfter = e.headers?.['retry-after']
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter)
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now()
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms
  }
  const existing = /Contact already exists\. Existing ID: (\d+)/.exec(String(body.message ?? ''))
  if (e.code === 409 && existing) failure.existingId = existing[1]
  return failure
}

function hsItemResult(f: HsFailure): SegmentBatchItemResult {
  // 401/403 are settings problems: permanent, like any 4xx other than 408/423/429.
  return { status: f.status, errormessage: f.message, ...(f.retryAfterMs !== undefined ? { retryAfterMs: f.retryAfterMs } : {}) }
}

/** Segment's error classes for one failed contact. */
function hsThrow(f: HsFailure): never {
  if (f.status === 429 || f.status === 408 || f.status === 423 || (f.status >= 500 && f.status !== 501)) {
    const e = new RetryError(f.message)
    e.status = f.status
    if (f.retryAfterMs !== undefined) e.retryAfterMs = f.retryAfterMs
    throw e
  }
  if (f.status === 401 || f.status === 403) {
    const e = new ValidationError(`${f.message} (check the accessToken setting and the private app's scopes)`)
    e.status = f.status
    throw e
  }
  const e = new ValidationError(f.message)
  e.status = f.status
  throw e
}

async function hsDeliverOne(event: SegmentEvent, settings: FunctionSettings): Promise<void> {
  const item = hsItemFromEvent(event, settings)
  const client = hsClient(settings)
  try {
    await hsEnsureProperties(client, settings)
    await hsEnsureCohortProperties(client, settings, Object.keys(item.properties))
  } catch (err) {
    hsThrow(hsFailure(err))
  }
  const [failure] = await hsUpsert(client, [item])
  if (failure) hsThrow(failure)
}

// Makes this file a module for the type checker (its helpers stay out of the global scope); the build removes it.
export {}
