import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import express from 'express'
import { Webhook } from 'standardwebhooks'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { derivedSecret } from '../../src/hooks/wiring.ts'
import { testBridge, referralCandyPayload, sign, until, type TestBridge } from '../helpers/bridge.ts'

const KEY = 'hooks-test-key'

/** A Zapier-like catch hook: verifies the Standard Webhooks signature, answers what the test scripts. */
function subscriber(name: string, answers: number[] = [], then = 200) {
  const verifier = new Webhook(derivedSecret(KEY))
  const state = { requests: 0, rejected: 0, received: [] as Array<{ id: string; body: any }> }
  const router = express.Router()
  router.post(`/${name}`, express.raw({ type: '*/*' }), (req, res) => {
    state.requests++
    const status = answers.shift() ?? then
    if (status !== 200) return res.status(status).json({ status })
    const raw = (req.body as Buffer).toString('utf8')
    const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(req.headers[h] ?? '')]))
    try {
      state.received.push({ id: headers['webhook-id'], body: verifier.verify(raw, headers) })
    } catch {
      state.rejected++
      return res.status(401).end()
    }
    res.json({ ok: true })
  })
  return { router, state }
}

describe('REST Hooks API (Zapier / Make)', () => {
  let bridge: TestBridge
  let server: Awaited<ReturnType<typeof serveSandbox>>
  const flaky = subscriber('flaky', [503, 503])
  const steady = subscriber('steady')
  const gone = subscriber('gone', [], 410)
  const call = async (method: string, path: string, body?: unknown, key: string | null = KEY) => {
    const res = await fetch(`${bridge.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
    return { status: res.status, body: await res.json() }
  }
  const webhook = (i: number) => {
    const raw = JSON.stringify(referralCandyPayload(i))
    return bridge.post('referralcandy', raw, sign.referralcandy(raw))
  }

  beforeAll(async () => {
    const app = express.Router()
    for (const s of [flaky, steady, gone]) app.use(s.router)
    server = await serveSandbox(app)
    bridge = await testBridge({ env: { BRIDGE_HOOKS_API_KEY: KEY } })
  })
  afterAll(async () => {
    await bridge?.close()
    await server?.close()
  })

  it('authenticates before reading the body, and names what is wrong', async () => {
    expect(await call('POST', '/api/hooks', '{not json', null)).toMatchObject({ status: 401, body: { error: 'unauthorized' } })
    expect(await call('POST', '/api/hooks', '{not json', 'wrong-key')).toMatchObject({ status: 401 })
    expect((await call('POST', '/api/hooks', { target_url: 'ftp://x', event: 'Referral Created' })).body.error).toBe('invalid_target_url')
    const unknown = await call('POST', '/api/hooks', { target_url: `${server.url}/steady`, event: 'Referral Creatd' })
    expect(unknown).toMatchObject({ status: 422, body: { error: 'unknown_event' } })
    expect(unknown.body.message).toContain('Referral Created')
    expect((await call('GET', '/api/hooks/sample')).status).toBe(400)
    expect(await call('DELETE', '/api/hooks/hook_nope')).toMatchObject({ status: 404, body: { error: 'hook_not_found' } })
  })

  it('delivers each matching event once to each subscriber, signed; retries only the failing one; 410 unsubscribes', async () => {
    const ids: Record<string, string> = {}
    for (const name of ['flaky', 'steady', 'gone']) {
      const res = await call('POST', '/api/hooks', { target_url: `${server.url}/${name}`, event: 'Referral Created' })
      expect(res.status).toBe(201)
      expect(res.body.id).toMatch(/^hook_/)
      ids[name] = res.body.id
    }
    expect((await webhook(1)).status).toBe(200)
    expect((await webhook(2)).status).toBe(200)
    expect((await webhook(1)).status).toBe(200) // the platform redelivers: a duplicate, no new message

    await until(() => flaky.state.received.length === 2 && steady.state.received.length === 2, 15_000, 'both subscribers to get both events')
    await until(async () => (await bridge.hooks.store.list()).length === 2, 5_000, 'the 410 subscriber to be removed')
    // Both events may have been in flight to it when the first 410 came back; none after the removal.
    const goneRequests = gone.state.requests
    expect(goneRequests).toBeGreaterThanOrEqual(1)
    expect(goneRequests).toBeLessThanOrEqual(2)
    // flaky answered 503 twice: the job retried, and the steady subscriber was not sent anything twice.
    expect(flaky.state.requests).toBe(4)
    expect(steady.state.requests).toBe(2)
    for (const s of [flaky, steady]) {
      expect(s.state.rejected).toBe(0)
      expect(new Set(s.state.received.map((r) => r.id)).size).toBe(2)
      for (const r of s.state.received) {
        expect(r.body).toMatchObject({ type: 'track', event: 'Referral Created', messageId: r.id })
      }
    }
    const deliveredJobs = () => bridge.store.listJobs('delivered', { destination: 'rest_hooks' })
    await until(async () => (await deliveredJobs()).length === 2, 5_000, 'both rest_hooks jobs to complete')

    // Unsubscribed on 410: a later event does not reach it; other events get no rest_hooks job at all.
    expect((await webhook(3)).status).toBe(200)
    await until(() => steady.state.received.length === 3, 10_000, 'the third event')
    expect(gone.state.requests).toBe(goneRequests)
    await until(async () => (await deliveredJobs()).length === 3, 5_000, 'the third rest_hooks job to complete')
    expect((await deliveredJobs()).every((j) => j.event === 'Referral Created')).toBe(true)
    expect(await bridge.store.listJobs('pending', { destination: 'rest_hooks' })).toEqual([])

    // The perform list: recent events of that name, newest first.
    const sample = await call('GET', '/api/hooks/sample?event=Referral%20Created&limit=2')
    expect(sample.status).toBe(200)
    expect(sample.body).toHaveLength(2)
    expect(sample.body.every((m: any) => m.event === 'Referral Created')).toBe(true)
    expect(Date.parse(sample.body[0].timestamp)).toBeGreaterThan(Date.parse(sample.body[1].timestamp))

    // Zapier turns the Zap off: DELETE, then nothing more reaches it.
    expect(await call('DELETE', `/api/hooks/${ids.steady}`)).toMatchObject({ status: 200, body: { deleted: true } })
    expect((await webhook(4)).status).toBe(200)
    await until(() => flaky.state.received.length === 4, 10_000, 'the fourth event at the remaining subscriber')
    expect(steady.state.received).toHaveLength(3)
  })
})
