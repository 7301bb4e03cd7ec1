import { lintPlan, formatIssues } from './lint.ts'
import { loadTrackingPlan, type TrackingPlan } from './plan.ts'

/**
 * Loading a changed plan into a running bridge: the files are linted first (the same gate as `plan lint`); on any
 * error the caller keeps the plan it has, so a half-saved or broken file never stops messages from being checked.
 */
export type PlanReload =
  | { ok: true; plan: TrackingPlan; changed: boolean }
  | { ok: false; errors: string[] }

export function reloadTrackingPlan(dir: string, current: TrackingPlan): PlanReload {
  let issues
  try {
    issues = lintPlan(dir).filter((i) => i.severity === 'error')
  } catch (err) {
    return { ok: false, errors: [`${dir}: ${(err as Error).message}`] }
  }
  if (issues.length) return { ok: false, errors: formatIssues(issues) }
  const plan = loadTrackingPlan(dir)
  return { ok: true, plan: plan.fingerprint === current.fingerprint ? current : plan, changed: plan.fingerprint !== current.fingerprint }
}
