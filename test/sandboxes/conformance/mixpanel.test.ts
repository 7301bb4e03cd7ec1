import Mixpanel from 'mixpanel'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createMixpanelSandbox } from '../../../src/sandboxes/mixpanel.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'
import { conforms, loadSpec } from './openapi.ts'

/**
 * The Mixpanel sandbox against Mixpanel's published Ingestion API document (shared/openapi/mixpanel/
 * ingestion.openapi.yaml, from mixpanel/docs): /import requests are built from its request schema and every answer
 * is validated against its response schemas. The `mixpanel` SDK only sends secrets over HTTPS, so /track is the
 * SDK's path here. Limits: docs.mixpanel.com/reference/import-events ("2000 events and 10MB uncompressed").
 */
const spec = loadSpec('mixpanel/ingestion.openapi.yaml')
if (!spec) console.warn('[conformance] ../shared/openapi/mixpanel is absent: the Mixpanel OpenAPI checks are skipped')

const SECRET = 'mp-secret'
const TOKEN = 'mp-token'
let sb: ReturnType<typeof createMixpanelSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>
const auth = (user: string) => `Basic ${Buffer.from(`${user}:`).toString('base64')}`
const event = (i: number, props: Record<string, unknown> = {}) => ({
  event: 'Referral Completed',
  properties: { time: Math.floor(Date.now() / 1000) - 60, distinct_id: `user-${i}`, $insert_id: `ins-${i}-${Date.now()}`, ...props }
})
async function importEvents(body: unknown, query = 'strict=1', user = SECRET) {
  const res = await fetch(`${server.url}/import?${query}`, { method: 'POST', headers: { authorization: auth(user), 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

beforeAll(async () => {
  sb = createMixpanelSandbox({ token: TOKEN, secret: SECRET })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  sb.state.events.clear()
  sb.state.dropped.length = 0
  sb.faults.setRateLimit(undefined)
})

describe.skipIf(!spec)('Mixpanel conformance: /import against the Ingestion OpenAPI document', () => {
  it('a valid batch (request per the spec) → 200 StrictReceived', async () => {
    const batch = [event(1), event(2)]
    conforms(spec!.request('/import', 'post'), batch)
    const res = await importEvents(batch)
    expect(res.status).toBe(200)
    conforms(spec!.response('/import', 'post', 200), res.body)
    expect(res.body).toEqual({ code: 200, num_records_imported: 2, status: 'OK' })
  })

  it('an invalid record → 400 StrictInvalid listing it; 401 StrictUnauthorized for a wrong secret', async () => {
    const res = await importEvents([event(1), event(2, { distinct_id: 'undefined' })])
    expect(res.status).toBe(400)
    conforms(spec!.response('/import', 'post', 400), res.body)
    expect(res.body).toMatchObject({ num_records_imported: 1, failed_records: [{ index: 1, field: 'properties.distinct_id' }] })
    const denied = await importEvents([event(3)], 'strict=1', 'wrong')
    expect(denied.status).toBe(401)
    conforms(spec!.response('/import', 'post', 401), denied.body)
  })

  // "Each request can contain up to 2000 events and 10MB of uncompressed JSON."
  it('3 MB and 2000 events are accepted; over 10 MB is 413 StrictTooLarge, 2001 events 400', async () => {
    const threeMb = [event(1, { blob: 'x'.repeat(3 * 1024 * 1024) })]
    const ok = await importEvents(threeMb)
    expect(ok.status).toBe(200)
    const full = await importEvents(Array.from({ length: 2000 }, (_, i) => event(i)))
    expect(full.body).toEqual({ code: 200, num_records_imported: 2000, status: 'OK' })
    const tooBig = await importEvents([event(1, { blob: 'x'.repeat(10 * 1024 * 1024) })])
    expect(tooBig.status).toBe(413)
    conforms(spec!.response('/import', 'post', 413), tooBig.body)
    expect((await importEvents(Array.from({ length: 2001 }, (_, i) => event(i)))).status).toBe(400)
  })

  // strict=1 "will validate the batch and return errors per event that failed"; without it Mixpanel does not report
  // per-event failures: the answer is the `1` the official SDK (mixpanel-node, lib/mixpanel-node.js) checks for.
  it('without strict, a placeholder distinct_id is dropped silently and the answer is 1, not 0', async () => {
    const res = await fetch(`${server.url}/import?strict=0`, { method: 'POST', headers: { authorization: auth(SECRET), 'content-type': 'application/json' }, body: JSON.stringify([event(1, { distinct_id: 'undefined' })]) })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('1')
    expect(sb.state.dropped).toHaveLength(1)
    expect(sb.state.events.size).toBe(0)
    const noParam = await fetch(`${server.url}/import`, { method: 'POST', headers: { authorization: auth(SECRET), 'content-type': 'application/json' }, body: JSON.stringify([event(2)]) })
    expect(await noParam.text()).toBe('1')
    expect(sb.state.events.size).toBe(1)
  })

  it('past the rate limit → 429 RateLimitExceeded', async () => {
    sb.faults.setRateLimit({ limit: 1, windowMs: 60_000 })
    await importEvents([event(1)])
    const limited = await importEvents([event(2)])
    expect(limited.status).toBe(429)
    conforms(spec!.response('/import', 'post', 429), limited.body)
  })
})

describe('Mixpanel conformance: the mixpanel SDK over /track', () => {
  it('mixpanel.track reaches the sandbox and is stored once', async () => {
    const url = new URL(server.url)
    const mp = Mixpanel.init(TOKEN, { host: url.hostname, port: Number(url.port), protocol: 'http' } as never)
    await new Promise<void>((resolve, reject) => mp.track('Signed Up', { distinct_id: 'sdk-user', $insert_id: 'sdk-1' }, (err) => (err ? reject(err) : resolve())))
    expect([...sb.state.events.values()].map((e) => [e.event, e.properties.distinct_id])).toEqual([['Signed Up', 'sdk-user']])
  })
})
