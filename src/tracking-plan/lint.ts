import { relative, join } from 'node:path'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { messageSchema, newAjv, readableErrors, TrackingPlan, type PlanEntry, type PlanProperty, type PlanVersion } from './plan.ts'
import { entryOf, fileNameFor, lineOf, parsePlanFile, readPlanFiles, type ParsedPlanFile } from './files.ts'
import { exampleMessage } from './examples.ts'
import { commaInFlowMessage, didYouMean, unknownKeyMessage, unknownTypeMessage, yamlErrorMessage } from './plain-errors.ts'
import { isMap, type Node } from 'yaml'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/**
 * `plan lint`: everything a reviewer would otherwise have to catch by eye. Errors fail the command; warnings are
 * printed but pass. Rules:
 *  - the YAML parses, has no duplicate keys, and exactly one of `event:` / `identify:` plus a `description`;
 *  - event and trait-set names are Title Case ("Referral Created"); property and trait names snake_case;
 *  - every property has a JSON `type`, a description, and only known JSON Schema keywords (typos such as
 *    `patern` are errors) — each property schema and each full message schema compiles with ajv;
 *  - examples are valid against their own property, and the example message assembled from them passes;
 *  - versions are positive integers, unique and strictly increasing; status is active, deprecated or retired;
 *    at most one version is active and it is the latest (older ones are deprecated or retired);
 *  - names are unique across files; at most one identify trait set (Protocols has one identify rule);
 *  - properties that the Segment Spec defines (`order_id`, `revenue`, `currency`, ...) keep the Spec's type.
 */
export interface LintIssue {
  severity: 'error' | 'warning'
  /** Path as printed (relative to the current directory). */
  file: string
  line: number
  message: string
}

const TOP_KEYS = new Set(['event', 'identify', 'description', 'owner', 'versions'])
const VERSION_KEYS = new Set(['version', 'status', 'properties', 'traits', 'description'])
const STATUSES = new Set(['active', 'deprecated', 'retired'])
/** What a property definition may hold: our three keys plus the JSON Schema keywords a plan has any use for. */
const PROPERTY_KEYS = new Set([
  'type', 'description', 'required', 'examples', 'enum', 'const', 'format', 'pattern', 'minLength', 'maxLength',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'items', 'properties',
  'additionalProperties', 'minItems', 'maxItems', 'uniqueItems', 'default', 'title', 'anyOf', 'oneOf', 'allOf', 'not'
])
/** ajv-formats' formats (github.com/ajv-validator/ajv-formats README, "Formats"). */
const FORMATS = [
  'date', 'time', 'date-time', 'iso-time', 'iso-date-time', 'duration', 'uri', 'uri-reference', 'uri-template', 'url', 'email',
  'hostname', 'ipv4', 'ipv6', 'regex', 'uuid', 'json-pointer', 'json-pointer-uri-fragment', 'relative-json-pointer',
  'byte', 'int32', 'int64', 'float', 'double', 'password', 'binary'
]
const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'])
const TITLE_CASE = /^[A-Z][A-Za-z0-9]*( [A-Z0-9][A-Za-z0-9]*)*$/
const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/

/** Segment Spec property types (connections/spec/ecommerce/v2.md, common.md) that our names must keep. */
const SPEC_TYPES: Record<string, string[]> = {
  order_id: ['string'],
  checkout_id: ['string'],
  revenue: ['number'],
  total: ['number'],
  subtotal: ['number'],
  discount: ['number'],
  shipping: ['number'],
  tax: ['number'],
  currency: ['string'],
  coupon: ['string'],
  email: ['string'],
  first_name: ['string'],
  last_name: ['string']
}

export function lintPlan(dir: string, cwd = process.cwd()): LintIssue[] {
  const issues: LintIssue[] = []
  const files = readPlanFiles(dir).map(parsePlanFile)
  const label = (f: ParsedPlanFile) => relative(cwd, join(dir, f.path)) || f.path
  if (!files.length) {
    issues.push({ severity: 'error', file: relative(cwd, dir) || dir, line: 1, message: 'no plan files found (expected events/*.yaml and identify/*.yaml)' })
    return issues
  }
  const strictAjv = new Ajv({ strict: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: true })
  addFormats(strictAjv)
  const ajv = newAjv()
  const seen = new Map<string, string>()
  const entries: PlanEntry[] = []
  let identifySets = 0

  for (const file of files) {
    const at = (path: Array<string | number>, message: string, severity: LintIssue['severity'] = 'error') =>
      issues.push({ severity, file: label(file), line: lineOf(file, path), message })
    if (file.doc.errors.length) {
      for (const e of file.doc.errors) {
        const line = e.linePos?.[0]?.line ?? file.lines.linePos(e.pos[0]).line
        issues.push({ severity: 'error', file: label(file), line, message: yamlErrorMessage(e) })
      }
      continue
    }
    const d = file.data
    if (!d) {
      at([], 'the file must be a YAML mapping (event:, description:, owner:, versions:)')
      continue
    }
    const isEvent = file.path.startsWith('events/')
    const nameKey = isEvent ? 'event' : 'identify'
    const otherKey = isEvent ? 'identify' : 'event'
    for (const key of Object.keys(d)) if (!TOP_KEYS.has(key)) at([key], unknownKeyMessage('the file', key, TOP_KEYS))
    if (d[otherKey] !== undefined) at([otherKey], `"${otherKey}:" does not belong in ${isEvent ? 'events/' : 'identify/'}; use "${nameKey}:"`)
    const name = d[nameKey]
    if (typeof name !== 'string' || !name.trim()) {
      at([], `missing "${nameKey}:" (the ${isEvent ? 'event' : 'trait set'} name)`)
      continue
    }
    if (!TITLE_CASE.test(name)) at([nameKey], `${isEvent ? 'event' : 'trait set'} name "${name}" must be Title Case, e.g. "${titleCase(name)}"`)
    const expectedFile = fileNameFor(name)
    const base = file.path.split('/')[1].replace(/\.ya?ml$/, '')
    if (base !== expectedFile) at([nameKey], `file name should be ${expectedFile}.yaml for "${name}"`, 'warning')
    const key = `${nameKey}:${name}`
    if (seen.has(key)) at([nameKey], `"${name}" is already defined in ${seen.get(key)}`)
    else seen.set(key, label(file))
    if (!isEvent && ++identifySets > 1) at([nameKey], 'only one identify trait set is allowed (Segment Protocols has one identify rule per plan)')
    if (typeof d.description !== 'string' || !d.description.trim()) at(d.description === undefined ? [nameKey] : ['description'], 'missing description: say in one sentence when this is sent')
    if (d.owner === undefined) at([nameKey], 'missing owner (the team to ask about this event)', 'warning')

    const versions = d.versions
    if (!Array.isArray(versions) || !versions.length) {
      at(d.versions === undefined ? [nameKey] : ['versions'], 'missing versions: a list with at least `- version: 1`')
      continue
    }
    const field = isEvent ? 'properties' : 'traits'
    let previous = 0
    const numbers = new Set<number>()
    const active: number[] = []
    versions.forEach((v: PlanVersion & Record<string, unknown>, i: number) => {
      const vp: Array<string | number> = ['versions', i]
      if (!v || typeof v !== 'object') return at(vp, 'each version must be a mapping with version:, status:, ' + field + ':')
      for (const k of Object.keys(v)) if (!VERSION_KEYS.has(k)) at([...vp, k], unknownKeyMessage(`version ${v.version}`, k, VERSION_KEYS))
      if (!Number.isInteger(v.version) || v.version < 1) at([...vp, 'version'], `version must be a positive integer (got ${JSON.stringify(v.version)})`)
      else {
        if (numbers.has(v.version)) at([...vp, 'version'], `version ${v.version} is listed twice`)
        else if (v.version <= previous) at([...vp, 'version'], `versions must increase: ${v.version} comes after ${previous}`)
        numbers.add(v.version)
        previous = Math.max(previous, v.version)
      }
      const status = v.status ?? 'active'
      if (!STATUSES.has(status)) {
        const guess = didYouMean(String(status), STATUSES)
        at([...vp, 'status'], `status "${status}" is not allowed${guess ? `, did you mean "${guess}"?` : ''} (allowed: active, deprecated, retired)`)
      }
      if (status === 'active') active.push(i)
      const other = isEvent ? 'traits' : 'properties'
      if (v[other] !== undefined) at([...vp, other], `${other}: does not belong in ${isEvent ? 'an event' : 'an identify trait set'}; use ${field}:`)
      const props = v[field]
      if (props === undefined || props === null) return at(vp, `version ${v.version} has no ${field}:`)
      if (typeof props !== 'object' || Array.isArray(props)) return at([...vp, field], `${field}: must be a mapping of name → definition`)
      for (const [prop, def] of Object.entries(props as Record<string, PlanProperty>)) {
        const node = file.doc.getIn([...vp, field, prop], true) as Node | undefined
        lintProperty(def, prop, [...vp, field, prop], at, strictAjv, ajv, isMap(node) && !!node.flow)
      }
    })
    if (active.length > 1) {
      at(['versions', active[0], 'status'], `${active.length} versions are active; only the latest may be: mark older versions "status: deprecated" (or retired)`)
    }
    const latestIndex = versions.reduce((best: number, v: PlanVersion, i: number) => (Number(v?.version) > Number(versions[best]?.version) ? i : best), 0)
    if (active.length === 1 && active[0] !== latestIndex) {
      at(['versions', active[0], 'status'], 'the active version must be the latest one; older versions are deprecated or retired')
    }
    const entry = entryOf(file, label(file))
    if (entry) entries.push(entry)
  }

  // Whole-message schemas compile (what the bridge and Protocols use), and the example message of each version passes.
  if (!issues.some((i) => i.severity === 'error')) {
    for (const entry of entries) {
      const file = files.find((f) => label(f) === entry.file)!
      entry.versions.forEach((v, i) => {
        try {
          ajv.compile(messageSchema(entry, v))
        } catch (err) {
          issues.push({ severity: 'error', file: entry.file, line: lineOf(file, ['versions', i]), message: `version ${v.version} does not compile: ${(err as Error).message}` })
          return
        }
        const message = exampleMessage(entry, v)
        const check = new TrackingPlan([{ ...entry, versions: [v] }], ajv).check(message)
        if (!check.ok) {
          issues.push({ severity: 'error', file: entry.file, line: lineOf(file, ['versions', i]), message: `the example message of version ${v.version} fails its own schema: ${check.reasons.join('; ')}` })
        }
      })
    }
  }
  return issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
}

function lintProperty(
  def: PlanProperty,
  name: string,
  path: Array<string | number>,
  at: (path: Array<string | number>, message: string, severity?: LintIssue['severity']) => void,
  strictAjv: Ajv,
  ajv: Ajv,
  /** Written as a one-line `{ ... }` (where a comma silently cuts a description). */
  flow = false
) {
  if (!SNAKE_CASE.test(name)) at(path, `property "${name}" must be snake_case, e.g. "${snakeCase(name)}"`)
  if (!def || typeof def !== 'object' || Array.isArray(def)) return at(path, `property "${name}" must be a mapping with type:, description:, examples:`)
  const types = def.type === undefined ? [] : Array.isArray(def.type) ? def.type : [def.type]
  if (!types.length) at(path, `property "${name}" has no type (string, number, integer, boolean, object, array)`)
  let broken = false
  for (const t of types) {
    if (!JSON_TYPES.has(String(t))) {
      at([...path, 'type'], unknownTypeMessage(name, String(t)))
      broken = true
    }
  }
  for (const [key, value] of Object.entries(def)) {
    if (PROPERTY_KEYS.has(key)) continue
    broken = true
    if (flow && value === null) at(path, commaInFlowMessage(name, key))
    else at([...path, key], unknownKeyMessage(`property "${name}"`, key, PROPERTY_KEYS))
  }
  if (def.enum !== undefined && (!Array.isArray(def.enum) || !def.enum.length)) {
    at([...path, 'enum'], `property "${name}": enum must be a list of the allowed values, e.g. enum: [advocate, friend]`)
    broken = true
  }
  if (def.format !== undefined && !FORMATS.includes(String(def.format))) {
    const guess = didYouMean(String(def.format), FORMATS)
    at([...path, 'format'], `property "${name}": unknown format "${def.format}"${guess ? `, did you mean "${guess}"?` : ''} (common formats: email, date-time, date, uri, uuid)`)
    broken = true
  }
  if (typeof def.description !== 'string' || !def.description.trim()) at(path, `property "${name}" has no description`)
  if (def.required !== undefined && typeof def.required !== 'boolean') at([...path, 'required'], `property "${name}": required must be true or false`)
  const spec = SPEC_TYPES[name]
  if (spec && types.length && !types.every((t) => spec.includes(String(t)))) {
    at([...path, 'type'], `property "${name}" is defined by the Segment Spec as ${spec.join(' | ')}; keep that type or pick another name`)
  }
  // The sentences above say what to change; ajv's own wording of the same problems would only add noise.
  if (broken) return
  const { required: _r, examples, ...schema } = def
  let validate
  try {
    validate = strictAjv.compile(schema)
    ajv.compile(schema)
  } catch (err) {
    return at(path, `property "${name}" is not a valid JSON Schema: ${(err as Error).message}`)
  }
  if (examples === undefined) {
    return def.required
      ? at(path, `required property "${name}" has no examples (the catalogue's example message needs one)`)
      : at(path, `property "${name}" has no examples`, 'warning')
  }
  if (!Array.isArray(examples) || !examples.length) return at([...path, 'examples'], `property "${name}": examples must be a non-empty list`)
  examples.forEach((example, i) => {
    if (!validate(example)) {
      const reasons = readableErrors(validate.errors ?? []).map((r) => r.replace(/^message /, ''))
      at([...path, 'examples', i], `property "${name}": example ${JSON.stringify(example)} is invalid: ${reasons.join('; ')}`)
    }
  })
}

function titleCase(s: string): string {
  return s
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1).toLowerCase())
    .join(' ')
}

function snakeCase(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase()
}

export function formatIssues(issues: LintIssue[]): string[] {
  return issues.map((i) => `${i.file}:${i.line}: ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`)
}
