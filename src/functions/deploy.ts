import { readFile } from 'node:fs/promises'
import { SegmentPublicApi } from '../segment/public-api.ts'
import path from 'node:path'
import { buildFunction, projectRoot, type BuiltFunction } from './build.ts'
import { readFunctionFolder } from '../runtime/function-folder.ts'

/**
 * Creates or updates a destination function through the Segment Public API (segmentio/public-api-sdk-typescript
 * api/functionsApi.ts): finds it by display name in `GET /functions?resourceType=DESTINATION` (Segment appends
 * " (<Workspace>)" to destination function names, so both forms match), then `POST /functions` or
 * `PATCH /functions/{id}` with the built code and the settings declared in `destination-functions/<name>/function.json`.
 * `dryRun` only reads, and returns a diff of code and settings. Unchanged code and settings ⇒ no write.
 *
 * Env: SEGMENT_API_TOKEN (bearer, required), SEGMENT_API_BASE_URL (default https://api.segmentapis.com; EU:
 * https://eu1.api.segmentapis.com). 429s are retried after Retry-After (at most 3 times).
 */
export interface FunctionManifest {
  displayName: string
  description?: string
  settings: Array<{ name: string; label: string; description: string; type: 'ARRAY' | 'BOOLEAN' | 'STRING' | 'TEXT_MAP'; required: boolean; sensitive: boolean }>
}

export interface DeployOptions {
  dryRun?: boolean
  env?: NodeJS.ProcessEnv
  root?: string
  /** Use an already built artifact (default: build now). */
  built?: BuiltFunction
  fetch?: typeof fetch
  /** Max wait honoured for one Retry-After (ms). */
  maxRetryAfterMs?: number
  /** Also create/update the destination instance on this source, with settings from env (function.json bridge.settings). */
  sourceId?: string
}

export interface InstanceResult {
  action: 'create' | 'update' | 'unchanged'
  id?: string
  name: string
  sourceId: string
  /** Names only: values may be secrets and are never printed. */
  settingNames: string[]
  /** Settings whose env var is unset (required ones make the deploy fail). */
  missing: string[]
}

export interface DeployResult {
  action: 'create' | 'update' | 'unchanged'
  dryRun: boolean
  id?: string
  displayName: string
  sha256: string
  /** Unified-style diff of code and settings (remote → local); empty when unchanged. */
  diff: string
  instance?: InstanceResult
}

interface RemoteFunction {
  id: string
  displayName: string
  code: string
  catalogId?: string
  settings?: FunctionManifest['settings']
}

interface RemoteDestination {
  id: string
  name: string
  sourceId: string
  metadata?: { id?: string }
  settings?: Record<string, unknown>
}

export { SegmentApiError } from '../segment/public-api.ts'

export async function readManifest(name: string, root = projectRoot): Promise<FunctionManifest> {
  const file = path.join(root, 'destination-functions', name, 'function.json')
  const raw = await readFile(file, 'utf8').catch(() => undefined)
  if (raw === undefined) return { displayName: name, settings: [] }
  const m = JSON.parse(raw) as Partial<FunctionManifest>
  return { displayName: m.displayName ?? name, ...(m.description ? { description: m.description } : {}), settings: m.settings ?? [] }
}

export async function deployFunction(name: string, opts: DeployOptions = {}): Promise<DeployResult> {
  const env = opts.env ?? process.env
  const api = new SegmentPublicApi(
    { env, fetch: opts.fetch, maxRetryAfterMs: opts.maxRetryAfterMs },
    { missingToken: 'Segment workspace → Settings → Access Management → Tokens', forbidden: 'check SEGMENT_API_TOKEN and its Functions Admin permission' }
  )
  const call = <T>(method: string, url: string, body?: unknown) => api.call<T>(method, url, body)

  const [built, manifest] = await Promise.all([opts.built ?? buildFunction(name, { root: opts.root }), readManifest(name, opts.root)])

  // Find by display name (paginated).
  let existing: RemoteFunction | undefined
  let cursor: string | undefined
  do {
    const q = new URLSearchParams({ resourceType: 'DESTINATION', 'pagination.count': '100', ...(cursor ? { 'pagination.cursor': cursor } : {}) })
    const page = await call<{ functions: RemoteFunction[]; pagination?: { next?: string } }>('GET', `/functions?${q}`)
    existing = page.functions.find((f) => f.displayName === manifest.displayName || f.displayName.startsWith(`${manifest.displayName} (`))
    cursor = page.pagination?.next ?? undefined
  } while (!existing && cursor)

  // Canonical key order, so a remote that reorders fields shows no spurious diff.
  const canon = (list: FunctionManifest['settings']) =>
    JSON.stringify(
      list.map((s) => ({ name: s.name, label: s.label, description: s.description ?? '', type: s.type, required: !!s.required, sensitive: !!s.sensitive })),
      null,
      2
    )
  const localSettings = canon(manifest.settings)
  const remoteSettings = existing ? canon(existing.settings ?? []) : ''
  const codeDiff = diffLines(existing?.code ?? '', built.code, existing ? `segment:${existing.id}/code` : 'segment:(new)/code', `dist/functions/${name}.js`)
  const settingsDiff = diffLines(remoteSettings, localSettings, existing ? `segment:${existing.id}/settings` : 'segment:(new)/settings', `destination-functions/${name}/function.json`)
  const diff = [codeDiff, settingsDiff].filter(Boolean).join('\n')
  const base_ = { dryRun: !!opts.dryRun, displayName: manifest.displayName, sha256: built.sha256, diff }

  let result: DeployResult
  let catalogId = existing?.catalogId
  if (existing && !diff) result = { ...base_, action: 'unchanged', id: existing.id }
  else if (opts.dryRun) result = { ...base_, action: existing ? 'update' : 'create', id: existing?.id }
  else if (existing) {
    await call('PATCH', `/functions/${encodeURIComponent(existing.id)}`, { code: built.code, settings: manifest.settings })
    result = { ...base_, action: 'update', id: existing.id }
  } else {
    const created = await call<{ function: RemoteFunction }>('POST', '/functions', {
      code: built.code,
      displayName: manifest.displayName,
      resourceType: 'DESTINATION',
      settings: manifest.settings,
      ...(manifest.description ? { description: manifest.description } : {})
    })
    catalogId = created.function.catalogId
    result = { ...base_, action: 'create', id: created.function.id }
  }
  if (opts.sourceId) result.instance = await deployInstance(name, manifest.displayName, catalogId, opts.sourceId, { env, root: opts.root, dryRun: !!opts.dryRun, call })
  return result
}

/**
 * The destination instance that connects the function to a source: found among `GET /destinations` by source and
 * catalog id (metadata.id = the function's catalogId), then `POST /destinations` or `PATCH /destinations/{id}`
 * with the setting values read from the env vars function.json's bridge block names. A required setting without
 * its env var fails before anything is written; optional ones are reported as not set.
 */
async function deployInstance(
  name: string,
  displayName: string,
  catalogId: string | undefined,
  sourceId: string,
  ctx: { env: NodeJS.ProcessEnv; root?: string; dryRun: boolean; call: <T>(method: string, url: string, body?: unknown) => Promise<T> }
): Promise<InstanceResult> {
  const folder = readFunctionFolder(path.join(ctx.env.FUNCTIONS_DIR || path.join(ctx.root ?? projectRoot, 'destination-functions'), name))
  const settings: Record<string, unknown> = {}
  const missing: string[] = []
  for (const s of folder.settings) {
    const envVar = folder.bridge?.settings[s.name]?.env
    const value = envVar ? ctx.env[envVar] : undefined
    if (value === undefined || value === '') {
      if (s.required) throw new Error(`--source: setting ${s.name} is required; set ${envVar ?? `an env var for it in ${name}/function.json bridge.settings`}`)
      missing.push(s.name)
      continue
    }
    settings[s.name] = s.type === 'BOOLEAN' ? value === 'true' : s.type === 'TEXT_MAP' || s.type === 'ARRAY' ? JSON.parse(value) : value
  }
  const base = { name: displayName, sourceId, settingNames: Object.keys(settings), missing }
  if (!catalogId) {
    // A dry run of a function not created yet: no catalog id to look for.
    return { ...base, action: 'create' }
  }
  let found: RemoteDestination | undefined
  let cursor: string | undefined
  do {
    const q = new URLSearchParams({ 'pagination.count': '100', ...(cursor ? { 'pagination.cursor': cursor } : {}) })
    const page = await ctx.call<{ destinations: RemoteDestination[]; pagination?: { next?: string } }>('GET', `/destinations?${q}`)
    found = page.destinations.find((d) => d.sourceId === sourceId && d.metadata?.id === catalogId)
    cursor = page.pagination?.next ?? undefined
  } while (!found && cursor)
  if (found) {
    const same = Object.entries(settings).every(([k, v]) => JSON.stringify(found!.settings?.[k]) === JSON.stringify(v))
    if (same) return { ...base, action: 'unchanged', id: found.id }
    if (!ctx.dryRun) await ctx.call('PATCH', `/destinations/${encodeURIComponent(found.id)}`, { settings })
    return { ...base, action: 'update', id: found.id }
  }
  if (ctx.dryRun) return { ...base, action: 'create' }
  const created = await ctx.call<{ destination: RemoteDestination }>('POST', '/destinations', { sourceId, metadataId: catalogId, name: displayName, enabled: true, settings })
  return { ...base, action: 'create', id: created.destination.id }
}

/** Minimal unified diff (LCS on lines, 3 lines of context); '' when equal. */
export function diffLines(a: string, b: string, fromLabel: string, toLabel: string): string {
  if (a === b) return ''
  const x = a === '' ? [] : a.split('\n')
  const y = b === '' ? [] : b.split('\n')
  const n = x.length
  const m = y.length
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0))
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
  const ops: Array<{ t: ' ' | '-' | '+'; s: string }> = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      ops.push({ t: ' ', s: x[i]! })
      i++
      j++
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) ops.push({ t: '-', s: x[i++]! })
    else ops.push({ t: '+', s: y[j++]! })
  }
  while (i < n) ops.push({ t: '-', s: x[i++]! })
  while (j < m) ops.push({ t: '+', s: y[j++]! })
  const keep = new Array<boolean>(ops.length).fill(false)
  ops.forEach((op, k) => {
    if (op.t === ' ') return
    for (let d = Math.max(0, k - 3); d <= Math.min(ops.length - 1, k + 3); d++) keep[d] = true
  })
  const out = [`--- ${fromLabel}`, `+++ ${toLabel}`]
  let gap = false
  ops.forEach((op, k) => {
    if (!keep[k]) {
      if (!gap) out.push('@@')
      gap = true
      return
    }
    gap = false
    out.push(`${op.t}${op.s}`)
  })
  return out.join('\n')
}
