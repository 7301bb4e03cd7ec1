import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createKlaviyoSandbox } from '../../../src/sandboxes/klaviyo.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'
import { conforms, loadSpec } from './openapi.ts'

/**
 * The Klaviyo sandbox against Klaviyo's OpenAPI document at the revision the bridge pins (shared/openapi/klaviyo/
 * klaviyo-2024-10-15.stable.json, from klaviyo/openapi): requests are built to its request schemas and answers are
 * validated against its response schemas (4XX: ClientError). Rate-limit headers: developers.klaviyo.com "Rate limits,
 * status codes, and errors".
 */
const spec = loadSpec('klaviyo/klaviyo-2024-10-15.stable.json')
if (!spec) console.warn('[conformance] ../shared/openapi/klaviyo is absent: the Klaviyo OpenAPI checks are skipped')

const KEY = 'pk_conformance'
const JSONAPI = 'application/vnd.api+json'
let sb: ReturnType<typeof createKlaviyoSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>
const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2024-10-15', accept: JSONAPI, 'content-type': JSONAPI, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }
}
const clientError = () => spec!.response('/api/events', 'post', '4XX', JSONAPI)
const eventBody = (email: string, uniqueId?: string) => ({
  data: {
    type: 'event',
    attributes: {
      properties: { referral_id: 'r-1' },
      metric: { data: { type: 'metric', attributes: { name: 'Referral Completed' } } },
      profile: { data: { type: 'profile', attributes: { email } } },
      ...(uniqueId ? { unique_id: uniqueId } : {})
    }
  }
})

beforeAll(async () => {
  sb = createKlaviyoSandbox({ apiKey: KEY, rateLimits: { events: { burstPerSecond: 1000, steadyPerMinute: 1000 }, 'event-bulk-create-jobs': { burstPerSecond: 1000, steadyPerMinute: 1000 } } })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  sb.state.events.clear()
  sb.faults.clear()
})

describe.skipIf(!spec)('Klaviyo conformance against the 2024-10-15 OpenAPI document', () => {
  it('Create Event: a request per the spec → 202 with no body, RateLimit-* headers for the steady window', async () => {
    const body = eventBody('ann@example.com', 'order-1')
    conforms(spec!.request('/api/events', 'post', JSONAPI), body)
    const res = await call('POST', '/api/events', body)
    expect(res.status).toBe(202)
    expect(res.body).toBeUndefined()
    expect(res.headers.get('ratelimit-limit')).toBe('1000')
    expect(Number(res.headers.get('ratelimit-remaining'))).toBeLessThan(1000)
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0)
  })

  it('Create or Update Profile → 201 then 200, both PostProfileResponse; Get Profile → GetProfileResponseCompoundDocument', async () => {
    const body = { data: { type: 'profile', attributes: { email: 'bob@example.com', first_name: 'Bob' } } }
    conforms(spec!.request('/api/profile-import', 'post', JSONAPI), body)
    const created = await call('POST', '/api/profile-import', body)
    expect(created.status).toBe(201)
    conforms(spec!.response('/api/profile-import', 'post', 201, JSONAPI), created.body)
    const updated = await call('POST', '/api/profile-import', { data: { type: 'profile', attributes: { email: 'bob@example.com', last_name: 'Lee' } } })
    expect(updated.status).toBe(200)
    conforms(spec!.response('/api/profile-import', 'post', 200, JSONAPI), updated.body)
    const id = (created.body!.data as { id: string }).id
    const got = await call('GET', `/api/profiles/${id}`)
    expect(got.status).toBe(200)
    conforms(spec!.response('/api/profiles/{id}', 'get', 200, JSONAPI), got.body)
  })

  it('errors are ClientError documents: 400 invalid (pointer), 401, 404 profile, 404 unknown route, 415', async () => {
    const bad = await call('POST', '/api/events', eventBody('not-an-email'))
    expect(bad.status).toBe(400)
    conforms(clientError(), bad.body)
    expect(bad.body).toMatchObject({ errors: [{ code: 'invalid', source: { pointer: '/data/attributes/profile/data/attributes/email' } }] })
    const unauth = await call('POST', '/api/events', eventBody('a@example.com'), { authorization: 'Klaviyo-API-Key wrong' })
    expect(unauth.status).toBe(401)
    conforms(clientError(), unauth.body)
    const missing = await call('GET', '/api/profiles/01NOPE')
    expect(missing.status).toBe(404)
    conforms(clientError(), missing.body)
    const route = await call('GET', '/api/no-such-resource')
    expect(route.status).toBe(404)
    conforms(clientError(), route.body)
    const media = await call('POST', '/api/events', eventBody('a@example.com'), { 'content-type': 'text/plain' })
    expect(media.status).toBe(415)
    conforms(clientError(), media.body)
  })

  it('429 throttled is a ClientError with Retry-After', async () => {
    const tight = createKlaviyoSandbox({ apiKey: KEY, rateLimits: { events: { burstPerSecond: 1, steadyPerMinute: 100 } } })
    const s = await serveSandbox(tight.router)
    try {
      const send = () => fetch(`${s.url}/api/events`, { method: 'POST', headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2024-10-15', 'content-type': JSONAPI }, body: JSON.stringify(eventBody('t@example.com')) })
      expect((await send()).status).toBe(202)
      const limited = await send()
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      const body = await limited.json()
      conforms(clientError(), body)
      expect(body).toMatchObject({ errors: [{ code: 'throttled' }] })
    } finally {
      await s.close()
    }
  })

  // Bulk Create Events: "Accepts up to 1,000 events per request"; events dedupe like Create Event, on
  // (profile, metric, unique_id) — also inside one bulk request.
  it('Bulk Create Events: a request per the spec → 202; a unique_id repeated inside it is stored once', async () => {
    const ev = (uniqueId: string) => ({ type: 'event', attributes: { properties: { n: uniqueId }, metric: { data: { type: 'metric', attributes: { name: 'Bulk Metric' } } }, unique_id: uniqueId } })
    const body = {
      data: {
        type: 'event-bulk-create-job',
        attributes: {
          'events-bulk-create': {
            data: [{ type: 'event-bulk-create', attributes: { profile: { data: { type: 'profile', attributes: { email: 'bulk@example.com' } } }, events: { data: [ev('u-1'), ev('u-1'), ev('u-2')] } } }]
          }
        }
      }
    }
    conforms(spec!.request('/api/event-bulk-create-jobs', 'post', JSONAPI), body)
    const res = await call('POST', '/api/event-bulk-create-jobs', body)
    expect(res.status).toBe(202)
    expect(sb.state.events.get('Bulk Metric')!.map((e) => e.uniqueId)).toEqual(['u-1', 'u-2'])
    expect(sb.state.events.get('Bulk Metric')![0]!.properties).toEqual({ n: 'u-1' })

    const tooMany = { data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data: [{ type: 'event-bulk-create', attributes: { profile: { data: { type: 'profile', attributes: { email: 'bulk@example.com' } } }, events: { data: Array.from({ length: 1001 }, (_, i) => ev(`m-${i}`)) } } }] } } } }
    const refused = await call('POST', '/api/event-bulk-create-jobs', tooMany)
    expect(refused.status).toBe(400)
    conforms(clientError(), refused.body)
  })
})
