import { stringify } from 'yaml'
import { SegmentPublicApi, type PublicApiOptions } from '../segment/public-api.ts'
import { messageSchema, type PlanEntry, type PlanProperty, type PlanVersion } from './plan.ts'
import { fileNameFor } from './files.ts'
import { diffVersion } from './diff.ts'
import { formatPlanFile } from './format.ts'

/**
 * `plan push` / `plan pull`: keep a Segment Protocols tracking plan in step with tracking-plan/ through the
 * Segment Public API (segmentio/public-api-sdk-typescript api/trackingPlansApi.ts):
 *   GET  /tracking-plans/{id}                → { data: { trackingPlan } }
 *   GET  /tracking-plans/{id}/rules          → { data: { rules: RuleV1[], pagination } } (pagination.count/.cursor)
 *   PUT  /tracking-plans/{id}/rules          body { rules: RuleInputV1[] } → { data: { status: 'SUCCESS' } }  (replace)
 * Bearer token (SEGMENT_API_TOKEN), media type application/vnd.segment.v1+json. A rule is `(type, key, version)`
 * with a draft-07 whole-message `jsonSchema` (messageSchema()); every non-retired version of every event is a rule.
 * IDENTIFY rules carry no key (one identify rule set per plan, like Protocols' UI).
 */
export interface RuleInput {
  type: 'TRACK' | 'IDENTIFY'
  key?: string
  version: number
  jsonSchema: Record<string, unknown>
}

export interface RemoteRule extends Omit<RuleInput, 'type'> {
  type: string
  createdAt?: string
  updatedAt?: string
  deprecatedAt?: string
}

export interface RuleChange {
  change: 'added' | 'changed' | 'removed'
  type: string
  key?: string
  version: number
}

export { SegmentApiError } from '../segment/public-api.ts'

/** The rules tracking-plan/ stands for: one per non-retired version. */
export function planRules(entries: PlanEntry[]): RuleInput[] {
  const rules: RuleInput[] = []
  for (const entry of entries) {
    for (const v of [...entry.versions].sort((a, b) => a.version - b.version)) {
      if (v.status === 'retired') continue
      const jsonSchema = withExamples(entry, v, { ...(messageSchema(entry, v) as Record<string, unknown>), ...(entry.description ? { description: entry.description } : {}) })
      rules.push(entry.kind === 'track' ? { type: 'TRACK', key: entry.name, version: v.version, jsonSchema } : { type: 'IDENTIFY', version: v.version, jsonSchema })
    }
  }
  return rules
}

/** messageSchema() drops `examples`; rules keep them (a draft-07 annotation) so `plan pull` round-trips them. */
function withExamples(entry: PlanEntry, v: PlanVersion, schema: Record<string, any>): Record<string, unknown> {
  const field = entry.kind === 'track' ? 'properties' : 'traits'
  const source = ((entry.kind === 'track' ? v.properties : v.traits) ?? {}) as Record<string, PlanProperty>
  const props = schema.properties?.[field]?.properties as Record<string, Record<string, unknown>> | undefined
  if (!props) return schema
  for (const [name, def] of Object.entries(source)) {
    if (Array.isArray(def.examples) && props[name]) props[name] = { ...props[name], examples: def.examples }
  }
  return schema
}

export function ruleId(r: { type: string; key?: string | null; version: number }): string {
  return `${r.type}:${r.key ?? ''}:${r.version}`
}

export function ruleLabel(r: { type: string; key?: string | null; version: number }): string {
  return `${r.type}${r.key ? ` "${r.key}"` : ''} v${r.version}`
}

/** Rule-level change from remote to local. */
export function diffRules(remote: RemoteRule[], local: RuleInput[]): RuleChange[] {
  const r = new Map(remote.filter((x) => x.type === 'TRACK' || x.type === 'IDENTIFY').map((x) => [ruleId(x), x]))
  const l = new Map(local.map((x) => [ruleId(x), x]))
  const changes: RuleChange[] = []
  for (const [id, rule] of l) {
    const was = r.get(id)
    if (!was) changes.push({ change: 'added', type: rule.type, key: rule.key, version: rule.version })
    else if (canonical(was.jsonSchema) !== canonical(rule.jsonSchema)) changes.push({ change: 'changed', type: rule.type, key: rule.key, version: rule.version })
  }
  for (const [id, rule] of r) if (!l.has(id)) changes.push({ change: 'removed', type: rule.type, key: rule.key ?? undefined, version: rule.version })
  return changes.sort((a, b) => ruleId(a).localeCompare(ruleId(b)))
}

/** Key-order-independent JSON, so a remote that reorders fields shows no spurious change. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return v
}

export type ClientOptions = PublicApiOptions

export class ProtocolsClient {
  private readonly api: SegmentPublicApi

  constructor(opts: ClientOptions = {}) {
    this.api = new SegmentPublicApi(opts, {
      missingToken: 'Segment workspace → Settings → Access Management → Tokens; needs Tracking Plan Admin to push, Read-only to pull',
      forbidden: 'check SEGMENT_API_TOKEN and its Tracking Plan permission',
      // Segment's docs: the id is in the tracking plan's URL in the app (…/protocols/tracking-plans/tp_…), and
      // GET /tracking-plans lists them; a new one comes from POST /tracking-plans (docs.segmentapis.com, Tracking Plans).
      notFound:
        'no tracking plan with that id. Check --plan-id / SEGMENT_TRACKING_PLAN_ID: the tp_… id is in the plan\'s URL in the Segment app, or listed by GET /tracking-plans; ' +
        'to start one, POST /tracking-plans {"name": "Referrals", "type": "LIVE"} and use the returned data.trackingPlan.id (docs/sandboxes.md shows it against the sandbox)'
    })
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.api.call<T>(method, path, body)
  }

  async getPlan(id: string): Promise<{ id: string; name?: string; type?: string }> {
    return (await this.call<{ trackingPlan: { id: string; name?: string; type?: string } }>('GET', `/tracking-plans/${encodeURIComponent(id)}`)).trackingPlan
  }

  async listRules(id: string): Promise<RemoteRule[]> {
    const rules: RemoteRule[] = []
    let cursor: string | undefined
    do {
      const q = new URLSearchParams({ 'pagination.count': '200', ...(cursor ? { 'pagination.cursor': cursor } : {}) })
      const page = await this.call<{ rules: RemoteRule[]; pagination?: { next?: string | null } }>('GET', `/tracking-plans/${encodeURIComponent(id)}/rules?${q}`)
      rules.push(...page.rules)
      cursor = page.pagination?.next ?? undefined
    } while (cursor)
    return rules
  }

  async replaceRules(id: string, rules: RuleInput[]): Promise<void> {
    await this.call('PUT', `/tracking-plans/${encodeURIComponent(id)}/rules`, { rules })
  }
}

export interface PushResult {
  planId: string
  planName?: string
  changes: RuleChange[]
  written: boolean
  rules: number
}

export async function pushPlan(entries: PlanEntry[], planId: string, opts: ClientOptions & { dryRun?: boolean } = {}): Promise<PushResult> {
  const client = new ProtocolsClient(opts)
  const plan = await client.getPlan(planId)
  const local = planRules(entries)
  const changes = diffRules(await client.listRules(planId), local)
  const write = !opts.dryRun && changes.length > 0
  if (write) await client.replaceRules(planId, local)
  return { planId, planName: plan.name, changes, written: write, rules: local.length }
}

/** A remote rule as the plan file's version (properties/traits with `required: true`, keywords kept). */
export function versionFromRule(rule: RemoteRule): { kind: 'track' | 'identify'; version: PlanVersion; description?: string } {
  const kind = rule.type === 'IDENTIFY' ? 'identify' : 'track'
  const field = kind === 'track' ? 'properties' : 'traits'
  const schema = rule.jsonSchema ?? {}
  const inner = ((schema.properties as Record<string, any> | undefined)?.[field] ?? {}) as { properties?: Record<string, Record<string, unknown>>; required?: string[] }
  const required = new Set(inner.required ?? [])
  const props: Record<string, PlanProperty> = {}
  for (const [name, p] of Object.entries(inner.properties ?? {})) {
    const { description, ...rest } = p
    props[name] = { ...(rest as PlanProperty), ...(required.has(name) ? { required: true } : {}), ...(description !== undefined ? { description: String(description) } : {}) }
  }
  const version: PlanVersion = { version: rule.version, status: rule.deprecatedAt ? 'deprecated' : 'active', [field]: props }
  return { kind, version, description: typeof schema.description === 'string' ? schema.description : undefined }
}

export interface PullResult {
  planId: string
  /** New files to write (relative to the plan directory) with their YAML. */
  created: Array<{ path: string; name: string; kind: 'track' | 'identify'; versions: number[]; yaml: string }>
  /** Rules that exist both sides but differ, or versions only in Segment for an event we have. */
  differences: Array<{ rule: string; message: string; changes?: Array<{ path: string; message: string }> }>
  /** Local rules Segment does not have (a push would add them). */
  localOnly: string[]
}

export async function pullPlan(entries: PlanEntry[], planId: string, opts: ClientOptions = {}): Promise<PullResult> {
  const client = new ProtocolsClient(opts)
  await client.getPlan(planId)
  const remote = (await client.listRules(planId)).filter((r) => r.type === 'TRACK' || r.type === 'IDENTIFY')
  const local = planRules(entries)
  const localIds = new Map(local.map((r) => [ruleId(r), r]))
  const result: PullResult = { planId, created: [], differences: [], localOnly: [] }
  const byEntry = new Map<string, RemoteRule[]>()
  for (const rule of remote) {
    const name = rule.type === 'IDENTIFY' ? (entries.find((e) => e.kind === 'identify')?.name ?? rule.key ?? 'Referral Person') : rule.key ?? ''
    const k = `${rule.type}:${name}`
    byEntry.set(k, [...(byEntry.get(k) ?? []), rule])
  }
  for (const [k, rules] of [...byEntry].sort(([a], [b]) => a.localeCompare(b))) {
    const [type, ...rest] = k.split(':')
    const name = rest.join(':')
    const kind = type === 'IDENTIFY' ? 'identify' : 'track'
    const entry = entries.find((e) => e.kind === kind && e.name === name)
    if (!entry) {
      if (!name) {
        result.differences.push({ rule: `${type} (no key)`, message: 'rule without a key: not importable, skipped' })
        continue
      }
      const sorted = [...rules].sort((a, b) => a.version - b.version)
      const converted = sorted.map(versionFromRule)
      result.created.push({
        path: `${kind === 'track' ? 'events' : 'identify'}/${fileNameFor(name)}.yaml`,
        name,
        kind,
        versions: sorted.map((r) => r.version),
        yaml: yamlForEntry(kind, name, converted.at(-1)?.description ?? '', converted.map((c) => c.version))
      })
      continue
    }
    for (const rule of rules) {
      const id = ruleId({ ...rule, key: kind === 'identify' ? undefined : rule.key })
      const mine = localIds.get(id)
      if (!mine) {
        const retired = entry.versions.find((v) => v.version === rule.version && v.status === 'retired')
        result.differences.push({
          rule: ruleLabel(rule),
          message: retired ? `retired locally but still in Segment (a push removes it)` : `version ${rule.version} exists only in Segment: add it to ${entry.file} or push to remove it`
        })
      } else if (canonical(mine.jsonSchema) !== canonical(rule.jsonSchema)) {
        // Property by property, read as "what the file has compared with Segment" (same wording as plan diff).
        const local = entry.versions.find((v) => v.version === rule.version)
        const changes = local ? diffVersion(entry, versionFromRule(rule).version, local).map((c) => ({ path: c.path, message: c.message })) : []
        result.differences.push({ rule: ruleLabel(rule), message: `differs from ${entry.file} (push to overwrite Segment, or edit the file)`, ...(changes.length ? { changes } : {}) })
      }
    }
  }
  const remoteIds = new Set(remote.map((r) => ruleId({ ...r, key: r.type === 'IDENTIFY' ? undefined : r.key })))
  for (const r of local) if (!remoteIds.has(ruleId(r))) result.localOnly.push(ruleLabel(r))
  return result
}

/** YAML for a pulled entry, in the same layout marketing ops write by hand. */
export function yamlForEntry(kind: 'track' | 'identify', name: string, description: string, versions: PlanVersion[]): string {
  const doc = {
    [kind === 'track' ? 'event' : 'identify']: name,
    description,
    versions: versions.map((v) => ({ version: v.version, status: v.status ?? 'active', ...(kind === 'track' ? { properties: v.properties ?? {} } : { traits: v.traits ?? {} }) }))
  }
  const text = '# Pulled from Segment Protocols by `referral-bridge plan pull`. Add an owner and examples, then run `referral-bridge plan lint`.\n' + stringify(doc, { lineWidth: 0 })
  return formatPlanFile(text) ?? text
}
