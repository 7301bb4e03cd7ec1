import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { PlanRepo, runPlan, ROOT } from './support.ts'

/** 1-based line of the first line of `file` containing `needle`. */
function lineWith(repo: PlanRepo, file: string, needle: string): number {
  const i = repo.read(file).split('\n').findIndex((l) => l.includes(needle))
  if (i < 0) throw new Error(`${needle} not in ${file}`)
  return i + 1
}

describe('plan lint', () => {
  let repo: PlanRepo
  beforeEach(() => {
    repo = new PlanRepo({ commit: false })
  })
  afterEach(() => repo.cleanup())

  it('the checked-in plan is clean', async () => {
    const r = await runPlan(['lint'], { cwd: ROOT })
    expect(r.out).toContain('tracking-plan: 8 file(s) OK')
    expect(r.code).toBe(0)
  })

  it('a camelCase property name is reported at its file:line', async () => {
    repo.replace('events/order-completed.yaml', '      order_id:', '      orderId:')
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    const line = lineWith(repo, 'events/order-completed.yaml', 'orderId:')
    expect(r.out).toContain(`tracking-plan/events/order-completed.yaml:${line}: property "orderId" must be snake_case, e.g. "order_id"`)
    expect(r.out).toMatch(/1 error\(s\)/)
  })

  it('a lower-case event name, a missing description and an invalid example, each on its own line', async () => {
    repo.replace('events/referral-created.yaml', 'event: Referral Created', 'event: referral created')
    repo.replace('events/referral-created.yaml', '        description: "Code or link token the friend used."\n', '')
    repo.replace('events/referral-created.yaml', 'examples: [converted]', 'examples: [converted, won]')
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    const f = 'tracking-plan/events/referral-created.yaml'
    expect(r.out).toContain(`${f}:1: event name "referral created" must be Title Case, e.g. "Referral Created"`)
    expect(r.out).toContain(`${f}:${lineWith(repo, 'events/referral-created.yaml', 'referral_code:')}: property "referral_code" has no description`)
    const exampleLine = lineWith(repo, 'events/referral-created.yaml', 'examples: [converted, won]')
    expect(r.out).toContain(`${f}:${exampleLine}: property "status": example "won" is invalid: must be one of "created", "visitor", "lead", "conversion", "converted", "approved", "pending"`)
  })

  it('typos in keywords, Spec types, versions and YAML syntax', async () => {
    repo.replace('events/order-completed.yaml', "pattern: '^[A-Z]{3}$'", "patern: '^[A-Z]{3}$'")
    repo.replace('events/order-completed.yaml', 'revenue:\n        type: number', 'revenue:\n        type: string')
    repo.replace('events/order-completed.yaml', 'examples: [25]\n', "examples: ['25']\n")
    repo.edit('events/referral-reward-earned.yaml', (d) => {
      d.versions.push({ ...d.versions[0] })
    })
    repo.write('events/referred-friend-signed-up.yaml', repo.read('events/referred-friend-signed-up.yaml').replace('versions:', 'versions: [\n'))
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/order-completed\.yaml:\d+: unknown key "patern" in property "currency": did you mean "pattern"\?/)
    expect(r.out).toMatch(/order-completed\.yaml:\d+: property "revenue" is defined by the Segment Spec as number/)
    expect(r.out).toMatch(/referral-reward-earned\.yaml:\d+: version 1 is listed twice/)
    expect(r.out).toMatch(/referral-reward-earned\.yaml:\d+: 2 versions are active/)
    expect(r.out).toMatch(/referred-friend-signed-up\.yaml:\d+: a \{ or \[ opened here is not closed/)
  })

  it('a new version needs the older one deprecated, and versions must increase', async () => {
    repo.edit('events/order-completed.yaml', (d) => {
      d.versions.unshift({ ...d.versions[0], version: 3 })
    })
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('versions must increase: 1 comes after 3')
  })

  it('missing owner and examples of optional properties are warnings; a required property needs an example', async () => {
    repo.replace('events/order-completed.yaml', 'owner: marketing-ops\n', '')
    repo.replace('events/order-completed.yaml', '        examples: [jb007]\n', '')
    let r = await repo.run(['lint'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('order-completed.yaml:1: warning: missing owner')
    expect(r.out).toMatch(/order-completed\.yaml:\d+: warning: property "referral_code" has no examples/)
    expect(r.out.split('\n').filter((l) => l.includes('warning:') && !l.includes('coverage:'))).toHaveLength(2)
    repo.replace('events/order-completed.yaml', "        examples: ['820982911946154508']\n", '')
    r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/order-completed\.yaml:\d+: required property "order_id" has no examples/)
  })
})
