import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { referralCandyClient, referralCandySignature, listReferrals, ReferralCandyApiError } from '../../src/referralcandy/api.ts'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

describe('referralCandySignature', () => {
  it('matches the documented test vector', () => {
    // https://www.referralcandy.com/api "Authentication"
    expect(referralCandySignature('APISECRETKEY', { timestamp: 1296664909, accessID: 'acihijaklscj', name: 'john' })).toBe('04535fe455e9f77a90c06e81d7888569')
  })

  it('sorts the name=value strings, skips undefined values and never signs the signature', () => {
    const base = referralCandySignature('s', { b: 2, a: 1 })
    expect(referralCandySignature('s', { a: 1, b: 2, c: undefined, signature: 'x' })).toBe(base)
  })
})

describe('ReferralCandy sandbox + client', () => {
  const sandbox = createReferralCandySandbox({ accessId: 'acc', secret: 'sec' })
  let server: Awaited<ReturnType<typeof serveSandbox>>
  beforeAll(async () => {
    server = await serveSandbox(sandbox.router)
    sandbox.state.referrals.push(
      { referral_email: 'f1@example.com', referring_email: 'a@example.com', referral_timestamp: 1_700_000_000 },
      { referral_email: 'f2@example.com', referring_email: 'a@example.com', referral_timestamp: 1_700_100_000 }
    )
  })
  afterAll(async () => {
    await server.close()
  })
  const client = (over: Partial<Parameters<typeof referralCandyClient>[0]> = {}) =>
    referralCandyClient({ accessId: 'acc', secret: 'sec', baseUrl: `${server.url}/api/v2`, sleep: async () => {}, ...over })

  it('answers a correctly signed call, filtered by period', async () => {
    expect(await listReferrals(client(), { from: 1_700_050_000 })).toEqual([sandbox.state.referrals[1]])
    expect(await listReferrals(client())).toHaveLength(2)
  })

  it('refuses a bad signature with a 401 JSON body, and the client says what to check', async () => {
    const rejected = sandbox.state.rejected
    const err = await listReferrals(client({ secret: 'wrong' })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReferralCandyApiError)
    expect((err as ReferralCandyApiError).status).toBe(401)
    expect((err as Error).message).toMatch(/REFERRALCANDY_ACCESS_ID and REFERRALCANDY_API_SECRET/)
    expect(sandbox.state.rejected).toBe(rejected + 1)

    const query = new URLSearchParams({ accessID: 'acc', timestamp: String(Math.floor(Date.now() / 1000)), signature: 'deadbeef' })
    const res = await fetch(`${server.url}/api/v2/referrals.json?${query}`)
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/signature/) })
  })

  it('refuses a timestamp more than 10 minutes off', async () => {
    const err = await listReferrals(client({ now: () => Date.now() - 11 * 60_000 })).catch((e: unknown) => e)
    expect((err as ReferralCandyApiError).status).toBe(401)
    expect(await listReferrals(client({ now: () => Date.now() - 9 * 60_000 }))).toHaveLength(2)
  })

  it('waits Retry-After on 429 and re-signs the retry', async () => {
    const waits: number[] = []
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 2, count: 2 })
    const before = sandbox.state.requests.length
    expect(await listReferrals(client({ sleep: async (ms) => void waits.push(ms) }))).toHaveLength(2)
    expect(waits).toEqual([2000, 2000])
    expect(sandbox.state.requests.length).toBe(before + 1)
  })

  it('gives up after a few 429s with a clear error', async () => {
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 1, count: 10 })
    const err = await listReferrals(client({ maxRetries: 2 })).catch((e: unknown) => e)
    sandbox.faults.clear()
    expect((err as ReferralCandyApiError).status).toBe(429)
    expect((err as Error).message).toMatch(/429 rate limited.*3 attempt/)
  })

  it('retries a 5xx, then reports it', async () => {
    sandbox.faults.add({ kind: 'status', status: 503, count: 1 })
    expect(await listReferrals(client())).toHaveLength(2)
    sandbox.faults.add({ kind: 'status', status: 500, count: 10 })
    const err = await listReferrals(client({ maxRetries: 1 })).catch((e: unknown) => e)
    sandbox.faults.clear()
    expect((err as Error).message).toMatch(/500 server error/)
  })

  it('reports 403 without retrying', async () => {
    sandbox.faults.add({ kind: 'status', status: 403, count: 1, body: { message: 'Forbidden', reason: 'account suspended' } })
    const err = await listReferrals(client()).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/403 forbidden \(Forbidden: account suspended\)/)
  })
})
