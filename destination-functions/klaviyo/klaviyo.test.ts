import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest'
import express from 'express'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildFunction } from '../../src/functions/build.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { createKlaviyoSandbox, klaviyoProfileByEmail, type KlaviyoSandboxOptions } from '../../src/sandboxes/klaviyo.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { Message } from '../../src/messages.ts'
import type { Destination } from '../../src/destinations/types.ts'

/**
 * The BUILT artifact (dist/functions/klaviyo.js) in the Segment-like runtime, talking over real HTTP (the
 * runtime's `fetch`) to the Klaviyo sandbox: one test per Klaviyo answer the function maps.
 */
const KEY = 'pk_test_0123456789abcdef0123456789abcdef'
let code: string

let sandbox: ReturnType<typeof createKlaviyoSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
let dest: Destination
/** Headers of every request the sandbox saw (recorded in front of its router). */
let seen: Array<{ method: string; path: string; headers: Record<string, unknown> }>

async function serveWithRecorder(options: KlaviyoSandboxOptions = {}) {
  sandbox = createKlaviyoSandbox({ apiKey: KEY, ...options })
  const app = express.Router()
  app.use((req, _res, next) => {
    if (!req.path.includes('/_sandbox/')) seen.push({ method: req.method, path: req.path, headers: { ...req.headers } })
    next()
  })
  app.use(sandbox.router)
  served = await serveSandbox(app)
}

const make = (settings: Record<string, unknown> = {}, timeoutMs?: number) =>
  functionDestination({ name: 'klaviyo', code, settings: { apiKey: KEY, baseUrl: served.url, ...settings }, sandboxed: true, target: served.url, timeoutMs })

let seq = 0
const base = () => ({ messageId: `rb-test-${++seq}-track`, timestamp: '2026-05-01T10:00:00.000Z', context: {} })
const signUp = (friend: string, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'track',
  event: 'Referred Friend Signed Up',
  userId: friend,
  properties: {
    referral_id: 'ref_1',
    referral_code: 'jb007',
    advocate_id: 'sarah@example.com',
    advocate_email: 'sarah@example.com',
    advocate_name: 'Sarah Advocate',
    friend_id: friend,
    friend_email: friend,
    friend_first_name: 'John',
    discount_code: 'WELCOME-7P9A',
    discount_expires_at: '2026-06-01T00:00:00.000Z',
    source_platform: 'standard',
    ...extra
  }
})
const identify = (email: string | undefined, traits: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'identify',
  userId: email ?? 'u1',
  traits: { ...(email ? { email } : {}), first_name: 'John', last_name: 'Friend', referral_role: 'friend', referred_by: 'sarah@example.com', source_platform: 'friendbuy', ...traits }
})
const signUps = () => sandbox.state.events.get('Referred Friend Signed Up') ?? []
const errorOf = (r: unknown) => (r as { error: string }).error

beforeAll(async () => {
  code = (await buildFunction('klaviyo')).code
})
beforeEach(async () => {
  seen = []
  await serveWithRecorder()
  dest = make()
})
afterEach(() => served.close())

describe('klaviyo function: happy paths', () => {
  it('track → one event: metric = event name, unique_id = messageId, time = timestamp, personalisation fields, profile by email', async () => {
    const m = signUp('John.Friend@Example.com')
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    const [e, ...rest] = signUps()
    expect(rest).toHaveLength(0)
    expect(e).toMatchObject({ metric: 'Referred Friend Signed Up', uniqueId: m.messageId, time: '2026-05-01T10:00:00.000Z' })
    expect(e!.properties).toMatchObject({
      friend_first_name: 'John',
      advocate_name: 'Sarah Advocate',
      discount_code: 'WELCOME-7P9A',
      discount_expires_at: '2026-06-01T00:00:00.000Z'
    })
    const profile = klaviyoProfileByEmail(sandbox.state, 'john.friend@example.com')!
    expect(profile.attributes).toMatchObject({ email: 'john.friend@example.com', first_name: 'John' })
    expect(e!.profileId).toBe(profile.id)
    // Pinned revision, private-key scheme, JSON:API content type.
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/api/events' })
    expect(seen[0]!.headers).toMatchObject({ revision: '2024-10-15', authorization: `Klaviyo-API-Key ${KEY}`, 'content-type': 'application/vnd.api+json' })
  })

  it('redelivery of the same message (5x) leaves one event: Klaviyo dedupes on unique_id', async () => {
    const m = signUp('again@example.com')
    for (let i = 0; i < 5; i++) expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(signUps()).toHaveLength(1)
    expect(sandbox.state.duplicateEvents).toBe(4)
    // Another sign-up (another messageId) for the same profile is a second event.
    expect(await dest.deliver([signUp('again@example.com')])).toEqual([{ status: 'delivered' }])
    expect(signUps()).toHaveLength(2)
  })

  it('Order Completed → event with value = revenue on the buyer; Reward Earned → on the recipient', async () => {
    const order: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'buyer@example.com', properties: { order_id: '1', revenue: 40.5, revenue_minor: 4050, currency: 'USD', friend_email: 'buyer@example.com', source_platform: 'shopify' } }
    const reward: Message = { ...base(), type: 'track', event: 'Referral Reward Earned', userId: 'adv@example.com', properties: { reward_id: 'r1', reward_type: 'credit', recipient_role: 'advocate', advocate_email: 'adv@example.com', friend_email: 'f@example.com', source_platform: 'rewardful' } }
    expect(await dest.deliver([order])).toEqual([{ status: 'delivered' }])
    expect(await dest.deliver([reward])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.events.get('Order Completed')![0]).toMatchObject({ value: 40.5, profileId: klaviyoProfileByEmail(sandbox.state, 'buyer@example.com')!.id })
    expect(sandbox.state.events.get('Referral Reward Earned')![0]!.profileId).toBe(klaviyoProfileByEmail(sandbox.state, 'adv@example.com')!.id)
  })

  it('identify → profile-import upsert with the referral traits; a second identify updates the same profile', async () => {
    expect(await dest.deliver([identify('Friend@Example.com', { referral_id: 'ref_9' })])).toEqual([{ status: 'delivered' }])
    expect(await dest.deliver([identify('friend@example.com', { first_name: 'Johnny' })])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.profiles.size).toBe(1)
    const p = klaviyoProfileByEmail(sandbox.state, 'friend@example.com')!
    expect(p.attributes).toMatchObject({ email: 'friend@example.com', first_name: 'Johnny', last_name: 'Friend' })
    expect(p.attributes.properties).toEqual({ referral_role: 'friend', referred_by: 'sarah@example.com', referral_id: 'ref_9', source_platform: 'friendbuy' })
    expect(seen.map((s) => s.path)).toEqual(['/api/profile-import', '/api/profile-import'])
  })
})

describe('klaviyo function: every mapped error', () => {
  it('429 throttled → RetryError keeping Retry-After as retryAfterMs; then delivered', async () => {
    sandbox.faults.add({
      kind: 'status',
      status: 429,
      retryAfterSeconds: 7,
      count: 1,
      body: { errors: [{ id: 'x', status: 429, code: 'throttled', title: 'Request was throttled.', detail: 'Request was throttled. Expected available in 7 seconds.', source: { pointer: '/data/' } }] }
    })
    const m = signUp('limited@example.com')
    const [r] = await dest.deliver([m])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 7000 })
    expect(errorOf(r)).toMatch(/RetryError: Klaviyo 429 throttled: Request was throttled/)
    expect(signUps()).toHaveLength(0)
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(signUps()).toHaveLength(1)
  })

  it("the sandbox's own per-endpoint limit (burst) surfaces as a retry with Retry-After", async () => {
    await served.close()
    await serveWithRecorder({ rateLimits: { events: { burstPerSecond: 1, steadyPerMinute: 100 } } })
    dest = make()
    expect(await dest.deliver([signUp('a@example.com')])).toEqual([{ status: 'delivered' }])
    const [r] = await dest.deliver([signUp('b@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 1000 })
  })

  it.each([500, 502, 503, 504])('%i → RetryError (retry), then delivered once', async (status) => {
    sandbox.faults.add({ kind: 'status', status, count: 1 })
    const m = signUp('five@example.com')
    const [r] = await dest.deliver([m])
    expect(r).toMatchObject({ status: 'retry', statusCode: status, error: expect.stringMatching(/^RetryError: Klaviyo \d{3}/) })
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(signUps()).toHaveLength(1)
  })

  it('a non-JSON 503 body (proxy page) is still a retry', async () => {
    const app = express()
    app.use((_req, res) => void res.status(503).type('text/html').send('<html>Service Unavailable</html>'))
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s))
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const [r] = await make({ baseUrl: url }).deliver([signUp('proxy@example.com')])
      expect(r).toMatchObject({ status: 'retry', statusCode: 503, error: expect.stringMatching(/Service Unavailable/) })
    } finally {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })

  it('network failure (connection refused, reset) → RetryError', async () => {
    const closed = await serveSandbox(createKlaviyoSandbox().router)
    await closed.close()
    const [refused] = await make({ baseUrl: closed.url }).deliver([signUp('net@example.com')])
    expect(refused).toMatchObject({ status: 'retry', error: expect.stringMatching(/RetryError: network error talking to Klaviyo: ECONNREFUSED/) })
    sandbox.faults.add({ kind: 'reset', count: 1 })
    const [reset] = await dest.deliver([signUp('net@example.com')])
    expect(reset).toMatchObject({ status: 'retry', error: expect.stringMatching(/network error/) })
    expect(signUps()).toHaveLength(0)
  })

  it('timeout (5 s in Segment; 150 ms here) → retry', async () => {
    sandbox.faults.add({ kind: 'timeout', count: 1 })
    const [r] = await make({}, 150).deliver([signUp('slow@example.com')])
    expect(r).toMatchObject({ status: 'retry', error: expect.stringMatching(/^timeout/) })
  })

  it('400 invalid (bad email) → ValidationError with the detail and source.pointer (permanent)', async () => {
    const [r] = await dest.deliver([signUp('not-an@email')])
    expect(r).toMatchObject({ status: 'permanent' })
    expect(errorOf(r)).toBe('ValidationError: Klaviyo 400 invalid: Invalid email address: not-an@email (at /data/attributes/profile/data/attributes/email)')
  })

  it('400 for a bad revision names the parameter (permanent)', async () => {
    const [r] = await make({ revision: '2019-01-01' }).deliver([signUp('rev@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Klaviyo 400 invalid: '2019-01-01' is not a valid revision.*\(parameter revision\)/) })
  })

  it('410 (retired revision) → permanent, with a hint to update the revision setting', async () => {
    sandbox.faults.add({ kind: 'status', status: 410, count: 1, body: { errors: [{ id: 'x', status: 410, code: 'gone', title: 'Gone', detail: 'This revision has been retired.', source: { parameter: 'revision' } }] } })
    const [r] = await dest.deliver([signUp('gone@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Klaviyo 410 gone: This revision has been retired.*revision setting/) })
  })

  it('409 duplicate_profile on profile-import → permanent with the detail', async () => {
    sandbox.faults.add({
      kind: 'status',
      status: 409,
      count: 1,
      body: { errors: [{ id: 'x', status: 409, code: 'duplicate_profile', title: 'Conflict.', detail: 'A profile already exists with one of these identifiers.', source: { pointer: '/data/attributes' } }] }
    })
    const [r] = await dest.deliver([identify('dup@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Klaviyo 409 duplicate_profile: A profile already exists.*\/data\/attributes/) })
  })

  it('401 (wrong key) → permanent with a settings hint', async () => {
    const [r] = await make({ apiKey: 'pk_wrong' }).deliver([signUp('auth@example.com')])
    expect(r).toMatchObject({ status: 'permanent' })
    expect(errorOf(r)).toMatch(/ValidationError: Klaviyo 401 authentication_failed: Incorrect authentication credentials.*check the apiKey setting/)
  })

  it('403 (key without the scope) → permanent', async () => {
    sandbox.faults.add({ kind: 'status', status: 403, count: 1, body: { errors: [{ id: 'x', status: 403, code: 'permission_denied', title: 'You do not have permission to perform this action.', detail: 'This API key is missing required scopes.', source: { pointer: '/data/' } }] } })
    expect((await dest.deliver([signUp('scope@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/403 permission_denied.*apiKey/) })
  })

  it('415 (wrong content type) maps to permanent, never retried', async () => {
    sandbox.faults.add({ kind: 'status', status: 415, count: 1, body: { errors: [{ id: 'x', status: 415, code: 'unsupported_media_type', title: 'Unsupported media type.', detail: 'Unsupported media type "text/plain" in request.', source: { pointer: '/data/' } }] } })
    expect((await dest.deliver([signUp('media@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/415 unsupported_media_type/) })
  })

  it('missing apiKey setting → ValidationError (permanent), nothing sent', async () => {
    expect((await make({ apiKey: '' }).deliver([signUp('cfg@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^ValidationError: apiKey setting is required/) })
    expect(seen).toHaveLength(0)
  })

  it('missing email → InvalidEventPayload (permanent), nothing sent', async () => {
    const noFriendEmail = signUp('x@example.com', { friend_email: undefined })
    delete (noFriendEmail as { userId?: string }).userId
    const [a] = await dest.deliver([noFriendEmail])
    expect(a).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload: Referred Friend Signed Up has no friend_email/) })
    const [b] = await dest.deliver([identify(undefined)])
    expect(b).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload: identify has no traits.email/) })
    expect(seen).toHaveLength(0)
  })

  it('unsupported types (page, group, ...) → EventNotSupported (ignored)', async () => {
    const page = { ...base(), type: 'page', userId: 'u', properties: {} } as unknown as Message
    expect((await dest.deliver([page]))[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^EventNotSupported/) })
    expect(seen).toHaveLength(0)
  })
})
