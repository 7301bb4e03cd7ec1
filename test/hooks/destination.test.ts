import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import express from 'express'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Webhook } from 'standardwebhooks'
import { SqliteHookStore } from '../../src/hooks/sqlite.ts'
import { restHooksDestination } from '../../src/destinations/rest-hooks.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { referralCreated } from './store.contract.ts'

const SECRET = `whsec_${Buffer.from('rest-hooks-destination-test-key!').toString('base64')}`

describe('rest_hooks destination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-hookdest-'))
  const store = new SqliteHookStore(join(dir, 'hooks.sqlite'))
  const answers: Record<string, number> = { a: 200, b: 404 }
  const received: Record<string, string[]> = { a: [], b: [] }
  let server: Awaited<ReturnType<typeof serveSandbox>>
  beforeAll(async () => {
    await store.init()
    const router = express.Router()
    const verifier = new Webhook(SECRET)
    router.post('/:name', express.raw({ type: '*/*' }), (req, res) => {
      const name = String(req.params.name)
      if (answers[name] !== 200) return res.status(answers[name]).send('no such hook')
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(req.headers[h])]))
      verifier.verify((req.body as Buffer).toString('utf8'), headers)
      received[name].push(headers['webhook-id'])
      res.end()
    })
    server = await serveSandbox(router)
  })
  afterAll(async () => {
    await store.close()
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a 4xx subscriber makes the job permanent (dead-lettered); a replay sends only to it, not to the one that has it', async () => {
    await store.subscribe({ id: 'a', targetUrl: `${server.url}/a`, event: 'Referral Created', createdAt: 1 })
    await store.subscribe({ id: 'b', targetUrl: `${server.url}/b`, event: 'Referral Created', createdAt: 2 })
    const d = restHooksDestination({ store, secret: SECRET })
    await d.refresh()
    const m = referralCreated(1)
    expect(d.accepts(m)).toBe(true)
    expect(d.accepts({ ...m, event: 'Order Completed' })).toBe(false)
    const [first] = await d.deliver([m])
    expect(first).toMatchObject({ status: 'permanent', statusCode: 404 })
    expect((first as { error: string }).error).toContain('hook b answered 404')
    answers.b = 200
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(received).toEqual({ a: [m.messageId], b: [m.messageId] })
    // Delivered to everyone: a further replay sends nothing.
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(received.a).toHaveLength(1)
  })

  it('a 5xx or a network error retries the job, honouring Retry-After', async () => {
    answers.a = 503
    const d = restHooksDestination({ store, secret: SECRET })
    const [r] = await d.deliver([referralCreated(2)])
    expect(r).toMatchObject({ status: 'retry', statusCode: 503 })
    await store.subscribe({ id: 'c', targetUrl: 'http://127.0.0.1:1/unreachable', event: 'Order Completed', createdAt: 3 })
    const [n] = await d.deliver([{ ...referralCreated(3), event: 'Order Completed' }])
    expect(n.status).toBe('retry')
  })
})
