import { spawn } from 'node:child_process'
import path from 'node:path'
import { buildFunction, listFunctions, projectRoot } from './build.ts'
import { deployFunction } from './deploy.ts'

/**
 * `referral-bridge functions <build|deploy|test>`:
 *   functions build [name]            build one (or every) destination-functions/<name> into dist/functions/<name>.js
 *   functions deploy <name> [--dry-run]  build, then create/update it in Segment via the Public API (dry run: print the diff)
 *   functions test [name]             run that function's tests (vitest) — they exercise the BUILT artifact
 */
export interface FunctionsIo {
  stdout?: { write(s: string): unknown }
  stderr?: { write(s: string): unknown }
  env?: NodeJS.ProcessEnv
  root?: string
  fetch?: typeof fetch
}

const USAGE = `usage:
  referral-bridge functions build [name]
  referral-bridge functions deploy <name> [--dry-run]
  referral-bridge functions test [name]`

export async function functionsCommand(args: string[], io: FunctionsIo = {}): Promise<number> {
  const out = (s: string) => (io.stdout ?? process.stdout).write(s + '\n')
  const err = (s: string) => (io.stderr ?? process.stderr).write(s + '\n')
  const root = io.root ?? projectRoot
  const [sub, ...rest] = args
  const flags = rest.filter((a) => a.startsWith('--'))
  const positional = rest.filter((a) => !a.startsWith('--'))
  const unknownFlag = flags.find((f) => f !== '--dry-run')
  if (unknownFlag) {
    err(`unknown option ${unknownFlag}\n${USAGE}`)
    return 2
  }
  try {
    switch (sub) {
      case 'build': {
        const names = positional[0] ? [positional[0]] : await listFunctions(root)
        if (!names.length) {
          err('no functions found under destination-functions/')
          return 1
        }
        for (const name of names) {
          const built = await buildFunction(name, { root })
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
        const dryRun = flags.includes('--dry-run')
        const r = await deployFunction(name, { dryRun, env: io.env, root, fetch: io.fetch })
        const where = r.id ? ` (${r.id})` : ''
        if (r.action === 'unchanged') out(`${r.displayName}${where}: unchanged, nothing to deploy (sha256 ${r.sha256})`)
        else if (dryRun) out(`dry run: would ${r.action} ${r.displayName}${where}; nothing written\n${r.diff}`)
        else out(`${r.action === 'create' ? 'created' : 'updated'} ${r.displayName}${where} (sha256 ${r.sha256})`)
        return 0
      }
      case 'test': {
        const name = positional[0]
        if (name && !(await listFunctions(root)).includes(name)) {
          err(`no function "${name}" under destination-functions/`)
          return 1
        }
        const target = path.join('destination-functions', name ?? '')
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
