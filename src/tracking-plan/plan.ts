import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { createHash } from 'node:crypto'
import { parse } from 'yaml'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { Message } from '../messages.ts'

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** A property as marketing ops write it: JSON Schema keywords plus `required`, `description`, `examples`. */
export interface PlanProperty {
  type: string | string[]
  description?: string
  required?: boolean
  examples?: unknown[]
  [keyword: string]: unknown
}

export interface PlanVersion {
  version: number
  status?: 'active' | 'deprecated' | 'retired'
  properties?: Record<string, PlanProperty>
  traits?: Record<string, PlanProperty>
}

export interface PlanEntry {
  kind: 'track' | 'identify'
  /** Event name for track, trait-set name for identify. */
  name: string
  description: string
  owner?: string
  file: string
  versions: PlanVersion[]
}

export type PlanCheck =
  | { ok: true; version: number }
  | { ok: false; version?: number; reasons: string[] }

const KNOWN_KEYS = new Set(['required', 'description', 'examples'])

/** Draft-07 schema of the whole message for one version, the shape Segment Protocols rules use. */
export function messageSchema(entry: PlanEntry, version: PlanVersion): object {
  const field = entry.kind === 'track' ? 'properties' : 'traits'
  const props = (entry.kind === 'track' ? version.properties : version.traits) ?? {}
  const schemaProps: Record<string, object> = {}
  const required: string[] = []
  for (const [name, prop] of Object.entries(props)) {
    schemaProps[name] = Object.fromEntries(
      Object.entries(prop).filter(([k]) => !KNOWN_KEYS.has(k) || k === 'description')
    )
    if (prop.required) required.push(name)
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    required: [field],
    properties: {
      [field]: { type: 'object', properties: schemaProps, required, additionalProperties: true }
    }
  }
}

export class TrackingPlan {
  readonly fingerprint: string
  private readonly compiled = new Map<string, Map<number, ValidateFunction>>()
  /** Looked up for every message on the ingest path, so computed once. */
  private readonly current = new Map<string, number>()

  constructor(
    readonly entries: PlanEntry[],
    ajv: Ajv
  ) {
    const hash = createHash('sha256')
    for (const entry of entries) {
      const byVersion = new Map<number, ValidateFunction>()
      for (const v of entry.versions) byVersion.set(v.version, ajv.compile(messageSchema(entry, v)))
      this.compiled.set(keyOf(entry.kind, entry.name), byVersion)
      const live = entry.versions.filter((v) => v.status !== 'retired').map((v) => v.version)
      if (live.length) this.current.set(keyOf(entry.kind, entry.name), Math.max(...live))
      hash.update(JSON.stringify(entry))
    }
    this.fingerprint = hash.digest('hex').slice(0, 12)
  }

  /** The version new messages are stamped with: the highest version that is not retired. */
  currentVersion(kind: 'track' | 'identify', name: string): number | undefined {
    return this.current.get(keyOf(kind, name))
  }

  check(message: Message): PlanCheck {
    // All identify calls share one trait set ("Referral Person"): Protocols has one identify rule per plan.
    const name = message.type === 'track' ? message.event : this.identifyName()
    const label = message.type === 'track' ? `event "${message.event}"` : 'identify'
    if (!name) return { ok: false, reasons: [`${label} is not in the tracking plan`] }
    const requested = message.context.protocols?.event_version
    const version = requested ?? this.currentVersion(message.type, name)
    const validate = version === undefined ? undefined : this.compiled.get(keyOf(message.type, name))?.get(version)
    if (!validate) {
      return {
        ok: false,
        version,
        reasons: [
          version === undefined
            ? `${label} is not in the tracking plan`
            : `${label} has no version ${version} in the tracking plan`
        ]
      }
    }
    if (validate(message)) return { ok: true, version: version! }
    return { ok: false, version, reasons: readableErrors(validate.errors ?? []) }
  }

  private identifyName(): string | undefined {
    return this.entries.find((e) => e.kind === 'identify')?.name
  }
}

function keyOf(kind: string, name: string): string {
  return `${kind}:${name}`
}

/** "properties.currency must match pattern ^[A-Z]{3}$ (got "usd")": what a marketing-ops reader can act on. */
export function readableErrors(errors: ErrorObject[]): string[] {
  return errors.map((e) => {
    const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty
      return `${path ? path + '.' : ''}${missing} is required but missing`
    }
    const got = e.data === undefined ? '' : ` (got ${JSON.stringify(e.data)})`
    if (e.keyword === 'enum') {
      // ajv says "must be equal to one of the allowed values" without naming them; the reader needs the list.
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues
      return `${path || 'message'} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}${got}`
    }
    return `${path || 'message'} ${e.message}${got}`
  })
}

export function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true })
  addFormats(ajv)
  return ajv
}

export function loadPlanEntries(dir: string): PlanEntry[] {
  const entries: PlanEntry[] = []
  for (const sub of ['identify', 'events']) {
    let files: string[] = []
    try {
      files = readdirSync(join(dir, sub)).filter((f) => /\.ya?ml$/.test(f)).sort()
    } catch {
      continue
    }
    for (const file of files) {
      const path = join(dir, sub, file)
      const doc = parse(readFileSync(path, 'utf8')) as Record<string, any>
      entries.push({
        kind: doc.event ? 'track' : 'identify',
        name: doc.event ?? doc.identify,
        description: doc.description ?? '',
        owner: doc.owner,
        file: relative(process.cwd(), path),
        versions: doc.versions ?? []
      })
    }
  }
  return entries
}

export function loadTrackingPlan(dir: string): TrackingPlan {
  return new TrackingPlan(loadPlanEntries(dir), newAjv())
}
