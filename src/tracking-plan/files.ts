import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, type Document, type Node } from 'yaml'
import type { PlanEntry } from './plan.ts'

/**
 * The tracking plan as files: `events/*.yaml` and `identify/*.yaml` under a directory, read either from the
 * working copy or from a git revision (`git show <ref>:<path>`), parsed with positions so every finding can
 * point at `file:line`.
 */
export interface PlanFile {
  /** Path relative to the plan directory, e.g. `events/order-completed.yaml`. */
  path: string
  text: string
}

export interface ParsedPlanFile extends PlanFile {
  doc: Document
  lines: LineCounter
  /** Plain JS value of the document (undefined when the YAML does not parse). */
  data: Record<string, any> | undefined
}

export const PLAN_SUBDIRS = ['identify', 'events'] as const

export function readPlanFiles(dir: string): PlanFile[] {
  const files: PlanFile[] = []
  for (const sub of PLAN_SUBDIRS) {
    let names: string[] = []
    try {
      names = readdirSync(join(dir, sub)).filter((f) => /\.ya?ml$/.test(f)).sort()
    } catch {
      continue
    }
    for (const name of names) files.push({ path: `${sub}/${name}`, text: readFileSync(join(dir, sub, name), 'utf8') })
  }
  return files
}

/**
 * The plan files as they were at `ref`. Paths are resolved relative to `dir` (git understands `<ref>:./path`),
 * so this works wherever the plan sits in the repository. A ref without the directory yields no files
 * (everything in the working copy is then an addition); an unknown ref throws.
 */
export function gitPlanFiles(ref: string, dir: string): PlanFile[] {
  const git = (args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
  try {
    git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])
  } catch {
    throw new Error(`"${ref}" is not a git revision known in ${dir} (try main, origin/main, HEAD~1 or a commit id)`)
  }
  const listing = git(['ls-tree', '-r', '--name-only', ref, '--', '.'])
  const files: PlanFile[] = []
  for (const path of listing.split('\n').filter(Boolean).sort()) {
    const [sub, name, ...rest] = path.split('/')
    if (rest.length || !name || !(PLAN_SUBDIRS as readonly string[]).includes(sub) || !/\.ya?ml$/.test(name)) continue
    files.push({ path, text: git(['show', `${ref}:./${path}`]) })
  }
  // Same order as readPlanFiles: identify first, then events, each sorted.
  return PLAN_SUBDIRS.flatMap((sub) => files.filter((f) => f.path.startsWith(`${sub}/`)))
}

export function parsePlanFile(file: PlanFile): ParsedPlanFile {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, prettyErrors: false })
  let data: Record<string, any> | undefined
  if (!doc.errors.length) {
    const value = doc.toJS()
    data = value && typeof value === 'object' && !Array.isArray(value) ? value : undefined
  }
  return { ...file, doc, lines, data }
}

/** The entry a parsed file describes (same shape loadPlanEntries produces); undefined for unparsable files. */
export function entryOf(file: ParsedPlanFile, fileLabel = file.path): PlanEntry | undefined {
  const d = file.data
  if (!d) return undefined
  return {
    kind: d.event !== undefined ? 'track' : 'identify',
    name: d.event ?? d.identify,
    description: d.description ?? '',
    owner: d.owner,
    file: fileLabel,
    versions: Array.isArray(d.versions) ? d.versions : []
  }
}

export function entriesOf(files: PlanFile[]): PlanEntry[] {
  return files.map(parsePlanFile).flatMap((f) => entryOf(f) ?? [])
}

/**
 * 1-based line of the node at `path` (map keys by name, sequence items by index). For a map entry the line of
 * its key, so `properties.status` points at `status:`. Falls back to the deepest ancestor that exists.
 */
export function lineOf(file: ParsedPlanFile, path: Array<string | number>): number {
  let node: unknown = file.doc.contents
  let offset = (node as Node | null)?.range?.[0] ?? 0
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
      if (!pair) break
      offset = (pair.key as Node).range?.[0] ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined
      if (!item) break
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      break
    }
  }
  return file.lines.linePos(offset).line
}

/** `events/order-completed.yaml` → the `Order Completed` file name convention (kebab-case of the name). */
export function fileNameFor(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}
