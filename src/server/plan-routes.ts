import express, { type Router, type Response } from 'express'
import type { Store } from '../queue/store.ts'
import type { Clock } from '../clock.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import { requireAdminToken } from './admin-auth.ts'
import { buildCatalogue } from '../tracking-plan/catalogue.ts'
import { readProducers } from '../tracking-plan/producers.ts'
import { checkProposal, ProposalError } from '../tracking-plan/proposal.ts'
import type { PlanReload } from '../tracking-plan/reload.ts'
import { parseSince } from './admin-routes.ts'

export interface PlanRouteDeps {
  store: Store
  clock: Clock
  adminToken?: string
  plan: () => TrackingPlan
  destinations: () => Destination[]
  /** Directory the running plan was loaded from (the base a proposed file is checked against). */
  planDir?: string
  /** Re-reads the plan directory; keeps the running plan when the files do not lint. */
  reloadPlan?: () => PlanReload
}

/** How many recent messages the catalogue counts and a preview re-validates at most (console answers stay quick). */
const RECENT_LIMIT = 20_000
/** A plan file is a few kilobytes; anything near this is not one. */
const BODY_LIMIT = '256kb'

/**
 * The tracking plan over the admin API, for the console: `GET /admin/plan` (catalogue with producers, consumers,
 * recent counts), `POST /admin/plan/preview` (lint + diff + preview of one proposed file), `POST /admin/plan/reload`.
 * Bearer BRIDGE_ADMIN_TOKEN, checked before any body is read.
 */
export function planRouter(deps: PlanRouteDeps): Router {
  const r = express.Router()
  r.use('/admin/plan', requireAdminToken(deps.adminToken), express.json({ limit: BODY_LIMIT }))

  r.get('/admin/plan', async (req, res) => {
    const since = sinceOf(req.query.since, deps.clock.now())
    if (since === undefined) return badSince(res, req.query.since)
    const plan = deps.plan()
    const recent = await deps.store.recentMessages(since, RECENT_LIMIT)
    res.json(buildCatalogue({ entries: plan.entries, fingerprint: plan.fingerprint, producers: readProducers(), destinations: deps.destinations(), recent, since }))
  })

  r.post('/admin/plan/preview', async (req, res) => {
    const body = (req.body ?? {}) as { yaml?: unknown; since?: unknown }
    if (typeof body.yaml !== 'string' || !body.yaml.trim()) {
      return res.status(400).json({ error: 'invalid_request', message: 'send {"yaml": "<the content of one plan file>"}' })
    }
    if (!deps.planDir) return res.status(503).json({ error: 'plan_dir_unknown', message: 'this bridge was started without a tracking plan directory' })
    const since = sinceOf(body.since, deps.clock.now())
    if (since === undefined) return badSince(res, body.since)
    try {
      res.json(await checkProposal({ yaml: body.yaml, planDir: deps.planDir, running: deps.plan().entries, store: deps.store, since, limit: RECENT_LIMIT }))
    } catch (err) {
      if (err instanceof ProposalError) return res.status(422).json({ error: 'not_a_plan_file', message: err.message })
      throw err
    }
  })

  r.post('/admin/plan/reload', (_req, res) => {
    if (!deps.reloadPlan) return res.status(503).json({ error: 'reload_unavailable', message: 'this bridge cannot reload its plan' })
    const before = deps.plan().fingerprint
    const result = deps.reloadPlan()
    if (!result.ok) {
      return res.status(422).json({ error: 'invalid_plan', message: `the plan files do not lint; still running version ${before}`, running: before, errors: result.errors })
    }
    res.json({ ok: true, changed: result.changed, previous: before, running: result.plan.fingerprint })
  })
  return r
}

function sinceOf(value: unknown, now: number): number | undefined {
  if (value === undefined || value === '') return now - 7 * 86_400_000
  try {
    return typeof value === 'string' ? parseSince(value, now) : undefined
  } catch {
    return undefined
  }
}

function badSince(res: Response, value: unknown) {
  return res.status(400).json({ error: 'invalid_request', message: `since must look like 7d, 12h, 30m or an ISO date, got ${JSON.stringify(value)}` })
}
