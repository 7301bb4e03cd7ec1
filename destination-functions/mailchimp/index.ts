/**
 * Mailchimp destination function (Segment Functions runtime, Node 20): upserts referral friends and advocates as
 * audience members (PUT by subscriber hash, `status_if_new`) and tags them `Referral Lead` / `Referral Advocate`.
 *
 * Written without imports, against Segment's documented globals only (see ../globals.d.ts): `fetch`, `btoa`,
 * `crypto` (md5 of the lower-cased email), the error classes. Built into one plain script by
 * `referral-bridge functions build mailchimp` (dist/functions/mailchimp.js).
 *
 * Settings: apiKey (`<key>-<dc>`, required), listId (required), statusIfNew (`pending` default, `subscribed`,
 * `transactional`), mergeFields (optional map trait → merge tag), baseUrl (optional, our extension). See README.md.
 */

const MC_FRIEND_EVENTS = ['Referred Friend Signed Up', 'Referral Created']
const MC_LEAD_TAG = 'Referral Lead'
const MC_ADVOCATE_TAG = 'Referral Advocate'
const MC_STATUSES = ['pending', 'subscribed', 'transactional']

interface McMember {
  email: string
  mergeFields: Record<string, string>
  tag?: string
}

interface McFailure {
  status: number
  message: string
  retryAfterMs?: number
}

// ---- handlers ------------------------------------------------------------------------------------------------

async function onIdentify(event: SegmentIdentifyEvent, settings: FunctionSettings): Promise<void> {
  const traits = event.traits ?? {}
  const email = mcEmail(traits.email)
  if (!email) throw new InvalidEventPayload('identify has no traits.email: Mailchimp members are keyed on email')
  const friend = traits.referral_role === 'friend' || (traits.referral_role !== 'advocate' && mcString(traits.referred_by) !== undefined)
  const tag = friend ? MC_LEAD_TAG : traits.referral_role === 'advocate' ? MC_ADVOCATE_TAG : undefined
  await mcUpsert({ email, mergeFields: mcMergeFields(traits, traits.first_name ?? traits.firstName, traits.last_name ?? traits.lastName, settings), tag }, settings)
}

async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  if (!MC_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to Mailchimp`)
  const p = event.properties ?? {}
  const email = mcEmail(p.friend_email)
  if (!email) throw new InvalidEventPayload(`${event.event} has no properties.friend_email: Mailchimp members are keyed on email`)
  await mcUpsert({ email, mergeFields: mcMergeFields(p, p.friend_first_name, undefined, settings), tag: MC_LEAD_TAG }, settings)
}

// No onBatch: Mailchimp's batch endpoint (POST /3.0/batches) is asynchronous (results arrive later as a tarball),
// so per-item results could not be returned within Segment's 5 s; one member is two small calls.

// ---- mapping -------------------------------------------------------------------------------------------------

function mcString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const s = String(value).trim()
  return s === '' ? undefined : s
}

function mcEmail(value: unknown): string | undefined {
  const s = mcString(value)
  return s && s.includes('@') ? s.toLowerCase() : undefined
}

/** FNAME/LNAME, plus the audience's own merge fields named by the `mergeFields` setting ({trait or property: TAG}). */
function mcMergeFields(source: Record<string, any>, first: unknown, last: unknown, settings: FunctionSettings): Record<string, string> {
  const out: Record<string, string> = {}
  const f = mcString(first)
  const l = mcString(last)
  if (f) out.FNAME = f
  if (l) out.LNAME = l
  const extra = settings.mergeFields && typeof settings.mergeFields === 'object' ? (settings.mergeFields as Record<string, unknown>) : {}
  for (const [field, tag] of Object.entries(extra)) {
    const v = mcString(source[field])
    const t = mcString(tag)
    if (v !== undefined && t) out[t.toUpperCase()] = v
  }
  return out
}

// ---- Mailchimp calls -----------------------------------------------------------------------------------------

function mcConfig(settings: FunctionSettings): { base: string; auth: string; listId: string; statusIfNew: string } {
  const apiKey = mcString(settings.apiKey)
  if (!apiKey) throw new ValidationError('apiKey setting is required (a Mailchimp API key, <key>-<dc>)')
  const listId = mcString(settings.listId)
  if (!listId) throw new ValidationError('listId setting is required (the audience id)')
  const statusIfNew = mcString(settings.statusIfNew) ?? 'pending'
  if (!MC_STATUSES.includes(statusIfNew)) throw new ValidationError(`statusIfNew must be one of ${MC_STATUSES.join(', ')}, got "${statusIfNew}"`)
  let base = mcString(settings.baseUrl)
  if (!base) {
    const dc = /-([a-z]+[0-9]+)$/.exec(apiKey)?.[1]
    if (!dc) throw new ValidationError('apiKey must end in -<datacenter> (e.g. -us21), or set baseUrl')
    base = `https://${dc}.api.mailchimp.com`
  }
  return { base: base.replace(/\/+$/, ''), auth: `Basic ${btoa(`referral-bridge:${apiKey}`)}`, listId, statusIfNew }
}

async function mcUpsert(member: McMember, settings: FunctionSettings): Promise<void> {
  const cfg = mcConfig(settings)
  const hash = crypto.createHash('md5').update(member.email.toLowerCase()).digest('hex')
  const path = `/3.0/lists/${encodeURIComponent(cfg.listId)}/members/${hash}`
  // Add or update; status_if_new applies only when the member is created, so an unsubscribed member stays so.
  await mcCall(cfg, 'PUT', path, { email_address: member.email, status_if_new: cfg.statusIfNew, ...(Object.keys(member.mergeFields).length ? { merge_fields: member.mergeFields } : {}) })
  // Tags through the tags endpoint: activating an active tag is a no-op, so a retry is harmless.
  if (member.tag) await mcCall(cfg, 'POST', `${path}/tags`, { tags: [{ name: member.tag, status: 'active' }] })
}

async function mcCall(cfg: { base: string; auth: string; listId: string }, method: string, path: string, body: unknown): Promise<void> {
  let response: Response
  try {
    response = await fetch(`${cfg.base}${path}`, {
      method,
      headers: { Authorization: cfg.auth, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body)
    })
  } catch (err) {
    // node-fetch 2 (Segment's `fetch`) rejects with a FetchError carrying `code` (ECONNREFUSED, ECONNRESET, ...).
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
    throw new RetryError(`network error talking to Mailchimp: ${e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)}`)
  }
  if (response.status >= 200 && response.status < 300) {
    await response.text().catch(() => '')
    return
  }
  mcThrow(await mcFailure(response), cfg.listId)
}

/** Problem details `{type, title, status, detail, instance, errors?[{field, message}]}` → a readable message. */
async function mcFailure(response: Response): Promise<McFailure> {
  const text = await response.text().catch(() => '')
  let problem: { title?: string; detail?: string; errors?: Array<{ field?: string; message?: string }> } = {}
  try {
    const parsed = JSON.parse(text)
    if (parsed && typeof parsed === 'object') problem = parsed
  } catch {
    problem = { detail: text.slice(0, 200) }
  }
  const fields = Array.isArray(problem.errors) ? problem.errors.map((e) => `${e.field ?? '?'}: ${e.message ?? ''}`).join('; ') : ''
  const detail = [problem.title, problem.detail, fields && `(${fields})`].filter(Boolean).join(' ')
  const failure: McFailure = { status: response.status, message: `Mailchimp ${response.status}${detail ? ` ${detail}` : ''}` }
  const retryAfter = response.headers.get('retry-after')
  if (retryAfter) {
    const seconds = Number(retryAfter)
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now()
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms
  }
  return failure
}

function mcThrow(f: McFailure, listId: string): never {
  if (f.status === 429 || f.status === 408 || (f.status >= 500 && f.status !== 501)) {
    const e = new RetryError(f.message)
    e.status = f.status
    if (f.retryAfterMs !== undefined) e.retryAfterMs = f.retryAfterMs
    throw e
  }
  if (f.status === 401 || f.status === 403) {
    const e = new ValidationError(`${f.message} (check the apiKey setting and its -<dc> suffix)`)
    e.status = f.status
    throw e
  }
  if (f.status === 404) {
    const e = new ValidationError(`${f.message} (check the listId setting: audience "${listId}")`)
    e.status = f.status
    throw e
  }
  // 400 Invalid Resource (merge fields, email), Member In Compliance State, Forgotten Email Not Subscribed, 405, 414, 422.
  const e = new ValidationError(f.message)
  e.status = f.status
  throw e
}

// Makes this file a module for the type checker (its helpers stay out of the global scope); the build removes it.
export {}
