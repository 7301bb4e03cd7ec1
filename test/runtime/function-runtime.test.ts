import { describe, it, expect } from 'vitest'
import { loadFunction, createFunctionCache } from '../../src/runtime/function-runtime.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { classifyFunctionError as classifyError } from '../../src/runtime/function-errors.ts'
import type { Message } from '../../src/messages.ts'

const track = (event = 'Referral Created', props: Record<string, unknown> = {}): Message => ({
  type: 'track',
  event,
  messageId: `m-${Math.random()}`,
  userId: 'u1',
  timestamp: '2024-01-01T00:00:00.000Z',
  context: {},
  properties: props
})
const identify = (): Message => ({ type: 'identify', messageId: 'i1', userId: 'u1', timestamp: '2024-01-01T00:00:00.000Z', context: {}, traits: { email: 'a@b.co' } })

/** Runs `expr` inside a function and reports its value through a captured global. */
async function probe(expr: string): Promise<unknown> {
  let seen: unknown
  const fn = loadFunction(`async function onTrack(event, settings) { report(${expr}) }`, { globals: { report: (v: unknown) => (seen = v) } })
  await fn.call(track(), {})
  return seen
}

describe('function runtime: globals', () => {
  it('provides the documented globals backed by the real packages', async () => {
    expect(await probe('typeof fetch')).toBe('function')
    expect(await probe('typeof crypto.createHash')).toBe('function')
    expect(await probe("crypto.createHash('md5').update('x').digest('hex')")).toBe('9dd4e461268c8034f5c8564e155c67a6')
    expect(await probe("btoa('hi') + atob('aGk=')")).toBe('aGk=hi')
    expect(await probe("Buffer.from('hi').toString('base64')")).toBe('aGk=')
    expect(await probe('_.chunk([1,2,3], 2).length')).toBe(2)
    expect(await probe('typeof hubspotlib.hubspot.Client')).toBe('function')
    expect(await probe('typeof jsforce.Connection')).toBe('function')
    expect(await probe('typeof cache.load + typeof cache.delete')).toBe('functionfunction')
    expect(await probe("new URL('https://x.test/a?b=1').searchParams.get('b')")).toBe('1')
    expect(await probe('typeof URLSearchParams + typeof setTimeout + typeof console.log')).toBe('functionfunctionfunction')
    expect(await probe('[RetryError, ValidationError, InvalidEventPayload, EventNotSupported].map((c) => new c("m").name).join()')).toBe(
      'RetryError,ValidationError,InvalidEventPayload,EventNotSupported'
    )
  })

  it('does not expose require, process, module, exports or import()', async () => {
    expect(await probe('typeof require')).toBe('undefined')
    expect(await probe('typeof process')).toBe('undefined')
    expect(await probe('typeof module')).toBe('undefined')
    expect(await probe('typeof exports')).toBe('undefined')
    expect(await probe('typeof __dirname')).toBe('undefined')
    const fn = loadFunction(`async function onTrack() { await import('node:fs') }`)
    await expect(fn.call(track(), {})).rejects.toThrow()
  })

  it('passes event and settings as data (JSON), so the function cannot mutate the caller', async () => {
    const fn = loadFunction(`async function onTrack(event, settings) { event.properties.x = 2; settings.k = 'changed'; if (!Array.isArray(event.properties.list)) throw new Error('no array') }`)
    const msg = track('Referral Created', { x: 1, list: [1] })
    const settings = { k: 'v' }
    await fn.call(msg, settings)
    expect((msg as { properties: Record<string, unknown> }).properties.x).toBe(1)
    expect(settings.k).toBe('v')
  })

  it('cache.load caches per key for ttl and does not cache failures', async () => {
    let t = 0
    const c = createFunctionCache(() => t)
    let n = 0
    expect(await c.load('k', 100, () => ++n)).toBe(1)
    expect(await c.load('k', 100, () => ++n)).toBe(1)
    t = 150
    expect(await c.load('k', 100, () => ++n)).toBe(2)
    c.delete('k')
    expect(await c.load('k', 100, () => ++n)).toBe(3)
    await expect(c.load('bad', 100, () => Promise.reject(new Error('x')))).rejects.toThrow('x')
    expect(await c.load('bad', 100, () => 'ok')).toBe('ok')
  })

  it('keeps the cache across calls of one loaded function (warm instance)', async () => {
    let loads = 0
    const fn = loadFunction(`async function onTrack() { await cache.load('k', 60000, async () => { count(); return 1 }) }`, { globals: { count: () => loads++ } })
    await fn.call(track(), {})
    await fn.call(track(), {})
    expect(loads).toBe(1)
  })
})

describe('function runtime: handlers, errors, timeout', () => {
  it('handles() reflects the declared handlers; a missing handler throws EventNotSupported', async () => {
    const fn = loadFunction(`async function onTrack() {}`)
    expect(fn.handles('track')).toBe(true)
    expect(fn.handles('identify')).toBe(false)
    expect(fn.batch).toBeUndefined()
    await expect(fn.call(identify(), {})).rejects.toMatchObject({ name: 'EventNotSupported' })
  })

  it.each([
    ['RetryError', 'retry'],
    ['ValidationError', 'permanent'],
    ['InvalidEventPayload', 'permanent'],
    ['EventNotSupported', 'ignored']
  ])('%s thrown by the function classifies as %s', async (cls, expected) => {
    const fn = loadFunction(`async function onTrack() { throw new ${cls}('boom') }`)
    const err = await fn.call(track(), {}).catch((e) => e)
    expect(err.name).toBe(cls)
    expect(classifyError(err).status).toBe(expected)
  })

  it('a TypeError / ReferenceError / plain Error is discarded as a Bad Request, as Segment does (never retried)', async () => {
    for (const body of ['null.x', 'notDefined()', "throw new Error('boom')"]) {
      const fn = loadFunction(`async function onTrack() { ${body} }`)
      const r = classifyError(await fn.call(track(), {}).catch((e) => e))
      expect(r.status).toBe('permanent')
      expect(r).toMatchObject({ error: expect.stringMatching(/^Bad Request/) })
    }
  })

  it('an async call past the time limit rejects with a retryable timeout', async () => {
    const fn = loadFunction(`async function onTrack() { await new Promise((r) => setTimeout(r, 5000)) }`, { timeoutMs: 100 })
    const started = Date.now()
    const err = await fn.call(track(), {}).catch((e) => e)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(err.name).toBe('TimeoutError')
    expect(classifyError(err)).toMatchObject({ status: 'retry' })
  })

  it('a synchronous infinite loop is stopped too', async () => {
    const fn = loadFunction(`async function onTrack() { while (true) {} }`, { timeoutMs: 100 })
    expect(classifyError(await fn.call(track(), {}).catch((e) => e)).status).toBe('retry')
  })

  it('defaults the limit to 5000 ms', async () => {
    const fn = loadFunction(`async function onTrack() { await new Promise((r) => setTimeout(r, 20)) }`)
    await expect(fn.call(track(), {})).resolves.toBeUndefined()
  })
})

describe('functionDestination', () => {
  const dest = (code: string, extra: Record<string, unknown> = {}) =>
    functionDestination({ name: 't', code, settings: { k: 'v' }, sandboxed: true, target: 'local', ...extra })

  it('per-message path: delivered / ignored (no handler) / classified errors, in order', async () => {
    const d = dest(`
      async function onTrack(event, settings) {
        if (settings.k !== 'v') throw new ValidationError('settings not passed')
        const p = event.properties
        if (p.kind === 'retry') { const e = new RetryError('slow down'); e.retryAfterMs = 1500; throw e }
        if (p.kind === 'invalid') throw new InvalidEventPayload('no email')
        if (p.kind === 'unsupported') throw new EventNotSupported('nope')
      }`)
    const r = await d.deliver([track('A', {}), identify(), track('A', { kind: 'retry' }), track('A', { kind: 'invalid' }), track('A', { kind: 'unsupported' })])
    expect(r.map((x) => x.status)).toEqual(['delivered', 'ignored', 'retry', 'permanent', 'ignored'])
    expect(r[2]).toMatchObject({ status: 'retry', retryAfterMs: 1500 })
  })

  it('accepts() defaults to the declared handlers', () => {
    const d = dest(`async function onTrack() {}`)
    expect(d.accepts(track())).toBe(true)
    expect(d.accepts(identify())).toBe(false)
  })

  it('uses onBatch for more than one message and maps per-item results', async () => {
    let batchCalls = 0
    let single = 0
    const d = dest(
      `
      async function onTrack() { single() }
      async function onBatch(events) {
        batch()
        return events.map((e) => {
          const k = e.properties.kind
          if (k === 'bad') return { status: 400, errormessage: 'invalid email' }
          if (k === 'throttled') return { status: 429, errormessage: 'rate limited', retryAfterMs: 2000 }
          if (k === 'down') return { status: 502, errormessage: 'bad gateway' }
          if (k === 'unsupported') return { status: 400, errormessage: 'EventNotSupported: nope' }
          return { status: 200 }
        })
      }`,
      { globals: { batch: () => batchCalls++, single: () => single++ } }
    )
    const r = await d.deliver([track('A', {}), track('A', { kind: 'bad' }), track('A', { kind: 'throttled' }), track('A', { kind: 'down' }), track('A', { kind: 'unsupported' })])
    expect(batchCalls).toBe(1)
    expect(single).toBe(0)
    expect(r).toMatchObject([
      { status: 'delivered' },
      { status: 'permanent', statusCode: 400 },
      { status: 'retry', statusCode: 429, retryAfterMs: 2000 },
      { status: 'retry', statusCode: 502 },
      { status: 'ignored' }
    ])
    // One message: the single-event handler, as Segment does at low volume.
    await d.deliver([track('A', {})])
    expect(single).toBe(1)
  })

  it('onBatch throwing applies to the whole batch; status entries that cannot be matched by index are a Bad Request', async () => {
    const thrower = dest(`async function onTrack() {} async function onBatch() { throw new ValidationError('bad token') }`)
    expect((await thrower.deliver([track(), track()])).map((x) => x.status)).toEqual(['permanent', 'permanent'])
    const retry = dest(`async function onTrack() {} async function onBatch() { throw new RetryError('later') }`)
    expect((await retry.deliver([track(), track()])).map((x) => x.status)).toEqual(['retry', 'retry'])
    const short = dest(`async function onTrack() {} async function onBatch() { return [{ status: 200 }] }`)
    const r = await short.deliver([track(), track()])
    expect(r.map((x) => x.status)).toEqual(['permanent', 'permanent'])
    expect(r[0]).toMatchObject({ error: expect.stringMatching(/1 status entries for 2 events/) })
  })

  it('onBatch timeout retries the batch', async () => {
    const d = dest(`async function onTrack() {} async function onBatch() { await new Promise((r) => setTimeout(r, 5000)) }`, { timeoutMs: 100 })
    expect((await d.deliver([track(), track()])).map((x) => x.status)).toEqual(['retry', 'retry'])
  })
})

/**
 * Segment's documented onBatch examples (destination-functions.md, "Batching the destination function"), in the
 * shapes the docs give them: a handler that posts the array and returns nothing, and one that groups by type
 * and returns `Promise.all` of one promise per group. Both must count as success for every event.
 */
describe('onBatch result rules (documented examples)', () => {
  const dest = (code: string, globals: Record<string, unknown> = {}) => functionDestination({ name: 't', code, settings: {}, sandboxed: true, target: 'local', globals })

  it('returning nothing = every event succeeded', async () => {
    let sent = 0
    const d = dest(`async function onTrack() {} async function onBatch(events, settings) { send(events.length) }`, { send: (n: number) => (sent = n) })
    expect((await d.deliver([track(), identify(), track()])).map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered'])
    expect(sent).toBe(3)
  })

  it('Promise.all of one promise per event-type group (as many groups as events, too) = every event succeeded', async () => {
    const code = `
      async function onTrack() {}
      async function onIdentify() {}
      async function onBatch(events, settings) {
        const eventsByType = {}
        for (const event of events) {
          if (!(event.type in eventsByType)) eventsByType[event.type] = []
          eventsByType[event.type].push(event)
        }
        const promises = Object.entries(eventsByType).map(([type, events]) => {
          switch (type) {
            case 'track': return onTrackBatch(events, settings)
            case 'identify': return onIdentifyBatch(events, settings)
          }
        })
        return Promise.all(promises)
      }
      async function onTrackBatch(events, settings) { seen('track', events.length) }
      async function onIdentifyBatch(events, settings) { seen('identify', events.length) }`
    const groups: string[] = []
    const d = dest(code, { seen: (t: string, n: number) => groups.push(`${t}:${n}`) })
    expect((await d.deliver([track(), identify(), track()])).map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered'])
    expect((await d.deliver([track(), identify()])).map((x) => x.status)).toEqual(['delivered', 'delivered'])
    expect(groups).toEqual(['track:2', 'identify:1', 'track:1', 'identify:1'])
  })

  it('the documented partial-failure array: only the 500s are retried, the 400 is discarded', async () => {
    const d = dest(`async function onTrack() {} async function onBatch(events) {
      return [{ status: 200 }, { status: 400, errormessage: 'Bad Request' }, { status: 200 }, { status: 500, errormessage: 'Error processing request' }, { status: 500, errormessage: 'Error processing request' }, { status: 200 }]
    }`)
    const r = await d.deliver(Array.from({ length: 6 }, () => track()))
    expect(r.map((x) => x.status)).toEqual(['delivered', 'permanent', 'delivered', 'retry', 'retry', 'delivered'])
  })
})

describe('function runtime: Segment fidelity', () => {
  it('fetch is node-fetch 2: Headers/Request/Response globals, headers.raw(), res.buffer(), {timeout}', async () => {
    const http = await import('node:http')
    const server = http.createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2_000)
      res.setHeader('set-cookie', ['a=1', 'b=2'])
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ auth: req.headers['authorization'], ct: req.headers['content-type'] }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      let seen: any
      const fn = loadFunction(
        `async function onTrack(event, settings) {
          const headers = new Headers({ 'Content-Type': 'application/json' })
          headers.append('Authorization', 'Basic ' + btoa(settings.apiKey))
          const res = await fetch(new Request(settings.url + '/x', { method: 'post', headers, body: JSON.stringify(event) }))
          const buf = await res.clone().buffer()
          const timedOut = await fetch(settings.url + '/slow', { timeout: 50 }).then(() => 'no', (e) => e.name + ':' + e.type)
          const endpoint = new URL(settings.url + '/u')
          endpoint.searchParams.set('ts', event.timestamp)
          await fetch(endpoint, { method: 'post', body: '{}' })
          report({ body: await res.json(), cookies: res.headers.raw()['set-cookie'], isBuffer: Buffer.isBuffer(buf), timedOut, response: new Response('x').status })
        }`,
        { globals: { report: (v: unknown) => (seen = v) } }
      )
      await fn.call(track(), { apiKey: 'key:', url })
      expect(seen).toEqual({ body: { auth: 'Basic a2V5Og==', ct: 'application/json' }, cookies: ['a=1', 'b=2'], isBuffer: true, timedOut: 'FetchError:request-timeout', response: 200 })
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('a script that declares its own Headers (or cache) at top level still loads', async () => {
    for (const code of ['const Headers = 1; async function onTrack() { report(Headers) }', 'class Headers {}; async function onTrack() { report(typeof Headers) }']) {
      let seen: unknown
      const fn = loadFunction(code, { globals: { report: (v: unknown) => (seen = v) } })
      await fn.call(track(), {})
      expect(seen).toBeDefined()
    }
  })

  it('btoa/atob are the npm packages (lenient like Buffer), not the strict WHATWG ones', async () => {
    expect(await probe("btoa('é')")).toBe('6Q==')
    expect(await probe("atob('aGk')")).toBe('hi')
    expect(() => globalThis.btoa('\u0100')).toThrow()
    expect(await probe("typeof btoa('\\u0100')")).toBe('string')
  })

  it('cache.load without ttl (or -1) never expires; with a ttl it does', async () => {
    let t = 0
    const cache = createFunctionCache(() => t)
    let loads = 0
    const fn = async () => ++loads
    expect(await cache.load('a', undefined as unknown as number, fn)).toBe(1)
    expect(await cache.load('b', -1, fn)).toBe(2)
    t = 10 ** 12
    expect(await cache.load('a', undefined as unknown as number, fn)).toBe(1)
    expect(await cache.load('b', -1, fn)).toBe(2)
    expect(await cache.load('c', 1000, fn)).toBe(3)
    t += 1001
    expect(await cache.load('c', 1000, fn)).toBe(4)
  })

  it('setInterval/clearInterval exist', async () => {
    expect(await probe('typeof setInterval + typeof clearInterval')).toBe('functionfunction')
  })

  it('the documented libraries at the documented versions', async () => {
    expect(await probe('jsforce.VERSION')).toBe('1.11.0')
    expect(await probe("moment.tz('2024-01-01T12:00:00Z', 'America/New_York').format('HH:mm')")).toBe('07:00')
    expect(await probe("xml({ a: 'b' })")).toBe('<a>b</a>')
    expect(await probe('typeof xml2js.parseString')).toBe('function')
    expect(await probe("jsonwebtoken.decode(jsonwebtoken.sign({ a: 1 }, 's', { noTimestamp: true })).a")).toBe(1)
    expect(await probe("uuidv5.uuidv5('dns', 'google.com')")).toMatch(/^[0-9a-f-]{36}$/)
    expect(await probe("typeof new FormData().append")).toBe('function')
    expect(await probe("zlib.zlib.inflateSync(zlib.zlib.deflateSync('x')).toString()")).toBe('x')
    expect(await probe('typeof https.request + typeof OAuth.OAuth')).toBe('functionfunction')
  })
})
