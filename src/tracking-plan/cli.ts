import { parseArgs } from 'node:util'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { TrackingPlan, newAjv, type PlanEntry } from './plan.ts'
import { entriesOf, gitPlanFiles, readPlanFiles } from './files.ts'
import { formatIssues, lintPlan } from './lint.ts'
import { diffPlans, formatDiff } from './diff.ts'
import { DEFAULT_TYPES_PATH, generateTypes } from './typegen.ts'
import { generateHtml, generateMarkdown } from './docs.ts'
import { ruleLabel, pullPlan, pushPlan } from './protocols-sync.ts'
import { formatPlanFile } from './format.ts'
import { collectProducers, coverageIssues, PRODUCERS_PATH, readProducers } from './producers.ts'

/**
 * `referral-bridge plan <lint|diff|preview|types|docs|push|pull>`: the tracking plan as code (README "Changing the
 * tracking plan", docs/changing-the-tracking-plan.md). Every command takes the plan directory as its last
 * positional argument (default: $TRACKING_PLAN_DIR or ./tracking-plan). Exit codes: 0 ok, 1 problems found, 2 usage.
 */
export const PLAN_USAGE = `usage: referral-bridge plan <command> [dir]

  lint [dir]                          check the plan files (names, descriptions, types, examples, versions)
  fmt [dir] [--check]                 rewrite the files in the canonical block style (--check: list files that differ)
  diff <git-ref> [dir] [--json]       what changed since <git-ref>; fails on a breaking change without a new version
  preview [dir] [--since 7d] [--limit n] [--json]
                                      re-validate recently stored messages against the working copy
  producers [--check] [--fixtures d]  generate ${PRODUCERS_PATH}: which source emits which event and property,
                                      from each source's normalizer run over its samples (--check: fail if stale)
  types [dir] [--check] [--out file]  generate ${DEFAULT_TYPES_PATH} (--check: fail if stale)
  docs [dir] [--check] [--out-dir d]  generate docs/tracking-plan.md and docs/tracking-plan.html
  push [dir] [--plan-id id] [--dry-run]
                                      replace the rules of a Segment Protocols tracking plan with this plan
  pull [dir] [--plan-id id] [--dry-run]
                                      write YAML for Protocols rules missing here; report differences

dir defaults to $TRACKING_PLAN_DIR or ./tracking-plan. push/pull need SEGMENT_API_TOKEN, and --plan-id or
SEGMENT_TRACKING_PLAN_ID (SEGMENT_API_BASE_URL overrides https://api.segmentapis.com).`

export interface PlanIo {
  err?: { write(s: string): unknown }
  env?: NodeJS.ProcessEnv
  cwd?: string
  fetch?: typeof fetch
  /** Progress callback for preview (default: a line on stderr). */
  progress?: (done: number, total: number) => void
}

export async function planCommand(args: string[], out: { write(s: string): unknown } = process.stdout, io: PlanIo = {}): Promise<number> {
  const print = (s: string) => out.write(s + '\n')
  const printErr = (s: string) => (io.err ?? process.stderr).write(s + '\n')
  const env = io.env ?? process.env
  const cwd = io.cwd ?? process.cwd()
  const [sub, ...rest] = args
  const options = {
    json: { type: 'boolean' },
    check: { type: 'boolean' },
    out: { type: 'string' },
    'out-dir': { type: 'string' },
    since: { type: 'string' },
    fixtures: { type: 'string' },
    limit: { type: 'string' },
    'plan-id': { type: 'string' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean' }
  } as const
  let parsed
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true })
  } catch (err) {
    printErr(`${(err as Error).message}\n\n${PLAN_USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (!sub || sub === 'help' || values.help) {
    print(PLAN_USAGE)
    return sub ? 0 : 2
  }
  const dirArg = (i: number) => resolve(cwd, positionals[i] ?? env.TRACKING_PLAN_DIR ?? 'tracking-plan')
  const show = (p: string) => relative(cwd, p) || '.'

  /** Lint gate for the commands that read the plan: broken files would give misleading output. */
  const lintGate = (dir: string): boolean => {
    if (!existsSync(dir)) {
      printErr(`no tracking plan at ${show(dir)}`)
      return false
    }
    const errors = lintPlan(dir, cwd).filter((i) => i.severity === 'error')
    if (!errors.length) return true
    for (const line of formatIssues(errors)) printErr(line)
    printErr(`${errors.length} lint error(s): fix them first (referral-bridge plan lint ${show(dir)})`)
    return false
  }
  const load = (dir: string): PlanEntry[] => entriesOf(readPlanFiles(dir))

  try {
    switch (sub) {
      case 'lint': {
        const dir = dirArg(0)
        const issues = lintPlan(dir, cwd)
        // Coverage needs a plan that parses, and the producer map (absent outside this repository: skipped).
        const producers = readProducers()
        if (producers && !issues.some((i) => i.severity === 'error')) {
          for (const c of coverageIssues(load(dir).map((e) => ({ ...e, file: show(join(dir, e.file)) })), producers)) {
            issues.push({ severity: 'warning', file: c.file, line: 1, message: `coverage: ${c.message}` })
          }
        }
        for (const line of formatIssues(issues)) print(line)
        const errors = issues.filter((i) => i.severity === 'error').length
        const warnings = issues.length - errors
        const files = readPlanFiles(dir).length
        print(errors ? `${errors} error(s), ${warnings} warning(s) in ${files} file(s)` : `${show(dir)}: ${files} file(s) OK${warnings ? `, ${warnings} warning(s)` : ''}`)
        return errors ? 1 : 0
      }

      case 'fmt': {
        const dir = dirArg(0)
        if (!existsSync(dir)) {
          printErr(`no tracking plan at ${show(dir)}`)
          return 1
        }
        let differing = 0
        let unparsable = 0
        const files = readPlanFiles(dir)
        for (const f of files) {
          const target = join(dir, f.path)
          const formatted = formatPlanFile(f.text)
          if (formatted === undefined) {
            printErr(`${show(target)}: not valid YAML, left as is (referral-bridge plan lint ${show(dir)} says where)`)
            unparsable++
            continue
          }
          if (formatted === f.text) continue
          differing++
          if (values.check) print(`${show(target)} is not in the canonical style`)
          else {
            writeFileSync(target, formatted)
            print(`formatted ${show(target)}`)
          }
        }
        if (values.check && differing) printErr(`${differing} file(s) differ: run \`referral-bridge plan fmt ${show(dir)}\` and commit the result`)
        else print(`${files.length} file(s), ${differing} ${values.check ? 'to format' : 'rewritten'}${unparsable ? `, ${unparsable} not valid YAML` : ''}`)
        return (values.check && differing) || unparsable ? 1 : 0
      }

      case 'diff': {
        const ref = positionals[0]
        if (!ref) {
          printErr(`plan diff needs a git ref (e.g. main or origin/main)\n\n${PLAN_USAGE}`)
          return 2
        }
        const dir = dirArg(1)
        if (!lintGate(dir)) return 1
        const diff = diffPlans(entriesOf(gitPlanFiles(ref, dir)), load(dir), ref, readProducers())
        if (values.json) print(JSON.stringify(diff, null, 2))
        else for (const line of formatDiff(diff)) print(line)
        return diff.ok ? 0 : 1
      }

      case 'preview': {
        const dir = dirArg(0)
        if (!lintGate(dir)) return 1
        const { parseSince } = await import('../server/admin-routes.ts')
        const sinceLabel = values.since ?? '7d'
        const since = parseSince(sinceLabel)
        const limit = values.limit ? Number(values.limit) : undefined
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
          printErr('--limit must be a positive integer')
          return 2
        }
        const { loadConfig, describeDatabase } = await import('../config.ts')
        const { openStore } = await import('../queue/open.ts')
        const { previewPlan, formatPreview } = await import('./preview.ts')
        const databaseUrl = loadConfig(env).databaseUrl
        const plan = new TrackingPlan(load(dir), newAjv())
        const store = await openStore(databaseUrl)
        try {
          let onProgress = io.progress
          if (!onProgress) {
            const { progress } = await import('../cli/progress.ts')
            onProgress = progress('re-validating')
          }
          if (!values.json) printErr(`reading messages stored since ${sinceLabel} from ${describeDatabase(databaseUrl)}`)
          const report = await previewPlan(store, plan, { since, limit, onProgress })
          if (values.json) print(JSON.stringify(report, null, 2))
          else for (const line of formatPreview(report, sinceLabel)) print(line)
          return 0
        } finally {
          await store.close()
        }
      }

      case 'producers': {
        const { loadSources } = await import('../sources/registry.ts')
        const map = collectProducers((await loadSources()).values(), resolve(cwd, values.fixtures ?? 'test/fixtures'))
        for (const [source, s] of Object.entries(map.sources)) {
          for (const f of s.failed) printErr(`warning: ${source} sample ${f}`)
        }
        return writeOrCheck(resolve(cwd, values.out ?? PRODUCERS_PATH), JSON.stringify(map, null, 2) + '\n', !!values.check, 'referral-bridge plan producers', print, printErr, show)
      }

      case 'types': {
        const dir = dirArg(0)
        if (!lintGate(dir)) return 1
        const target = resolve(cwd, values.out ?? DEFAULT_TYPES_PATH)
        const code = generateTypes(load(dir))
        return writeOrCheck(target, code, !!values.check, 'referral-bridge plan types', print, printErr, show)
      }

      case 'docs': {
        const dir = dirArg(0)
        if (!lintGate(dir)) return 1
        const outDir = resolve(cwd, values['out-dir'] ?? 'docs')
        const entries = load(dir)
        const md = writeOrCheck(join(outDir, 'tracking-plan.md'), generateMarkdown(entries), !!values.check, 'referral-bridge plan docs', print, printErr, show)
        const html = writeOrCheck(join(outDir, 'tracking-plan.html'), generateHtml(entries), !!values.check, 'referral-bridge plan docs', print, printErr, show)
        return Math.max(md, html)
      }

      case 'push': {
        const dir = dirArg(0)
        const planId = values['plan-id'] ?? env.SEGMENT_TRACKING_PLAN_ID
        if (!planId) {
          printErr('push needs --plan-id <id> (or SEGMENT_TRACKING_PLAN_ID): the id of the Protocols tracking plan (tp_...)')
          return 2
        }
        if (!lintGate(dir)) return 1
        const dryRun = !!values['dry-run']
        const r = await pushPlan(load(dir), planId, { env, fetch: io.fetch, dryRun })
        if (values.json) {
          print(JSON.stringify(r, null, 2))
          return 0
        }
        const name = r.planName ? `"${r.planName}" (${r.planId})` : r.planId
        if (!r.changes.length) {
          print(`Segment tracking plan ${name} is up to date (${r.rules} rule(s)); nothing to push`)
          return 0
        }
        print(`${dryRun ? 'dry run: would replace' : 'replaced'} the rules of Segment tracking plan ${name} (${r.rules} rule(s)):`)
        for (const c of r.changes) print(`  ${c.change.padEnd(8)} ${ruleLabel(c)}`)
        const count = (k: string) => r.changes.filter((c) => c.change === k).length
        print(`${count('added')} added, ${count('changed')} changed, ${count('removed')} removed${dryRun ? ' — nothing was written (run without --dry-run to apply)' : ''}`)
        return 0
      }

      case 'pull': {
        const dir = dirArg(0)
        const planId = values['plan-id'] ?? env.SEGMENT_TRACKING_PLAN_ID
        if (!planId) {
          printErr('pull needs --plan-id <id> (or SEGMENT_TRACKING_PLAN_ID)')
          return 2
        }
        const entries = existsSync(dir) ? load(dir) : []
        const r = await pullPlan(entries, planId, { env, fetch: io.fetch })
        const dryRun = !!values['dry-run']
        let skipped = 0
        for (const c of r.created) {
          const target = join(dir, c.path)
          if (existsSync(target)) {
            print(`  exists   ${show(target)}: not overwritten (its "${c.name}" does not match; fix the name or merge by hand)`)
            skipped++
            continue
          }
          if (!dryRun) {
            mkdirSync(dirname(target), { recursive: true })
            writeFileSync(target, c.yaml)
          }
          print(`  ${dryRun ? 'would write' : 'wrote'} ${show(target)} (${c.kind === 'track' ? 'event' : 'identify'} "${c.name}", version ${c.versions.join(', ')})`)
        }
        for (const d of r.differences) {
          print(`  differs  ${d.rule}: ${d.message}`)
          for (const c of d.changes ?? []) print(`             here, compared with Segment: ${c.path}: ${c.message}`)
        }
        for (const l of r.localOnly) print(`  local    ${l}: not in Segment yet (plan push adds it)`)
        print(`${r.created.length - skipped} new file(s)${dryRun ? ' (dry run, nothing written)' : ''}, ${r.differences.length} difference(s), ${r.localOnly.length} local-only rule(s)`)
        if (r.created.length - skipped > 0 && !dryRun) print('next: add owners and examples to the new files, then run `referral-bridge plan lint`')
        return 0
      }

      default:
        printErr(`unknown plan command "${sub}"\n\n${PLAN_USAGE}`)
        return 2
    }
  } catch (err) {
    printErr(`error: ${(err as Error).message}`)
    return 1
  }
}

function writeOrCheck(
  target: string,
  content: string,
  check: boolean,
  command: string,
  print: (s: string) => void,
  printErr: (s: string) => void,
  show: (p: string) => string
): number {
  const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined
  if (check) {
    if (current === content) {
      print(`${show(target)} is up to date`)
      return 0
    }
    printErr(`${show(target)} is ${current === undefined ? 'missing' : 'stale'}: the tracking plan changed since it was generated. Run \`${command}\` and commit the result.`)
    return 1
  }
  if (current === content) {
    print(`${show(target)} unchanged`)
    return 0
  }
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, content)
  print(`wrote ${show(target)}`)
  return 0
}
