import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { createDestinations } from '../../src/destinations/registry.ts'

/**
 * The "done when": a function folder dropped into the functions dir (FUNCTIONS_DIR, a temp dir here so
 * the repository is untouched) with a `bridge` block is delivered to by a real bridge with no other file changed;
 * its `subscribe` filter holds; `new Headers()` works; a function that throws a TypeError after a fetch is
 * called once, never retried, and its job is a dead letter carrying the error.
 */

interface Received {
  path: string
  headers: Record<string, string | string[] | undefined>
  body: any
}

let receiver: Server
let receiverUrl: string
const received: Received[] = []
let functionsDir: string
let bridge: TestBridge | undefined

function dropFolder(name: string, index: string, bridgeBlock: Record<string, unknown>): void {
  const dir = join(functionsDir, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'index.ts'), index)
  writeFileSync(
    join(dir, 'function.json'),
    JSON.stringify({
      displayName: `Drop-in ${name}`,
      settings: [{ name: 'url', label: 'URL', description: 'Where to send.', type: 'STRING', required: true, sensitive: false }],
      bridge: bridgeBlock
    })
  )
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : undefined })
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ok: true }))
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`

  functionsDir = mkdtempSync(join(tmpdir(), 'rb-functions-'))
  dropFolder(
    'dropin',
    `/** A drop-in destination written the way Segment's examples are: new Headers(), fetch, btoa. */
async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  const headers = new Headers({ 'Content-Type': 'application/json' })
  headers.append('X-Referral-Id', String(event.properties?.referral_id ?? ''))
  const res = await fetch(settings.url + '/collect', { method: 'post', headers, body: JSON.stringify({ event: event.event, messageId: event.messageId }) })
  if (res.status >= 500 || res.status === 429) throw new RetryError('HTTP ' + res.status)
}
async function onIdentify(event: SegmentIdentifyEvent, settings: FunctionSettings): Promise<void> {
  await fetch(settings.url + '/identify', { method: 'post', body: JSON.stringify(event) })
}
export {}
`,
    { settings: { url: { env: 'DROPIN_URL' } }, subscribe: 'type = "track" and event = "Referral Created"', policy: { concurrency: 1 } }
  )
  dropFolder(
    'thrower',
    `async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  const res = await fetch(settings.url + '/thrower', { method: 'post', body: JSON.stringify({ messageId: event.messageId }) })
  const body: any = await res.json()
  body.missing.field = 1 // TypeError: Segment discards this as a Bad Request, it never retries it
}
export {}
`,
    { settings: { url: { env: 'THROWER_URL' } }, subscribe: 'event = "Referral Created"' }
  )
})

afterEach(async () => {
  await bridge?.close()
  bridge = undefined
})

afterAll(async () => {
  receiver.closeAllConnections()
  receiver.close()
  rmSync(functionsDir, { recursive: true, force: true })
})

describe('a function folder dropped in', () => {
  it('is discovered, filtered by its subscription, delivered to; a TypeError is one call and a dead letter', async () => {
    const env = { FUNCTIONS_DIR: functionsDir, DESTINATIONS: 'dropin,thrower', DROPIN_URL: receiverUrl, THROWER_URL: receiverUrl }
    bridge = await testBridge({ env, destinations: (sandboxBase) => createDestinations({ env, sandboxBase }) })
    expect(bridge.destinations.map((d) => d.name).sort()).toEqual(['dropin', 'thrower'])

    const raw = JSON.stringify({ referral_email: 'drop.in@example.com', referral_timestamp: 1434439382, referring_email: 'advocate@example.com' })
    expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)

    const settled = async () => {
      const open = [...(await bridge!.store.listJobs('pending', {})), ...(await bridge!.store.listJobs('leased', {}))]
      const dead = await bridge!.store.listJobs('dead', { destination: 'thrower' })
      return open.length === 0 && dead.length > 0
    }
    await until(settled, 20_000, 'jobs settled')

    // Subscription: only the Referral Created track got a job; the identifies the same webhook produced did not.
    const jobs = [...(await bridge.store.listJobs('delivered', { destination: 'dropin' })), ...(await bridge.store.listJobs('dead', { destination: 'dropin' }))]
    expect(jobs.map((j) => j.event)).toEqual(['Referral Created'])
    expect(jobs[0]!.status).toBe('delivered')
    const collected = received.filter((r) => r.path === '/collect')
    expect(collected).toHaveLength(1)
    expect(collected[0]!.body.event).toBe('Referral Created')
    expect(collected[0]!.headers['content-type']).toBe('application/json')
    expect(received.filter((r) => r.path === '/identify')).toHaveLength(0)

    // The TypeError: called once (one request reached the receiver), not retried, dead with the error.
    const [dead] = await bridge.store.listJobs('dead', { destination: 'thrower' })
    expect(dead!.attempts).toBe(1)
    expect(dead!.lastError).toMatch(/TypeError/)
    expect(received.filter((r) => r.path === '/thrower')).toHaveLength(1)
  })

  it('a bad subscribe names the file and the problem at start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-functions-bad-'))
    try {
      mkdirSync(join(dir, 'bad'))
      writeFileSync(join(dir, 'bad', 'index.ts'), 'async function onTrack() {}\nexport {}\n')
      writeFileSync(join(dir, 'bad', 'function.json'), JSON.stringify({ settings: [], bridge: { settings: {}, subscribe: 'type = ', sandbox: 'x' } }))
      await expect(createDestinations({ env: { FUNCTIONS_DIR: dir }, sandboxBase: 'http://127.0.0.1:1/sandbox' })).rejects.toThrow(/bad\/function\.json: bridge\.subscribe expected a value/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('unconfigured without a sandbox: left out, or an error when DESTINATIONS names it; half-configured: an error', async () => {
    const base = { FUNCTIONS_DIR: functionsDir }
    const names = (await createDestinations({ env: { ...base, DESTINATIONS: 'segment' }, sandboxBase: 'http://127.0.0.1:1/sandbox' })).map((d) => d.name)
    expect(names).toEqual(['segment'])
    const all = (await createDestinations({ env: base, sandboxBase: 'http://127.0.0.1:1/sandbox' })).map((d) => d.name)
    expect(all).not.toContain('dropin')
    await expect(createDestinations({ env: { ...base, DESTINATIONS: 'dropin' }, sandboxBase: 'x' })).rejects.toThrow(/DESTINATIONS names dropin, but it is not configured/)
  })
})
