import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createKlaviyoSandbox, klaviyoProfileByEmail } from '../../src/sandboxes/klaviyo.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

const KEY = 'pk_test_123'
const REVISION = '2024-10-15'
let sb: ReturnType<typeof createKlaviyoSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>

const headers = (over: Record<string, string | undefined> = {}) => {
  const h: Record<string, string> = { authorization: `Klaviyo-API-Key ${KEY}`, revision: REVISION, 'content-type': 'application/vnd.api+json', accept: 'application/vnd.api+json' }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete h[k]
    else h[k] = v
  }
  return h
}
const post = async (path: string, body: unknown, over: Record<string, string | undefined> = {}, base = server.url) => {
  const res = await fetch(base + path, { method: 'POST', headers: headers(over), body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers }
}
const event = (over: Record<string, unknown> = {}, profile: Record<string, unknown> = { email: 'friend@example.com' }) => ({
  data: {
    type: 'event',
    attributes: {
      properties: { referral_id: 'r1' },
      metric: { data: { type: 'metric', attributes: { name: 'Referred Friend Signed Up' } } },
      profile: { data: { type: 'profile', attributes: profile } },
      unique_id: 'msg-1',
      time: new Date().toISOString(),
      ...over
    }
  }
})

beforeAll(async () => {
  sb = createKlaviyoSandbox({ apiKey: KEY })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  sb.state.events.clear()
  sb.state.profiles.clear()
  sb.state.eventsReceived = 0
  sb.state.duplicateEvents = 0
  sb.faults.clear()
})

describe('klaviyo sandbox: auth and revision', () => {
  it('401 without the Klaviyo-API-Key scheme, 401 for a wrong key', async () => {
    const none = await post('/api/events', event(), { authorization: undefined })
    expect(none.status).toBe(401)
    expect(none.json.errors[0]).toMatchObject({ status: 401, code: 'not_authenticated', title: expect.any(String), detail: expect.any(String), id: expect.any(String) })
    const bearer = await post('/api/events', event(), { authorization: `Bearer ${KEY}` })
    expect(bearer.json.errors[0].code).toBe('not_authenticated')
    const wrong = await post('/api/events', event(), { authorization: 'Klaviyo-API-Key pk_wrong' })
    expect(wrong.status).toBe(401)
    expect(wrong.json.errors[0].code).toBe('authentication_failed')
  })

  it('400 for a missing or unknown revision', async () => {
    const missing = await post('/api/events', event(), { revision: undefined })
    expect(missing.status).toBe(400)
    expect(missing.json.errors[0]).toMatchObject({ code: 'invalid', source: { parameter: 'revision' } })
    const unknown = await post('/api/events', event(), { revision: '2024-13-45' })
    expect(unknown.status).toBe(400)
    expect((await post('/api/events', event(), { revision: '2024-10-15.pre' })).status).toBe(202)
  })

  it('415 for a non-JSON content type', async () => {
    expect((await post('/api/events', event(), { 'content-type': 'text/plain' })).status).toBe(415)
  })
})

describe('klaviyo sandbox: events', () => {
  it('202 with an empty body; upserts the profile; records acceptedAt', async () => {
    const res = await post('/api/events', event({ value: 25 }, { email: 'Friend@Example.com', first_name: 'John' }))
    expect(res.status).toBe(202)
    expect(res.text).toBe('')
    const [e] = sb.state.events.get('Referred Friend Signed Up')!
    expect(e).toMatchObject({ uniqueId: 'msg-1', properties: { referral_id: 'r1' }, value: 25, acceptedAt: expect.any(Number) })
    expect(klaviyoProfileByEmail(sb.state, 'friend@example.com')?.attributes.first_name).toBe('John')
  })

  it('keeps the first event per (profile, metric, unique_id)', async () => {
    await post('/api/events', event({ properties: { n: 1 } }))
    await post('/api/events', event({ properties: { n: 2 } }))
    await post('/api/events', event({ properties: { n: 3 }, unique_id: 'msg-2' }))
    await post('/api/events', event({ properties: { n: 4 } }, { email: 'other@example.com' }))
    const list = sb.state.events.get('Referred Friend Signed Up')!
    expect(list.map((e) => e.properties.n)).toEqual([1, 3, 4])
    expect(sb.state.eventsReceived).toBe(4)
    expect(sb.state.duplicateEvents).toBe(1)
  })

  it('without unique_id, events of one second collapse (Klaviyo uses the time to the second)', async () => {
    const t = '2026-01-01T00:00:00.100Z'
    await post('/api/events', event({ unique_id: undefined, time: t }))
    await post('/api/events', event({ unique_id: undefined, time: '2026-01-01T00:00:00.900Z' }))
    await post('/api/events', event({ unique_id: undefined, time: '2026-01-01T00:00:01.000Z' }))
    expect(sb.state.events.get('Referred Friend Signed Up')).toHaveLength(2)
  })

  it('validation errors point at the field', async () => {
    const noMetric = await post('/api/events', { data: { type: 'event', attributes: { properties: {}, profile: { data: { type: 'profile', attributes: { email: 'a@b.co' } } } } } })
    expect(noMetric.status).toBe(400)
    expect(noMetric.json.errors[0].source.pointer).toBe('/data/attributes/metric/data/attributes/name')
    const noId = await post('/api/events', event({}, { first_name: 'x' }))
    expect(noId.json.errors[0].source.pointer).toBe('/data/attributes/profile/data/attributes')
    const badEmail = await post('/api/events', event({}, { email: 'not-an-email' }))
    expect(badEmail.json.errors[0].source.pointer).toBe('/data/attributes/profile/data/attributes/email')
    const badType = await post('/api/events', { data: { type: 'profile', attributes: {} } })
    expect(badType.json.errors[0].source.pointer).toBe('/data/type')
    const malformed = await post('/api/events', '{nope')
    expect(malformed.status).toBe(400)
    expect(malformed.json.errors).toHaveLength(1)
  })
})

describe('klaviyo sandbox: profile-import', () => {
  it('201 on create, 200 on update by email; merges properties', async () => {
    const body = (attrs: Record<string, unknown>) => ({ data: { type: 'profile', attributes: attrs } })
    const created = await post('/api/profile-import', body({ email: 'adv@example.com', first_name: 'Sarah', properties: { referral_code: 'jb007' } }))
    expect(created.status).toBe(201)
    expect(created.json.data).toMatchObject({ type: 'profile', id: expect.any(String), attributes: { email: 'adv@example.com', first_name: 'Sarah' } })
    const updated = await post('/api/profile-import', body({ email: 'ADV@example.com', last_name: 'Advocate', properties: { referral_role: 'advocate' } }))
    expect(updated.status).toBe(200)
    expect(updated.json.data.id).toBe(created.json.data.id)
    expect(updated.json.data.attributes.properties).toEqual({ referral_code: 'jb007', referral_role: 'advocate' })
    expect(sb.state.profiles.size).toBe(1)
    const got = await fetch(`${server.url}/api/profiles/${created.json.data.id}`, { headers: headers() })
    expect((await got.json()).data.attributes.last_name).toBe('Advocate')
  })
})

describe('klaviyo sandbox: rate limits and faults', () => {
  it('burst limit → 429 throttled with Retry-After', async () => {
    const small = createKlaviyoSandbox({ apiKey: KEY, rateLimits: { events: { burstPerSecond: 2, steadyPerMinute: 100 } } })
    const s = await serveSandbox(small.router)
    try {
      expect((await post('/api/events', event({ unique_id: 'a' }), {}, s.url)).status).toBe(202)
      expect((await post('/api/events', event({ unique_id: 'b' }), {}, s.url)).status).toBe(202)
      const limited = await post('/api/events', event({ unique_id: 'c' }), {}, s.url)
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toBe('1')
      expect(limited.json.errors[0]).toMatchObject({ status: 429, code: 'throttled' })
    } finally {
      await s.close()
    }
  })

  it('steady limit → 429 with a longer Retry-After', async () => {
    let t = 1_000_000
    const small = createKlaviyoSandbox({ apiKey: KEY, now: () => t, rateLimits: { 'profile-import': { burstPerSecond: 10, steadyPerMinute: 3 } } })
    const s = await serveSandbox(small.router)
    try {
      for (let i = 0; i < 3; i++) {
        t += 2_000
        expect((await post('/api/profile-import', { data: { type: 'profile', attributes: { email: `p${i}@example.com` } } }, {}, s.url)).status).toBe(201)
      }
      t += 2_000
      const limited = await post('/api/profile-import', { data: { type: 'profile', attributes: { email: 'p9@example.com' } } }, {}, s.url)
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBe(54)
    } finally {
      await s.close()
    }
  })

  it('injected 429 / 503 via the fault switch', async () => {
    await fetch(`${server.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 429, retryAfterSeconds: 9, count: 1 }) })
    const res = await post('/api/events', event())
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('9')
    expect((await post('/api/events', event())).status).toBe(202)
  })
})
