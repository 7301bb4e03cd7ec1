import { describe, it, expect, afterEach } from 'vitest'
import { PlanRepo, runPlan, ROOT } from './support.ts'
import { formatPlanFile } from '../../src/tracking-plan/format.ts'

const FLOW = `# Owned by marketing ops.
owner: marketing-ops
event: Referral Created
description: A friend was referred.
versions:
  - properties:
      referral_id: { description: 'Platform referral id, as shown in the platform.', required: true, type: string, examples: [r1] }
      status: { type: string, enum: [created, converted], description: State., examples: [created] }
    version: 1
    status: active
`

describe('plan fmt', () => {
  let repo: PlanRepo | undefined
  afterEach(() => repo?.cleanup())

  it('rewrites one-line definitions into block style, quotes descriptions, orders keys, keeps comments', () => {
    expect(formatPlanFile(FLOW)).toBe(`# Owned by marketing ops.
event: Referral Created
description: "A friend was referred."
owner: marketing-ops
versions:
  - version: 1
    status: active
    properties:
      referral_id:
        type: string
        required: true
        description: "Platform referral id, as shown in the platform."
        examples: [r1]
      status:
        type: string
        enum: [created, converted]
        description: "State."
        examples: [created]
`)
    expect(formatPlanFile(formatPlanFile(FLOW)!)).toBe(formatPlanFile(FLOW))
    expect(formatPlanFile('a: { b: c: d }')).toBeUndefined()
  })

  it('the checked-in plan is in the canonical style (what CI runs); --check names a file that is not', async () => {
    expect((await runPlan(['fmt', '--check'], { cwd: ROOT })).code).toBe(0)
    repo = new PlanRepo({ commit: false })
    repo.write('events/referral-created.yaml', FLOW)
    const check = await repo.run(['fmt', '--check'])
    expect(check.code).toBe(1)
    expect(check.out).toContain('tracking-plan/events/referral-created.yaml is not in the canonical style')
    expect(repo.read('events/referral-created.yaml')).toBe(FLOW)
    const fmt = await repo.run(['fmt'])
    expect(fmt.code).toBe(0)
    expect(fmt.out).toContain('formatted tracking-plan/events/referral-created.yaml')
    expect(repo.read('events/referral-created.yaml')).toBe(formatPlanFile(FLOW))
  })
})
