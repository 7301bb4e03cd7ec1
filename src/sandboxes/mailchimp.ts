import { createHash, randomUUID } from 'node:crypto'
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Mailchimp Marketing API v3 sandbox (mailchimp.com/developer/marketing/api/list-members/):
 *
 * - Auth: HTTP Basic `anystring:<apikey>` (or `Bearer <token>`); 401 "API Key Missing" / "API Key Invalid".
 * - `PUT /3.0/lists/{list_id}/members/{subscriber_hash}`: add or update. subscriber_hash = MD5 of the lower-cased
 *   email (a mismatch with `email_address` is a 400). `status_if_new` applies only when the member is created
 *   (an existing unsubscribed member stays unsubscribed); `status` changes an existing member. A `cleaned` member
 *   cannot be set back to subscribed ("Member In Compliance State"). Unknown merge fields are a 400. 200 + member.
 * - `GET /3.0/lists/{list_id}/members/{subscriber_hash}`: the member, or 404 "Resource Not Found".
 * - `POST /3.0/lists/{list_id}/members/{subscriber_hash}/tags` `{tags:[{name, status:'active'|'inactive'}]}`:
 *   204, idempotent (activating an active tag is a no-op).
 * - `POST /3.0/lists/{list_id}/members`: create only; an existing member is 400 "Member Exists".
 * - Errors are `application/problem+json` `{type, title, status, detail, instance[, errors]}`
 *   (mailchimp.com/developer/marketing/docs/errors/); unknown resources are 404 "Resource Not Found".
 * - 429 "Too Many Requests" past 10 simultaneous connections per API key, Mailchimp's documented limit
 *   (`maxConnections`, `latencyMs` make it reachable in tests), plus the shared fault switch.
 */
export interface MailchimpMember {
  id: string
  email_address: string
  unique_email_id: string
  status: MemberStatus
  merge_fields: Record<string, unknown>
  tags: Array<{ id: number; name: string }>
  list_id: string
  timestamp_signup: string
  last_changed: string
}

type MemberStatus = 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional'
const STATUSES = new Set<MemberStatus>(['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'])

export interface MailchimpSandboxState {
  /** list id → subscriber hash → member */
  lists: Map<string, Map<string, MailchimpMember>>
  requests: number
  tagUpdates: number
}

export interface MailchimpSandboxOptions {
  /** e.g. `0123456789abcdef-us21`; when unset any non-empty key is accepted. */
  apiKey?: string
  /** Audiences that exist; default `['sandbox-list']`. */
  lists?: string[]
  /** Merge field tags beyond FNAME, LNAME, ADDRESS, PHONE, BIRTHDAY. */
  mergeFields?: string[]
  /** Simultaneous connections allowed (Mailchimp: 10). */
  maxConnections?: number
  /** Artificial handling time, to make concurrency observable. */
  latencyMs?: number
  now?: () => number
}

const ERROR_DOC = 'https://mailchimp.com/developer/marketing/docs/errors/'
const PROBLEM_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'API Key Invalid',
  403: 'Forbidden',
  404: 'Resource Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors?: Array<{ field: string; message: string }>
  ) {
    super(detail)
  }
}

export function subscriberHash(email: string): string {
  return createHash('md5').update(email.toLowerCase()).digest('hex')
}

const invalidResource = (errors: Array<{ field: string; message: string }>) =>
  new ProblemError(400, 'Invalid Resource', "The resource submitted could not be validated. For field-specific details, see the 'errors' array.", errors)

export function createMailchimpSandbox(options: MailchimpSandboxOptions = {}) {
  const now = options.now ?? Date.now
  const state: MailchimpSandboxState = { lists: new Map((options.lists ?? ['sandbox-list']).map((l) => [l, new Map()])), requests: 0, tagUpdates: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  const maxConnections = options.maxConnections ?? 10
  const mergeFields = new Set(['FNAME', 'LNAME', 'ADDRESS', 'PHONE', 'BIRTHDAY', ...(options.mergeFields ?? [])])
  let inFlight = 0
  let tagSeq = 0
  const tagIds = new Map<string, number>()

  const problem = (res: Response, e: ProblemError) =>
    res
      .status(e.status)
      .type('application/problem+json')
      .send(JSON.stringify({ type: ERROR_DOC, title: e.title, status: e.status, detail: e.detail, instance: randomUUID(), ...(e.errors ? { errors: e.errors } : {}) }))

  router.use(faults.router())
  router.use(
    faults.middleware(() => ({ type: ERROR_DOC, title: 'Too Many Requests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.', instance: randomUUID() }), {
      // Injected faults answer the glossary's problem document too (mailchimp.com/developer/marketing/docs/errors/).
      faultBody: (status) => ({ type: ERROR_DOC, title: PROBLEM_TITLES[status] ?? 'Internal Server Error', status, detail: `Sandbox fault: ${status}.`, instance: randomUUID() }),
      errorContentType: 'application/problem+json'
    })
  )

  router.use('/3.0', (req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization ?? ''
    let key: string | undefined
    if (auth.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8')
      key = decoded.includes(':') ? decoded.slice(decoded.indexOf(':') + 1) : undefined
    } else if (/^(Bearer|OAuth|apikey)\s+/i.test(auth)) key = auth.replace(/^\S+\s+/, '')
    if (!key) return problem(res, new ProblemError(401, 'API Key Missing', 'Your request did not include an API key.'))
    if (options.apiKey && key !== options.apiKey) {
      return problem(res, new ProblemError(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter."))
    }
    if (inFlight >= maxConnections) {
      return problem(res, new ProblemError(429, 'Too Many Requests', `You have exceeded the limit of ${maxConnections} simultaneous connections.`))
    }
    inFlight++
    state.requests++
    let released = false
    const release = () => {
      if (!released) {
        released = true
        inFlight--
      }
    }
    res.on('finish', release)
    res.on('close', release)
    if (options.latencyMs) setTimeout(next, options.latencyMs)
    else next()
  })

  const raw = express.raw({ type: () => true, limit: '1mb' })
  const readJson = (req: Request): Record<string, unknown> => {
    const body = req.body
    if (Buffer.isBuffer(body)) {
      if (!body.length) return {}
      try {
        return JSON.parse(body.toString('utf8'))
      } catch {
        throw new ProblemError(400, 'JSON Parse Exception', "We encountered an unspecified JSON parsing error.")
      }
    }
    return body && typeof body === 'object' ? (body as Record<string, unknown>) : {}
  }
  const list = (req: Request) => {
    const l = state.lists.get(String(req.params.listId))
    if (!l) throw new ProblemError(404, 'Resource Not Found', 'The requested resource could not be found.')
    return l
  }
  const present = (m: MailchimpMember) => ({
    ...m,
    full_name: [m.merge_fields.FNAME, m.merge_fields.LNAME].filter(Boolean).join(' '),
    email_type: 'html',
    source: 'API - Generic',
    tags_count: m.tags.length,
    _links: []
  })
  const wrap = (fn: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    try {
      fn(req, res)
    } catch (err) {
      if (err instanceof ProblemError) return problem(res, err)
      return problem(res, new ProblemError(500, 'Internal Server Error', String((err as Error).message)))
    }
  }

  router.put('/3.0/lists/:listId/members/:hash', raw, wrap((req, res) => {
    const members = list(req)
    const body = readJson(req)
    const hash = String(req.params.hash).toLowerCase()
    const existing = members.get(hash)
    const email = body.email_address
    const errors: Array<{ field: string; message: string }> = []
    if (email === undefined && !existing) errors.push({ field: 'email_address', message: 'This value should not be blank.' })
    if (email !== undefined && (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))) {
      throw new ProblemError(400, 'Invalid Resource', 'Please provide a valid email address.')
    }
    if (typeof email === 'string' && subscriberHash(email) !== hash) {
      throw new ProblemError(400, 'Invalid Resource', `The subscriber hash in the URL does not match the email address ${email}.`)
    }
    for (const k of ['status', 'status_if_new'] as const) {
      if (body[k] !== undefined && !STATUSES.has(body[k] as MemberStatus)) errors.push({ field: k, message: `Invalid status: ${String(body[k])}` })
    }
    if (!existing && body.status === undefined && body.status_if_new === undefined) errors.push({ field: 'status_if_new', message: 'This value should not be blank.' })
    const merge = (body.merge_fields ?? {}) as Record<string, unknown>
    if (typeof merge !== 'object' || Array.isArray(merge)) errors.push({ field: 'merge_fields', message: 'Data did not match any of the schemas described in anyOf.' })
    else for (const k of Object.keys(merge)) if (!mergeFields.has(k)) errors.push({ field: `merge_fields.${k}`, message: `Merge field "${k}" does not exist in this audience.` })
    if (errors.length) throw invalidResource(errors)
    const stamp = new Date(now()).toISOString()
    if (existing) {
      const wanted = body.status as MemberStatus | undefined
      if (wanted === 'subscribed' && existing.status === 'cleaned') {
        throw new ProblemError(400, 'Member In Compliance State', `${existing.email_address} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.`)
      }
      if (wanted && wanted !== existing.status) existing.status = wanted
      existing.merge_fields = { ...existing.merge_fields, ...merge }
      existing.last_changed = stamp
      return res.status(200).json(present(existing))
    }
    const member: MailchimpMember = {
      id: hash,
      email_address: String(email),
      unique_email_id: randomUUID().replace(/-/g, '').slice(0, 10),
      status: (body.status ?? body.status_if_new) as MemberStatus,
      merge_fields: { ...merge },
      tags: [],
      list_id: String(req.params.listId),
      timestamp_signup: stamp,
      last_changed: stamp
    }
    members.set(hash, member)
    res.status(200).json(present(member))
  }))

  // POST /3.0/lists/{list_id}/members (mailchimp.com/developer/marketing/api/list-members/add-member-to-list/):
  // create only; an existing member is 400 "Member Exists" ("... is already a list member. Use PUT to insert or
  // update list members."). `status` is required here (PUT takes `status_if_new`).
  router.post('/3.0/lists/:listId/members', raw, wrap((req, res) => {
    const members = list(req)
    const body = readJson(req)
    const email = body.email_address
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new ProblemError(400, 'Invalid Resource', 'Please provide a valid email address.')
    const hash = subscriberHash(email)
    if (members.has(hash)) throw new ProblemError(400, 'Member Exists', `${email} is already a list member. Use PUT to insert or update list members.`)
    const errors: Array<{ field: string; message: string }> = []
    if (body.status === undefined) errors.push({ field: 'status', message: 'This value should not be blank.' })
    else if (!STATUSES.has(body.status as MemberStatus)) errors.push({ field: 'status', message: `Invalid status: ${String(body.status)}` })
    const merge = (body.merge_fields ?? {}) as Record<string, unknown>
    if (typeof merge !== 'object' || Array.isArray(merge)) errors.push({ field: 'merge_fields', message: 'Data did not match any of the schemas described in anyOf.' })
    else for (const k of Object.keys(merge)) if (!mergeFields.has(k)) errors.push({ field: `merge_fields.${k}`, message: `Merge field "${k}" does not exist in this audience.` })
    if (errors.length) throw invalidResource(errors)
    const stamp = new Date(now()).toISOString()
    const member: MailchimpMember = {
      id: hash,
      email_address: email,
      unique_email_id: randomUUID().replace(/-/g, '').slice(0, 10),
      status: body.status as MemberStatus,
      merge_fields: { ...merge },
      tags: [],
      list_id: String(req.params.listId),
      timestamp_signup: stamp,
      last_changed: stamp
    }
    members.set(hash, member)
    res.status(200).json(present(member))
  }))

  router.get('/3.0/lists/:listId/members/:hash', wrap((req, res) => {
    const m = list(req).get(String(req.params.hash).toLowerCase())
    if (!m) throw new ProblemError(404, 'Resource Not Found', 'The requested resource could not be found.')
    res.json(present(m))
  }))

  router.get('/3.0/lists/:listId/members/:hash/tags', wrap((req, res) => {
    const m = list(req).get(String(req.params.hash).toLowerCase())
    if (!m) throw new ProblemError(404, 'Resource Not Found', 'The requested resource could not be found.')
    res.json({ tags: m.tags.map((t) => ({ ...t, date_added: m.last_changed })), total_items: m.tags.length })
  }))

  router.post('/3.0/lists/:listId/members/:hash/tags', raw, wrap((req, res) => {
    const m = list(req).get(String(req.params.hash).toLowerCase())
    if (!m) throw new ProblemError(404, 'Resource Not Found', 'The requested resource could not be found.')
    const body = readJson(req)
    if (!Array.isArray(body.tags)) throw invalidResource([{ field: 'tags', message: 'This value should not be blank.' }])
    for (const t of body.tags as Array<{ name?: unknown; status?: unknown }>) {
      if (typeof t?.name !== 'string' || !t.name.trim() || (t.status !== 'active' && t.status !== 'inactive')) {
        throw invalidResource([{ field: 'tags', message: 'Each tag needs a name and a status of active or inactive.' }])
      }
    }
    for (const t of body.tags as Array<{ name: string; status: 'active' | 'inactive' }>) {
      const has = m.tags.some((x) => x.name.toLowerCase() === t.name.toLowerCase())
      if (t.status === 'active' && !has) {
        if (!tagIds.has(t.name.toLowerCase())) tagIds.set(t.name.toLowerCase(), ++tagSeq)
        m.tags.push({ id: tagIds.get(t.name.toLowerCase())!, name: t.name })
      }
      if (t.status === 'inactive' && has) m.tags = m.tags.filter((x) => x.name.toLowerCase() !== t.name.toLowerCase())
    }
    state.tagUpdates++
    m.last_changed = new Date(now()).toISOString()
    res.status(204).end()
  }))

  router.get('/_sandbox/members', (_req, res) => {
    res.json(Object.fromEntries([...state.lists].map(([id, members]) => [id, [...members.values()].map(present)])))
  })

  // Anything else answers Mailchimp's 404 problem document, never the bridge's own error shape.
  router.use((_req: Request, res: Response) => problem(res, new ProblemError(404, 'Resource Not Found', 'The requested resource could not be found.')))

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ProblemError) return problem(res, err)
    problem(res, new ProblemError(400, 'JSON Parse Exception', (err as Error)?.message ?? 'We encountered an unspecified JSON parsing error.'))
  })

  return { router, state, faults }
}
