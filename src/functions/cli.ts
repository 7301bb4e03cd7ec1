import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { buildFunction, listFunctions, projectRoot } from './build.ts'
import { deployFunction } from './deploy.ts'
import { runEvent } from './run-event.ts'
import { scaffoldFunction } from './scaffold.ts'
import { defaultFunctionsDir } from '../runtime/function-folder.ts'

/**
 * `referral-bridge functions <new|build|deploy|test>`:
 *   functions new <name>                 scaffold destination-functions/<name>/ (index.ts, function.json, an example event)
 *   functions build [name]               build one (or every) function into dist/functions/<name>.js
 *   functions deploy <name> [--dry-run] [--source <sourceId>]
 *                                        create/update it in Segment via the Public API (dry run: print the diff);
 *                                        with --source (or SEGMENT_SOURCE_ID) also create/update its destination
 *                                        instance on that source with the settings from env
 *   functions test <name> --event <file.json> [--settings k=v ...]
 *                                        run the event(s) through the built artifact in the bridge's runtime, print
 *                                        the HTTP calls and the outcome (ok / retry / discarded), like Segment's "Run"
 *   functions test [name]                run that function's test files (vitest); they exercise the BUILT artifact
 */
export interface FunctionsIo {
  stdout?: { write(s: string): unknown }
  stderr?: { write(s: string): unknown }
  env?: NodeJS.ProcessEnv
  root?: string
  fetch?: typeof fetch
}

const USAGE = `usage:
  referral-bridge functions new <name>
  referral-bridge functions build [name]
  referral-bridge functions deploy <name> [--dry-run] [--source <sourceId>]
  referral-bridge functions test <name> --event <file.json> [--settings key=value ...]
  referral-bridge functions test [name]`

const VALUE_FLAGS = new Set(['--event', '--settings', '--source'])

function parseArgs(rest: string[]): { positional: string[]; flags: Map<string, string[]>; bad?: string } {
  const positional: string[] = []
  const flags = new Map<string, string[]>()
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    if (!a.startsWith('--')) {
      positional.push(a)
      continue
    }
    const [flag, inline] = a.includes('=') && VALUE_FLAGS.has(a.slice(0, a.indexOf('='))) ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    if (flag === '--dry-run') {
      flags.set(flag, [])
      continue
    }
    if (!VALUE_FLAGS.has(flag)) return { positional, flags, bad: `unknown option ${flag}` }
    const value = inline ?? rest[++i]
    if (value === undefined) return { positional, flags, bad: `${flag} needs a value` }
    flags.set(flag, [...(flags.get(flag) ?? []), value])
  }
  return { positional, flags }
}

export async function functionsCommand(args: string[], io: FunctionsIo = {}): Promise<number> {
  const out = (s: string) => (io.stdout ?? process.stdout).write(s + '\n')
  const err = (s: string) => (io.stderr ?? process.stderr).write(s + '\n')
  const root = io.root ?? projectRoot
  const env = io.env ?? process.env
  const functionsDir = env.FUNCTIONS_DIR || defaultFunctionsDir(root)
  const [sub, ...rest] = args
  const { positional, flags, bad } = parseArgs(rest)
  if (bad) {
    err(`${bad}\n${USAGE}`)
    return 2
  }
  try {
    switch (sub) {
      case 'new': {
        const name = positional[0]
        if (!name) {
          err(USAGE)
          return 2
        }
        const files = await scaffoldFunction(name, functionsDir)
        for (const f of files) out(`created ${path.relative(root, f)}`)
        out(`next: edit index.ts and function.json, then \`referral-bridge functions test ${name} --event ${path.relative(root, path.join(functionsDir, name, 'events', 'track.json'))} --settings apiKey=...\``)
        return 0
      }
      case 'build': {
        const names = positional[0] ? [positional[0]] : await listFunctions(root, functionsDir)
        if (!names.length) {
          err('no functions found under destination-functions/')
          return 1
        }
        for (const name of names) {
          const built = await buildFunction(name, { root, functionsDir })
          out(`built ${name} → ${path.relative(root, built.path)} (${built.code.length} bytes, sha256 ${built.sha256})`)
        }
        return 0
      }
      case 'deploy': {
        const name = positional[0]
        if (!name) {
          err(USAGE)
          return 2
        }
        const dryRun = flags.has('--dry-run')
        const sourceId = flags.get('--source')?.[0] ?? (env.SEGMENT_SOURCE_ID || undefined)
        const r = await deployFunction(name, { dryRun, env, root, fetch: io.fetch, sourceId })
        const where = r.id ? ` (${r.id})` : ''
        if (r.action === 'unchanged') out(`${r.displayName}${where}: unchanged, nothing to deploy (sha256 ${r.sha256})`)
        else if (dryRun) out(`dry run: would ${r.action} ${r.displayName}${where}; nothing written\n${r.diff}`)
        else out(`${r.action === 'create' ? 'created' : 'updated'} ${r.displayName}${where} (sha256 ${r.sha256})`)
        if (r.instance) {
          const i = r.instance
          out(`${dryRun ? 'dry run: would ' : ''}${i.action === 'unchanged' ? 'destination instance unchanged' : `${i.action === 'create' ? 'create' : 'update'}${dryRun ? '' : 'd'} destination instance`} "${i.name}"${i.id ? ` (${i.id})` : ''} on source ${i.sourceId}; settings: ${i.settingNames.join(', ') || 'none'}${i.missing.length ? `; not set (no env var): ${i.missing.join(', ')}` : ''}`)
        } else {
          out(`next: connect it to a source: Segment → Connections → Destinations → Add destination → Functions → "${r.displayName}", or run again with --source <sourceId> (or SEGMENT_SOURCE_ID) to create the instance and its settings from env`)
        }
        return 0
      }
      case 'test': {
        const name = positional[0]
        if (name && !(await listFunctions(root, functionsDir)).includes(name)) {
          err(`no function "${name}" under ${path.relative(root, functionsDir) || functionsDir}/`)
          return 1
        }
        const eventFile = flags.get('--event')?.[0]
        if (eventFile) {
          if (!name) {
            err(USAGE)
            return 2
          }
          return await testEvent(name, eventFile, flags.get('--settings') ?? [], { out, err, env, root, functionsDir })
        }
        if (flags.has('--settings')) {
          err(`--settings needs --event\n${USAGE}`)
          return 2
        }
        const target = path.join(path.relative(root, functionsDir) || '.', name ?? '')
        return await new Promise<number>((resolve) => {
          const child = spawn(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', target], {
            cwd: root,
            stdio: 'inherit',
            env: { ...process.env, ...io.env }
          })
          child.on('exit', (code) => resolve(code ?? 1))
          child.on('error', (e) => {
            err(`could not start vitest: ${e.message}`)
            resolve(1)
          })
        })
      }
      default:
        err(USAGE)
        return sub ? 2 : 1
    }
  } catch (e) {
    err(`functions ${sub}: ${(e as Error).message}`)
    return 1
  }
}

async function testEvent(
  name: string,
  eventFile: string,
  settingArgs: string[],
  ctx: { out: (s: string) => unknown; err: (s: string) => unknown; env: NodeJS.ProcessEnv; root: string; functionsDir: string }
): Promise<number> {
  const settings: Record<string, string> = {}
  for (const kv of settingArgs) {
    const eq = kv.indexOf('=')
    if (eq <= 0) {
      ctx.err(`--settings expects key=value, got "${kv}"`)
      return 2
    }
    settings[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  let events: unknown
  try {
    events = JSON.parse(await readFile(path.resolve(eventFile), 'utf8'))
  } catch (e) {
    ctx.err(`--event ${eventFile}: ${(e as Error).message}`)
    return 2
  }
  const count = Array.isArray(events) ? events.length : 1
  ctx.out(`running ${name} on ${count} event${count === 1 ? '' : 's'}${count > 1 ? ' (onBatch when defined)' : ''}...`)
  const r = await runEvent({ name, events, settings, env: ctx.env, functionsDir: ctx.functionsDir, root: ctx.root })
  if (r.sandboxed) ctx.out(`(no credentials: using the ${name} sandbox)`)
  ctx.out(`HTTP calls (${r.calls.length}):`)
  for (const c of r.calls) ctx.out(`  ${c.method} ${c.url} → ${c.status ?? c.error ?? 'no answer'}`)
  r.results.forEach((res, i) => {
    const prefix = count > 1 ? `event ${i}: ` : ''
    if (res.status === 'delivered') ctx.out(`${prefix}ok`)
    else if (res.status === 'retry') ctx.out(`${prefix}retry: ${res.error}`)
    else if (res.status === 'permanent') ctx.out(`${prefix}discarded: ${res.error}`)
    else ctx.out(`${prefix}discarded: ${res.reason}`)
  })
  ctx.out(`outcome: ${r.outcome}`)
  return r.outcome === 'ok' ? 0 : 1
}
