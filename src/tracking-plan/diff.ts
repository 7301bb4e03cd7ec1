import type { PlanEntry, PlanProperty, PlanVersion } from './plan.ts'
import { producersOf, type ProducerMap } from './producers.ts'

/**
 * `plan diff <ref>`: what a change to tracking-plan/ does, per event, classified like SchemaVer
 * (MODEL-REVISION-ADDITION, Snowplow Iglu) so a marketing-ops reviewer can tell at a glance what is safe:
 *   - addition: compatible with every message already sent (new optional property, new event, new enum value,
 *     widened type, constraint removed);
 *   - revision: documentation only (description, examples, owner, status);
 *   - breaking: some message that passed before would now fail (property removed, type narrowed or changed,
 *     enum value removed, optional → required, new required property, pattern/format/bound added or tightened).
 * Published versions are never edited beyond their documentation: any schema change inside an existing version
 * is reported as a mutation, and a breaking one fails (the fix is a new `version: N+1`, with the old version
 * kept until it is retired). Removing an event or a version fails too (retire it with `status: retired`).
 */
export type ChangeKind = 'addition' | 'revision' | 'breaking'

export interface Change {
  kind: ChangeKind
  /** `properties.status`, `version 2`, `description`... */
  path: string
  message: string
}

export interface VersionDiff {
  version: number
  /** `new`: added in the working copy (compared with the previous latest version); `edited`: existed at the ref. */
  state: 'new' | 'edited' | 'removed'
  comparedWith?: number
  changes: Change[]
}

export interface EntryDiff {
  kind: 'track' | 'identify'
  name: string
  file: string
  state: 'added' | 'removed' | 'changed'
  /** Entry-level changes (description, owner). */
  changes: Change[]
  versions: VersionDiff[]
  /** Why this entry fails the diff (empty when it passes). */
  failures: string[]
  /** Non-fatal rule reminders (a published version gained an addition in place). */
  warnings: string[]
}

export interface PlanDiff {
  ref: string
  entries: EntryDiff[]
  summary: Record<ChangeKind, number> & { failures: number }
  ok: boolean
}

const DOC_KEYWORDS = new Set(['description', 'examples', 'title', '$comment', 'deprecated', 'default', 'readOnly', 'writeOnly'])
/** Draft-07 keywords that constrain values; anything else is an annotation (no effect on validation). */
const VALIDATION_KEYWORDS = new Set([
  'type', 'enum', 'const', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength',
  'minLength', 'pattern', 'items', 'additionalItems', 'maxItems', 'minItems', 'uniqueItems', 'contains', 'maxProperties',
  'minProperties', 'required', 'properties', 'patternProperties', 'additionalProperties', 'dependencies', 'propertyNames',
  'if', 'then', 'else', 'allOf', 'anyOf', 'oneOf', 'not', 'format', '$ref', 'contentMediaType', 'contentEncoding'
])
const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties']
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties']

/**
 * `producers` (the checked-in producer map) joins the diff with what the sources really send: a breaking change
 * is only OK when every source that emits the event already fills what the new version requires — otherwise the
 * new version would quarantine everything the adapters send (what `plan preview` would show).
 */
export function diffPlans(before: PlanEntry[], after: PlanEntry[], ref = 'base', producers?: ProducerMap): PlanDiff {
  const key = (e: PlanEntry) => `${e.kind}:${e.name}`
  const old = new Map(before.map((e) => [key(e), e]))
  const now = new Map(after.map((e) => [key(e), e]))
  const entries: EntryDiff[] = []
  for (const entry of after) {
    const prev = old.get(key(entry))
    if (!prev) {
      const latest = latestVersion(entry)
      entries.push({
        kind: entry.kind,
        name: entry.name,
        file: entry.file,
        state: 'added',
        changes: [{ kind: 'addition', path: entry.kind === 'track' ? 'event' : 'identify', message: `new ${entry.kind === 'track' ? 'event' : 'trait set'} "${entry.name}"${latest ? ` (version ${latest.version}, ${Object.keys(fieldsOf(entry, latest)).length} ${entry.kind === 'track' ? 'properties' : 'traits'})` : ''}` }],
        versions: [],
        failures: [],
        warnings: []
      })
      continue
    }
    const d = diffEntry(prev, entry)
    if (producers) checkProducers(entry, d, producers)
    if (d.changes.length || d.versions.length || d.failures.length) entries.push(d)
  }
  for (const prev of before) {
    if (now.has(key(prev))) continue
    entries.push({
      kind: prev.kind,
      name: prev.name,
      file: prev.file,
      state: 'removed',
      changes: [{ kind: 'breaking', path: prev.kind === 'track' ? 'event' : 'identify', message: `"${prev.name}" was removed from the plan` }],
      versions: [],
      failures: [`"${prev.name}" was deleted: sources still send it and stored messages reference it. Keep the file and set \`status: retired\` on its versions instead.`],
      warnings: []
    })
  }
  // Counted as printed: a new version's heading line is not a change of its own (issue 17: "counts 3, prints 2").
  const all = entries.flatMap((e) => [...e.changes, ...e.versions.flatMap((v) => (v.state === 'new' ? v.changes.slice(1) : v.changes))])
  const summary = {
    addition: all.filter((c) => c.kind === 'addition').length,
    revision: all.filter((c) => c.kind === 'revision').length,
    breaking: all.filter((c) => c.kind === 'breaking').length,
    failures: entries.reduce((n, e) => n + e.failures.length, 0)
  }
  return { ref, entries, summary, ok: summary.failures === 0 }
}

function diffEntry(prev: PlanEntry, entry: PlanEntry): EntryDiff {
  const out: EntryDiff = { kind: entry.kind, name: entry.name, file: entry.file, state: 'changed', changes: [], versions: [], failures: [], warnings: [] }
  if ((prev.description ?? '') !== (entry.description ?? '')) out.changes.push({ kind: 'revision', path: 'description', message: 'description changed' })
  if ((prev.owner ?? '') !== (entry.owner ?? '')) out.changes.push({ kind: 'revision', path: 'owner', message: `owner changed from ${prev.owner ?? '(none)'} to ${entry.owner ?? '(none)'}` })
  const oldVersions = new Map(prev.versions.map((v) => [v.version, v]))
  const newVersions = new Map(entry.versions.map((v) => [v.version, v]))
  const oldLatest = latestVersion(prev)
  for (const v of [...entry.versions].sort((a, b) => a.version - b.version)) {
    const was = oldVersions.get(v.version)
    if (was) {
      const changes = diffVersion(entry, was, v)
      if (!changes.length) continue
      out.versions.push({ version: v.version, state: 'edited', changes })
      const breaking = changes.filter((c) => c.kind === 'breaking')
      const next = Math.max(...entry.versions.map((x) => x.version), ...prev.versions.map((x) => x.version)) + 1
      if (breaking.length) {
        out.failures.push(
          `breaking change inside published version ${v.version} (${breaking.map((c) => c.path).join(', ')}). ` +
            `Published versions must never change: undo the edit to version ${v.version} and add \`version: ${next}\` with the new definition (mark version ${v.version} \`status: deprecated\`).`
        )
      } else if (changes.some((c) => c.kind === 'addition')) {
        // One rule, the same as docs/changing-the-tracking-plan.md: additions need no new version.
        const added = entry.versions.find((x) => !oldVersions.has(x.version))
        if (added) {
          out.warnings.push(`published version ${v.version} was edited in place while version ${added.version} is new: undo the edit to version ${v.version}; version ${added.version} carries the change.`)
        } else {
          out.warnings.push(`published version ${v.version} was edited in place with additions only: fine, every stored message still passes and no new version is needed (run \`referral-bridge plan push\` so Segment Protocols gets it too).`)
        }
      }
    } else {
      const base = [...prev.versions].filter((x) => x.version < v.version).sort((a, b) => b.version - a.version)[0] ?? oldLatest
      const changes = base ? diffVersion(entry, base, v) : []
      out.versions.push({
        version: v.version,
        state: 'new',
        comparedWith: base?.version,
        changes: [{ kind: breakingOrAddition(changes), path: `version ${v.version}`, message: `new version ${v.version}${base ? ` (compared with version ${base.version})` : ''}` }, ...changes]
      })
    }
  }
  for (const was of prev.versions) {
    if (newVersions.has(was.version)) continue
    out.versions.push({ version: was.version, state: 'removed', changes: [{ kind: 'breaking', path: `version ${was.version}`, message: `version ${was.version} was removed` }] })
    out.failures.push(`version ${was.version} was deleted: messages stamped with it could no longer be validated or replayed. Keep it and set \`status: retired\` instead.`)
  }
  return out
}

/**
 * A new breaking version is only safe once the adapters send what it requires: every source known to emit the event
 * must fill each required property of the new current version (per the producer map, regenerated from the sources
 * by `referral-bridge plan producers`).
 */
function checkProducers(entry: PlanEntry, out: EntryDiff, map: ProducerMap) {
  const breakingNew = out.versions.filter((v) => v.state === 'new' && v.changes[0]?.kind === 'breaking')
  if (!breakingNew.length) return
  const current = latestVersion(entry)
  if (!current || !breakingNew.some((v) => v.version === current.version)) return
  const required = Object.entries(fieldsOf(entry, current)).filter(([, p]) => p.required).map(([name]) => name)
  const producers = producersOf(map, entry)
  if (!producers.length) {
    out.warnings.push(`no source sample emits "${entry.name}": check by hand that the adapters send what version ${current.version} requires.`)
    return
  }
  for (const p of producers) {
    const missing = required.filter((name) => !p.properties.includes(name))
    if (!missing.length) continue
    out.failures.push(
      `version ${current.version} requires ${missing.map((m) => `"${m}"`).join(', ')}, which source ${p.source} does not send yet: every ${p.source} message would be quarantined ` +
        `(plan preview shows how many). Update src/sources/${p.source}*.ts first, then run \`referral-bridge plan producers\` and \`plan types\`.`
    )
  }
}

function breakingOrAddition(changes: Change[]): ChangeKind {
  return changes.some((c) => c.kind === 'breaking') ? 'breaking' : 'addition'
}

function fieldsOf(entry: PlanEntry, v: PlanVersion): Record<string, PlanProperty> {
  return ((entry.kind === 'track' ? v.properties : v.traits) ?? {}) as Record<string, PlanProperty>
}

export function latestVersion(entry: PlanEntry): PlanVersion | undefined {
  return [...entry.versions].sort((a, b) => b.version - a.version)[0]
}

/** Changes from one version's definition to another (same entry). */
export function diffVersion(entry: PlanEntry, before: PlanVersion, after: PlanVersion): Change[] {
  const changes: Change[] = []
  const field = entry.kind === 'track' ? 'properties' : 'traits'
  if ((before.status ?? 'active') !== (after.status ?? 'active') && before.version === after.version) {
    changes.push({ kind: 'revision', path: 'status', message: `status ${before.status ?? 'active'} → ${after.status ?? 'active'}` })
  }
  const a = fieldsOf(entry, before)
  const b = fieldsOf(entry, after)
  for (const [name, prop] of Object.entries(b)) {
    const path = `${field}.${name}`
    const was = a[name]
    if (!was) {
      changes.push(
        prop.required
          ? { kind: 'breaking', path, message: `new required property "${name}": messages without it now fail` }
          : { kind: 'addition', path, message: `new optional property "${name}" (${typeLabel(prop)})` }
      )
      continue
    }
    changes.push(...diffProperty(path, was, prop))
  }
  for (const name of Object.keys(a)) {
    if (!(name in b)) changes.push({ kind: 'breaking', path: `${field}.${name}`, message: `property "${name}" removed` })
  }
  return changes
}

export function diffProperty(path: string, a: PlanProperty, b: PlanProperty): Change[] {
  const out: Change[] = []
  const add = (kind: ChangeKind, message: string) => out.push({ kind, path, message })
  if (!!a.required !== !!b.required) {
    if (b.required) add('breaking', 'optional → required: messages without it now fail')
    else add('addition', 'required → optional')
  }
  // type
  const ta = types(a)
  const tb = types(b)
  if (ta.join('|') !== tb.join('|')) {
    const covers = (set: string[], t: string) => set.includes(t) || (t === 'integer' && set.includes('number'))
    const widened = ta.every((t) => covers(tb, t))
    add(widened ? 'addition' : 'breaking', `type ${ta.join(' | ') || '(any)'} → ${tb.join(' | ') || '(any)'}${widened ? ' (widened)' : tb.every((t) => covers(ta, t)) ? ' (narrowed)' : ' (changed)'}`)
  }
  // enum
  const ea = a.enum as unknown[] | undefined
  const eb = b.enum as unknown[] | undefined
  if (ea && !eb) add('addition', 'enum removed: any value of the type is now allowed')
  else if (!ea && eb) add('breaking', `values restricted to ${eb.map((x) => JSON.stringify(x)).join(', ')}`)
  else if (ea && eb) {
    const has = (list: unknown[], x: unknown) => list.some((y) => JSON.stringify(y) === JSON.stringify(x))
    for (const x of ea) if (!has(eb, x)) add('breaking', `enum value ${JSON.stringify(x)} removed`)
    for (const x of eb) if (!has(ea, x)) add('addition', `enum value ${JSON.stringify(x)} added`)
  }
  // pattern / format / const: added or changed is breaking (a different regex cannot be proven wider)
  for (const k of ['pattern', 'format', 'const']) {
    const va = a[k]
    const vb = b[k]
    if (JSON.stringify(va) === JSON.stringify(vb)) continue
    if (va === undefined) add('breaking', `${k} ${JSON.stringify(vb)} added`)
    else if (vb === undefined) add('addition', `${k} ${JSON.stringify(va)} removed`)
    else add('breaking', `${k} ${JSON.stringify(va)} → ${JSON.stringify(vb)}`)
  }
  for (const k of [...LOWER_BOUNDS, ...UPPER_BOUNDS]) {
    const va = a[k] as number | undefined
    const vb = b[k] as number | undefined
    if (va === vb) continue
    const lower = LOWER_BOUNDS.includes(k)
    if (va === undefined) add('breaking', `${k} ${vb} added`)
    else if (vb === undefined) add('addition', `${k} ${va} removed`)
    else add((lower ? vb > va : vb < va) ? 'breaking' : 'addition', `${k} ${va} → ${vb} (${(lower ? vb > va : vb < va) ? 'tightened' : 'loosened'})`)
  }
  const handled = new Set(['required', 'type', 'enum', 'pattern', 'format', 'const', ...LOWER_BOUNDS, ...UPPER_BOUNDS])
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (handled.has(k) || JSON.stringify(a[k]) === JSON.stringify(b[k])) continue
    if (DOC_KEYWORDS.has(k)) add('revision', `${k} changed`)
    else if (!VALIDATION_KEYWORDS.has(k)) add('revision', `non-schema key "${k}" ${a[k] === undefined ? 'added' : b[k] === undefined ? 'removed' : 'changed'} (no effect on validation)`)
    else add('breaking', `${k} changed (cannot be proven compatible)`)
  }
  return out
}

function types(p: PlanProperty): string[] {
  const t = p.type === undefined ? [] : Array.isArray(p.type) ? p.type : [p.type]
  return [...new Set(t.map(String))].sort()
}

function typeLabel(p: PlanProperty): string {
  const t = types(p).join(' | ') || 'any'
  return p.enum ? `${t}, one of ${(p.enum as unknown[]).map((x) => JSON.stringify(x)).join(', ')}` : t
}

export function formatDiff(diff: PlanDiff): string[] {
  const lines: string[] = []
  if (!diff.entries.length) return [`tracking plan: no changes since ${diff.ref}`]
  lines.push(`tracking plan changes since ${diff.ref}:`, '')
  const pad = (k: string) => k.padEnd(9)
  for (const e of diff.entries) {
    const label = e.kind === 'track' ? e.name : `identify "${e.name}"`
    lines.push(`${label} (${e.file})${e.state === 'changed' ? '' : ` — ${e.state}`}`)
    for (const c of e.changes) lines.push(`  ${pad(c.kind)} ${c.message}`)
    for (const v of e.versions) {
      if (v.state === 'edited') lines.push(`  version ${v.version} (published, edited in place):`)
      else if (v.state === 'new') lines.push(`  version ${v.version} (new, ${v.changes[0].kind}${v.comparedWith ? `, compared with version ${v.comparedWith}` : ''}):`)
      else lines.push(`  version ${v.version}:`)
      for (const c of v.state === 'new' ? v.changes.slice(1) : v.changes) lines.push(`    ${pad(c.kind)} ${c.path}: ${c.message}`)
      if (v.state === 'new' && v.changes.length === 1) lines.push('    (same definition as before)')
    }
    for (const w of e.warnings) lines.push(`  warning: ${w}`)
    for (const f of e.failures) lines.push(`  ✗ ${f}`)
    lines.push('')
  }
  const s = diff.summary
  lines.push(`${s.addition} addition(s), ${s.revision} revision(s), ${s.breaking} breaking change(s)`)
  lines.push(diff.ok ? (s.breaking ? 'OK: every breaking change comes with a new version, and the sources already send what it requires.' : 'OK: no breaking changes.') : `FAILED: ${s.failures} problem(s) above must be fixed before merging.`)
  return lines
}
