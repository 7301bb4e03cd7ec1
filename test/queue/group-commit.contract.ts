import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Store, WebhookToAccept } from '../../src/queue/store.ts'

/**
 * Group commit (SQLite writer thread, PostgreSQL batched statement): webhooks accepted concurrently share a
 * commit, and each still gets exactly the answer it would get alone. Called by each backend's test file.
 */
export function groupCommitContract(name: string, makeStore: () => Promise<Store>, dropStore: (s: Store) => Promise<void>) {
  describe(`${name} group commit`, () => {
    let store: Store
    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dropStore(store)
    })

    const T0 = 1_700_000_000_000
    function webhook(n: number, opts: { rawBody?: string; violations?: string[]; messageId?: string } = {}): WebhookToAccept {
      const messageId = opts.messageId ?? `m${n}`
      return {
        source: 'referralcandy',
        requestId: `req-${n}`,
        receivedAt: T0,
        rawBody: opts.rawBody ?? `{"n":${n}}`,
        headers: { 'content-type': 'application/json' },
        items: [{
          id: `rc:${n}`, eventType: 'referred_purchase', payload: { n }, status: 'routed',
          messages: [{
            message: { type: 'track', event: 'Referral Created', messageId, userId: `f${n}@example.com`, timestamp: new Date(T0).toISOString(), context: {}, properties: { n } },
            violations: opts.violations,
            destinations: [{ destination: 'segment' }, { destination: 'hubspot', priority: 5 }]
          }]
        }]
      }
    }
    const jobCount = async () => (await store.stats(T0)).jobs.reduce((n, j) => n + j.count, 0)

    it('answers each of many concurrent webhooks as if alone, redeliveries in the same batch included', async () => {
      // 200 distinct webhooks, each sent twice at once (a platform retrying while the first is in flight).
      const calls = Array.from({ length: 200 }, (_, n) => [store.accept(webhook(n)), store.accept(webhook(n))]).flat()
      const results = await Promise.all(calls)
      for (let n = 0; n < 200; n++) {
        const [a, b] = [results[2 * n], results[2 * n + 1]]
        expect([...a.stored, ...b.stored]).toEqual([`rc:${n}`])
        expect([...a.duplicates, ...b.duplicates]).toEqual([`rc:${n}`])
      }
      expect(await jobCount()).toBe(400)
      const detail = await store.getEvent('rc:7')
      expect(detail?.inbox.rawBody).toBe('{"n":7}')
      expect(detail?.jobs.map((j) => [j.destination, j.priority])).toEqual([['hubspot', 5], ['segment', 0]])
    })

    it('gives a quarantined message its jobs when a later webhook in the same batch brings it valid', async () => {
      await store.accept(webhook(1, { violations: ['missing friend_email'], messageId: 'shared' }))
      expect(await jobCount()).toBe(0)
      const [fixed, routedAgain] = await Promise.all([store.accept(webhook(2, { messageId: 'shared' })), store.accept(webhook(3, { messageId: 'shared' }))])
      expect(fixed.stored).toEqual(['rc:2'])
      expect(routedAgain.stored).toEqual(['rc:3'])
      // The first replaces the quarantined message and queues its 2 jobs; the second finds it routed: no more jobs.
      expect(await jobCount()).toBe(2)
    })

    it('fails a webhook the database refuses alone, and stores the rest of its batch', async () => {
      // PostgreSQL text cannot hold NUL; SQLite can. Either way the other webhooks of the batch are stored.
      const bad = webhook(99, { rawBody: 'nul \u0000 byte' })
      const calls = [...Array.from({ length: 20 }, (_, n) => store.accept(webhook(n))), store.accept(bad)]
      const settled = await Promise.allSettled(calls)
      for (let n = 0; n < 20; n++) expect(settled[n]).toEqual({ status: 'fulfilled', value: { stored: [`rc:${n}`], duplicates: [] } })
      const badOutcome = settled[20]
      if (store.backend === 'postgres') expect(badOutcome.status).toBe('rejected')
      else expect(badOutcome).toEqual({ status: 'fulfilled', value: { stored: ['rc:99'], duplicates: [] } })
      expect(await jobCount()).toBe(badOutcome.status === 'fulfilled' ? 42 : 40)
    })
  })
}
