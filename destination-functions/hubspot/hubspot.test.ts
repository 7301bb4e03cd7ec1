import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest'
import express from 'express'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildFunction } from '../../src/functions/build.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { createHubspotSandbox, contactsWithEmail, hubspotError } from '../../src/sandboxes/hubspot.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { Message } from '../../src/messages.ts'
import type { Destination } from '../../src/destinations/types.ts'

/**
 * The BUILT artifact (dist/functions/hubspot.js) in the Segment-like runtime, talking over real HTTP (the runtime's
 * node-fetch 2 `fetch`, CRM v3 REST) to the HubSpot sandbox.
 */
const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555'
let code: string

let sandbox: ReturnType<typeof createHubspotSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
let dest: Destination

const make = (settings: Record<string, unknown> = {}, timeoutMs?: number) =>
  functionDestination({
    name: 'hubspot',
    code,
    settings: { accessToken: TOKEN, baseUrl: served.url, ...settings },
    sandboxed: true,
    target: served.url,
    timeoutMs
  })

let seq = 0
const base = () => ({ messageId: `m${++seq}`, timestamp: '2024-05-01T10:00:00.000Z', context: {} })
const friendIdentify = (email: string, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'identify',
  userId: email,
  traits: { email, referral_role: 'friend', referred_by: 'adv@example.com', referral_id: `ref_${email}`, source_platform: 'referralcandy', ...extra }
})
const advocateIdentify = (email: string): Message => ({ ...base(), type: 'identify', userId: email, traits: { email, referral_role: 'advocate', source_platform: 'referralcandy' } })
const referralCreated = (friend: string, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'track',
  event: 'Referral Created',
  userId: friend,
  properties: { referral_id: `ref_${friend}`, advocate_email: 'adv@example.com', friend_email: friend, status: 'converted', source_platform: 'referralcandy', ...extra }
})
const upsertCalls = () => sandbox.state.calls.filter((c) => c.endsWith('/batch/upsert')).length

beforeAll(async () => {
  code = (await buildFunction('hubspot')).code
})
beforeEach(async () => {
  sandbox = createHubspotSandbox({ accessToken: TOKEN })
  served = await serveSandbox(sandbox.router)
  dest = make()
})
afterEach(() => served.close())

describe('hubspot function: happy paths', () => {
  it('creates the referral properties (referral_id unique) and one tagged lead contact', async () => {
    expect(await dest.deliver([friendIdentify('Friend@Example.com')])).toEqual([{ status: 'delivered' }])
    const props = sandbox.state.properties
    expect(props.get('referral_id')?.hasUniqueValue).toBe(true)
    for (const p of ['referral_advocate_email', 'referral_code', 'referral_source_platform', 'referral_tag']) expect(props.has(p)).toBe(true)
    const [c, ...rest] = contactsWithEmail(sandbox.state, 'friend@example.com')
    expect(rest).toHaveLength(0)
    expect(c!.properties).toMatchObject({
      email: 'friend@example.com',
      referral_id: 'ref_Friend@Example.com',
      referral_advocate_email: 'adv@example.com',
      referral_source_platform: 'referralcandy',
      lifecyclestage: 'lead',
      hs_lead_status: 'NEW',
      referral_tag: 'Referral Lead'
    })
  })

  it('advocates are upserted without the lead fields or the tag', async () => {
    expect(await dest.deliver([advocateIdentify('adv@example.com')])).toEqual([{ status: 'delivered' }])
    const [c] = contactsWithEmail(sandbox.state, 'adv@example.com')
    expect(c!.properties.referral_tag).toBeUndefined()
    expect(c!.properties.lifecyclestage).toBeUndefined()
  })

  it('redelivery (5x the same message) updates the same contact: exactly one', async () => {
    const m = referralCreated('again@example.com')
    for (let i = 0; i < 5; i++) expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(contactsWithEmail(sandbox.state, 'again@example.com')).toHaveLength(1)
    expect(upsertCalls()).toBe(5)
    // Property check is cached (cache.load): one list call, not five.
    expect(sandbox.state.calls.filter((c) => c === 'GET /crm/v3/properties/contacts')).toHaveLength(1)
  })

  it('custom referralIdProperty setting is created unique and used', async () => {
    const d = make({ referralIdProperty: 'rb_referral_id' })
    expect(await d.deliver([friendIdentify('x@example.com')])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.properties.get('rb_referral_id')?.hasUniqueValue).toBe(true)
    expect(contactsWithEmail(sandbox.state, 'x@example.com')[0]!.properties.rb_referral_id).toBe('ref_x@example.com')
  })
})

describe('hubspot function: every mapped error', () => {
  it('409 "Contact already exists. Existing ID" is resolved by updating that contact (not an error)', async () => {
    const existing = (await (
      await fetch(`${served.url}/crm/v3/objects/contacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ properties: { email: 'conflict@example.com' } })
      })
    ).json()) as { id: string }
    sandbox.faults.add({
      kind: 'status',
      status: 409,
      count: 1,
      pathContains: '/batch/upsert',
      body: hubspotError('CONFLICT', `Contact already exists. Existing ID: ${existing.id}`)
    })
    expect(await dest.deliver([friendIdentify('conflict@example.com')])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.calls).toContain(`PATCH /crm/v3/objects/contacts/${existing.id}`)
    const all = contactsWithEmail(sandbox.state, 'conflict@example.com')
    expect(all).toHaveLength(1)
    expect(all[0]!.properties.referral_tag).toBe('Referral Lead')
  })

  it('409 when creating a property another instance created meanwhile is fine (real sandbox 409)', async () => {
    // Another instance wins the race: the property appears between our list and our create.
    const app = express()
    let raced = false
    app.use((req, _res, next) => {
      if (!raced && req.method === 'POST' && req.path === '/crm/v3/properties/contacts') {
        raced = true
        sandbox.state.properties.set('referral_id', { ...sandbox.state.properties.get('email')!, name: 'referral_id', label: 'Referral ID', hasUniqueValue: true })
      }
      next()
    })
    app.use(sandbox.router)
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s))
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const d = functionDestination({ name: 'hubspot', code, settings: { accessToken: TOKEN, baseUrl: url }, sandboxed: true, target: url })
      expect(await d.deliver([friendIdentify('race@example.com')])).toEqual([{ status: 'delivered' }])
      expect(raced).toBe(true)
      expect(sandbox.state.properties.has('referral_tag')).toBe(true)
    } finally {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })

  it('429 → retry keeping Retry-After, then success on the next attempt', async () => {
    await dest.deliver([advocateIdentify('warm@example.com')]) // properties created and cached
    sandbox.faults.add({
      kind: 'status',
      status: 429,
      retryAfterSeconds: 2,
      count: 1,
      pathContains: '/batch/upsert',
      body: { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING', correlationId: 'x' }
    })
    const [r] = await dest.deliver([friendIdentify('limited@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 2000 })
    expect((r as { error: string }).error).toMatch(/RetryError: HubSpot 429.*TEN_SECONDLY_ROLLING/)
    expect(contactsWithEmail(sandbox.state, 'limited@example.com')).toHaveLength(0)
    expect(await dest.deliver([friendIdentify('limited@example.com')])).toEqual([{ status: 'delivered' }])
    expect(contactsWithEmail(sandbox.state, 'limited@example.com')).toHaveLength(1)
  })

  it('the sandbox rate limit itself (100/10 s) surfaces as a retry', async () => {
    sandbox.faults.setRateLimit({ limit: 1, windowMs: 10_000 })
    const [r] = await dest.deliver([friendIdentify('burst@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429 })
  })

  it.each([500, 502, 503, 504])('%i → RetryError (retry), then success', async (status) => {
    await dest.deliver([advocateIdentify('warm@example.com')]) // properties created and cached
    sandbox.faults.add({ kind: 'status', status, count: 1, pathContains: '/batch/upsert' })
    const [r] = await dest.deliver([friendIdentify('five@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: status, error: expect.stringMatching(/^RetryError/) })
    expect(await dest.deliver([friendIdentify('five@example.com')])).toEqual([{ status: 'delivered' }])
  })

  it('network failure (connection refused / reset) → retry', async () => {
    const closed = await serveSandbox(createHubspotSandbox().router)
    const url = closed.url
    await closed.close()
    const d = functionDestination({ name: 'hubspot', code, settings: { accessToken: TOKEN, baseUrl: url }, sandboxed: true, target: url })
    expect((await d.deliver([friendIdentify('net@example.com')]))[0]).toMatchObject({ status: 'retry' })
    sandbox.faults.add({ kind: 'reset', count: 1, pathContains: '/batch/upsert' })
    expect((await dest.deliver([advocateIdentify('w2@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/network error/) })
    expect(contactsWithEmail(sandbox.state, 'w2@example.com')).toHaveLength(0)
  })

  it('timeout (5 s in Segment; 150 ms here) → retry', async () => {
    const d = make({}, 150)
    sandbox.faults.add({ kind: 'timeout', count: 1, pathContains: '/properties' })
    expect((await d.deliver([friendIdentify('slow@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/timeout/) })
  })

  it('400 invalid email → ValidationError (permanent)', async () => {
    const [r] = await dest.deliver([friendIdentify('not-an-email')])
    expect(r).toMatchObject({ status: 'permanent' })
    expect((r as { error: string }).error).toMatch(/ValidationError: HubSpot 400 VALIDATION_ERROR.*INVALID_EMAIL/)
  })

  it('401 (bad token) → permanent, with a settings hint', async () => {
    const [r] = await make({ accessToken: 'wrong' }).deliver([friendIdentify('auth@example.com')])
    expect(r).toMatchObject({ status: 'permanent' })
    expect((r as { error: string }).error).toMatch(/ValidationError: HubSpot 401 INVALID_AUTHENTICATION.*accessToken/)
  })

  it('403 (missing scope) → permanent', async () => {
    sandbox.faults.add({ kind: 'status', status: 403, count: 1, body: hubspotError('MISSING_SCOPES', 'This app hasn\'t been granted all required scopes') })
    expect((await dest.deliver([friendIdentify('scope@example.com')]))[0]).toMatchObject({ status: 'permanent' })
  })

  it('missing accessToken setting → ValidationError (permanent)', async () => {
    expect((await make({ accessToken: '' }).deliver([friendIdentify('cfg@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/ValidationError: accessToken/) })
  })

  it('missing email → InvalidEventPayload (permanent)', async () => {
    const noEmail: Message = { ...base(), type: 'identify', userId: 'u', traits: { referral_role: 'friend' } }
    const noFriend = referralCreated('', { friend_email: undefined })
    const r = await dest.deliver([noEmail])
    expect(r[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload/) })
    expect((await dest.deliver([noFriend]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload/) })
    expect(sandbox.state.calls).toHaveLength(0)
  })

  it('other track events → EventNotSupported (ignored)', async () => {
    const other: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'u', properties: { friend_email: 'x@example.com' } }
    expect((await dest.deliver([other]))[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^EventNotSupported/) })
  })
})

describe('hubspot function: onBatch', () => {
  it('150 contacts → 2 batch upsert calls (≤ 100 each), all delivered', async () => {
    const msgs = Array.from({ length: 150 }, (_, i) => friendIdentify(`b${i}@example.com`))
    const r = await dest.deliver(msgs)
    expect(r.every((x) => x.status === 'delivered')).toBe(true)
    expect(upsertCalls()).toBe(2)
    expect(sandbox.state.contacts.size).toBe(150)
  })

  it('dedupes by email within a batch (identify + track for the same friend = one input, one contact)', async () => {
    const r = await dest.deliver([friendIdentify('same@example.com'), referralCreated('same@example.com'), advocateIdentify('adv@example.com')])
    expect(r.map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered'])
    expect(upsertCalls()).toBe(1)
    expect(contactsWithEmail(sandbox.state, 'same@example.com')).toHaveLength(1)
  })

  it('per-item results: one invalid email fails alone, bad payloads and unsupported events are per item', async () => {
    const other: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'u', properties: {} }
    const noEmail: Message = { ...base(), type: 'identify', userId: 'u', traits: {} }
    const msgs = [friendIdentify('ok1@example.com'), friendIdentify('broken-email'), noEmail, other, friendIdentify('ok2@example.com'), friendIdentify('ok3@example.com')]
    const r = await dest.deliver(msgs)
    expect(r.map((x) => x.status)).toEqual(['delivered', 'permanent', 'permanent', 'ignored', 'delivered', 'delivered'])
    expect(r[1]).toMatchObject({ statusCode: 400, error: expect.stringMatching(/INVALID_EMAIL/) })
    expect(r[2]).toMatchObject({ error: expect.stringMatching(/InvalidEventPayload/) })
    for (const e of ['ok1@example.com', 'ok2@example.com', 'ok3@example.com']) expect(contactsWithEmail(sandbox.state, e)).toHaveLength(1)
  })

  it('halving a rejected batch stops after a 4 s budget: results come back inside the 5 s limit, the rest is retried', async () => {
    const app = express()
    app.use((req, _res, next) => (req.path.endsWith('/batch/upsert') ? void setTimeout(next, 400) : next()))
    app.use(sandbox.router)
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s))
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const d = functionDestination({ name: 'hubspot', code, settings: { accessToken: TOKEN, baseUrl: url }, sandboxed: true, target: url })
      const msgs = Array.from({ length: 100 }, (_, i) => friendIdentify(i === 37 ? 'broken' : `slow${i}@example.com`))
      const started = Date.now()
      const r = await d.deliver(msgs)
      expect(Date.now() - started).toBeLessThan(5000)
      expect(r.filter((x) => x.status === 'delivered').length).toBeGreaterThan(0)
      expect(r.filter((x) => x.status === 'retry').length).toBeGreaterThan(0)
      expect(r.every((x) => x.status === 'delivered' || x.status === 'retry' || x.status === 'permanent')).toBe(true)
      expect(r.find((x) => x.status === 'retry')).toMatchObject({ statusCode: 503, error: expect.stringMatching(/time budget/) })
    } finally {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })

  it('a 429 for the batch marks every item retry with the Retry-After', async () => {
    await dest.deliver([advocateIdentify('warm@example.com')])
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 1, count: 1, pathContains: '/batch/upsert' })
    const r = await dest.deliver([friendIdentify('q1@example.com'), friendIdentify('q2@example.com')])
    expect(r).toMatchObject([
      { status: 'retry', statusCode: 429, retryAfterMs: 1000 },
      { status: 'retry', statusCode: 429, retryAfterMs: 1000 }
    ])
  })

  it('a 401 for the batch is permanent for every item', async () => {
    const r = await make({ accessToken: 'wrong' }).deliver([friendIdentify('a1@example.com'), friendIdentify('a2@example.com')])
    expect(r.map((x) => x.status)).toEqual(['permanent', 'permanent'])
  })
})
