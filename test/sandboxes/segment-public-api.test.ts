import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { createSegmentPublicApiSandbox } from '../../src/sandboxes/segment-public-api.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

describe('Segment Public API sandbox (functions)', () => {
  let sb: ReturnType<typeof createSegmentPublicApiSandbox>
  let srv: Awaited<ReturnType<typeof serveSandbox>>
  const call = (method: string, path: string, body?: unknown, token: string | null = 'tok') =>
    fetch(`${srv.url}${path}`, {
      method,
      headers: { accept: 'application/vnd.segment.v1+json', 'content-type': 'application/vnd.segment.v1+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {})
    })
  beforeEach(async () => {
    sb = createSegmentPublicApiSandbox({ token: 'tok' })
    srv = await serveSandbox(sb.router)
  })
  afterEach(() => srv.close())

  it('401 without bearer; list requires resourceType', async () => {
    expect((await call('GET', '/functions?resourceType=DESTINATION', undefined, null)).status).toBe(401)
    expect((await call('GET', '/functions?resourceType=DESTINATION', undefined, 'nope')).status).toBe(401)
    expect((await call('GET', '/functions')).status).toBe(400)
  })

  it('create, get, update, list with {data} wrapping and the workspace suffix', async () => {
    const created = await call('POST', '/functions', { code: 'async function onTrack() {}', displayName: 'HubSpot', resourceType: 'DESTINATION', settings: [] })
    expect(created.status).toBe(200)
    expect(created.headers.get('content-type')).toContain('application/vnd.segment.v1+json')
    const fn = ((await created.json()) as { data: { function: { id: string; displayName: string } } }).data.function
    expect(fn.id).toMatch(/^dfn_/)
    expect(fn.displayName).toBe('HubSpot (Sandbox Workspace)')
    const patched = await call('PATCH', `/functions/${fn.id}`, { code: 'async function onIdentify() {}' })
    expect(((await patched.json()) as { data: { function: { code: string } } }).data.function.code).toContain('onIdentify')
    const list = (await (await call('GET', '/functions?resourceType=DESTINATION')).json()) as { data: { functions: unknown[] } }
    expect(list.data.functions).toHaveLength(1)
    expect((await call('GET', `/functions/${fn.id}`)).status).toBe(200)
    expect((await call('GET', '/functions/dfn_nope')).status).toBe(404)
    expect(sb.state.writes.map((w) => w.method)).toEqual(['POST', 'PATCH'])
  })

  it('429 with Retry-After through the fault switch', async () => {
    sb.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 3, count: 1 })
    const r = await call('GET', '/functions?resourceType=DESTINATION')
    expect(r.status).toBe(429)
    expect(r.headers.get('retry-after')).toBe('3')
  })
})
