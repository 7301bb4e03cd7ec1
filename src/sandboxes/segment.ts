import { randomUUID } from 'node:crypto'
import express, { type Request, type Response, type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Segment Tracking API sandbox (segment.com/docs/connections/sources/catalog/libraries/server/http-api; summarised
 * with sources in shared/reference/segment.md, "HTTP Tracking API"):
 *
 * - `POST /v1/batch` `{batch: [...], context?, integrations?, sentAt}` and the single calls `POST /v1/identify`,
 *   `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`.
 * - Auth: HTTP Basic with the write key as user (what @segment/analytics-node sends), or `writeKey` in the JSON body
 *   (documented), or an OAuth Bearer token with the write key in the body. No write key → 401.
 * - 200 `{"success": true}` for everything except a call over 32 KB, a batch over 500 KB, a batch message over 32 KB
 *   and invalid JSON (400). Messages Segment does not accept are still answered 200 and dropped, as documented
 *   ("Errors": no userId/anonymousId, track without `event`, messageId over 100 characters, past 2500 events in a
 *   batch); `state.dropped` shows them with the reason.
 * - Segment assigns a messageId to a message without one, and dedupes on messageId: `messages` holds each id once,
 *   `received` counts every copy sent, so tests can tell "sent twice" from "applied twice".
 * - A 429 (steady limit or injected) carries `Retry-After` and `X-RateLimit-Reset` (Unix seconds when the window
 *   resets), as the HTTP API's rate-limit section describes.
 */
export interface SegmentSandboxState {
  messages: Map<string, Record<string, unknown>>
  /** When each messageId first arrived (ms), for latency measurements. */
  firstSeenAt: Map<string, number>
  /** Messages answered 200 but not accepted, and why (`no_user_anon_id`, `missing_event`, ...). */
  dropped: Array<{ reason: string; message: Record<string, unknown> }>
  received: number
  batches: number
}

const CALL_LIMIT = 32 * 1024
const BATCH_LIMIT = 500 * 1024
const BATCH_EVENTS = 2500
const MESSAGE_ID_MAX = 100
const TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const

export function createSegmentSandbox(options: { writeKey?: string; now?: () => number } = {}) {
  const now = options.now ?? Date.now
  const state: SegmentSandboxState = { messages: new Map(), firstSeenAt: new Map(), dropped: [], received: 0, batches: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  router.use(faults.router())
  router.use(
    faults.middleware(() => ({ success: false, message: 'Too Many Requests' }), {
      faultBody: (status) => ({ success: false, message: status === 429 ? 'Too Many Requests' : `sandbox fault: ${status}` }),
      headers: (res, w, limited) => {
        if (!limited) return
        const retryAfter = Number(res.getHeader('Retry-After') ?? 0)
        const reset = w ? w.resetAt : now() + retryAfter * 1000
        res.set('X-RateLimit-Reset', String(Math.ceil(reset / 1000)))
      }
    })
  )

  const writeKeyOf = (req: Request, body: Record<string, unknown>): string => {
    const auth = req.headers.authorization ?? ''
    if (auth.startsWith('Basic ')) return Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] ?? ''
    return typeof body.writeKey === 'string' ? body.writeKey : ''
  }

  /** Parses and authenticates; answers the error itself and returns undefined when the request is refused. */
  const readRequest = (req: Request, res: Response, limit: number): Record<string, unknown> | undefined => {
    const raw = req.body as Buffer
    if (raw.length > limit) {
      res.status(400).json({ success: false, message: `request exceeds ${limit / 1024}KB` })
      return undefined
    }
    let body: unknown
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      res.status(400).json({ success: false, message: 'invalid JSON' })
      return undefined
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      res.status(400).json({ success: false, message: 'body must be a JSON object' })
      return undefined
    }
    const writeKey = writeKeyOf(req, body as Record<string, unknown>)
    if (!writeKey || (options.writeKey && writeKey !== options.writeKey)) {
      res.status(401).json({ success: false, message: 'Invalid write key' })
      return undefined
    }
    return body as Record<string, unknown>
  }

  /** Applies one message as Segment would: assign an id, drop what it drops, dedupe on messageId. */
  const accept = (m: Record<string, unknown>) => {
    state.received++
    const drop = (reason: string) => state.dropped.push({ reason, message: m })
    if (!m.userId && !m.anonymousId) return drop('no_user_anon_id')
    if (m.type === 'track' && (typeof m.event !== 'string' || !m.event)) return drop('missing_event')
    if (m.messageId === undefined || m.messageId === null || m.messageId === '') m.messageId = `api-${randomUUID()}`
    const id = String(m.messageId)
    if (id.length > MESSAGE_ID_MAX) return drop('message_id_too_long')
    if (!state.messages.has(id)) {
      state.messages.set(id, m)
      state.firstSeenAt.set(id, now())
    }
  }

  const raw = express.raw({ type: '*/*', limit: '2mb' })

  router.post('/v1/batch', raw, (req, res) => {
    const body = readRequest(req, res, BATCH_LIMIT)
    if (!body) return
    if (!Array.isArray(body.batch)) return res.status(400).json({ success: false, message: 'batch must be an array' })
    const batch = body.batch as Array<Record<string, unknown>>
    for (const m of batch) {
      if (Buffer.byteLength(JSON.stringify(m)) > CALL_LIMIT) return res.status(400).json({ success: false, message: 'message exceeds 32KB' })
    }
    state.batches++
    batch.forEach((m, i) => {
      // Batch-level context and integrations apply to every message (segment.com/docs/connections/spec/common).
      const merged = {
        ...m,
        ...(body.context || m.context ? { context: { ...(body.context as object), ...(m.context as object) } } : {}),
        ...(body.integrations || m.integrations ? { integrations: { ...(body.integrations as object), ...(m.integrations as object) } } : {})
      }
      if (i >= BATCH_EVENTS) {
        state.received++
        state.dropped.push({ reason: 'batch_too_many_events', message: merged })
        return
      }
      accept(merged)
    })
    res.status(200).json({ success: true })
  })

  for (const type of TYPES) {
    router.post(`/v1/${type}`, raw, (req, res) => {
      const body = readRequest(req, res, CALL_LIMIT)
      if (!body) return
      const { writeKey: _writeKey, ...message } = body
      state.batches++
      accept({ ...message, type })
      res.status(200).json({ success: true })
    })
  }

  router.get('/v1/messages', (_req, res) => {
    res.json({ received: state.received, batches: state.batches, messages: [...state.messages.values()], dropped: state.dropped })
  })

  return { router, state, faults }
}
