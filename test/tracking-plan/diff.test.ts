import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { PlanRepo } from './support.ts'
import { diffProperty, type PlanDiff } from '../../src/tracking-plan/diff.ts'

const OC = 'events/order-completed.yaml'
const RC = 'events/referral-created.yaml'
const RW = 'events/referral-revenue-won.yaml'

function changesOf(diff: PlanDiff, name: string) {
  const e = diff.entries.find((x) => x.name === name)!
  return { entry: e, all: [...e.changes, ...e.versions.flatMap((v) => v.changes)] }
}

describe('plan diff <ref> on real plan changes', () => {
  let repo: PlanRepo
  beforeEach(() => {
    repo = new PlanRepo()
  })
  afterEach(() => repo.cleanup())

  it('no change: nothing to report, exit 0', async () => {
    const r = await repo.run(['diff', 'main'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('no changes since main')
  })

  it('a new optional property is an addition (passes, with a reminder that version 1 was edited in place)', async () => {
    repo.edit(OC, (d) => {
      d.versions[0].properties.coupon = { type: 'string', description: 'Coupon code used at checkout (Segment Spec).', examples: ['WELCOME10'] }
    })
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(0)
    const diff = JSON.parse(r.out) as PlanDiff
    const { entry, all } = changesOf(diff, 'Order Completed')
    expect(all).toEqual([{ kind: 'addition', path: 'properties.coupon', message: 'new optional property "coupon" (string)' }])
    expect(entry.failures).toEqual([])
    expect(entry.warnings[0]).toContain('published version 1 was edited in place with additions only: fine, every stored message still passes and no new version is needed')
    expect(entry.warnings[0]).not.toContain('prefer')
    expect(diff.summary).toMatchObject({ addition: 1, breaking: 0, failures: 0 })
    const text = await repo.run(['diff', 'main'])
    expect(text.out).toMatch(/addition\s+properties\.coupon: new optional property "coupon"/)
  })

  it('a rename in a new version is not OK while the sources still send the old name (diff joined with the producers)', async () => {
    repo.edit(RC, (d) => {
      const v2 = structuredClone(d.versions[0])
      v2.version = 2
      v2.properties.referred_friend_id = v2.properties.friend_id
      delete v2.properties.friend_id
      d.versions[0].status = 'deprecated'
      d.versions.push(v2)
    })
    const r = await repo.run(['diff', 'main'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('version 2 (new, breaking, compared with version 1):')
    expect(r.out).toContain('version 2 requires "referred_friend_id", which source referralcandy does not send yet: every referralcandy message would be quarantined')
    expect(r.out).not.toContain('OK: every breaking change')
    // The summary counts what is printed.
    const printed = r.out.split('\n').filter((l) => /^\s+breaking\s/.test(l)).length
    expect(r.out).toContain(`${printed} breaking change(s)`)
    expect(printed).toBeGreaterThan(0)
  })

  it('editing version 1 while adding version 2 says to undo the edit, not to add version 3', async () => {
    repo.edit('events/referral-converted.yaml', (d) => {
      d.versions[0].properties.coupon = { type: 'string', description: 'Coupon code.', examples: ['WELCOME10'] }
      const v2 = structuredClone(d.versions[0])
      v2.version = 2
      d.versions[0].status = 'deprecated'
      d.versions.push(v2)
    })
    const r = await repo.run(['diff', 'main'])
    expect(r.out).toContain('published version 1 was edited in place while version 2 is new: undo the edit to version 1; version 2 carries the change.')
    expect(r.out).not.toContain('version: 3')
  })

  it('a narrowed type fails without a new version, and passes as version 2', async () => {
    repo.edit(RW, (d) => {
      d.versions[0].properties.amount.type = 'integer'
    })
    const bad = await repo.run(['diff', 'main'])
    expect(bad.code).toBe(1)
    expect(bad.out).toMatch(/breaking\s+properties\.amount: type number → integer \(narrowed\)/)
    expect(bad.out).toContain('breaking change inside published version 1')
    expect(bad.out).toContain('add `version: 2`')
    expect(bad.out).toContain('FAILED')

    // The right way: version 1 untouched (deprecated), version 2 carries the change.
    repo.git('checkout', '--', '.')
    repo.edit(RW, (d) => {
      const v2 = structuredClone(d.versions[0])
      v2.version = 2
      v2.properties.amount.type = 'integer'
      d.versions[0].status = 'deprecated'
      d.versions.push(v2)
    })
    expect((await repo.run(['lint', 'tracking-plan'])).code).toBe(0)
    const good = await repo.run(['diff', 'main', '--json'])
    expect(good.code).toBe(0)
    const diff = JSON.parse(good.out) as PlanDiff
    const { entry } = changesOf(diff, 'Referral Revenue Won')
    expect(entry.failures).toEqual([])
    const v1 = entry.versions.find((v) => v.version === 1)!
    expect(v1.changes).toEqual([{ kind: 'revision', path: 'status', message: 'status active → deprecated' }])
    const v2 = entry.versions.find((v) => v.version === 2)!
    expect(v2.state).toBe('new')
    expect(v2.comparedWith).toBe(1)
    expect(v2.changes).toContainEqual({ kind: 'breaking', path: 'properties.amount', message: 'type number → integer (narrowed)' })
  })

  it('an enum value removed is breaking', async () => {
    repo.replace(RC, 'enum: [created, visitor, lead, conversion, converted, approved, pending]', 'enum: [created, visitor, lead, conversion, converted, approved]')
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(1)
    const diff = JSON.parse(r.out) as PlanDiff
    const { entry, all } = changesOf(diff, 'Referral Created')
    expect(all).toEqual([{ kind: 'breaking', path: 'properties.status', message: 'enum value "pending" removed' }])
    expect(entry.failures[0]).toContain('add `version: 2`')
  })

  it('a new enum value is an addition', async () => {
    repo.replace(RC, 'enum: [created, visitor, lead, conversion, converted, approved, pending]', 'enum: [created, visitor, lead, conversion, converted, approved, pending, rejected]')
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(0)
    expect(changesOf(JSON.parse(r.out), 'Referral Created').all).toEqual([{ kind: 'addition', path: 'properties.status', message: 'enum value "rejected" added' }])
  })

  it('a new required property and optional → required are breaking', async () => {
    repo.edit(RC, (d) => {
      d.versions[0].properties.campaign_name = { type: 'string', required: true, description: 'Campaign name.', examples: ['Spring'] }
      d.versions[0].properties.referral_code.required = true
    })
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(1)
    const { all, entry } = changesOf(JSON.parse(r.out), 'Referral Created')
    expect(all).toContainEqual({ kind: 'breaking', path: 'properties.campaign_name', message: 'new required property "campaign_name": messages without it now fail' })
    expect(all).toContainEqual({ kind: 'breaking', path: 'properties.referral_code', message: 'optional → required: messages without it now fail' })
    expect(entry.failures).toHaveLength(1)
    expect(entry.failures[0]).toContain('properties.campaign_name')
    expect(entry.failures[0]).toContain('properties.referral_code')
  })

  it('description and example edits are revisions', async () => {
    repo.replace(OC, 'description: "Buyer id."', 'description: "Id of the buyer (the referred friend)."')
    repo.replace(OC, "examples: [jb007]", 'examples: [SPRING-10]')
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(0)
    const { all } = changesOf(JSON.parse(r.out), 'Order Completed')
    expect(all.map((c) => [c.kind, c.path, c.message])).toEqual([
      ['revision', 'properties.referral_code', 'examples changed'],
      ['revision', 'properties.friend_id', 'description changed']
    ])
  })

  it('deleting an event or a version fails (retire instead)', async () => {
    rmSync(join(repo.plan, 'events/referral-revenue-won.yaml'))
    const r = await repo.run(['diff', 'main'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('"Referral Revenue Won" was removed from the plan')
    expect(r.out).toContain('status: retired')
  })

  it('a property removed is breaking', async () => {
    repo.edit(OC, (d) => {
      delete d.versions[0].properties.friend_email
    })
    const r = await repo.run(['diff', 'main', '--json'])
    expect(r.code).toBe(1)
    expect(changesOf(JSON.parse(r.out), 'Order Completed').all).toEqual([{ kind: 'breaking', path: 'properties.friend_email', message: 'property "friend_email" removed' }])
  })

  it('a ref without tracking-plan/ makes everything an addition', async () => {
    const fresh = new PlanRepo({ emptyFirstCommit: true })
    try {
      const r = await fresh.run(['diff', 'HEAD~1', '--json'])
      expect(r.code).toBe(0)
      const diff = JSON.parse(r.out) as PlanDiff
      expect(diff.entries.map((e) => e.state)).toEqual(Array(8).fill('added'))
      expect(diff.summary).toMatchObject({ addition: 8, breaking: 0, revision: 0 })
    } finally {
      fresh.cleanup()
    }
  })

  it('an unknown ref is a clear error', async () => {
    const r = await repo.run(['diff', 'no-such-branch'])
    expect(r.code).toBe(1)
    expect(r.err).toContain('"no-such-branch" is not a git revision')
  })
})

describe('diffProperty classification', () => {
  const base = { type: 'string', description: 'x' }
  it('widened types and removed constraints are additions; added or tightened constraints are breaking', () => {
    expect(diffProperty('p', { type: 'integer' }, { type: 'number' })[0]).toMatchObject({ kind: 'addition' })
    expect(diffProperty('p', { type: 'string' }, { type: ['string', 'null'] })[0]).toMatchObject({ kind: 'addition' })
    expect(diffProperty('p', { type: 'string' }, { type: 'number' })[0]).toMatchObject({ kind: 'breaking', message: 'type string → number (changed)' })
    expect(diffProperty('p', base, { ...base, pattern: '^[A-Z]+$' })[0]).toMatchObject({ kind: 'breaking' })
    expect(diffProperty('p', base, { ...base, format: 'email' })[0]).toMatchObject({ kind: 'breaking' })
    expect(diffProperty('p', { ...base, format: 'email' }, base)[0]).toMatchObject({ kind: 'addition' })
    expect(diffProperty('p', { ...base, maxLength: 10 }, { ...base, maxLength: 5 })[0]).toMatchObject({ kind: 'breaking' })
    expect(diffProperty('p', { ...base, maxLength: 5 }, { ...base, maxLength: 10 })[0]).toMatchObject({ kind: 'addition' })
    expect(diffProperty('p', base, { ...base, enum: ['a'] })[0]).toMatchObject({ kind: 'breaking' })
    expect(diffProperty('p', { ...base, required: true }, base)[0]).toMatchObject({ kind: 'addition', message: 'required → optional' })
    expect(diffProperty('p', base, { ...base, description: 'y', examples: ['a'] }).map((c) => c.kind)).toEqual(['revision', 'revision'])
  })
})
