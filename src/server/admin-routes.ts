import express, { type Router } from 'express'
import type { Store, JobFilter } from '../queue/store.ts'
import type { Clock } from '../clock.ts'
import { requireAdminToken } from './admin-auth.ts'
import { replayDeadLetters } from '../ops/dead-letter.ts'
import { replayQuarantine } from '../ops/quarantine.ts'
import type { Source } from '../sources/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'

export interface AdminDeps {
  store: Store
  clock: Clock
  adminToken?: string
  sources: Map<string, Source>
  plan: () => TrackingPlan
  destinations: () => Destination[]
  onRequeued: () => void
}

/** Admin API under /admin: bearer BRIDGE_ADMIN_TOKEN. Without a configured token the admin API is closed. */
export function adminRouter(deps: AdminDeps): Router {
  const r = express.Router()
  // Authenticate first, parse after: an anonymous caller's body is never read (malformed JSON without a token
  // is a 401, not a 400 from the parser).
  r.use('/admin', requireAdminToken(deps.adminToken), express.json())

  r.get('/admin/stats', async (_req, res) => {
    res.json(await deps.store.stats(deps.clock.now()))
  })

  r.get('/admin/dlq', async (req, res) => {
    res.json({ jobs: await deps.store.listJobs('dead', filterFrom(req.query)) })
  })

  r.post('/admin/dlq/replay', async (req, res) => {
    const body = (req.body ?? {}) as { ids?: unknown; filter?: Record<string, unknown> }
    if (body.ids !== undefined && !(Array.isArray(body.ids) && body.ids.every((i) => typeof i === 'string'))) {
      return res.status(400).json({ error: 'invalid_request', message: 'ids must be an array of job ids' })
    }
    if (body.ids === undefined && body.filter === undefined) {
      return res.status(400).json({ error: 'invalid_request', message: 'give ids, or a filter ({} replays every dead job)' })
    }
    const result = await replayDeadLetters(deps.store, { ids: body.ids as string[] | undefined, filter: filterFrom(body.filter ?? {}) }, deps.clock.now())
    if (result.replayed) deps.onRequeued()
    res.json(result)
  })

  r.get('/admin/events/:id', async (req, res) => {
    const inboxId = await deps.store.resolveInboxId(req.params.id)
    const detail = inboxId ? await deps.store.getEvent(inboxId) : undefined
    if (!detail) return res.status(404).json({ error: 'not_found', message: `no webhook, message or job with id "${req.params.id}"` })
    res.json(detail)
  })

  r.get('/admin/quarantine', async (req, res) => {
    res.json({ items: await deps.store.listQuarantine({ source: str(req.query.source), event: str(req.query.event), limit: num(req.query.limit) }) })
  })

  r.post('/admin/quarantine/replay', async (req, res) => {
    const summary = await replayQuarantine(
      { store: deps.store, sources: deps.sources, plan: deps.plan(), destinations: deps.destinations(), now: deps.clock.now() },
      { source: str(req.body?.source) }
    )
    if (summary.routed) deps.onRequeued()
    res.json(summary)
  })
  return r
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined
}
function num(v: unknown): number | undefined {
  const n = Number(v)
  return v !== undefined && v !== '' && Number.isFinite(n) ? n : undefined
}

export function filterFrom(q: Record<string, unknown>): JobFilter {
  const since = str(q.since)
  return {
    destination: str(q.destination),
    source: str(q.source),
    event: str(q.event),
    errorContains: str(q.error),
    since: since ? parseSince(since) : undefined,
    limit: num(q.limit)
  }
}

/** `7d`, `12h`, `30m` ago, or an ISO date. */
export function parseSince(value: string, now = Date.now()): number {
  const rel = /^(\d+)([dhm])$/.exec(value)
  if (rel) return now - Number(rel[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[rel[2] as 'd' | 'h' | 'm']
  const t = Date.parse(value)
  if (Number.isNaN(t)) throw new Error(`--since must look like 7d, 12h, 30m or an ISO date, got "${value}"`)
  return t
}
