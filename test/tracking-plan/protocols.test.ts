import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSegmentProtocolsSandbox } from '../../src/sandboxes/segment-protocols.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { planRules, versionFromRule } from '../../src/tracking-plan/protocols-sync.ts'
import { loadPlanEntries } from '../../src/tracking-plan/plan.ts'
import { PlanRepo, PLAN_DIR } from './support.ts'

const MEDIA = 'application/vnd.segment.v1+json'

describe('Segment Protocols sandbox', () => {
  let sb: ReturnType<typeof createSegmentProtocolsSandbox>
  let srv: Awaited<ReturnType<typeof serveSandbox>>
  const call = (method: string, path: string, body?: unknown, token: string | null = 'tok') =>
    fetch(`${srv.url}${path}`, {
      method,
      headers: { accept: MEDIA, 'content-type': MEDIA, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {})
    })
  beforeEach(async () => {
    sb = createSegmentProtocolsSandbox({ token: 'tok' })
    srv = await serveSandbox(sb.router)
  })
  afterEach(() => srv.close())

  it('401 without the bearer token, 404 for an unknown plan, {data} wrapping, replace and paginate rules', async () => {
    expect((await call('GET', '/tracking-plans', undefined, null)).status).toBe(401)
    expect((await call('GET', '/tracking-plans', undefined, 'wrong')).status).toBe(401)
    expect((await call('GET', '/tracking-plans/tp_nope/rules')).status).toBe(404)
    expect((await call('POST', '/tracking-plans', { name: 'x' })).status).toBe(400)
    const created = await call('POST', '/tracking-plans', { name: 'Referrals', type: 'LIVE' })
    expect(created.headers.get('content-type')).toContain(MEDIA)
    const plan = ((await created.json()) as { data: { trackingPlan: { id: string; name: string } } }).data.trackingPlan
    expect(plan.id).toMatch(/^tp_/)
    const rules = Array.from({ length: 5 }, (_, i) => ({ type: 'TRACK', key: `Event ${i}`, version: 1, jsonSchema: { type: 'object' } }))
    expect((await call('PUT', `/tracking-plans/${plan.id}/rules`, { rules: [...rules, rules[0]] })).status).toBe(400) // duplicate
    expect((await call('PUT', `/tracking-plans/${plan.id}/rules`, { rules: [{ type: 'TRACK', version: 1, jsonSchema: {} }] })).status).toBe(400) // no key
    const put = await call('PUT', `/tracking-plans/${plan.id}/rules`, { rules })
    expect(await put.json()).toEqual({ data: { status: 'SUCCESS' } })
    const page1 = (await (await call('GET', `/tracking-plans/${plan.id}/rules?pagination.count=2`)).json()) as { data: { rules: Array<{ key: string }>; pagination: { next?: string } } }
    expect(page1.data.rules.map((r) => r.key)).toEqual(['Event 0', 'Event 1'])
    expect(page1.data.pagination.next).toBe('2')
    await call('PATCH', `/tracking-plans/${plan.id}/rules`, { rules: [{ type: 'TRACK', key: 'Event 0', newKey: 'Event Zero', version: 1, jsonSchema: { type: 'object' } }] })
    await call('DELETE', `/tracking-plans/${plan.id}/rules`, { rules: [{ type: 'TRACK', key: 'Event 4', version: 1 }] })
    expect(sb.state.plans.get(plan.id)!.rules.map((r) => r.key)).toEqual(['Event Zero', 'Event 1', 'Event 2', 'Event 3'])
    expect(sb.state.writes.map((w) => w.method)).toEqual(['POST', 'PUT', 'PATCH', 'DELETE'])
    await fetch(`${srv.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 429, retryAfterSeconds: 1, count: 1 }) })
    const throttled = await call('GET', `/tracking-plans/${plan.id}`)
    expect(throttled.status).toBe(429)
    expect(throttled.headers.get('retry-after')).toBe('1')
  })
})

describe('plan push / pull against the Protocols sandbox over HTTP', () => {
  let sb: ReturnType<typeof createSegmentProtocolsSandbox>
  let srv: Awaited<ReturnType<typeof serveSandbox>>
  let repo: PlanRepo
  let planId: string
  let env: NodeJS.ProcessEnv

  beforeEach(async () => {
    sb = createSegmentProtocolsSandbox({ token: 'tok' })
    srv = await serveSandbox(sb.router)
    repo = new PlanRepo({ commit: false })
    const res = await fetch(`${srv.url}/tracking-plans`, {
      method: 'POST',
      headers: { authorization: 'Bearer tok', 'content-type': MEDIA },
      body: JSON.stringify({ name: 'Referral bridge', type: 'LIVE' })
    })
    planId = ((await res.json()) as { data: { trackingPlan: { id: string } } }).data.trackingPlan.id
    sb.state.writes.length = 0
    env = { SEGMENT_API_TOKEN: 'tok', SEGMENT_API_BASE_URL: srv.url }
  })
  afterEach(async () => {
    await srv.close()
    repo.cleanup()
  })

  it('push --dry-run shows the rule-level change and writes nothing; push replaces; a second push is a no-op', async () => {
    const dry = await repo.run(['push', '--plan-id', planId, '--dry-run'], { env })
    expect(dry.err).toBe('')
    expect(dry.code).toBe(0)
    expect(dry.out).toContain(`dry run: would replace the rules of Segment tracking plan "Referral bridge" (${planId}) (10 rule(s)):`)
    expect(dry.out).toContain('added    TRACK "Referral Created" v1')
    expect(dry.out).toContain('added    IDENTIFY v1')
    expect(dry.out).toContain('10 added, 0 changed, 0 removed — nothing was written')
    expect(sb.state.writes).toEqual([])
    expect(sb.state.plans.get(planId)!.rules).toEqual([])

    const push = await repo.run(['push', '--plan-id', planId], { env })
    expect(push.code).toBe(0)
    expect(push.out).toContain('replaced the rules of Segment tracking plan')
    expect(sb.state.writes.map((w) => w.method)).toEqual(['PUT'])
    const remote = sb.state.plans.get(planId)!.rules
    expect(remote).toHaveLength(10)
    const rc = remote.find((r) => r.key === 'Referral Created')!
    expect(rc).toMatchObject({ type: 'TRACK', version: 1 })
    const schema = rc.jsonSchema as any
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#')
    expect(schema.properties.properties.required).toContain('status')
    expect(schema.properties.properties.properties.status.enum).toContain('converted')
    expect(remote.find((r) => r.type === 'IDENTIFY')!.key).toBeUndefined()

    const again = await repo.run(['push', '--plan-id', planId], { env })
    expect(again.out).toContain('is up to date (10 rule(s)); nothing to push')
    expect(sb.state.writes).toHaveLength(1)

    // A plan change: Order Completed version 3, version 2 retired → v3 added, v2 removed from Segment.
    repo.edit('events/order-completed.yaml', (d) => {
      const current = d.versions[d.versions.length - 1]
      const v3 = structuredClone(current)
      v3.version = 3
      v3.properties.coupon = { type: 'string', description: 'Coupon used.', examples: ['SPRING'] }
      current.status = 'retired'
      d.versions.push(v3)
    })
    repo.replace('events/referral-created.yaml', 'description: "Friend email."', 'description: "Email of the friend."')
    const change = await repo.run(['push', '--plan-id', planId, '--dry-run'], { env })
    expect(change.out).toContain('added    TRACK "Order Completed" v3')
    expect(change.out).toContain('removed  TRACK "Order Completed" v2')
    expect(change.out).toContain('changed  TRACK "Referral Created" v1')
    expect(change.out).toContain('1 added, 1 changed, 1 removed')
    expect(sb.state.writes).toHaveLength(1)
  })

  it('retries a 429 after Retry-After; explains 401 and 404', async () => {
    await fetch(`${srv.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 429, retryAfterSeconds: 0, count: 1 }) })
    const ok = await repo.run(['push', '--plan-id', planId], { env })
    expect(ok.code).toBe(0)
    expect(sb.faults.counters.faulted).toBe(1)

    const unauth = await repo.run(['push', '--plan-id', planId], { env: { ...env, SEGMENT_API_TOKEN: 'wrong' } })
    expect(unauth.code).toBe(1)
    expect(unauth.err).toMatch(/answered 401: Unauthorized \(check SEGMENT_API_TOKEN/)
    const missing = await repo.run(['pull', '--plan-id', 'tp_nope'], { env })
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('answered 404: Tracking Plan not found')
    const noToken = await repo.run(['push', '--plan-id', planId], { env: { SEGMENT_API_BASE_URL: srv.url } })
    expect(noToken.code).toBe(1)
    expect(noToken.err).toContain('SEGMENT_API_TOKEN is not set')
    expect((await repo.run(['push'], { env })).code).toBe(2)
  })

  it('pull writes YAML for rules missing here (dry run writes nothing) and reports differences', async () => {
    const rules = [
      ...planRules(loadPlanEntries(PLAN_DIR)),
      {
        type: 'TRACK',
        key: 'Referral Link Shared',
        version: 1,
        jsonSchema: {
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          description: 'An advocate shared their referral link.',
          properties: {
            properties: {
              type: 'object',
              required: ['share_channel'],
              properties: { share_channel: { type: 'string', enum: ['email', 'sms'], description: 'Where it was shared.', examples: ['email'] }, referral_code: { type: 'string', description: 'Code shared.' } }
            }
          }
        }
      },
      { type: 'TRACK', key: 'Order Completed', version: 3, jsonSchema: { type: 'object', properties: { properties: { type: 'object', properties: {} } } } }
    ]
    await fetch(`${srv.url}/tracking-plans/${planId}/rules`, { method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': MEDIA }, body: JSON.stringify({ rules }) })
    sb.state.writes.length = 0
    repo.replace('events/referral-created.yaml', 'description: "Friend email."', 'description: "Email of the friend."')
    repo.edit('events/referral-created.yaml', (d) => {
      d.versions[0].properties.campaign_name = { type: 'string', description: 'Campaign name.', examples: ['Spring'] }
    })

    const target = join(repo.plan, 'events/referral-link-shared.yaml')
    const dry = await repo.run(['pull', '--plan-id', planId, '--dry-run'], { env })
    expect(dry.code).toBe(0)
    expect(dry.out).toContain('would write tracking-plan/events/referral-link-shared.yaml (event "Referral Link Shared", version 1)')
    expect(existsSync(target)).toBe(false)

    const pull = await repo.run(['pull', '--plan-id', planId], { env })
    expect(pull.code).toBe(0)
    expect(pull.out).toContain('wrote tracking-plan/events/referral-link-shared.yaml')
    expect(pull.out).toContain('differs  TRACK "Order Completed" v3: version 3 exists only in Segment')
    expect(pull.out).toContain('differs  TRACK "Referral Created" v1: differs from events/referral-created.yaml')
    // Property by property, not just "differs".
    expect(pull.out).toContain('here, compared with Segment: properties.campaign_name: new optional property "campaign_name" (string)')
    expect(pull.out).toMatch(/here, compared with Segment: properties\.friend_email(\.description)?: description/)
    expect(pull.out).toContain('1 new file(s), 2 difference(s), 0 local-only rule(s)')
    expect(sb.state.writes).toEqual([])
    const yaml = readFileSync(target, 'utf8')
    expect(yaml).toContain('event: Referral Link Shared')
    expect(yaml).toContain('share_channel:')
    expect(yaml).toContain('required: true')
    expect(yaml).toMatch(/enum: \[email, [a-z, ]+\]/)
    expect(yaml).toContain('    properties:\n') // block style, as plan fmt writes it
    // The pulled file is a valid plan file: lint passes (with warnings for the missing owner and examples).
    const lint = await repo.run(['lint'])
    expect(lint.out).not.toMatch(/referral-link-shared\.yaml:\d+: (?!warning)/)
    expect(lint.out).toMatch(/referral-link-shared\.yaml:\d+: warning: missing owner/)
    expect(lint.out).toMatch(/referral-link-shared\.yaml:\d+: warning: property "referral_code" has no examples/)
    expect(lint.code).toBe(0)
  })

  it('rules round-trip: a pushed rule pulled back is the same plan version', () => {
    for (const entry of loadPlanEntries(PLAN_DIR)) {
      const rule = planRules([entry])[0]
      const back = versionFromRule(rule)
      expect(back.kind).toBe(entry.kind)
      expect(back.description).toBe(entry.description)
      expect(back.version).toEqual({ ...entry.versions[0], status: 'active' })
    }
  })
})
