import { describe, it, expect, afterEach } from 'vitest'
import { networkInterfaces } from 'node:os'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { testBridge, type TestBridge } from '../helpers/bridge.ts'
import { loadConfig } from '../../src/config.ts'
import { segmentDestination } from '../../src/destinations/segment.ts'
import { createSandboxApp } from '../../src/server/sandbox-app.ts'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { referralcandyCommand } from '../../src/referralcandy/cli.ts'
import { salesforceCommand } from '../../src/salesforce/cli.ts'

/**
 * Finding: every vendor sandbox (customer data, writes, fault injection) answered on the bridge's public port,
 * even with every credential set. Now they live on 127.0.0.1:SANDBOX_PORT only.
 */
const PROBES: Array<[string, string, object?]> = [
  ['GET', '/sandbox/segment/v1/messages'],
  ['POST', '/sandbox/segment/_sandbox/faults', { kind: 'status', status: 503, retryAfterSeconds: 3600 }],
  ['GET', '/sandbox/klaviyo/_sandbox/profiles'],
  ['GET', '/sandbox/hubspot/crm/v3/objects/contacts'],
  ['POST', '/sandbox/salesforce/services/oauth2/token'],
  ['POST', '/sandbox/referralcandy/_sandbox/referrals', { referral_email: 'invented@example.com', referring_email: 'a@example.com' }],
  ['GET', '/sandbox/mixpanel/_sandbox/events'],
  ['GET', '/sandbox/mailchimp/_sandbox/members'],
  ['GET', '/sandbox/segment-api/functions'],
  ['GET', '/sandbox/app/_sandbox/webhooks']
]

async function probe(base: string, [method, path, body]: [string, string, object?]) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: 'Bearer anything', 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined
  })
  return { status: res.status, body: await res.json().catch(() => undefined) }
}

function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return undefined
}

describe('sandboxes are never served on PORT', () => {
  let bridge: TestBridge | undefined
  afterEach(async () => {
    await bridge?.close()
    bridge = undefined
  })

  it('default set-up: every /sandbox/* path on PORT is 404, and the same sandboxes answer on the loopback sandbox listener', async () => {
    bridge = await testBridge({ sandboxes: true })
    for (const p of PROBES) {
      const r = await probe(bridge.url, p)
      expect(r.status, `${p[0]} ${p[1]} on PORT`).toBe(404)
      expect(r.body).toMatchObject({ error: 'not_found' })
    }
    expect(bridge.sandboxUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(bridge.sandboxBase).toBe(`${bridge.sandboxUrl}/sandbox`)
    expect(bridge.sandboxUrl).not.toBe(bridge.url)
    const messages = await fetch(`${bridge.sandboxBase}/segment/v1/messages`)
    expect(messages.status).toBe(200)
    // The sandbox listener serves sandboxes only, not the bridge.
    expect((await fetch(`${bridge.sandboxUrl}/healthz`)).status).toBe(404)
    expect((await fetch(`${bridge.sandboxUrl}/admin/stats`, { headers: { authorization: 'Bearer admin-test-token' } })).status).toBe(404)
    // The same probes reach real sandbox routes on the sandbox listener (so the 404s above are not typos).
    for (const p of PROBES) expect((await probe(bridge.sandboxUrl!, p)).status, `${p[0]} ${p[1]} on SANDBOX_PORT`).not.toBe(404)
  })

  it('SANDBOX_PORT=off: no sandbox listener, still 404 on PORT; sandboxes: false too', async () => {
    bridge = await testBridge({ sandboxes: true, env: { SANDBOX_PORT: 'off' } })
    expect(bridge.sandboxUrl).toBeUndefined()
    for (const p of PROBES) expect((await probe(bridge.url, p)).status).toBe(404)
    await bridge.close()
    bridge = await testBridge({ sandboxes: false })
    expect(bridge.sandboxUrl).toBeUndefined()
    for (const p of PROBES) expect((await probe(bridge.url, p)).status).toBe(404)
  })

  it('with HOST=0.0.0.0 the bridge answers on every interface, the sandboxes on loopback only', async (ctx) => {
    const external = nonLoopbackAddress()
    if (!external) {
      console.warn('SKIPPED: no non-loopback IPv4 interface on this machine to probe from')
      ctx.skip()
    }
    bridge = await testBridge({ sandboxes: true, env: { HOST: '0.0.0.0' } })
    const bridgePort = new URL(bridge.url).port
    const sandboxPort = new URL(bridge.sandboxUrl!).port
    expect((await fetch(`http://${external}:${bridgePort}/healthz`)).status).toBe(200)
    expect((await fetch(`http://${external}:${bridgePort}/sandbox/segment/v1/messages`)).status).toBe(404)
    await expect(fetch(`http://${external}:${sandboxPort}/sandbox/segment/v1/messages`)).rejects.toThrow()
    expect((await fetch(`http://127.0.0.1:${sandboxPort}/sandbox/segment/v1/messages`)).status).toBe(200)
  })

  it('/healthz and the startup log name the sandboxed destinations; a credentialed one is not sandboxed', async () => {
    bridge = await testBridge({ sandboxes: true })
    expect((await (await fetch(`${bridge.url}/healthz`)).json()).sandboxed).toEqual(['segment'])
    expect(bridge.logs.join('')).toMatch(/"sandboxed":\["segment"\]/)
    await bridge.close()
    const real = await testBridge({
      sandboxes: true,
      destinations: [segmentDestination({ writeKey: 'live-key', host: 'http://127.0.0.1:9', sandboxed: false })]
    })
    bridge = real
    expect((await (await fetch(`${real.url}/healthz`)).json()).sandboxed).toEqual([])
    expect(real.logs.join('')).toMatch(/set SANDBOX_PORT=off in production/)
  })

  it('a destination with credentials pointed at the sandbox is a configuration error, not a silent sandbox', async () => {
    await expect(
      testBridge({
        sandboxes: true,
        destinations: async (base) => [segmentDestination({ writeKey: 'live-key', host: `${base}/segment`, sandboxed: false })]
      })
    ).rejects.toThrow(/has credentials but targets the sandbox/)
  })

  it('SANDBOX_PORT is a port or off; the default is 3001', () => {
    expect(loadConfig({}).sandboxPort).toBe(3001)
    expect(loadConfig({ SANDBOX_PORT: '0' }).sandboxPort).toBe(0)
    expect(loadConfig({ SANDBOX_PORT: 'off' }).sandboxPort).toBeUndefined()
    expect(() => loadConfig({ SANDBOX_PORT: 'public' })).toThrow(/SANDBOX_PORT must be a TCP port or "off"/)
  })
})

describe('pollers and reconcilers read a sandbox only when asked to', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-sec-poll-'))
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('referralcandy poll without REFERRALCANDY_ACCESS_ID refuses the sandbox unless --sandbox', async () => {
    // The forged-referral attack: an invented friend written into the sandbox, then the documented poll.
    const sandbox = createReferralCandySandbox()
    sandbox.state.referrals.push({ referral_email: 'invented@example.com', referring_email: 'a@example.com', referral_timestamp: Math.floor(Date.now() / 1000) - 3600 })
    const server: Server = await new Promise((resolve) => {
      const s = createSandboxApp([{ vendor: 'referralcandy', ...sandbox }]).listen(0, '127.0.0.1', () => resolve(s))
    })
    const env = { DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`, SANDBOX_PORT: String((server.address() as AddressInfo).port), DESTINATIONS: 'segment', SEGMENT_HOST: 'http://127.0.0.1:9' }
    let text = ''
    const out = new Writable({ write: (c, _e, cb) => void ((text += String(c)), cb()) })
    try {
      expect(await referralcandyCommand(['poll', '--since', '1d'], out, env)).toBe(2)
      expect(text).toMatch(/refusing to poll the local sandbox without --sandbox/)
      expect(existsSync(join(dir, 'bridge.sqlite'))).toBe(false)
      expect(await referralcandyCommand(['poll', '--since', '1d', '--sandbox'], out, env)).toBe(0)
      expect(text).toMatch(/1 referral\(s\) from .*: 1 new/)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('salesforce reconcile and sync-revenue without credentials refuse the sandbox unless --sandbox', async () => {
    let text = ''
    const out = new Writable({ write: (c, _e, cb) => void ((text += String(c)), cb()) })
    expect(await salesforceCommand(['reconcile'], out, { DATABASE_URL: `sqlite:${join(dir, 'sf.sqlite')}`, SANDBOX_PORT: '9' })).toBe(2)
    expect(text).toMatch(/refusing to reconcile from the local sandbox without --sandbox/)
    expect(await salesforceCommand(['sync-revenue'], out, { SANDBOX_PORT: '9' })).toBe(2)
    expect(text).toMatch(/refusing to read the local sandbox without --sandbox/)
    expect(existsSync(join(dir, 'sf.sqlite'))).toBe(false)
  })
})
