import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import express from 'express'
import { Webhook } from 'standardwebhooks'
import { createAppSandbox } from '../../src/sandboxes/app.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { appWebhookDestination, classifyAppResponse } from '../../src/destinations/app-webhook.ts'
import { ADVOCATE, orderCompleted } from './support.ts'

const SECRET = `whsec_${Buffer.from('a-32-byte-secret-for-the-app-tst').toString('base64')}`

describe('app_webhook destination against the app sandbox', () => {
  const app = createAppSandbox({ secret: SECRET })
  let server: Awaited<ReturnType<typeof serveSandbox>>
  let url: string
  beforeAll(async () => {
    server = await serveSandbox(app.router)
    url = `${server.url}/webhooks/referral-bridge`
  })
  afterAll(() => server.close())
  beforeEach(() => {
    app.faults.clear()
    app.state.webhooks.clear()
    app.state.received = 0
    app.state.rejected = 0
  })
  const destination = (opts: Partial<Parameters<typeof appWebhookDestination>[0]> = {}) =>
    appWebhookDestination({ url, secret: SECRET, sandboxed: true, ...opts })

  it('sends a Standard Webhooks request the app verifies: stable webhook-id, signed body', async () => {
    const d = destination()
    expect(d.name).toBe('app_webhook')
    expect(d.target).toBe(url)
    expect(d.priorityOf!(orderCompleted(1), 0)).toMatchObject({ priority: 5 })
    const m = orderCompleted(1)
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(app.state.rejected).toBe(0)
    const got = app.state.webhooks.get(m.messageId)!
    expect(got.type).toBe('advocate.friend_purchased')
    expect(Math.abs(got.timestamp - Date.now() / 1000)).toBeLessThan(5)
    expect(got.payload).toEqual({
      type: 'advocate.friend_purchased',
      timestamp: m.timestamp,
      data: {
        notification_id: m.messageId,
        advocate_id: ADVOCATE,
        kind: 'friend_purchase',
        title: 'Your friend made a purchase',
        body: 'Your friend f*** bought — order #1001, $25.00',
        advocate_email: ADVOCATE,
        order_id: '1001',
        friend_email: 'friend1@example.com',
        revenue: 25,
        currency: 'USD',
        occurred_at: m.timestamp
      }
    })
    // A resend (the queue retrying after a lost response) has the same id: the app applies it once.
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(app.state.received).toBe(2)
    expect(app.state.webhooks.size).toBe(1)
    expect(got.copies).toBe(2)
    const shown = await (await fetch(`${server.url}/_sandbox/webhooks`)).json()
    expect(shown).toMatchObject({ received: 2, unique: 1, rejected: 0 })
  })

  it('signs exactly what it sends (checked independently of the sandbox)', async () => {
    let captured: { headers: Headers; body: string } | undefined
    // A bare receiver that keeps the exact bytes, to verify them with the package directly.
    const raw = await serveSandbox(
      express.Router().post('/hook', express.text({ type: '*/*' }), (req, res) => {
        captured = { headers: new Headers(req.headers as Record<string, string>), body: req.body as string }
        res.status(204).end()
      })
    )
    try {
      const d = appWebhookDestination({ url: `${raw.url}/hook`, secret: SECRET, sandboxed: true })
      expect(await d.deliver([orderCompleted(2)])).toEqual([{ status: 'delivered' }])
      const h = captured!.headers
      expect(h.get('webhook-id')).toBe(orderCompleted(2).messageId)
      expect(h.get('webhook-signature')).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
      expect(h.get('content-type')).toBe('application/json')
      const verified = new Webhook(SECRET).verify(captured!.body, {
        'webhook-id': h.get('webhook-id')!,
        'webhook-timestamp': h.get('webhook-timestamp')!,
        'webhook-signature': h.get('webhook-signature')!
      })
      expect(verified).toMatchObject({ type: 'advocate.friend_purchased' })
      expect(() => new Webhook(`whsec_${Buffer.from('another-secret-another-secret-xx').toString('base64')}`).verify(captured!.body, {
        'webhook-id': h.get('webhook-id')!,
        'webhook-timestamp': h.get('webhook-timestamp')!,
        'webhook-signature': h.get('webhook-signature')!
      })).toThrow()
    } finally {
      await raw.close()
    }
  })

  it('the app refuses a wrong signature (401), which is permanent for the bridge', async () => {
    const d = destination({ secret: `whsec_${Buffer.from('the-wrong-secret-the-wrong-secre').toString('base64')}` })
    const [r] = await d.deliver([orderCompleted(3)])
    expect(r).toMatchObject({ status: 'permanent', statusCode: 401 })
    expect(app.state.rejected).toBe(1)
    expect(app.state.webhooks.size).toBe(0)
  })

  it('retries while the app is down (503 × 3), then delivers once', async () => {
    app.faults.add({ kind: 'status', status: 503, count: 3 })
    const d = destination()
    const m = orderCompleted(4)
    const results = []
    for (let i = 0; i < 4; i++) results.push((await d.deliver([m]))[0])
    expect(results.slice(0, 3).map((r) => r.status)).toEqual(['retry', 'retry', 'retry'])
    expect(results[0]).toMatchObject({ statusCode: 503 })
    expect(results[3]).toEqual({ status: 'delivered' })
    expect(app.state.received).toBe(1)
    expect(app.state.webhooks.size).toBe(1)
  })

  it('410 Gone is permanent; other 4xx are permanent; 429/5xx/3xx retry', async () => {
    app.faults.add({ kind: 'status', status: 410, count: 1 })
    const [gone] = await destination().deliver([orderCompleted(5)])
    expect(gone).toMatchObject({ status: 'permanent', statusCode: 410 })
    expect((gone as { error: string }).error).toMatch(/410 Gone/)
    expect(classifyAppResponse(400, 'bad')).toMatchObject({ status: 'permanent', statusCode: 400 })
    expect(classifyAppResponse(404, '')).toMatchObject({ status: 'permanent' })
    for (const s of [408, 429, 500, 501, 502, 503, 504, 302]) expect(classifyAppResponse(s, '').status).toBe('retry')
    expect(classifyAppResponse(204, '')).toEqual({ status: 'delivered' })
  })

  it('honours Retry-After (seconds) as retryAfterMs', async () => {
    app.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 7, count: 1 })
    const [r] = await destination().deliver([orderCompleted(6)])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 7_000 })
    app.faults.add({ kind: 'status', status: 503, retryAfterSeconds: 2, count: 1 })
    expect((await destination().deliver([orderCompleted(6)]))[0]).toMatchObject({ status: 'retry', statusCode: 503, retryAfterMs: 2_000 })
  })

  it('retries a timeout and a refused connection', async () => {
    app.faults.add({ kind: 'timeout', count: 1 })
    const [slow] = await destination({ timeoutMs: 150 }).deliver([orderCompleted(7)])
    expect(slow).toMatchObject({ status: 'retry', error: expect.stringMatching(/^timeout/) })

    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const [refused] = await appWebhookDestination({ url: `http://127.0.0.1:${port}/x`, secret: SECRET, sandboxed: false }).deliver([orderCompleted(7)])
    expect(refused.status).toBe('retry')
  })

  it('keeps credentials out of the target, and refuses a malformed secret without echoing it', () => {
    const d = appWebhookDestination({ url: 'https://user:pw@app.example.com/hooks?token=abc', secret: SECRET, sandboxed: false })
    expect(d.target).toBe('https://app.example.com/hooks')
    expect(() => appWebhookDestination({ url, secret: '', sandboxed: false })).toThrow(/APP_WEBHOOK_SECRET/)
  })
})
