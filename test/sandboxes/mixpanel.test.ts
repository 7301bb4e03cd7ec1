import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createMixpanelSandbox } from '../../src/sandboxes/mixpanel.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

const TOKEN = 'proj-token'
const SECRET = 'proj-secret'
let sb: ReturnType<typeof createMixpanelSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>

const basic = (user: string, pass = '') => 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64')
const now = Date.now()
const ev = (insertId: string, extra: Record<string, unknown> = {}) => ({
  event: 'Referral Created',
  properties: { token: TOKEN, distinct_id: 'adv@example.com', time: now - 1000, $insert_id: insertId, ...extra }
})

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, json, headers: res.headers }
}

beforeAll(async () => {
  sb = createMixpanelSandbox({ token: TOKEN, secret: SECRET, serviceAccount: { username: 'sa.user', secret: 'sa-secret', projectId: '42' } })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(async () => {
  sb.state.events.clear()
  sb.state.profiles.clear()
  sb.state.dropped.length = 0
  sb.state.received = 0
  sb.faults.clear()
  sb.faults.setRateLimit(undefined)
})

describe('mixpanel sandbox /import', () => {
  it('rejects missing or wrong credentials with 401 Invalid credentials', async () => {
    const none = await post('/import?strict=1', [ev('a1')])
    expect(none.status).toBe(401)
    expect(none.json).toEqual({ code: 401, error: 'Invalid credentials', status: 'Unauthorized' })
    const wrong = await post('/import?strict=1', [ev('a1')], { authorization: basic('nope') })
    expect(wrong.status).toBe(401)
    const saNoProject = await post('/import?strict=1', [ev('a1')], { authorization: basic('sa.user', 'sa-secret') })
    expect(saNoProject.status).toBe(401)
  })

  it('accepts secret, service account (with project_id) and project token', async () => {
    expect((await post('/import?strict=1', [ev('a1')], { authorization: basic(SECRET) })).json).toEqual({ code: 200, num_records_imported: 1, status: 'OK' })
    expect((await post('/import?strict=1&project_id=42', [ev('a2')], { authorization: basic('sa.user', 'sa-secret') })).status).toBe(200)
    expect((await post('/import?strict=1', [ev('a3')], { authorization: basic(TOKEN) })).status).toBe(200)
    expect(sb.state.events.size).toBe(3)
  })

  it('strict=1 answers 400 with failed_records and still imports the valid ones', async () => {
    const bad = [
      ev('ok-1'),
      { event: 'X', properties: { distinct_id: 'u', $insert_id: 'no-time' } },
      { event: 'X', properties: { distinct_id: 'anonymous', time: now, $insert_id: 'placeholder' } },
      { event: 'X', properties: { distinct_id: 'u', time: now, $insert_id: 'rb-referralcandy-0123456789abcdef0123456789abcdef-track' } },
      { event: 'X', properties: { distinct_id: 'u', time: now } }
    ]
    const res = await post('/import?strict=1', bad, { authorization: basic(SECRET) })
    expect(res.status).toBe(400)
    expect(res.json.error).toBe('some data points in the request failed validation')
    expect(res.json.num_records_imported).toBe(1)
    expect(res.json.failed_records.map((f: any) => [f.index, f.field])).toEqual([
      [1, 'properties.time'],
      [2, 'properties.distinct_id'],
      [3, 'properties.$insert_id'],
      [4, 'properties.$insert_id']
    ])
    expect(res.json.failed_records[0].insert_id).toBe('no-time')
    expect(sb.state.events.size).toBe(1)
  })

  it('without strict answers 1 and drops invalid records silently', async () => {
    const res = await post('/import', [ev('legacy'), { event: 'X', properties: { distinct_id: 'u' } }], { authorization: basic(SECRET) })
    expect(res.status).toBe(200)
    expect(res.text).toBe('1')
    expect(sb.state.events.size).toBe(1)
    expect(sb.state.dropped).toHaveLength(1)
  })

  it('dedupes on (event, distinct_id, time, $insert_id), seconds and milliseconds alike', async () => {
    const t = Math.floor(now / 1000) * 1000
    await post('/import?strict=1', [ev('dup', { time: t })], { authorization: basic(SECRET) })
    await post('/import?strict=1', [ev('dup', { time: t / 1000, extra: 'second copy' })], { authorization: basic(SECRET) })
    await post('/import?strict=1', [ev('dup', { time: t + 1000 })], { authorization: basic(SECRET) })
    expect(sb.state.received).toBe(3)
    expect(sb.state.events.size).toBe(2)
    const latest = [...sb.state.events.values()].find((e) => e.properties.time === t)!
    expect(latest.properties.extra).toBe('second copy') // latest copy wins
  })

  it('413 over 10 MB, 400 over 2000 records', async () => {
    const big = [ev('big', { blob: 'x'.repeat(10 * 1024 * 1024) })]
    const res = await post('/import?strict=1', big, { authorization: basic(SECRET) })
    expect(res.status).toBe(413)
    expect(res.json.status).toBe('Request Entity Too Large')
    const many = Array.from({ length: 2001 }, (_, i) => ev(`m${i}`))
    expect((await post('/import?strict=1', many, { authorization: basic(SECRET) })).status).toBe(400)
  })
})

describe('mixpanel sandbox /track', () => {
  it('accepts the SDK form encoding (data=<base64>) and verbose answers', async () => {
    const data = Buffer.from(JSON.stringify(ev('t1'))).toString('base64')
    const res = await fetch(`${server.url}/track?verbose=1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `data=${data}` })
    expect(await res.json()).toEqual({ status: 1, error: null })
    const get = await fetch(`${server.url}/track?data=${encodeURIComponent(Buffer.from(JSON.stringify(ev('t2'))).toString('base64'))}`)
    expect(await get.text()).toBe('1')
    expect(sb.state.events.size).toBe(2)
  })

  it('answers 1 but drops unknown tokens and events older than five days, like Mixpanel', async () => {
    const res = await post('/track', [ev('old', { time: now - 6 * 86_400_000 }), ev('tok', { token: 'other' })])
    expect(res.text).toBe('1')
    expect(sb.state.events.size).toBe(0)
    expect(sb.state.dropped.map((d) => d.reason)).toEqual([expect.stringContaining('older than 5 days'), expect.stringContaining('token')])
  })

  it('answers 0 for a payload without well-formed events', async () => {
    const res = await post('/track?verbose=1', [{ nope: true }])
    expect(res.status).toBe(400)
    expect(res.json.status).toBe(0)
  })
})

describe('mixpanel sandbox /engage', () => {
  it('$set, $set_once, $add, $union, $unset on a profile', async () => {
    const u = (op: Record<string, unknown>) => post('/engage', [{ $token: TOKEN, $distinct_id: 'adv@example.com', ...op }])
    await u({ $set: { $email: 'adv@example.com', plan: 'a' } })
    await u({ $set_once: { first_seen: 'x', plan: 'ignored' } })
    await u({ $set_once: { first_seen: 'y' } })
    await u({ $add: { n: 2 } })
    await u({ $add: { n: 3 } })
    await u({ $union: { referral_ids: ['r1', 'r2'] } })
    await u({ $union: { referral_ids: ['r2', 'r3'] } })
    await u({ $unset: ['plan'] })
    const p = await (await fetch(`${server.url}/_sandbox/profiles/adv@example.com`)).json()
    expect(p.properties).toMatchObject({ $email: 'adv@example.com', first_seen: 'x', n: 5, referral_ids: ['r1', 'r2', 'r3'] })
    expect(p.properties.plan).toBeUndefined()
  })

  it('rejects a missing $token', async () => {
    const res = await post('/engage?verbose=1', [{ $distinct_id: 'x', $set: { a: 1 } }])
    expect(res.json).toEqual({ status: 0, error: '$token, missing or empty' })
  })
})

describe('mixpanel sandbox faults and rate limit', () => {
  it('injected 429 carries Retry-After', async () => {
    await post('/_sandbox/faults', { kind: 'status', status: 429, retryAfterSeconds: 3, count: 1 })
    const res = await post('/track', [ev('f1')])
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('3')
    expect((await post('/track', [ev('f1')])).status).toBe(200)
  })

  it('steady rate limit answers Mixpanel 429 body with Retry-After', async () => {
    await fetch(`${server.url}/_sandbox/rate-limit`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ limit: 2, windowMs: 60_000 }) })
    expect((await post('/track', [ev('r1')])).status).toBe(200)
    expect((await post('/track', [ev('r2')])).status).toBe(200)
    const limited = await post('/track', [ev('r3')])
    expect(limited.status).toBe(429)
    expect(limited.json.error).toMatch(/exceeded rate limits/)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})
