import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { connect, type Socket } from 'node:net'
import { testBridge, type TestBridge } from '../helpers/bridge.ts'
import { loadConfig } from '../../src/config.ts'

/** Opens a raw connection, so the test controls exactly how (and how slowly) the request is sent. */
function rawClient(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve({ socket, received: () => data, closed }))
    let data = ''
    socket.on('data', (d) => (data += String(d)))
    socket.on('error', () => {})
    const closed = new Promise<void>((r) => socket.on('close', () => r()))
    socket.once('error', reject)
  })
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])
/** Resolves on the socket's own data events once `check` holds (no polling, no timers). */
const waitFor = async (socket: Socket, check: () => boolean) => {
  while (!check()) await new Promise((r) => socket.once('data', r))
}

/**
 * Findings: a slow body held a connection for ~5 minutes; a 50 MB Content-Length trickled at 1 KB/s got no early
 * 413; admin bodies were parsed before the token check.
 */
describe('slow and oversized clients', () => {
  let bridge: TestBridge
  beforeAll(async () => {
    bridge = await testBridge({ env: { REQUEST_TIMEOUT_MS: '1500', HEADERS_TIMEOUT_MS: '1000', BRIDGE_APP_API_KEY: 'app-api-key-for-tests' } })
  })
  afterAll(() => bridge?.close())

  it('Content-Length over the limit: 413 answered before the body is sent, then the connection is closed', async () => {
    for (const path of ['/webhooks/referralcandy', '/webhooks/not-a-source', '/admin/dlq/replay']) {
      const c = await rawClient(bridge.url)
      c.socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`)
      c.socket.write('{"a":"' + 'x'.repeat(1024))
      await waitFor(c.socket, () => c.received().includes('\r\n\r\n'))
      expect(statusOf(c.received()), path).toBe(413)
      expect(c.received()).toMatch(/connection: close/i)
      await c.closed
      expect(c.received()).toMatch(/"error":"payload_too_large"/)
    }
  })

  it('a body that stops arriving: 408 and closed within REQUEST_TIMEOUT_MS', async () => {
    const c = await rawClient(bridge.url)
    c.socket.write('POST /webhooks/referralcandy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"referral_email":')
    await c.closed
    expect(statusOf(c.received())).toBe(408)
  })

  it('headers that never end: closed within HEADERS_TIMEOUT_MS', async () => {
    const c = await rawClient(bridge.url)
    c.socket.write('POST /webhooks/referralcandy HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    await c.closed
    expect(statusOf(c.received())).toBe(408)
  })

  it('the documented defaults: 30 s for a whole request, 10 s for headers', () => {
    expect(loadConfig({})).toMatchObject({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000 })
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '5000' }).headersTimeoutMs).toBe(5_000)
  })

  it('admin and notification routes authenticate before parsing a body', async () => {
    const post = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${bridge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"ids": [malformed' })
    const admin = await post('/admin/dlq/replay')
    expect(admin.status).toBe(401)
    expect(await admin.json()).toMatchObject({ error: 'unauthorized' })
    expect((await post('/admin/dlq/replay', { authorization: 'Bearer admin-test-token' })).status).toBe(400)
    const notes = await post('/api/advocates/a%40example.com/notifications/read')
    expect(notes.status).toBe(401)
    expect((await post('/api/advocates/a%40example.com/notifications/read', { authorization: 'Bearer app-api-key-for-tests' })).status).toBe(400)
  })

  it('the console sends Referrer-Policy and X-Frame-Options besides its CSP', async () => {
    const res = await fetch(`${bridge.url}/console/`)
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/)
  })
})
