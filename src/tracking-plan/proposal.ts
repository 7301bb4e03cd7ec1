import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import type { Store } from '../queue/store.ts'
import { newAjv, TrackingPlan, type PlanEntry } from './plan.ts'
import { entriesOf, fileNameFor, readPlanFiles, type PlanFile } from './files.ts'
import { formatIssues, lintPlan } from './lint.ts'
import { diffPlans, type PlanDiff } from './diff.ts'
import { readProducers } from './producers.ts'
import { previewPlan, type PreviewReport } from './preview.ts'

/**
 * "Preview this change" in the console: one plan file as marketing ops would commit it (pasted or uploaded), put in
 * place of its namesake in the plan directory, then the three checks a pull request gets — `plan lint` on the
 * result, `plan diff` against the running plan, `plan preview` over recently stored messages. Nothing is written to
 * the plan directory: the check runs on a temporary copy.
 */
export interface ProposalResult {
  /** Where the file would go, e.g. `events/referral-created.yaml`. */
  path: string
  /** `file:line: message` lines (errors and warnings); with errors, diff and preview are left out. */
  lint: string[]
  errors: number
  diff?: PlanDiff
  preview?: PreviewReport
}

export class ProposalError extends Error {}

export async function checkProposal(input: { yaml: string; planDir: string; running: PlanEntry[]; store: Store; since: number; limit?: number }): Promise<ProposalResult> {
  const path = proposedPath(input.yaml)
  const files: PlanFile[] = readPlanFiles(input.planDir).filter((f) => f.path !== path)
  files.push({ path, text: input.yaml })
  const work = mkdtempSync(join(tmpdir(), 'rb-plan-proposal-'))
  try {
    for (const f of files) {
      mkdirSync(join(work, 'tracking-plan', f.path.split('/')[0]), { recursive: true })
      writeFileSync(join(work, 'tracking-plan', f.path), f.text)
    }
    const issues = lintPlan(join(work, 'tracking-plan'), work)
    const errors = issues.filter((i) => i.severity === 'error').length
    const result: ProposalResult = { path, lint: formatIssues(issues), errors }
    if (errors) return result
    const entries = entriesOf(files)
    result.diff = diffPlans(input.running, entries, 'the running plan', readProducers())
    result.preview = await previewPlan(input.store, new TrackingPlan(entries, newAjv()), { since: input.since, limit: input.limit })
    return result
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** The file a pasted plan document belongs in, from its `event:` or `identify:` name. */
function proposedPath(yaml: string): string {
  let doc: unknown
  try {
    doc = parse(yaml)
  } catch {
    // Unparsable: still lint it (that is where the file:line message comes from), under a neutral name.
    return 'events/proposed.yaml'
  }
  const d = doc as Record<string, unknown> | null
  if (!d || typeof d !== 'object') throw new ProposalError('the text is not a plan file: expected "event: <name>" or "identify: <name>" followed by description, owner and versions')
  if (typeof d.event === 'string' && d.event.trim()) return `events/${fileNameFor(d.event)}.yaml`
  if (typeof d.identify === 'string' && d.identify.trim()) return `identify/${fileNameFor(d.identify)}.yaml`
  throw new ProposalError('the file names no event: a plan file starts with "event: <Name>" (or "identify: <Name>")')
}
