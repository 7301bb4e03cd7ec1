import { describe, it, expect } from 'vitest'
import { backoffDelay, parseRetryAfter } from '../../src/queue/backoff.ts'
import { classifyError, classifyStatus } from '../../src/queue/classify.ts'

describe('backoff', () => {
  const opts = { baseDelayMs: 1_000, maxDelayMs: 60_000 }
  it('grows exponentially under full jitter and stays under the cap', () => {
    expect(backoffDelay(1, { ...opts, random: () => 0.999 })).toBe(999)
    expect(backoffDelay(3, { ...opts, random: () => 0.5 })).toBe(2_000)
    expect(backoffDelay(30, { ...opts, random: () => 0.999 })).toBe(59_940)
    expect(backoffDelay(5, { ...opts, random: () => 0 })).toBe(0)
  })
  it('never retries before Retry-After', () => {
    expect(backoffDelay(1, { ...opts, retryAfterMs: 30_000, random: () => 0.5 })).toBe(30_000)
    expect(backoffDelay(8, { ...opts, retryAfterMs: 1_000, random: () => 0.5 })).toBe(30_000)
  })
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-26T10:00:00Z')
    expect(parseRetryAfter('10', now)).toBe(10_000)
    expect(parseRetryAfter('Thu, 26 Nov 2026 10:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })
})

describe('failure classification (Segment Functions contract)', () => {
  it.each([
    [429, 'retry'], [500, 'retry'], [502, 'retry'], [503, 'retry'], [408, 'retry'], [423, 'retry'],
    [400, 'permanent'], [401, 'permanent'], [403, 'permanent'], [404, 'permanent'], [409, 'permanent'], [501, 'permanent'], [200, 'delivered']
  ])('HTTP %i → %s', (status, expected) => {
    expect(classifyStatus(status, 'x').status).toBe(expected)
  })
  it('maps the contract error classes', () => {
    const named = (name: string) => Object.assign(new Error('boom'), { name })
    expect(classifyError(named('RetryError')).status).toBe('retry')
    expect(classifyError(named('ValidationError')).status).toBe('permanent')
    expect(classifyError(named('InvalidEventPayload')).status).toBe('permanent')
    expect(classifyError(named('EventNotSupported')).status).toBe('ignored')
    expect(classifyError(named('TimeoutError')).status).toBe('retry')
    expect(classifyError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })).status).toBe('retry')
    expect(classifyError(Object.assign(new Error('Bad Request'), { status: 400 })).status).toBe('permanent')
    const retryAfter = classifyError(Object.assign(new Error('slow'), { name: 'RetryError', retryAfterMs: 5_000 }))
    expect(retryAfter).toMatchObject({ status: 'retry', retryAfterMs: 5_000 })
  })
})
