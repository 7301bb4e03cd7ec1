import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { testBridge, sign, referralCandyPayload, type TestBridge } from '../helpers/bridge.ts'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { referralCandyClient } from '../../src/referralcandy/api.ts'
import { pollReferrals, type PollDeps } from '../../src/referralcandy/poll.ts'
import { inboxId } from '../../src/ingest/normalize.ts'
import { referralcandy } from '../../src/sources/referralcandy.ts'
import type { Watermark } from '../../src/salesforce/watermark.ts'

function memoryWatermark(): Watermark & { value?: number } {
  const w: Watermark & { value?: number } = {
    describe: 'memory',
    get: async () => w.value,
    set: async (ms) => void (w.value = ms),
    close: async () => {}
  }
  return w
}

describe('pollReferrals', () => {
  let bridge: TestBridge
  const sandbox = createReferralCandySandbox({ accessId: 'acc', secret: 'sec' })
  let server: Awaited<ReturnType<typeof serveSandbox>>
  const watermark = memoryWatermark()
  const N = 6
  // What referrals.json returns: the webhook's three fields plus the list's own.
  const records = Array.from({ length: N }, (_, i) => ({
    ...referralCandyPayload(i),
    referral_order_time: new Date(referralCandyPayload(i).referral_timestamp * 1000).toISOString(),
    review_period_over: i % 2 === 0,
    shopify_order_number: 1000 + i
  }))
  const idOf = (i: number) => inboxId('referralcandy', referralcandy.items(referralCandyPayload(i), undefined as never)[0].key)
  const jobCount = async () => (await bridge.store.stats(Date.now())).jobs.reduce((n, j) => n + j.count, 0)

  beforeAll(async () => {
    bridge = await testBridge()
    server = await serveSandbox(sandbox.router)
    sandbox.state.referrals.push(...records)
  })
  afterAll(async () => {
    await server.close()
    await bridge.close()
  })

  const deps = (over: Partial<PollDeps> = {}): PollDeps => ({
    store: bridge.store,
    sources: bridge.sources,
    plan: bridge.plan,
    destinations: bridge.destinations,
    client: referralCandyClient({ accessId: 'acc', secret: 'sec', baseUrl: `${server.url}/api/v2`, sleep: async () => {} }),
    watermark,
    since: Date.parse('2015-01-01T00:00:00Z'),
    chunkSize: 4,
    ...over
  })

  it('commits the referrals the webhook missed and answers duplicates for those it delivered', async () => {
    // The webhook delivers referrals 0..2; 3..5 are "lost".
    for (let i = 0; i < 3; i++) {
      const raw = JSON.stringify(referralCandyPayload(i))
      const res = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
      expect(res.body).toMatchObject({ stored: 1, duplicates: 0, ids: [idOf(i)] })
    }
    const jobsPerReferral = (await bridge.store.getEvent(idOf(0)))!.jobs.length
    expect(jobsPerReferral).toBeGreaterThan(0)
    expect(await jobCount()).toBe(3 * jobsPerReferral)

    const progress: number[] = []
    const summary = await pollReferrals(deps({ onProgress: (p) => progress.push(p.done) }))
    expect(summary).toMatchObject({ fetched: N, stored: 3, duplicates: 3, quarantined: 0, skipped: 0 })
    expect(progress).toEqual([4, 6])
    expect(sandbox.state.requests.at(-1)).toMatchObject({ accessID: 'acc', period_from: String(Date.parse('2015-01-01T00:00:00Z') / 1000) })

    // One inbox item per referral, with the webhook's payload shape, and its jobs once.
    for (let i = 0; i < N; i++) {
      const detail = (await bridge.store.getEvent(idOf(i)))!
      expect(detail.inbox.payload).toEqual(referralCandyPayload(i))
      expect(detail.jobs).toHaveLength(jobsPerReferral)
    }
    const stats = await bridge.store.stats(Date.now())
    expect(stats.inbox.reduce((n, r) => n + r.count, 0)).toBe(N)
    expect(await jobCount()).toBe(N * jobsPerReferral)
    expect(watermark.value).toBeDefined()
  })

  it('a second poll stores nothing', async () => {
    const jobs = await jobCount()
    const again = await pollReferrals(deps())
    expect(again).toMatchObject({ fetched: N, stored: 0, duplicates: N })
    expect(await jobCount()).toBe(jobs)
  })

  it('without --since, looks back from the last poll minus the overlap and moves the watermark', async () => {
    const last = watermark.value!
    const now = last + 15 * 60_000
    sandbox.state.referrals.push({ referral_email: 'late@example.com', referring_email: 'advocate1@example.com', referral_timestamp: Math.floor((now - 60_000) / 1000) })
    const summary = await pollReferrals(deps({ since: undefined, now: () => now, overlapMs: 5 * 60_000 }))
    expect(sandbox.state.requests.at(-1)).toMatchObject({ period_from: String(Math.floor((last - 5 * 60_000) / 1000)), period_to: String(Math.ceil(now / 1000)) })
    expect(summary).toMatchObject({ fetched: 1, stored: 1, duplicates: 0 })
    expect(watermark.value).toBe(now)
  })

  it('rides out a 429 and skips records it cannot key', async () => {
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 1, count: 1 })
    sandbox.state.referrals.push({ referral_email: '', referring_email: 'advocate1@example.com', referral_timestamp: 1434439400 })
    const faulted = sandbox.faults.counters.faulted
    const summary = await pollReferrals(deps())
    // The "late" referral of the previous test lies 14 min in the future of the real clock: outside period_to.
    expect(summary).toMatchObject({ fetched: N + 1, stored: 0, duplicates: N, skipped: 1 })
    expect(sandbox.faults.counters.faulted).toBe(faulted + 1)
  })

  it('does not move the watermark when the API refuses', async () => {
    const before = watermark.value
    await expect(pollReferrals(deps({ client: referralCandyClient({ accessId: 'acc', secret: 'bad', baseUrl: `${server.url}/api/v2` }) }))).rejects.toThrow(/401/)
    expect(watermark.value).toBe(before)
  })
})
