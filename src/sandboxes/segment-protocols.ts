import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { randomBytes } from 'node:crypto'
import { FaultSwitch } from './faults.ts'

/**
 * Segment Public API sandbox, Tracking Plans (Protocols) endpoints (segmentio/public-api-sdk-typescript
 * api/trackingPlansApi.ts, models TrackingPlanV1 / RuleV1 / RuleInputV1 / UpsertRuleV1):
 *   GET  /tracking-plans                    → { data: { trackingPlans, pagination } }
 *   POST /tracking-plans {name, description?, type}            → { data: { trackingPlan } }
 *   GET/PATCH/DELETE /tracking-plans/{id}   → { data: { trackingPlan } } / { data: { status: 'SUCCESS' } }
 *   GET    /tracking-plans/{id}/rules       → { data: { rules: RuleV1[], pagination } }  (pagination.count, pagination.cursor)
 *   PUT    /tracking-plans/{id}/rules {rules: RuleInputV1[]}   replace all rules → { data: { status: 'SUCCESS' } }
 *   PATCH  /tracking-plans/{id}/rules {rules: UpsertRuleV1[]}  upsert by (type, key, version), `newKey` renames
 *   DELETE /tracking-plans/{id}/rules {rules: [{type, key?, version}]}
 * Bearer token required (401), unknown plan 404, bodies `application/vnd.segment.v1+json`, errors
 * `{errors: [{type, message}]}`, 429 + Retry-After through the shared fault switch (`/_sandbox/faults`).
 *
 * Like a new Segment workspace, the sandbox starts with no tracking plan. Getting a `tp_` id for `plan push`:
 *   curl -X POST <sandbox base>/segment-api/tracking-plans -H 'authorization: Bearer any' \
 *        -H 'content-type: application/json' -d '{"name": "Referrals", "type": "LIVE"}'
 * → `{"data": {"trackingPlan": {"id": "tp_…", ...}}}`; then `SEGMENT_API_BASE_URL=<sandbox base>/segment-api
 * SEGMENT_API_TOKEN=any referral-bridge plan push --plan-id tp_…`. Any bearer token is accepted unless `token` is
 * set. `createTrackingPlan()` does the same from a test. (docs/sandboxes.md, "Segment Protocols")
 */
export interface TrackingPlanV1 {
  id: string
  name: string
  slug: string
  description?: string
  type: 'LIVE' | 'TEMPLATE' | 'RULE_LIBRARY' | 'PROPERTY_LIBRARY' | 'ENGAGE'
  createdAt: string
  updatedAt: string
}

export interface RuleV1 {
  type: 'COMMON' | 'GROUP' | 'IDENTIFY' | 'PAGE' | 'SCREEN' | 'TRACK'
  key?: string
  jsonSchema: unknown
  version: number
  createdAt: string
  updatedAt: string
  deprecatedAt?: string
}

export interface SegmentProtocolsState {
  plans: Map<string, { plan: TrackingPlanV1; rules: RuleV1[] }>
  /** One entry per successful write: dry runs must leave this untouched. */
  writes: Array<{ method: string; path: string }>
}

const MEDIA = 'application/vnd.segment.v1+json'
const PLAN_TYPES = ['LIVE', 'TEMPLATE', 'RULE_LIBRARY', 'PROPERTY_LIBRARY', 'ENGAGE']
const RULE_TYPES = ['COMMON', 'GROUP', 'IDENTIFY', 'PAGE', 'SCREEN', 'TRACK']

export function createSegmentProtocolsSandbox(options: { token?: string } = {}) {
  const state: SegmentProtocolsState = { plans: new Map(), writes: [] }
  /** A plan as POST /tracking-plans creates it, without the HTTP round trip (tests, demo set-up). */
  const createTrackingPlan = (name: string, type: TrackingPlanV1['type'] = 'LIVE'): TrackingPlanV1 => {
    const at = new Date().toISOString()
    const plan: TrackingPlanV1 = { id: `tp_${randomBytes(12).toString('base64url')}`, name, slug: name.toLowerCase().replace(/[^a-z0-9]+/g, '-'), type, createdAt: at, updatedAt: at }
    state.plans.set(plan.id, { plan, rules: [] })
    return plan
  }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  const send = (res: Response, status: number, body: unknown) => res.status(status).type(MEDIA).send(JSON.stringify(body))
  const fail = (res: Response, status: number, type: string, message: string) => send(res, status, { errors: [{ type, message }] })
  const now = () => new Date().toISOString()
  const ruleId = (r: { type: string; key?: string | null; version: number }) => `${r.type}:${r.key ?? ''}:${r.version}`

  router.use(faults.router())
  router.use(faults.middleware(() => ({ errors: [{ type: 'too-many-requests', message: 'Too Many Requests' }] })))
  router.use((req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : ''
    if (!token || (options.token && token !== options.token)) return fail(res, 401, 'unauthorized', 'Unauthorized')
    next()
  })
  router.use(express.json({ type: ['application/json', 'application/*+json'], limit: '15mb' }))

  const page = <T>(req: Request, all: T[]) => {
    const count = Math.min(Math.max(Number(req.query['pagination.count'] ?? 200), 1), 1000)
    const cursor = Math.max(Number(req.query['pagination.cursor'] ?? 0) || 0, 0)
    return {
      items: all.slice(cursor, cursor + count),
      pagination: { current: String(cursor), ...(cursor + count < all.length ? { next: String(cursor + count) } : {}), totalEntries: all.length }
    }
  }

  const planOf = (req: Request, res: Response) => {
    const found = state.plans.get(String(req.params.id))
    if (!found) fail(res, 404, 'not-found', 'Tracking Plan not found')
    return found
  }

  /** RuleInputV1 validation: type, integer version ≥ 1, object jsonSchema, key required for TRACK/PAGE/SCREEN. */
  const invalidRule = (r: Partial<RuleV1> | undefined): string | undefined => {
    if (!r || typeof r !== 'object') return 'each rule must be an object'
    if (!RULE_TYPES.includes(String(r.type))) return `rule type must be one of ${RULE_TYPES.join(', ')}`
    if (!Number.isInteger(r.version) || (r.version as number) < 1) return `rule ${r.key ?? r.type}: version must be a positive integer`
    if (!r.jsonSchema || typeof r.jsonSchema !== 'object') return `rule ${r.key ?? r.type}: jsonSchema must be an object`
    if (['TRACK', 'PAGE', 'SCREEN'].includes(String(r.type)) && (typeof r.key !== 'string' || !r.key)) return `${r.type} rules need a key`
    return undefined
  }

  router.get('/tracking-plans', (req, res) => {
    const type = req.query.type as string | undefined
    const all = [...state.plans.values()].map((p) => p.plan).filter((p) => !type || p.type === type)
    const { items, pagination } = page(req, all)
    send(res, 200, { data: { trackingPlans: items, pagination } })
  })

  router.post('/tracking-plans', (req, res) => {
    const b = (req.body ?? {}) as Partial<TrackingPlanV1>
    if (typeof b.name !== 'string' || !b.name) return fail(res, 400, 'validation', 'name is required')
    if (!b.type || !PLAN_TYPES.includes(b.type)) return fail(res, 400, 'validation', `type must be one of ${PLAN_TYPES.join(', ')}`)
    const id = `tp_${randomBytes(12).toString('base64url')}`
    const at = now()
    const plan: TrackingPlanV1 = {
      id,
      name: b.name,
      slug: b.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
      ...(b.description !== undefined ? { description: b.description } : {}),
      type: b.type,
      createdAt: at,
      updatedAt: at
    }
    state.plans.set(id, { plan, rules: [] })
    state.writes.push({ method: 'POST', path: '/tracking-plans' })
    send(res, 200, { data: { trackingPlan: plan } })
  })

  router.get('/tracking-plans/:id', (req, res) => {
    const found = planOf(req, res)
    if (found) send(res, 200, { data: { trackingPlan: found.plan } })
  })

  router.patch('/tracking-plans/:id', (req, res) => {
    const found = planOf(req, res)
    if (!found) return
    const b = (req.body ?? {}) as Partial<TrackingPlanV1>
    if (b.name !== undefined) found.plan.name = String(b.name)
    if (b.description !== undefined) found.plan.description = String(b.description)
    found.plan.updatedAt = now()
    state.writes.push({ method: 'PATCH', path: req.path })
    send(res, 200, { data: { trackingPlan: found.plan } })
  })

  router.delete('/tracking-plans/:id', (req, res) => {
    if (!state.plans.delete(String(req.params.id))) return fail(res, 404, 'not-found', 'Tracking Plan not found')
    state.writes.push({ method: 'DELETE', path: req.path })
    send(res, 200, { data: { status: 'SUCCESS' } })
  })

  router.get('/tracking-plans/:id/rules', (req, res) => {
    const found = planOf(req, res)
    if (!found) return
    const { items, pagination } = page(req, found.rules)
    send(res, 200, { data: { rules: items, pagination } })
  })

  router.put('/tracking-plans/:id/rules', (req, res) => {
    const found = planOf(req, res)
    if (!found) return
    const rules = (req.body ?? {}).rules as Array<Partial<RuleV1>> | undefined
    if (!Array.isArray(rules)) return fail(res, 400, 'validation', 'rules must be an array')
    const seen = new Set<string>()
    for (const r of rules) {
      const bad = invalidRule(r)
      if (bad) return fail(res, 400, 'validation', bad)
      const id = ruleId(r as RuleV1)
      if (seen.has(id)) return fail(res, 400, 'validation', `duplicate rule ${id}`)
      seen.add(id)
    }
    const before = new Map(found.rules.map((r) => [ruleId(r), r]))
    const at = now()
    found.rules = rules.map((r) => {
      const old = before.get(ruleId(r as RuleV1))
      const unchanged = old && JSON.stringify(old.jsonSchema) === JSON.stringify(r.jsonSchema)
      return {
        type: r.type!,
        ...(r.key !== undefined ? { key: r.key } : {}),
        jsonSchema: r.jsonSchema,
        version: r.version!,
        createdAt: old?.createdAt ?? at,
        updatedAt: unchanged ? old.updatedAt : at
      }
    })
    found.plan.updatedAt = at
    state.writes.push({ method: 'PUT', path: req.path })
    send(res, 200, { data: { status: 'SUCCESS' } })
  })

  router.patch('/tracking-plans/:id/rules', (req, res) => {
    const found = planOf(req, res)
    if (!found) return
    const rules = (req.body ?? {}).rules as Array<Partial<RuleV1> & { newKey?: string }> | undefined
    if (!Array.isArray(rules)) return fail(res, 400, 'validation', 'rules must be an array')
    for (const r of rules) {
      const bad = invalidRule(r)
      if (bad) return fail(res, 400, 'validation', bad)
    }
    const at = now()
    for (const r of rules) {
      const i = found.rules.findIndex((x) => ruleId(x) === ruleId(r as RuleV1))
      const next: RuleV1 = {
        type: r.type!,
        ...((r.newKey ?? r.key) !== undefined ? { key: r.newKey ?? r.key } : {}),
        jsonSchema: r.jsonSchema,
        version: r.version!,
        createdAt: i >= 0 ? found.rules[i].createdAt : at,
        updatedAt: at
      }
      if (i >= 0) found.rules[i] = next
      else found.rules.push(next)
    }
    found.plan.updatedAt = at
    state.writes.push({ method: 'PATCH', path: req.path })
    send(res, 200, { data: { status: 'SUCCESS' } })
  })

  router.delete('/tracking-plans/:id/rules', (req, res) => {
    const found = planOf(req, res)
    if (!found) return
    const rules = (req.body ?? {}).rules as Array<{ type: string; key?: string; version: number }> | undefined
    if (!Array.isArray(rules)) return fail(res, 400, 'validation', 'rules must be an array')
    const drop = new Set(rules.map(ruleId))
    found.rules = found.rules.filter((r) => !drop.has(ruleId(r)))
    state.writes.push({ method: 'DELETE', path: req.path })
    send(res, 200, { data: { status: 'SUCCESS' } })
  })

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!err) return next()
    fail(res, (err as { status?: number }).status ?? 500, 'validation', `invalid request body: ${(err as Error).message}`)
  })

  return { router, state, faults, createTrackingPlan }
}
