import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { Store, WebhookToAccept, NewMessage } from '../../src/queue/store.ts'
import type { Message } from '../../src/messages.ts'

/** The behaviour both backends promise. Each backend's test file calls this with a fresh, empty store. */
/**
 * `openPeer` opens a second store on the same database as the given one (another bridge process, from the
 * store's point of view); the caller closes it.
 */
export function storeContract(
  name: string,
  makeStore: () => Promise<Store>,
  dropStore: (s: Store) => Promise<void>,
  openPeer: (s: Store) => Promise<Store>
) {
  describe(`${name} store contract`, () => {
    let store: Store
    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dropStore(store)
    })

    const T0 = 1_700_000_000_000

    function track(id: string, event = 'Referral Created'): Message {
      return { type: 'track', event, messageId: id, userId: 'friend@example.com', timestamp: new Date(T0).toISOString(), context: {}, properties: { a: 1 } }
    }
    function msg(id: string, destinations = ['segment', 'hubspot'], violations?: string[]): NewMessage {
      return { message: track(id), violations, destinations: destinations.map((destination) => ({ destination })) }
    }
    function webhook(items: Array<{ id: string; messages: NewMessage[]; status?: 'routed' | 'quarantined' | 'ignored'; reason?: string }>): WebhookToAccept {
      return {
        source: 'referralcandy',
        requestId: 'req-1',
        receivedAt: T0,
        rawBody: '{"referral_email":"friend@example.com"}',
        headers: { 'content-type': 'application/json' },
        items: items.map((i) => ({ id: i.id, eventType: 'referred_purchase', payload: { x: 1 }, status: i.status ?? 'routed', reason: i.reason, messages: i.messages }))
      }
    }

    it('stores a webhook once and reports redeliveries as duplicates', async () => {
      const first = await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1')] }]))
      expect(first).toEqual({ stored: ['rc:1'], duplicates: [] })
      const again = await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1')] }]))
      expect(again).toEqual({ stored: [], duplicates: ['rc:1'] })
      const stats = await store.stats(T0)
      expect(stats.jobs.reduce((n, j) => n + j.count, 0)).toBe(2)
    })

    it('keeps the raw body, messages and jobs visible per event', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1')] }]))
      const detail = await store.getEvent('rc:1')
      expect(detail?.inbox.rawBody).toBe('{"referral_email":"friend@example.com"}')
      expect(detail?.messages.map((m) => m.messageId)).toEqual(['m1'])
      expect(detail?.jobs.map((j) => j.destination).sort()).toEqual(['hubspot', 'segment'])
      expect(await store.resolveInboxId('m1')).toBe('rc:1')
      expect(await store.resolveInboxId('m1:hubspot')).toBe('rc:1')
      expect(await store.resolveInboxId('nope')).toBeUndefined()
    })

    it('leases each due job to one worker, by priority then due time', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['klaviyo'])] }]))
      await store.accept({ ...webhook([{ id: 'rc:2', messages: [{ ...msg('m2', []), destinations: [{ destination: 'klaviyo', priority: 10 }] }] }]) })
      const a = await store.lease('klaviyo', 1, 30_000, T0)
      expect(a.map((j) => j.messageId)).toEqual(['m2'])
      const b = await store.lease('klaviyo', 10, 30_000, T0)
      expect(b.map((j) => j.messageId)).toEqual(['m1'])
      expect(await store.lease('klaviyo', 10, 30_000, T0)).toEqual([])
      expect(b[0].message).toMatchObject({ type: 'track', messageId: 'm1' })
    })

    it('leases only the priority lane when asked', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['klaviyo'])] }]))
      await store.accept(webhook([{ id: 'rc:2', messages: [{ ...msg('m2', []), destinations: [{ destination: 'klaviyo', priority: 10, deadlineAt: T0 + 300_000 }] }] }]))
      const lane = await store.lease('klaviyo', 10, 30_000, T0, 1)
      expect(lane.map((j) => [j.messageId, j.deadlineAt])).toEqual([['m2', T0 + 300_000]])
      expect(await store.lease('klaviyo', 10, 30_000, T0, 1)).toEqual([])
    })

    it('gives an expired lease to another worker and ignores the first worker late answer', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['segment'])] }]))
      const [first] = await store.lease('segment', 1, 1_000, T0)
      expect(await store.lease('segment', 1, 1_000, T0 + 500)).toEqual([])
      const [second] = await store.lease('segment', 1, 1_000, T0 + 1_001)
      expect(second.id).toBe(first.id)
      const attempt = { startedAt: T0, finishedAt: T0 + 2_000, outcome: 'delivered' as const }
      expect(await store.complete(first, attempt)).toBe(false)
      expect(await store.complete(second, attempt)).toBe(true)
      const [job] = await store.listJobs('delivered', {})
      expect(job.attempts).toBe(1)
    })

    it('schedules retries, records every attempt and dead-letters', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['hubspot'])] }]))
      let [job] = await store.lease('hubspot', 1, 30_000, T0)
      await store.retry(job, T0 + 5_000, { startedAt: T0, finishedAt: T0 + 10, outcome: 'retry', statusCode: 429, error: 'rate limited' })
      expect(await store.lease('hubspot', 1, 30_000, T0 + 4_999)).toEqual([])
      ;[job] = await store.lease('hubspot', 1, 30_000, T0 + 5_000)
      expect(job.attempts).toBe(1)
      await store.kill(job, { startedAt: T0 + 5_000, finishedAt: T0 + 5_010, outcome: 'dead', statusCode: 400, error: 'INVALID_EMAIL' })
      const dead = await store.listJobs('dead', { destination: 'hubspot' })
      expect(dead).toHaveLength(1)
      expect(dead[0].lastError).toBe('INVALID_EMAIL')
      expect(await store.listJobs('dead', { errorContains: 'EMAIL' })).toHaveLength(1)
      expect(await store.listJobs('dead', { errorContains: 'nothing' })).toHaveLength(0)
      const detail = await store.getEvent('rc:1')
      expect(detail?.attempts.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([[1, 'retry', 429], [2, 'dead', 400]])
    })

    it('replays dead jobs with their original ids', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['hubspot'])] }]))
      const [job] = await store.lease('hubspot', 1, 30_000, T0)
      await store.kill(job, { startedAt: T0, finishedAt: T0, outcome: 'dead', error: 'x' })
      expect(await store.replay([job.id], T0 + 1)).toBe(1)
      const [again] = await store.lease('hubspot', 1, 30_000, T0 + 1)
      expect(again.id).toBe(job.id)
      expect(again.messageId).toBe('m1')
      expect(again.attempts).toBe(0)
      // The replayed job must be able to finish, and its history keeps both attempts.
      expect(await store.complete(again, { startedAt: T0 + 2, finishedAt: T0 + 3, outcome: 'delivered' })).toBe(true)
      const detail = await store.getEvent('rc:1')
      expect(detail?.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'dead'], [2, 'delivered']])
    })

    it('releases leased jobs on shutdown without counting an attempt', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['segment'])] }]))
      const leased = await store.lease('segment', 5, 30_000, T0)
      await store.release(leased, T0 + 1)
      const [again] = await store.lease('segment', 5, 30_000, T0 + 2)
      expect(again.attempts).toBe(0)
    })

    it('quarantines plan violations without jobs and requeues them once fixed', async () => {
      await store.accept(webhook([{ id: 'rc:1', status: 'quarantined', messages: [msg('ok1'), msg('bad1', ['segment'], ['properties.currency is required but missing'])] }]))
      const q = await store.listQuarantine({})
      expect(q).toHaveLength(1)
      expect(q[0]).toMatchObject({ inboxId: 'rc:1', messageId: 'bad1', reasons: ['properties.currency is required but missing'] })
      expect((await store.getEvent('rc:1'))?.jobs.map((j) => j.messageId).sort()).toEqual(['ok1', 'ok1'])
      const inbox = await store.quarantinedInbox({})
      expect(inbox.map((i) => i.id)).toEqual(['rc:1'])
      const counts = await store.requeue([{ inboxId: 'rc:1', status: 'routed', messages: [msg('ok1'), msg('bad1', ['segment'])] }], T0 + 10)
      expect(counts).toEqual({ routed: 1, stillQuarantined: 0 })
      expect(await store.listQuarantine({})).toEqual([])
      const jobs = (await store.getEvent('rc:1'))!.jobs.map((j) => j.id).sort()
      expect(jobs).toEqual(['bad1:segment', 'ok1:hubspot', 'ok1:segment'])
    })

    it('quarantines items the adapter could not normalize, with the reason', async () => {
      await store.accept(webhook([{ id: 'rc:9', status: 'quarantined', reason: 'currency must be ISO-4217', messages: [] }]))
      expect(await store.listQuarantine({ source: 'referralcandy' })).toEqual([
        expect.objectContaining({ inboxId: 'rc:9', messageId: null, reasons: ['currency must be ISO-4217'] })
      ])
    })

    it('reports depth and the age of the oldest waiting job', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['segment'])] }]))
      const stats = await store.stats(T0 + 60_000)
      expect(stats.jobs).toEqual([{ destination: 'segment', status: 'pending', count: 1 }])
      expect(stats.oldestPendingAgeMs).toEqual([{ destination: 'segment', ageMs: 60_000 }])
      expect(stats.inbox).toEqual([{ status: 'routed', count: 1 }])
    })

    it('lists recent messages for plan previews', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1'), msg('m2')] }]))
      expect((await store.recentMessages(T0 - 1, 10)).map((m) => m.messageId).sort()).toEqual(['m1', 'm2'])
      expect(await store.recentMessages(T0 + 1, 10)).toEqual([])
    })

    it('never leases one job to two concurrent workers', async () => {
      const items = Array.from({ length: 50 }, (_, i) => ({ id: `rc:${i}`, messages: [msg(`m${i}`, ['segment'])] }))
      await store.accept(webhook(items))
      const batches = await Promise.all(Array.from({ length: 5 }, () => store.lease('segment', 20, 30_000, T0)))
      const ids = batches.flat().map((j) => j.id)
      expect(new Set(ids).size).toBe(ids.length)
      expect(ids.length).toBe(50)
    })

    it('expedites the backed-off retries of a destination that answers again, and nothing else', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['segment', 'hubspot']), msg('m2', ['segment'])] }]))
      const leased = await store.lease('segment', 1, 30_000, T0)
      await store.retry(leased[0], T0 + 600_000, { startedAt: T0, finishedAt: T0, outcome: 'retry', statusCode: 503 })
      const [other] = await store.lease('hubspot', 1, 30_000, T0)
      await store.retry(other, T0 + 600_000, { startedAt: T0, finishedAt: T0, outcome: 'retry', statusCode: 503 })
      expect(await store.expedite('segment', T0 + 1_000)).toBe(1) // m2 never failed: untouched
      const due = await store.lease('segment', 10, 30_000, T0 + 1_000)
      expect(due.map((j) => j.id).sort()).toEqual([leased[0].id, 'm2:segment'].sort())
      expect(await store.lease('hubspot', 1, 30_000, T0 + 1_000)).toEqual([])
    })

    it('reclaims the leases of a dead instance at once, keeps those of live ones, and fences the dead worker out', async () => {
      await store.accept(webhook([{ id: 'rc:1', messages: [msg('m1', ['segment']), msg('m2', ['hubspot'])] }]))
      const dead = await openPeer(store)
      const live = await openPeer(store)
      try {
        expect(new Set([store.instanceId, dead.instanceId, live.instanceId]).size).toBe(3)
        await dead.heartbeat(T0)
        await live.heartbeat(T0 + 9_000)
        const [deadJob] = await dead.lease('segment', 1, 60_000, T0)
        const [liveJob] = await live.lease('hubspot', 1, 60_000, T0)
        expect(await store.lease('segment', 1, 60_000, T0 + 10_000)).toEqual([]) // lease still valid for 50 s
        // Stale = no heartbeat after T0 + 5 s: the dead instance's lease comes back, the live one's stays.
        expect(await store.reclaimLeases(T0 + 5_000, T0 + 10_000)).toBe(1)
        const [again] = await store.lease('segment', 1, 60_000, T0 + 10_000)
        expect(again.id).toBe(deadJob.id)
        expect(again.attempts).toBe(0) // no attempt counted
        expect(await store.lease('hubspot', 1, 60_000, T0 + 10_000)).toEqual([])
        // Fencing: the dead worker's late answer changes nothing; the new holder's does.
        const attempt = { startedAt: T0, finishedAt: T0 + 11_000, outcome: 'delivered' as const }
        expect(await dead.complete(deadJob, attempt)).toBe(false)
        expect(await store.complete(again, attempt)).toBe(true)
        // Its own leases are never reclaimed from under it; "every other instance" (a restarted SQLite bridge) takes the live one's too.
        expect(await live.reclaimLeases(Infinity, T0 + 12_000)).toBe(0)
        expect(await store.reclaimLeases(Infinity, T0 + 12_000)).toBe(1)
        expect(await live.complete(liveJob, attempt)).toBe(false)
      } finally {
        await dead.close()
        await live.close()
      }
    })

    it('storedMessages returns the stored bodies among the ids asked for, whatever their status', async () => {
      const msg = (id: string, event: string): NewMessage => ({
        message: { type: 'track', event, messageId: id, userId: 'x', timestamp: new Date(T0).toISOString(), context: {}, properties: { referral_id: id } },
        destinations: [{ destination: 'segment' }]
      })
      await store.accept(
        webhook([
          { id: 'sm:1', messages: [msg('fact-created', 'Referral Created')] },
          { id: 'sm:2', messages: [{ ...msg('fact-quarantined', 'Referral Created'), violations: ['bad'], destinations: [] }] }
        ])
      )
      const found = await store.storedMessages(['fact-created', 'fact-quarantined', 'fact-missing', 'fact-created'])
      expect([...found.keys()].sort()).toEqual(['fact-created', 'fact-quarantined'])
      expect(found.get('fact-created')).toMatchObject({ event: 'Referral Created', properties: { referral_id: 'fact-created' } })
      expect((await store.storedMessages([])).size).toBe(0)
    })

    it('finds the referral of a buyer by code, then email, then id, among routed referral events naming an advocate', async () => {
      const referral = (id: string, event: string, properties: Record<string, unknown>, at = T0): NewMessage => ({
        message: { type: 'track', event, messageId: id, userId: 'x', timestamp: new Date(at).toISOString(), context: {}, properties },
        destinations: [{ destination: 'segment' }]
      })
      await store.accept(
        webhook([
          { id: 'rc:1', messages: [referral('r1', 'Referral Created', { friend_email: 'amy@example.com', friend_id: 'amy@example.com', advocate_id: 'sarah@example.com', referral_id: 'ref-1', referral_code: 'SARAH10' })] },
          { id: 'rc:2', messages: [referral('r2', 'Referred Friend Signed Up', { friend_id: 'shopify:42', advocate_id: 'bob@example.com', advocate_email: 'bob@example.com', discount_code: 'WELCOME-BOB' })] },
          { id: 'rc:3', messages: [referral('r3', 'Referral Created', { friend_email: 'nobody@example.com' })] },
          { id: 'rc:4', messages: [referral('r4', 'Order Completed', { friend_email: 'carl@example.com', advocate_id: 'sarah@example.com' })] },
          { id: 'rc:5', messages: [{ ...referral('r5', 'Referral Created', { friend_email: 'dan@example.com', advocate_id: 'eve@example.com' }), violations: ['bad'] }] }
        ])
      )
      expect(await store.findReferral({ codes: ['sarah10'] })).toMatchObject({ messageId: 'r1', matchedBy: 'referral_code', advocateId: 'sarah@example.com', referralId: 'ref-1', referralCode: 'SARAH10' })
      expect(await store.findReferral({ codes: ['welcome-bob'] })).toMatchObject({ messageId: 'r2', matchedBy: 'discount_code', advocateId: 'bob@example.com', advocateEmail: 'bob@example.com' })
      expect(await store.findReferral({ emails: ['Amy@Example.com'] })).toMatchObject({ messageId: 'r1', matchedBy: 'friend_email' })
      expect(await store.findReferral({ ids: ['shopify:42'] })).toMatchObject({ messageId: 'r2', matchedBy: 'friend_id' })
      // A code beats an email that points elsewhere.
      expect(await store.findReferral({ codes: ['WELCOME-BOB'], emails: ['amy@example.com'] })).toMatchObject({ messageId: 'r2' })
      expect(await store.findReferral({ emails: ['nobody@example.com'] })).toBeUndefined() // names no advocate
      expect(await store.findReferral({ emails: ['carl@example.com'] })).toBeUndefined() // not a referral event
      expect(await store.findReferral({ emails: ['dan@example.com'] })).toBeUndefined() // quarantined
      expect(await store.findReferral({})).toBeUndefined()
    })
  })
}
