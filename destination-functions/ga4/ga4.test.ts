import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest'
import { buildFunction } from '../../src/functions/build.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import { createGa4Sandbox } from '../../src/sandboxes/ga4.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { Message } from '../../src/messages.ts'

/**
 * The BUILT artifact (dist/functions/ga4.js) in the Segment-like runtime, over real HTTP (node-fetch 2) to the
 * GA4 sandbox. The sandbox's /mp/collect silently drops what Google would drop, so `dropped === 0` after every
 * delivery means every payload passed the Measurement Protocol's validation rules.
 */
let code: string
let sandbox: ReturnType<typeof createGa4Sandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
const settings = () => ({ measurementId: 'G-TEST123', apiSecret: 'secret', baseUrl: served.url })
const make = (s: Record<string, unknown> = settings()) => functionDestination({ name: 'ga4', code, settings: s, sandboxed: true, target: served.url })

let seq = 0
const now = () => new Date().toISOString()
const track = (event: string, properties: Record<string, unknown>, extra: Partial<Message> = {}): Message =>
  ({ type: 'track', event, properties, messageId: `m${++seq}`, timestamp: now(), context: {}, userId: 'user-1', ...extra }) as Message
const order = (props: Record<string, unknown> = {}) =>
  track('Order Completed', { order_id: 'o-1', revenue: 25.5, revenue_minor: 2550, currency: 'USD', referral_id: 'ref-1', referral_code: 'JB007', advocate_id: 'advocate@example.com', friend_email: 'friend@example.com', source_platform: 'rewardful', ...props })

beforeAll(async () => {
  code = (await buildFunction('ga4')).code
})
beforeEach(async () => {
  sandbox = createGa4Sandbox()
  served = await serveSandbox(sandbox.router)
})
afterEach(() => served.close())

describe('ga4 function', () => {
  it('Order Completed → purchase with value, currency, transaction_id and the referral ids; user_id; no email anywhere', async () => {
    expect(await make().deliver([order()])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.dropped).toBe(0)
    const [e] = sandbox.state.events
    expect(e).toMatchObject({ measurementId: 'G-TEST123', name: 'purchase', userId: 'user-1' })
    expect(e!.params).toMatchObject({ transaction_id: 'o-1', value: 25.5, currency: 'USD', referral_id: 'ref-1', referral_code: 'JB007', source_platform: 'rewardful' })
    expect(e!.params.advocate_id).toMatch(/^[0-9a-f]{64}$/) // an email id is hashed, never sent
    expect(JSON.stringify(e)).not.toContain('@')
    expect(e!.timestampMicros).toBeGreaterThan(0)
  })

  it('referral events → custom events in GA naming (referral_created) with the referral ids', async () => {
    await make().deliver([track('Referral Created', { referral_id: 'ref-2', referral_code: 'C2', advocate_id: 'adv-2', friend_email: 'f@example.com', status: 'pending' })])
    expect(sandbox.state.dropped).toBe(0)
    expect(sandbox.state.events[0]).toMatchObject({ name: 'referral_created', params: { referral_id: 'ref-2', referral_code: 'C2', advocate_id: 'adv-2', status: 'pending' } })
  })

  it('client_id: the _ga cookie id when known, else derived stably per person', async () => {
    const d = make()
    await d.deliver([track('Referral Created', {}, { context: { ga_cookie: 'GA1.1.1234567890.1700000000' } })])
    await d.deliver([track('Referral Created', {}), track('Referral Approved', {}), track('Referral Created', {}, { userId: 'user-2' })])
    const ids = sandbox.state.events.map((e) => e.clientId)
    expect(ids[0]).toBe('1234567890.1700000000')
    expect(ids[1]).toMatch(/^\d+\.\d+$/)
    expect(ids[2]).toBe(ids[1])
    expect(ids[3]).not.toBe(ids[1])
  })

  it('an email userId is sent hashed, not as is', async () => {
    await make().deliver([track('Referral Created', {}, { userId: 'Friend@Example.com' })])
    expect(sandbox.state.events[0]!.userId).toMatch(/^[0-9a-f]{64}$/)
  })

  it('a purchase with revenue but no currency is a Message Rejected (never sent: GA would drop the value)', async () => {
    const [r] = await make().deliver([order({ currency: undefined })])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload: .*currency/) })
    expect(sandbox.state.requests).toBe(0)
  })

  it('429 / 503 / network → retry (Retry-After kept); missing settings → permanent', async () => {
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 3, count: 1 })
    expect((await make().deliver([order()]))[0]).toMatchObject({ status: 'retry', retryAfterMs: 3000 })
    sandbox.faults.add({ kind: 'status', status: 503, count: 1 })
    expect((await make().deliver([order()]))[0]).toMatchObject({ status: 'retry' })
    const closed = await serveSandbox(createGa4Sandbox().router)
    await closed.close()
    expect((await make({ ...settings(), baseUrl: closed.url }).deliver([order()]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/ECONNREFUSED/) })
    expect((await make({ measurementId: 'G-1', baseUrl: served.url }).deliver([order()]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/apiSecret/) })
  })

  it('identify has no handler: no job (the subscription is type = "track")', async () => {
    const d = await functionFolderDestination('ga4', { env: {}, sandboxBase: 'http://127.0.0.1:9/sandbox' })
    expect(d.sandboxed).toBe(true)
    expect(d.target).toBe('http://127.0.0.1:9/sandbox/ga4')
    expect(d.accepts({ type: 'identify', messageId: 'i', timestamp: now(), context: {}, traits: { email: 'a@b.co' } } as Message)).toBe(false)
    expect(d.accepts(order())).toBe(true)
  })
})

describe('ga4 sandbox: the validation server', () => {
  const debug = async (body: unknown) => {
    const res = await fetch(`${served.url}/debug/mp/collect?measurement_id=G-1&api_secret=s`, { method: 'POST', body: JSON.stringify(body) })
    expect(res.status).toBe(200)
    return ((await res.json()) as { validationMessages: Array<{ fieldPath: string; validationCode: string; description: string }> }).validationMessages
  }

  it('answers Google\'s documented example (_badEventName → NAME_INVALID) and other rules', async () => {
    expect(await debug({ client_id: 'x', events: [{ name: '_badEventName', params: {} }] })).toEqual([
      { fieldPath: 'events', description: 'Event at index: [0] has invalid name [_badEventName]. Names must start with an alphabetic character.', validationCode: 'NAME_INVALID' }
    ])
    expect((await debug({ events: [{ name: 'ok' }] }))[0]).toMatchObject({ fieldPath: 'client_id', validationCode: 'VALUE_REQUIRED' })
    expect((await debug({ client_id: 'x', events: [{ name: 'session_start' }] }))[0]).toMatchObject({ validationCode: 'NAME_RESERVED' })
    expect((await debug({ client_id: 'x', events: Array.from({ length: 26 }, () => ({ name: 'a' })) }))[0]).toMatchObject({ validationCode: 'EXCEEDED_MAX_ENTITIES' })
    expect((await debug({ client_id: 'x', events: [{ name: 'a', params: { p: 'x'.repeat(101) } }] }))[0]).toMatchObject({ validationCode: 'VALUE_OUT_OF_BOUNDS' })
    expect((await debug({ client_id: 'x', events: [{ name: 'purchase', params: { value: 3, transaction_id: 't' } }] }))[0]).toMatchObject({ fieldPath: 'events[0].params.currency', validationCode: 'VALUE_REQUIRED' })
    expect(await debug({ client_id: 'x', events: [{ name: 'referral_created', params: { referral_id: 'r' } }] })).toEqual([])
  })

  it('/mp/collect answers 204 to anything and drops what is invalid, as Google does', async () => {
    const res = await fetch(`${served.url}/mp/collect?measurement_id=G-1&api_secret=s`, { method: 'POST', body: JSON.stringify({ client_id: 'x', events: [{ name: '_bad' }] }) })
    expect(res.status).toBe(204)
    expect(sandbox.state).toMatchObject({ requests: 1, dropped: 1, events: [] })
    expect(sandbox.state.events).toHaveLength(0)
  })
})
