import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { randomUUID } from 'node:crypto'
import { testBridge, type TestBridge } from '../helpers/bridge.ts'

/** Findings: unauthenticated probes created one metric series each; /metrics had no way to be protected. */
describe('metrics cannot be inflated, and can be protected', () => {
  let bridge: TestBridge
  beforeAll(async () => {
    bridge = await testBridge({ env: { METRICS_TOKEN: 'metrics-scrape-token' } })
  })
  afterAll(() => bridge?.close())

  const scrape = async () => {
    const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: 'Bearer metrics-scrape-token' } })
    expect(res.status).toBe(200)
    return res.text()
  }
  const series = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`))

  it('200 probes at invented source names with a bogus Content-Encoding add no series', async () => {
    const probe = (path: string, headers: Record<string, string>) =>
      fetch(`${bridge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"a":1}' })
    // Warm the label set once, so the count below measures growth only.
    await probe(`/webhooks/probe-${randomUUID()}`, { 'content-encoding': 'bogus' })
    await probe(`/webhooks/probe-${randomUUID()}`, {})
    const before = series(await scrape(), 'bridge_webhooks_rejected_total')
    for (let i = 0; i < 100; i++) {
      const res = await probe(`/webhooks/probe-${randomUUID()}`, { 'content-encoding': 'bogus' })
      expect(res.status).toBe(415)
      expect(await res.json()).toMatchObject({ error: 'unsupported_encoding' })
      expect((await probe(`/webhooks/probe-${randomUUID()}`, {})).status).toBe(404)
    }
    const text = await scrape()
    const after = series(text, 'bridge_webhooks_rejected_total')
    expect(text).not.toMatch(/probe-/)
    expect(after.length).toBe(before.length)
    expect(after.some((l) => l.includes('source="unknown"'))).toBe(true)
  })

  it('a Content-Length over the limit on an unknown source is counted under "unknown"', async () => {
    const res = await fetch(`${bridge.url}/webhooks/probe-${randomUUID()}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(600 * 1024) })
    expect(res.status).toBe(413)
    expect(await scrape()).toMatch(/bridge_webhooks_rejected_total\{source="unknown",reason="payload_too_large"\} [1-9]/)
  })

  it('METRICS_TOKEN: /metrics needs the bearer token', async () => {
    const anonymous = await fetch(`${bridge.url}/metrics`)
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ error: 'unauthorized' })
    expect((await fetch(`${bridge.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect(await scrape()).toMatch(/bridge_webhooks_accepted_total/)
  })
})
