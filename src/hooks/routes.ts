import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { randomUUID } from 'node:crypto'
import { safeEqual } from '../sources/signatures.ts'
import type { Logger } from '../log.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { HookStore } from './store.ts'

export interface HooksRouterDeps {
  store: HookStore
  /** BRIDGE_HOOKS_API_KEY; unset → every route answers 503. */
  apiKey: string | undefined
  plan: () => TrackingPlan
  /** Called after a subscribe / unsubscribe, so the ingest path starts (or stops) making jobs for that event. */
  changed: () => Promise<void>
  now?: () => number
  logger?: Logger
}

const MAX_URL = 2048
const DEFAULT_SAMPLE = 10

/**
 * The REST Hooks API, in the shape Zapier's REST Hook triggers call it (https://docs.zapier.com/platform/build/hook-trigger):
 *   POST   /api/hooks            {"target_url": "https://hooks.zapier.com/...", "event": "Referral Created"} → 201 {"id": ...}
 *   DELETE /api/hooks/:id        → 200 {"id", "deleted": true}; 404 when there is no such subscription
 *   GET    /api/hooks/sample?event=<name>&limit=10   the "perform list": recent messages of that event, newest first
 * All need `Authorization: Bearer <BRIDGE_HOOKS_API_KEY>`, checked before the body is read.
 */
export function hooksRouter(deps: HooksRouterDeps): Router {
  const router = express.Router()
  const now = deps.now ?? Date.now

  const auth = (req: Request, res: Response, next: NextFunction) => {
    if (!deps.apiKey) return res.status(503).json({ error: 'hooks_disabled', message: 'set BRIDGE_HOOKS_API_KEY to enable the REST Hooks API' })
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim()
    if (!safeEqual(deps.apiKey, bearer)) {
      return res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'unauthorized', message: 'REST hook routes need Authorization: Bearer <BRIDGE_HOOKS_API_KEY>' })
    }
    next()
  }
  router.use('/api/hooks', auth)

  /** A track event the running plan knows, or a 422 that names the known ones. */
  const checkEvent = (event: unknown, res: Response): event is string => {
    if (typeof event !== 'string' || event.trim() === '') {
      res.status(400).json({ error: 'invalid_event', message: '"event" must be the name of a track event in the tracking plan, e.g. "Referral Created"' })
      return false
    }
    const known = deps.plan().entries.filter((e) => e.kind === 'track').map((e) => e.name)
    if (!known.includes(event)) {
      res.status(422).json({ error: 'unknown_event', message: `"${event}" is not a track event of the tracking plan (known: ${known.join(', ')})` })
      return false
    }
    return true
  }

  router.post('/api/hooks', express.json({ limit: '16kb' }), async (req, res, next) => {
    const body = req.body as { target_url?: unknown; event?: unknown } | undefined
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return res.status(400).json({ error: 'bad_request', message: 'send a JSON object {"target_url": ..., "event": ...} with Content-Type: application/json' })
    }
    const target = body.target_url
    let url: URL | undefined
    try {
      url = typeof target === 'string' && target.length <= MAX_URL ? new URL(target) : undefined
    } catch {}
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      return res.status(400).json({ error: 'invalid_target_url', message: '"target_url" must be an absolute http(s) URL of at most 2048 characters' })
    }
    if (!checkEvent(body.event, res)) return
    try {
      const sub = { id: `hook_${randomUUID()}`, targetUrl: url.toString(), event: body.event, createdAt: now() }
      await deps.store.subscribe(sub)
      await deps.changed()
      // The target URL is a bearer capability (anyone holding it can post into the Zap): never logged.
      deps.logger?.info('REST hook subscribed', { hook: sub.id, event: sub.event, host: url.host })
      res.status(201).json({ id: sub.id, event: sub.event, target_url: sub.targetUrl, created_at: new Date(sub.createdAt).toISOString() })
    } catch (err) {
      next(err)
    }
  })

  router.delete('/api/hooks/:id', async (req, res, next) => {
    try {
      const id = String(req.params.id)
      if (!(await deps.store.unsubscribe(id))) return res.status(404).json({ error: 'hook_not_found', message: `no REST hook subscription ${id}` })
      await deps.changed()
      deps.logger?.info('REST hook unsubscribed', { hook: id })
      res.json({ id, deleted: true })
    } catch (err) {
      next(err)
    }
  })

  router.get('/api/hooks/sample', async (req, res, next) => {
    const event = req.query.event
    if (!checkEvent(event, res)) return
    const raw = req.query.limit
    const limit = raw === undefined ? DEFAULT_SAMPLE : Number(raw)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return res.status(400).json({ error: 'invalid_limit', message: '"limit" must be an integer from 1 to 100' })
    }
    try {
      res.json(await deps.store.sample(event, limit))
    } catch (err) {
      next(err)
    }
  })

  return router
}
