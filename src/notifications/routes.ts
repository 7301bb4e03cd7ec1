import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { safeEqual } from '../sources/signatures.ts'
import type { Logger } from '../log.ts'
import type { NotificationHub } from './hub.ts'
import { MAX_LIST_LIMIT, type Notification, type NotificationStore } from './store.ts'

export interface NotificationsRouterDeps {
  store: NotificationStore
  hub: NotificationHub
  /** BRIDGE_APP_API_KEY; unset → every route answers 503. */
  apiKey: string | undefined
  /** SSE heartbeat comment interval; default 15 s. */
  heartbeatMs?: number
  now?: () => number
  logger?: Logger
}

/** The API shape of a notification: times as ISO-8601 UTC. */
export interface NotificationJson {
  id: string
  advocateId: string
  kind: string
  title: string
  body: string
  data: Record<string, unknown>
  createdAt: string
  readAt: string | null
}

export function notificationJson(n: Notification): NotificationJson {
  return {
    id: n.id,
    advocateId: n.advocateId,
    kind: n.kind,
    title: n.title,
    body: n.body,
    data: n.data,
    createdAt: new Date(n.createdAt).toISOString(),
    readAt: n.readAt === null ? null : new Date(n.readAt).toISOString()
  }
}

const MAX_READ_IDS = 1000
const MAX_ADVOCATE_ID = 320

/**
 * The app's notification API (for the shop's app backend, not browsers: it needs the app API key):
 *   GET  /api/advocates/:id/notifications?unread=1&limit=50&before=<id>   newest first
 *   POST /api/advocates/:id/notifications/read   {"ids": [...]} | {"all": true}
 *   GET  /api/advocates/:id/notifications/stream  SSE, `event: notification`, `id:` = notification id,
 *        Last-Event-ID (header, or ?lastEventId= for the first connection) replays what was missed
 * `:id` is the advocate id URL-encoded (usually an email: advocate%40example.com).
 */
export function notificationsRouter(deps: NotificationsRouterDeps): Router {
  const router = express.Router()
  const now = deps.now ?? Date.now
  const heartbeatMs = deps.heartbeatMs ?? 15_000
  const base = '/api/advocates/:id/notifications'

  const auth = (req: Request, res: Response, next: NextFunction) => {
    if (!deps.apiKey) {
      return res.status(503).json({ error: 'notifications_disabled', message: 'set BRIDGE_APP_API_KEY to enable the notifications API' })
    }
    const header = req.headers.authorization ?? ''
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim()
    const xApiKey = req.headers['x-api-key']
    const key = bearer ?? (typeof xApiKey === 'string' ? xApiKey.trim() : undefined)
    if (!safeEqual(deps.apiKey, key)) {
      return res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json({ error: 'unauthorized', message: 'notification routes need Authorization: Bearer <BRIDGE_APP_API_KEY> or X-Api-Key' })
    }
    const id = req.params.id
    if (typeof id !== 'string' || id.trim() === '' || id.length > MAX_ADVOCATE_ID) {
      return res.status(400).json({ error: 'bad_request', message: 'advocate id must be 1-320 characters (URL-encoded)' })
    }
    next()
  }

  const unavailable = (res: Response, err: unknown) => {
    deps.logger?.error('notifications store error', { error: err })
    if (!res.headersSent) res.status(503).json({ error: 'store_unreachable', message: `notifications store (${deps.store.backend}) did not answer; retry` })
  }

  router.get(base, auth, async (req, res) => {
    const advocateId = req.params.id as string
    const unreadOnly = isTrue(req.query.unread)
    const limitRaw = req.query.limit
    let limit = 50
    if (limitRaw !== undefined) {
      limit = Number(limitRaw)
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        return res.status(400).json({ error: 'bad_request', message: `limit must be an integer from 1 to ${MAX_LIST_LIMIT}` })
      }
    }
    const before = typeof req.query.before === 'string' && req.query.before !== '' ? req.query.before : undefined
    try {
      const [items, unread] = await Promise.all([deps.store.list(advocateId, { unreadOnly, limit, before }), deps.store.unreadCount(advocateId)])
      res.json({
        advocateId,
        unread,
        notifications: items.map(notificationJson),
        // Pass as ?before= for the next (older) page; null when this page was the last.
        next: items.length === limit ? items[items.length - 1].id : null
      })
    } catch (err) {
      unavailable(res, err)
    }
  })

  router.post(`${base}/read`, auth, express.json({ limit: '256kb' }), async (req, res) => {
    const advocateId = req.params.id as string
    const body = (req.body ?? {}) as { ids?: unknown; all?: unknown }
    let ids: string[] | 'all'
    if (body.all === true) ids = 'all'
    else if (Array.isArray(body.ids) && body.ids.length <= MAX_READ_IDS && body.ids.every((i) => typeof i === 'string' && i !== '')) ids = body.ids as string[]
    else return res.status(400).json({ error: 'bad_request', message: `send {"ids": [<up to ${MAX_READ_IDS} notification ids>]} or {"all": true}` })
    try {
      const marked = await deps.store.markRead(advocateId, ids, now())
      res.json({ marked, unread: await deps.store.unreadCount(advocateId) })
    } catch (err) {
      unavailable(res, err)
    }
  })

  router.get(`${base}/stream`, auth, async (req, res) => {
    const advocateId = req.params.id as string
    const lastEventIdHeader = req.headers['last-event-id']
    const lastEventId =
      (typeof lastEventIdHeader === 'string' && lastEventIdHeader.trim()) ||
      (typeof req.query.lastEventId === 'string' && req.query.lastEventId.trim()) ||
      undefined

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no'
    })
    res.flushHeaders()
    res.write('retry: 3000\n: connected\n\n')

    let open = true
    // Live events that arrive while the replay runs wait here, so the client gets everything once, in order.
    let replaying = true
    const pending: Notification[] = []
    const sentDuringReplay = new Set<string>()
    const write = (n: Notification) => {
      if (!open) return
      res.write(`id: ${n.id.replace(/[\r\n]/g, '')}\nevent: notification\ndata: ${JSON.stringify(notificationJson(n))}\n\n`)
    }
    const unsubscribe = deps.hub.subscribe(advocateId, {
      send: (n) => (replaying ? pending.push(n) : write(n)),
      end: () => {
        if (open) res.end()
      }
    })
    const heartbeat = setInterval(() => {
      if (open) res.write(': heartbeat\n\n')
    }, heartbeatMs)
    heartbeat.unref()
    res.on('close', () => {
      open = false
      clearInterval(heartbeat)
      unsubscribe()
    })

    if (lastEventId) {
      try {
        let after = lastEventId
        for (;;) {
          const missed = await deps.store.listAfter(advocateId, after, MAX_LIST_LIMIT)
          if (missed === undefined) {
            // Not one of this advocate's ids: we cannot tell what was missed; the client should refetch the list.
            if (open) res.write(`event: resync\ndata: ${JSON.stringify({ reason: 'unknown Last-Event-ID', lastEventId })}\n\n`)
            break
          }
          for (const n of missed) {
            write(n)
            sentDuringReplay.add(n.id)
          }
          if (missed.length < MAX_LIST_LIMIT || !open) break
          after = missed[missed.length - 1].id
        }
      } catch (err) {
        deps.logger?.error('notifications replay failed', { error: err })
        if (open) res.write(`event: resync\ndata: ${JSON.stringify({ reason: 'replay failed' })}\n\n`)
      }
    }
    for (const n of pending) if (!sentDuringReplay.has(n.id)) write(n)
    pending.length = 0
    replaying = false
  })

  return router
}

function isTrue(v: unknown): boolean {
  return v === '1' || v === 'true' || v === 'yes'
}
