import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { randomBytes } from 'node:crypto'
import { FaultSwitch } from './faults.ts'

/**
 * Segment Public API sandbox, Functions endpoints (segmentio/public-api-sdk-typescript api/functionsApi.ts):
 * `GET /functions?resourceType=` (required), `POST /functions`, `GET /functions/{id}`, `PATCH /functions/{id}`,
 * `DELETE /functions/{id}`, and the destination instances a function is connected through (`GET /destinations`,
 * `POST /destinations`, `PATCH /destinations/{id}`). Bearer token required (401 otherwise), bodies in/out as
 * `application/vnd.segment.v1+json`, responses wrapped `{data: {...}}`, errors `{errors: [{type, message}]}`,
 * pagination `pagination.count` / `pagination.cursor` → `data.pagination.next`. Like Segment, a destination
 * function's display name gets the workspace name appended. 429 + Retry-After via the shared fault switch.
 */
export interface FunctionSettingV1 {
  name: string
  label: string
  description: string
  type: 'ARRAY' | 'BOOLEAN' | 'STRING' | 'TEXT_MAP'
  required: boolean
  sensitive: boolean
}

export interface FunctionV1 {
  id: string
  resourceType: 'DESTINATION' | 'INSERT_DESTINATION' | 'SOURCE' | 'INSERT_SOURCE'
  createdAt: string
  createdBy: string
  code: string
  deployedAt?: string
  settings: FunctionSettingV1[]
  displayName: string
  description?: string
  logoUrl?: string
  previewWebhookUrl?: string
  batchMaxCount?: number
  catalogId: string
  isLatestVersion: boolean
}

/** A destination instance (Public API DestinationV1, the fields `functions deploy --source` uses). */
export interface DestinationV1 {
  id: string
  name: string
  enabled: boolean
  sourceId: string
  metadata: { id: string }
  settings: Record<string, unknown>
}

export interface SegmentPublicApiState {
  functions: Map<string, FunctionV1>
  destinations: Map<string, DestinationV1>
  /** One entry per successful write (create/update/delete): dry runs must leave this empty. */
  writes: Array<{ method: string; id: string }>
  versions: Map<string, Array<{ code: string; createdAt: string }>>
}

const MEDIA = 'application/vnd.segment.v1+json'
const RESOURCE_TYPES = ['DESTINATION', 'INSERT_DESTINATION', 'SOURCE', 'INSERT_SOURCE']
const PREFIX: Record<string, string> = { DESTINATION: 'dfn_', INSERT_DESTINATION: 'ifnd_', SOURCE: 'sfn_', INSERT_SOURCE: 'ifns_' }
const SETTING_TYPES = ['ARRAY', 'BOOLEAN', 'STRING', 'TEXT_MAP']

export function createSegmentPublicApiSandbox(options: { token?: string; workspaceName?: string } = {}) {
  const workspace = options.workspaceName ?? 'Sandbox Workspace'
  const state: SegmentPublicApiState = { functions: new Map(), destinations: new Map(), writes: [], versions: new Map() }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  const send = (res: Response, status: number, body: unknown) => res.status(status).type(MEDIA).send(JSON.stringify(body))
  const fail = (res: Response, status: number, type: string, message: string) => send(res, status, { errors: [{ type, message }] })

  router.use(faults.router())
  router.use(faults.middleware(() => ({ errors: [{ type: 'too-many-requests', message: 'Too Many Requests' }] })))
  router.use((req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : ''
    if (!token || (options.token && token !== options.token)) return fail(res, 401, 'unauthorized', 'Unauthorized')
    next()
  })
  router.use(express.json({ type: ['application/json', 'application/*+json'], limit: '5mb' }))

  const validSettings = (settings: unknown): string | undefined => {
    if (settings === undefined) return undefined
    if (!Array.isArray(settings)) return 'settings must be an array'
    for (const s of settings as Array<Partial<FunctionSettingV1>>) {
      if (!s || typeof s.name !== 'string' || !s.name) return 'each setting needs a name'
      if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(s.name)) return `setting name ${s.name} must be camelCase letters and digits`
      if (!SETTING_TYPES.includes(String(s.type))) return `setting ${s.name}: type must be one of ${SETTING_TYPES.join(', ')}`
    }
    return undefined
  }

  router.get('/functions', (req, res) => {
    const resourceType = req.query.resourceType as string | undefined
    if (!resourceType || !RESOURCE_TYPES.includes(resourceType)) return fail(res, 400, 'validation', 'resourceType is required and must be one of ' + RESOURCE_TYPES.join(', '))
    const count = Math.min(Math.max(Number(req.query['pagination.count'] ?? 10), 1), 200)
    const cursor = Number(req.query['pagination.cursor'] ?? 0)
    const all = [...state.functions.values()].filter((f) => f.resourceType === resourceType)
    const page = all.slice(cursor, cursor + count)
    send(res, 200, {
      data: {
        functions: page,
        pagination: { current: String(cursor), ...(cursor + count < all.length ? { next: String(cursor + count) } : {}), totalEntries: all.length }
      }
    })
  })

  router.post('/functions', (req, res) => {
    const b = (req.body ?? {}) as Partial<FunctionV1>
    if (typeof b.code !== 'string' || !b.code) return fail(res, 400, 'validation', 'code is required')
    if (typeof b.displayName !== 'string' || !b.displayName) return fail(res, 400, 'validation', 'displayName is required')
    if (!b.resourceType || !RESOURCE_TYPES.includes(b.resourceType)) return fail(res, 400, 'validation', 'resourceType is required')
    const bad = validSettings(b.settings)
    if (bad) return fail(res, 400, 'validation', bad)
    const displayName = b.resourceType === 'DESTINATION' ? `${b.displayName} (${workspace})` : b.displayName
    if ([...state.functions.values()].some((f) => f.displayName === displayName)) {
      return fail(res, 400, 'validation', `a function named "${b.displayName}" already exists`)
    }
    const id = `${PREFIX[b.resourceType]}${randomBytes(12).toString('base64url')}`
    const now = new Date().toISOString()
    const fn: FunctionV1 = {
      id,
      resourceType: b.resourceType,
      createdAt: now,
      createdBy: 'sandbox-user',
      code: b.code,
      settings: (b.settings ?? []) as FunctionSettingV1[],
      displayName,
      ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.logoUrl !== undefined ? { logoUrl: b.logoUrl } : {}),
      catalogId: `${id.replace(/^[a-z]+_/, '')}`,
      isLatestVersion: true
    }
    state.functions.set(id, fn)
    state.versions.set(id, [{ code: fn.code, createdAt: now }])
    state.writes.push({ method: 'POST', id })
    send(res, 200, { data: { function: fn } })
  })

  router.get('/functions/:id', (req, res) => {
    const fn = state.functions.get(String(req.params.id))
    if (!fn) return fail(res, 404, 'not-found', 'Function not found')
    send(res, 200, { data: { function: fn } })
  })

  router.patch('/functions/:id', (req, res) => {
    const fn = state.functions.get(String(req.params.id))
    if (!fn) return fail(res, 404, 'not-found', 'Function not found')
    const b = (req.body ?? {}) as Partial<FunctionV1>
    const bad = validSettings(b.settings)
    if (bad) return fail(res, 400, 'validation', bad)
    if (b.code !== undefined) fn.code = b.code
    if (b.settings !== undefined) fn.settings = b.settings
    if (b.displayName !== undefined) fn.displayName = fn.resourceType === 'DESTINATION' ? `${b.displayName} (${workspace})` : b.displayName
    if (b.description !== undefined) fn.description = b.description
    if (b.logoUrl !== undefined) fn.logoUrl = b.logoUrl
    state.versions.get(fn.id)!.push({ code: fn.code, createdAt: new Date().toISOString() })
    state.writes.push({ method: 'PATCH', id: fn.id })
    send(res, 200, { data: { function: fn } })
  })

  router.delete('/functions/:id', (req, res) => {
    const id = String(req.params.id)
    if (!state.functions.delete(id)) return fail(res, 404, 'not-found', 'Function not found')
    state.writes.push({ method: 'DELETE', id })
    send(res, 200, { data: { status: 'SUCCESS' } })
  })

  // Destination instances (segmentio/public-api-sdk-typescript api/destinationsApi.ts): a destination function is
  // connected to a source with the generic POST /destinations, metadataId = the function's catalogId.
  router.get('/destinations', (req, res) => {
    const count = Math.min(Math.max(Number(req.query['pagination.count'] ?? 10), 1), 200)
    const cursor = Number(req.query['pagination.cursor'] ?? 0)
    const all = [...state.destinations.values()]
    send(res, 200, {
      data: { destinations: all.slice(cursor, cursor + count), pagination: { current: String(cursor), ...(cursor + count < all.length ? { next: String(cursor + count) } : {}), totalEntries: all.length } }
    })
  })

  router.post('/destinations', (req, res) => {
    const b = (req.body ?? {}) as { sourceId?: string; metadataId?: string; name?: string; enabled?: boolean; settings?: Record<string, unknown> }
    if (!b.sourceId) return fail(res, 400, 'validation', 'sourceId is required')
    if (!b.metadataId) return fail(res, 400, 'validation', 'metadataId is required')
    if (b.settings === undefined || typeof b.settings !== 'object') return fail(res, 400, 'validation', 'settings is required')
    const fn = [...state.functions.values()].find((f) => f.catalogId === b.metadataId)
    if (!fn) return fail(res, 404, 'not-found', `no catalog entry ${b.metadataId}`)
    const id = randomBytes(12).toString('base64url')
    const d: DestinationV1 = { id, name: b.name ?? fn.displayName, enabled: b.enabled ?? false, sourceId: b.sourceId, metadata: { id: b.metadataId }, settings: b.settings }
    state.destinations.set(id, d)
    state.writes.push({ method: 'POST', id })
    send(res, 200, { data: { destination: d } })
  })

  router.patch('/destinations/:id', (req, res) => {
    const d = state.destinations.get(String(req.params.id))
    if (!d) return fail(res, 404, 'not-found', 'Destination not found')
    const b = (req.body ?? {}) as Partial<DestinationV1>
    if (b.name !== undefined) d.name = b.name
    if (b.enabled !== undefined) d.enabled = b.enabled
    if (b.settings !== undefined) d.settings = { ...d.settings, ...b.settings }
    state.writes.push({ method: 'PATCH', id: d.id })
    send(res, 200, { data: { destination: d } })
  })

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!err) return next()
    fail(res, (err as { status?: number }).status ?? 500, 'validation', `invalid request body: ${(err as Error).message}`)
  })

  return { router, state, faults }
}
