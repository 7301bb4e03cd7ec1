import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testBridge, sign, referralCandyPayload, until, type TestBridge } from '../helpers/bridge.ts'
import { PLAN_DIR } from './support.ts'

/**
 * A plan change goes live without a restart (POST /admin/plan/reload, SIGHUP); a plan that does not lint is refused
 * and the old one keeps checking messages. The plan routes also serve the console's catalogue and preview.
 */
describe('tracking plan in a running bridge', () => {
  let bridge: TestBridge
  let dir: string
  const file = () => join(dir, 'events/referral-created.yaml')
  let n = 0
  /** Posts one ReferralCandy webhook and returns the status of its Referral Created message. */
  async function referralStatus(): Promise<string> {
    const raw = JSON.stringify(referralCandyPayload(1000 + n++))
    const r = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
    expect(r.status).toBe(200)
    const detail = await bridge.admin('GET', `/admin/events/${r.body.ids[0]}`)
    return detail.body.messages.find((m: any) => m.message.event === 'Referral Created').status
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rb-plan-live-'))
    cpSync(PLAN_DIR, dir, { recursive: true })
    bridge = await testBridge({ env: { TRACKING_PLAN_DIR: dir } })
  })
  afterAll(async () => {
    await bridge?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the plan routes need the admin token before anything else', async () => {
    const res = await fetch(`${bridge.url}/admin/plan/preview`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"yaml": "x"' })
    expect(res.status).toBe(401)
    expect((await res.json()).error).toBe('unauthorized')
  })

  it('the catalogue lists every event with producers, consumers and recent counts', async () => {
    expect(await referralStatus()).toBe('routed')
    const { status, body } = await bridge.admin('GET', '/admin/plan')
    expect(status).toBe(200)
    const created = body.entries.find((e: any) => e.name === 'Referral Created')
    expect(created.producers.map((p: any) => p.source)).toContain('referralcandy')
    expect(created.consumers).toEqual(['segment'])
    expect(body.idleDestinations).toEqual([])
    expect(created.recent.routed).toBeGreaterThanOrEqual(1)
    expect(created.versions[0].properties.find((p: any) => p.name === 'friend_id')).toMatchObject({ required: true, type: 'string' })
    expect(created.versions[0].properties.find((p: any) => p.name === 'friend_id').filledBy).toContain('referralcandy')
  })

  it('an invalid plan is refused and the old plan keeps running; a valid change is live at once', async () => {
    const original = readFileSync(file(), 'utf8')
    const before = bridge.plan.fingerprint
    writeFileSync(file(), original.replace('versions:', 'versions: [\n'))
    const refused = await bridge.admin('POST', '/admin/plan/reload')
    expect(refused.status).toBe(422)
    expect(refused.body.running).toBe(before)
    expect(refused.body.errors.join('\n')).toMatch(/referral-created\.yaml:\d+: a \{ or \[ opened here is not closed/)
    expect(bridge.logs.join('')).toContain('tracking plan NOT reloaded')
    expect(await referralStatus()).toBe('routed')

    // Rename a required property in place: what the adapters send no longer matches.
    writeFileSync(file(), original.replace(/\n( +)friend_id:/, '\n$1referred_friend_id:'))
    const ok = await bridge.admin('POST', '/admin/plan/reload')
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ ok: true, changed: true, previous: before })
    expect(ok.body.running).not.toBe(before)
    expect(await referralStatus()).toBe('quarantined')
    expect(bridge.logs.join('')).toContain('tracking plan reloaded')

    // SIGHUP does the same, e.g. after a deploy wrote the files.
    writeFileSync(file(), original)
    process.kill(process.pid, 'SIGHUP')
    await until(async () => (await referralStatus()) === 'routed', 5_000, 'plan restored by SIGHUP')
  })

  it('preview of a proposed file: lint, diff against the running plan, and what recent messages would do', async () => {
    const proposed = readFileSync(file(), 'utf8').replace(/\n( +)friend_id:/, '\n$1referred_friend_id:')
    const { status, body } = await bridge.admin('POST', '/admin/plan/preview', { yaml: proposed })
    expect(status).toBe(200)
    expect(body.path).toBe('events/referral-created.yaml')
    expect(body.errors).toBe(0)
    expect(body.diff.ok).toBe(false)
    const routed = (await bridge.store.recentMessages(0, 1000)).filter((m) => m.status === 'routed' && m.message.type === 'track' && m.message.event === 'Referral Created').length
    expect(body.preview.newlyFailing).toBe(routed)
    expect(body.preview.newReasons[0]).toMatchObject({ event: 'Referral Created', reason: 'properties.referred_friend_id is required but missing' })

    const broken = await bridge.admin('POST', '/admin/plan/preview', { yaml: proposed.replace('type: string', 'type: int') })
    expect(broken.body.errors).toBeGreaterThan(0)
    expect(broken.body.lint.join('\n')).toMatch(/referral-created\.yaml:\d+: property "referral_id": unknown type "int", did you mean "integer"\?/)
    expect(broken.body.preview).toBeUndefined()

    const notPlan = await bridge.admin('POST', '/admin/plan/preview', { yaml: 'hello: world\n' })
    expect(notPlan.status).toBe(422)
    expect(notPlan.body.message).toContain('event: <Name>')
  })
})
