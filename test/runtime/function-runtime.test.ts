import { describe, it, expect } from 'vitest'
import { loadFunction, createFunctionCache } from '../../src/runtime/function-runtime.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { classifyError } from '../../src/queue/classify.ts'
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

  it('a plain Error / TypeError from the function is retried (unknown failures are not dropped)', async () => {
    const fn = loadFunction(`async function onTrack() { null.x }`)
    expect(classifyError(await fn.call(track(), {}).catch((e) => e)).status).toBe('retry')
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

  it('onBatch throwing applies to the whole batch; a wrong-length result is retried', async () => {
    const thrower = dest(`async function onTrack() {} async function onBatch() { throw new ValidationError('bad token') }`)
    expect((await thrower.deliver([track(), track()])).map((x) => x.status)).toEqual(['permanent', 'permanent'])
    const short = dest(`async function onTrack() {} async function onBatch() { return [{ status: 200 }] }`)
    expect((await short.deliver([track(), track()])).map((x) => x.status)).toEqual(['retry', 'retry'])
  })

  it('onBatch timeout retries the batch', async () => {
    const d = dest(`async function onTrack() {} async function onBatch() { await new Promise((r) => setTimeout(r, 5000)) }`, { timeoutMs: 100 })
    expect((await d.deliver([track(), track()])).map((x) => x.status)).toEqual(['retry', 'retry'])
  })
})
