import { Analytics } from '@segment/analytics-node'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createSegmentSandbox } from '../../../src/sandboxes/segment.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'

/**
 * The Segment Tracking API sandbox. What @segment/analytics-node can express is driven through it; the HTTP API's
 * own rules (no SDK sends a message without messageId or with the write key in the body) are exercised with the
 * requests the HTTP API documentation shows (segment.com/docs/connections/sources/catalog/libraries/server/http-api,
 * summarised in shared/reference/segment.md "HTTP Tracking API"). Segment publishes no OpenAPI document for it.
 */
const WRITE_KEY = 'wk-conformance'
let sb: ReturnType<typeof createSegmentSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>
const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`
const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: basic }) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
const stored = () => [...sb.state.messages.values()]

beforeAll(async () => {
  sb = createSegmentSandbox({ writeKey: WRITE_KEY })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  sb.state.messages.clear()
  sb.state.dropped.length = 0
  sb.faults.clear()
  sb.faults.setRateLimit(undefined)
})

describe('Segment conformance: @segment/analytics-node', () => {
  it('the SDK delivers identify and track; a repeated messageId is applied once (dedupe on messageId)', async () => {
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: server.url, flushAt: 10, flushInterval: 20, maxRetries: 0 })
    analytics.identify({ userId: 'u1', traits: { email: 'a@example.com' } })
    analytics.track({ userId: 'u1', event: 'Referral Completed', messageId: 'same-id' })
    analytics.track({ userId: 'u1', event: 'Referral Completed', messageId: 'same-id' })
    await analytics.closeAndFlush({ timeout: 5_000 })
    expect(stored().map((m) => m.type).sort()).toEqual(['identify', 'track'])
    expect(sb.state.messages.get('same-id')).toMatchObject({ event: 'Referral Completed', userId: 'u1' })
  })
})

describe('Segment conformance: HTTP Tracking API', () => {
  // "messageId ... is automatically added to all payloads coming into Segment" (HTTP API, Errors / Deduplication).
  it('assigns a messageId to each message without one, so two of them are two messages', async () => {
    const r = await post('/v1/batch', { batch: [{ type: 'track', userId: 'u', event: 'A' }, { type: 'track', userId: 'u', event: 'B' }] })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({ success: true })
    expect(stored().map((m) => m.event).sort()).toEqual(['A', 'B'])
    expect(stored().every((m) => typeof m.messageId === 'string' && m.messageId !== 'undefined')).toBe(true)
    await post('/v1/track', { userId: 'u', event: 'C' })
    expect(stored()).toHaveLength(3)
  })

  // "The HTTP API requires that each payload has a userId and/or anonymousId"; refused messages still get 200.
  it('drops a message with neither userId nor anonymousId, and a track without event (200, not stored)', async () => {
    const r = await post('/v1/batch', { batch: [{ type: 'track', event: 'NoUser' }, { type: 'track', anonymousId: 'a' }, { type: 'identify', anonymousId: 'a' }] })
    expect(r.status).toBe(200)
    expect(stored().map((m) => m.type)).toEqual(['identify'])
    expect(sb.state.dropped.map((d) => d.reason)).toEqual(['no_user_anon_id', 'missing_event'])
    expect((await post('/v1/identify', { traits: { x: 1 } })).status).toBe(200)
    expect(stored()).toHaveLength(1)
  })

  // Authentication: "writeKey" in the JSON body, or Basic with the write key as user.
  it('accepts the write key in the body; refuses a missing or wrong one with 401', async () => {
    expect((await post('/v1/track', { writeKey: WRITE_KEY, userId: 'u', event: 'Body Key' }, {})).status).toBe(200)
    expect(stored()[0]).toMatchObject({ event: 'Body Key', type: 'track' })
    expect(stored()[0]).not.toHaveProperty('writeKey')
    expect((await post('/v1/track', { userId: 'u', event: 'No Key' }, {})).status).toBe(401)
    expect((await post('/v1/track', { writeKey: 'other', userId: 'u', event: 'Wrong' }, {})).status).toBe(401)
  })

  // Endpoints: POST /v1/{identify,track,page,screen,group,alias,batch}.
  it('serves every single-call endpoint, typing the message by its path', async () => {
    for (const [path, body] of [
      ['identify', { userId: 'u', traits: {} }],
      ['track', { userId: 'u', event: 'E' }],
      ['page', { userId: 'u', name: 'Home' }],
      ['screen', { userId: 'u', name: 'Main' }],
      ['group', { userId: 'u', groupId: 'g' }],
      ['alias', { userId: 'u', previousId: 'old' }]
    ] as const) {
      expect((await post(`/v1/${path}`, body)).status).toBe(200)
    }
    expect(stored().map((m) => m.type)).toEqual(['identify', 'track', 'page', 'screen', 'group', 'alias'])
  })

  // Limits: 32 KB per call, 500 KB per batch, invalid JSON → 400.
  it('400 for a call over 32 KB and for invalid JSON', async () => {
    expect((await post('/v1/track', { userId: 'u', event: 'Big', properties: { blob: 'x'.repeat(33 * 1024) } })).status).toBe(400)
    const bad = await fetch(`${server.url}/v1/batch`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: '{"batch": [' })
    expect(bad.status).toBe(400)
  })

  // Rate limits: "rejected with 429 plus Retry-After and X-RateLimit-Reset".
  it('a steady 429 carries Retry-After and X-RateLimit-Reset (Unix seconds of the next window)', async () => {
    sb.faults.setRateLimit({ limit: 1, windowMs: 10_000 })
    expect((await post('/v1/track', { userId: 'u', event: 'ok' })).status).toBe(200)
    const limited = await post('/v1/track', { userId: 'u', event: 'limited' })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    const reset = Number(limited.headers.get('x-ratelimit-reset'))
    expect(reset).toBeGreaterThan(Date.now() / 1000)
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 10)
  })
})
