import express from 'express'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { mixpanelDestination, mixpanelInsertId, resolveMixpanelTarget } from '../../src/destinations/mixpanel.ts'
import { createMixpanelSandbox } from '../../src/sandboxes/mixpanel.ts'
import type { Message, TrackMessage, IdentifyMessage } from '../../src/messages.ts'

const TOKEN = 'sandbox-token'
let sb: ReturnType<typeof createMixpanelSandbox>
let server: Server
let base: string

// Mounted under a prefix, as `npm start` serves it, to prove the SDK's `path` option reaches it.
beforeAll(async () => {
  sb = createMixpanelSandbox({ token: TOKEN })
  const app = express()
  app.use('/sandbox/mixpanel', sb.router)
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/mixpanel`
})
afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
)
beforeEach(() => {
  sb.state.events.clear()
  sb.state.profiles.clear()
  sb.state.received = 0
  sb.state.dropped.length = 0
  sb.faults.clear()
})

const dest = () => mixpanelDestination({ token: TOKEN, host: base, sandboxed: true, timeoutMs: 500 })

const track = (over: Partial<TrackMessage> = {}): TrackMessage => ({
  type: 'track',
  messageId: 'rb-referralcandy-0123456789abcdef0123456789abcdef-track',
  userId: 'friend@example.com',
  timestamp: new Date(Date.now() - 60_000).toISOString(),
  event: 'Order Completed',
  properties: { order_id: 'o1', revenue: 25, revenue_minor: 2500, currency: 'USD', source_platform: 'referralcandy' },
  context: { protocols: { event_version: 1 } },
  ...over
})

const fault = (body: unknown) =>
  fetch(`${base}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('mixpanel destination (/import with fetch, /engage with the SDK → sandbox over HTTP)', () => {
  it('sends events of any age through /import (project token as Basic auth over the sandbox HTTP): nothing dead-lettered for age', async () => {
    const old = track({ messageId: 'old-1', timestamp: new Date(Date.now() - 60 * 86_400_000).toISOString() })
    expect(await dest().deliver([old])).toEqual([{ status: 'delivered' }])
    expect(sb.state.dropped).toEqual([])
    expect([...sb.state.events.values()][0]).toMatchObject({ endpoint: 'import', properties: { time: Date.parse(old.timestamp) } })
  })

  it('strict mode: a record Mixpanel refuses fails alone (failed_records), the rest of the batch is delivered', async () => {
    const good = track({ messageId: 'good-1' })
    const future = track({ messageId: 'bad-1', userId: 'null' }) // a placeholder distinct_id /import rejects
    expect(await dest().deliver([good, future])).toEqual([
      { status: 'delivered' },
      { status: 'permanent', statusCode: 400, error: expect.stringContaining('properties.distinct_id') }
    ])
    expect(sb.state.events.size).toBe(1)
  })

  it('cuts batches at the event and byte limits and gzips them; the sandbox reads gzip', async () => {
    const { mixpanelImporter } = await import('../../src/destinations/mixpanel-import.ts')
    const importer = mixpanelImporter({ token: TOKEN, target: resolveMixpanelTarget({ host: base }), timeoutMs: 2_000, maxEvents: 3 })
    const many = Array.from({ length: 7 }, (_, i) => track({ messageId: `batch-${i}` }))
    const requests = () => sb.state.received
    expect(await importer.importEvents(many)).toEqual(many.map(() => ({ status: 'delivered' })))
    expect(requests()).toBe(7)
    expect(sb.state.events.size).toBe(7)
    // 2,000 records is the documented cap: 2,001 in one request is refused by the sandbox as by Mixpanel.
    const raw = await fetch(`${base}/import?strict=1`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(TOKEN + ':').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 2001 }, () => ({ event: 'x', properties: { time: 1, distinct_id: 'a' } })))
    })
    expect(raw.status).toBe(400)
  })

  it('resolves a URL host into host, protocol and path prefix', () => {
    expect(resolveMixpanelTarget({ host: 'http://127.0.0.1:3000/sandbox/mixpanel/' })).toEqual({ host: '127.0.0.1:3000', protocol: 'http', path: '/sandbox/mixpanel' })
    expect(resolveMixpanelTarget({ host: 'api-eu.mixpanel.com' })).toEqual({ host: 'api-eu.mixpanel.com', protocol: 'https', path: '' })
  })

  it('delivers a track with $insert_id and time; a duplicate messageId is one event', async () => {
    const d = dest()
    const m = track()
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(await d.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(sb.state.received).toBe(2)
    expect(sb.state.events.size).toBe(1)
    const [stored] = [...sb.state.events.values()]
    expect(stored.event).toBe('Order Completed')
    expect(stored.properties).toMatchObject({
      distinct_id: 'friend@example.com',
      $insert_id: mixpanelInsertId(m.messageId),
      time: Date.parse(m.timestamp),
      order_id: 'o1',
      revenue: 25,
      event_version: 1
    })
    expect(mixpanelInsertId(m.messageId)).toMatch(/^[0-9a-f]{36}$/)
  })

  it('429 → retry with retryAfterMs from Retry-After', async () => {
    await fault({ kind: 'status', status: 429, retryAfterSeconds: 7, count: 1, body: { error: 'Project exceeded rate limits. Please retry the request with exponential backoff.', status: 0 } })
    const [r] = await dest().deliver([track()])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 7000 })
  })

  it('5xx and dropped connections → retry; hung request → retry after the timeout', async () => {
    await fault({ kind: 'status', status: 503, count: 1 })
    expect((await dest().deliver([track()]))[0]).toMatchObject({ status: 'retry', statusCode: 503 })
    await fault({ kind: 'reset', count: 1 })
    expect((await dest().deliver([track()]))[0]).toMatchObject({ status: 'retry' })
    await fault({ kind: 'timeout', count: 1 })
    expect((await dest().deliver([track()]))[0]).toMatchObject({ status: 'retry', error: expect.stringContaining('timeout') })
    expect((await dest().deliver([track()]))[0]).toEqual({ status: 'delivered' })
  })

  it('400 and 401 → permanent', async () => {
    await fault({ kind: 'status', status: 400, count: 1, body: { error: 'data, missing or empty', status: 0 } })
    expect((await dest().deliver([track()]))[0]).toMatchObject({ status: 'permanent', statusCode: 400 })
    await fault({ kind: 'status', status: 401, count: 1, body: { code: 401, error: 'Invalid credentials', status: 'Unauthorized' } })
    expect((await dest().deliver([track()]))[0]).toMatchObject({ status: 'permanent', statusCode: 401 })
  })

  it('identify → people $set with $email / $first_name and referral traits', async () => {
    const m: IdentifyMessage = {
      type: 'identify',
      messageId: 'rb-referralcandy-0123456789abcdef0123456789abcdef-identify-friend',
      userId: 'friend@example.com',
      timestamp: new Date().toISOString(),
      traits: { email: 'friend@example.com', first_name: 'John', referred_by: 'adv@example.com', referral_code: 'jb007', referral_role: 'friend' },
      context: {}
    }
    expect(await dest().deliver([m])).toEqual([{ status: 'delivered' }])
    expect(sb.state.profiles.get('friend@example.com')?.properties).toMatchObject({
      $email: 'friend@example.com',
      $first_name: 'John',
      referred_by: 'adv@example.com',
      referral_code: 'jb007',
      referral_role: 'friend'
    })
  })

  it('profile keeps the first-touch platform ($set_once) apart from the latest (source_platform, $set)', async () => {
    const identify = (n: number, source: string): IdentifyMessage => ({
      type: 'identify',
      messageId: `rb-${source}-${String(n).repeat(32)}-identify-advocate`,
      userId: 'adv@example.com',
      timestamp: new Date().toISOString(),
      traits: { email: 'adv@example.com', referral_role: 'advocate', source_platform: source },
      context: {}
    })
    const d = dest()
    expect(await d.deliver([identify(1, 'rewardful')])).toEqual([{ status: 'delivered' }])
    expect(await d.deliver([identify(2, 'referralcandy')])).toEqual([{ status: 'delivered' }])
    expect(await d.deliver([identify(2, 'referralcandy')])).toEqual([{ status: 'delivered' }]) // redelivery
    const profile = sb.state.profiles.get('adv@example.com')?.properties
    expect(profile).toMatchObject({ source_platform: 'referralcandy', first_source_platform: 'rewardful' })
    // A message that names a first touch itself cannot overwrite it either: it goes through $set_once too.
    await d.deliver([{ ...identify(3, 'shopify'), traits: { email: 'adv@example.com', source_platform: 'shopify', first_source_platform: 'shopify' } }])
    expect(sb.state.profiles.get('adv@example.com')?.properties).toMatchObject({ source_platform: 'shopify', first_source_platform: 'rewardful' })
  })

  it('Referral Created unions the referral id on the advocate, idempotently', async () => {
    const m = track({
      event: 'Referral Created',
      messageId: 'rb-referralcandy-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-track',
      properties: { referral_id: 'ref-1', advocate_id: 'adv@example.com', friend_id: 'friend@example.com', status: 'created', source_platform: 'referralcandy' }
    })
    const other = track({ ...m, messageId: 'rb-referralcandy-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-track', properties: { ...m.properties, referral_id: 'ref-2' } })
    const d = dest()
    await d.deliver([m])
    await d.deliver([m]) // redelivery
    await d.deliver([other])
    expect(sb.state.profiles.get('adv@example.com')?.properties.referral_ids).toEqual(['ref-1', 'ref-2'])
    expect(sb.state.events.size).toBe(2)
  })

  it('ignores messages without any user id; refuses a secret over plain HTTP', async () => {
    const anon = { ...track(), userId: undefined } as Message
    expect(dest().accepts(anon)).toBe(false)
    expect(() => mixpanelDestination({ token: TOKEN, secret: 's', host: base, sandboxed: false })).toThrow(/HTTPS/)
  })

  it('processes a batch with mixed results in order', async () => {
    await fault({ kind: 'status', status: 503, count: 1, pathContains: '/engage' })
    const id: IdentifyMessage = { type: 'identify', messageId: 'x-identify', userId: 'u1', timestamp: new Date().toISOString(), traits: { email: 'u1@example.com' }, context: {} }
    const results = await dest().deliver([track(), id])
    expect(results[0]).toEqual({ status: 'delivered' })
    expect(results[1]).toMatchObject({ status: 'retry', statusCode: 503 })
  })
})

/**
 * The /import path: the SDK sends the secret / service account only over HTTPS, so this suite serves the sandbox
 * over TLS with a throwaway self-signed certificate (openssl) and turns certificate checks off for this test
 * process only while it runs.
 */
function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe.skipIf(!hasOpenssl())('mixpanel destination /import over HTTPS (secret, service account)', () => {
  const SECRET = 'project-secret'
  let isb: ReturnType<typeof createMixpanelSandbox>
  let tls: https.Server
  let host: string
  const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-tls-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' })
    isb = createMixpanelSandbox({ token: TOKEN, secret: SECRET, serviceAccount: { username: 'sa.bridge', secret: 'sa-secret', projectId: '4242' } })
    const app = express()
    app.use('/mp', isb.router)
    tls = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, app)
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', () => resolve()))
    host = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/mp`
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  })
  afterAll(async () => {
    if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous
    await new Promise<void>((resolve) => {
      tls.closeAllConnections()
      tls.close(() => resolve())
    })
  })

  it('imports with the project secret; a redelivery is one event; events older than five days are kept', async () => {
    const d = mixpanelDestination({ token: TOKEN, secret: SECRET, host, sandboxed: true })
    expect(d.target).toContain('/import')
    const old = track({ timestamp: new Date(Date.now() - 10 * 86_400_000).toISOString() })
    expect(await d.deliver([old, old])).toEqual([{ status: 'delivered' }, { status: 'delivered' }])
    expect(isb.state.received).toBe(2)
    expect(isb.state.events.size).toBe(1)
    expect([...isb.state.events.values()][0]).toMatchObject({ endpoint: 'import', properties: { time: Date.parse(old.timestamp) } })
  })

  it('imports with a service account', async () => {
    const d = mixpanelDestination({ token: TOKEN, serviceAccount: { username: 'sa.bridge', secret: 'sa-secret', projectId: '4242' }, host, sandboxed: true })
    expect(await d.deliver([track({ messageId: 'sa-message-1' })])).toEqual([{ status: 'delivered' }])
  })

  it('a wrong secret is a real 401 from /import → permanent', async () => {
    const d = mixpanelDestination({ token: TOKEN, secret: 'wrong', host, sandboxed: true })
    const [r] = await d.deliver([track()])
    expect(r).toMatchObject({ status: 'permanent', statusCode: 401, error: expect.stringContaining('Invalid credentials') })
  })
})
