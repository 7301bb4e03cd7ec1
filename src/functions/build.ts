import { transform } from 'esbuild'
import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Builds `destination-functions/<name>/index.ts` into ONE plain script, `dist/functions/<name>.js`, that can be
 * pasted into Segment's editor or sent through the Public API: top-level `async function onTrack/onIdentify/onBatch`
 * declarations, no import/require/export, Node 20 syntax, not minified (people read it in Segment).
 *
 * esbuild `transform` (not `build`) strips the types and keeps the top-level declarations as they are. The source
 * may end with `export {}` (so the type checker treats it as a module); that statement is removed. Anything else
 * that would need a module system fails the build. Output is deterministic: same source ⇒ same sha256.
 */
export interface BuiltFunction {
  name: string
  path: string
  code: string
  sha256: string
}

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export class FunctionBuildError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FunctionBuildError'
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9-_]*$/
const HANDLER_RE = /^async function (onIdentify|onTrack|onPage|onScreen|onGroup|onAlias|onDelete|onBatch)\s*\(/m

export async function listFunctions(root = projectRoot, functionsDir?: string): Promise<string[]> {
  const dir = functionsDir ?? path.join(root, 'destination-functions')
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  const names: string[] = []
  for (const e of entries) {
    if (!e.isDirectory()) continue
    const ok = await stat(path.join(dir, e.name, 'index.ts')).then(() => true, () => false)
    if (ok) names.push(e.name)
  }
  return names.sort()
}

/** Problems that would make the script fail (or behave differently) in Segment's runtime. */
export function checkArtifact(code: string): string[] {
  const problems: string[] = []
  const lines = code.split('\n')
  lines.forEach((line, i) => {
    const at = `line ${i + 1}: ${line.trim().slice(0, 120)}`
    if (/\brequire\s*\(/.test(line)) problems.push(`uses require(): Segment functions cannot load modules (${at})`)
    if (/^\s*import\s*[\w{*'"]/.test(line) || /\bimport\s*\(/.test(line)) problems.push(`imports a module: use the documented globals instead (${at})`)
    if (/^\s*export\s/.test(line)) problems.push(`exports: a Segment function is a plain script, handlers are top-level declarations (${at})`)
  })
  if (!HANDLER_RE.test(code)) problems.push('declares no top-level `async function onTrack/onIdentify/.../onBatch` handler')
  return problems
}

export interface BuildOptions {
  root?: string
  outDir?: string
  /** Where the function folders are (default `<root>/destination-functions`; the bridge's FUNCTIONS_DIR). */
  functionsDir?: string
}

export async function buildFunction(name: string, opts: BuildOptions = {}): Promise<BuiltFunction> {
  if (!NAME_RE.test(name)) throw new FunctionBuildError(`invalid function name "${name}"`)
  const root = opts.root ?? projectRoot
  const source = path.join(opts.functionsDir ?? path.join(root, 'destination-functions'), name, 'index.ts')
  const ts = await readFile(source, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new FunctionBuildError(`no function "${name}": ${path.relative(root, source)} does not exist`)
    throw err
  })
  let js: string
  try {
    const out = await transform(ts, {
      loader: 'ts',
      target: 'node20',
      sourcefile: path.relative(root, source),
      minify: false,
      legalComments: 'inline'
    })
    js = out.code
  } catch (err) {
    throw new FunctionBuildError(`esbuild could not compile ${path.relative(root, source)}: ${(err as Error).message}`)
  }
  // The module marker only; a real export is an error below.
  js = js.replace(/^export\s*\{\s*\};?\s*$/m, '').trimEnd()
  const code =
    `// ${name} destination function for Segment (Functions runtime, Node 20).\n` +
    `// Built from destination-functions/${name}/index.ts by \`referral-bridge functions build ${name}\`; do not edit.\n` +
    `${js}\n`
  const problems = checkArtifact(code)
  if (problems.length) {
    throw new FunctionBuildError(`${name}: the built script is not a self-contained Segment function:\n  - ${problems.join('\n  - ')}`)
  }
  const outDir = opts.outDir ?? path.join(root, 'dist', 'functions')
  await mkdir(outDir, { recursive: true })
  const file = path.join(outDir, `${name}.js`)
  // Write-then-rename: parallel builds (test workers) never expose a half-written file.
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(tmp, code)
  await rename(tmp, file)
  return { name, path: file, code, sha256: createHash('sha256').update(code).digest('hex') }
}

const cached = new Map<string, Promise<BuiltFunction>>()

/** Builds once per process (the registry calls this at startup). */
export function builtFunction(name: string, functionsDir?: string): Promise<BuiltFunction> {
  const key = `${functionsDir ?? ''}\0${name}`
  let p = cached.get(key)
  if (!p) {
    // A folder outside the project (FUNCTIONS_DIR, tests) builds next to itself, never into our dist/.
    p = buildFunction(name, functionsDir ? { functionsDir, outDir: path.join(functionsDir, '.dist') } : {})
    p.catch(() => cached.delete(key))
    cached.set(key, p)
  }
  return p
}
