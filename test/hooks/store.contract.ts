import { afterEach, describe, expect, it } from 'vitest'
import type { HookStore } from '../../src/hooks/store.ts'
import type { Store } from '../../src/queue/store.ts'
import type { TrackMessage } from '../../src/messages.ts'

export interface HookStoreFixture {
  hooks: HookStore
  /** The queue store on the same database (sample() reads its messages table). */
  queue: Store
  close(): Promise<void>
}

export function referralCreated(i: number): TrackMessage {
  return {
    type: 'track',
    event: 'Referral Created',
    messageId: `m-${String(i).padStart(4, '0')}`,
    userId: `advocate${i}@example.com`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    context: {},
    properties: { advocate_email: `advocate${i}@example.com`, friend_email: `friend${i}@example.com` }
  }
}

/** One behavioural suite, both backends. */
export function hookStoreContract(name: string, open: () => Promise<HookStoreFixture>) {
  describe(`hook store contract (${name})`, () => {
    let f: HookStoreFixture | undefined
    afterEach(async () => {
      await f?.close()
      f = undefined
    })

    it('subscribes, lists per event oldest first, knows the subscribed events, unsubscribes once', async () => {
      f = await open()
      await f.hooks.subscribe({ id: 'h2', targetUrl: 'https://hooks.example.com/2', event: 'Referral Created', createdAt: 2 })
      await f.hooks.subscribe({ id: 'h1', targetUrl: 'https://hooks.example.com/1', event: 'Referral Created', createdAt: 1 })
      await f.hooks.subscribe({ id: 'h3', targetUrl: 'https://hooks.example.com/3', event: 'Order Completed', createdAt: 3 })
      expect((await f.hooks.list('Referral Created')).map((s) => s.id)).toEqual(['h1', 'h2'])
      expect((await f.hooks.list()).map((s) => s.id)).toEqual(['h1', 'h2', 'h3'])
      expect(await f.hooks.list('Referral Created').then((l) => l[0])).toEqual({ id: 'h1', targetUrl: 'https://hooks.example.com/1', event: 'Referral Created', createdAt: 1 })
      expect(await f.hooks.subscribedEvents()).toEqual(['Order Completed', 'Referral Created'])
      expect(await f.hooks.unsubscribe('h3')).toBe(true)
      expect(await f.hooks.unsubscribe('h3')).toBe(false)
      expect(await f.hooks.subscribedEvents()).toEqual(['Referral Created'])
    })

    it('records deliveries per subscriber, idempotently, and forgets them with the subscription', async () => {
      f = await open()
      await f.hooks.subscribe({ id: 'h1', targetUrl: 'https://hooks.example.com/1', event: 'Referral Created', createdAt: 1 })
      await f.hooks.subscribe({ id: 'h2', targetUrl: 'https://hooks.example.com/2', event: 'Referral Created', createdAt: 2 })
      await f.hooks.recordDelivery('h1', 'm-1', 10)
      await f.hooks.recordDelivery('h1', 'm-1', 11)
      expect([...(await f.hooks.deliveredTo('m-1', ['h1', 'h2']))]).toEqual(['h1'])
      expect([...(await f.hooks.deliveredTo('m-2', ['h1', 'h2']))]).toEqual([])
      expect([...(await f.hooks.deliveredTo('m-1', []))]).toEqual([])
      await f.hooks.unsubscribe('h1')
      await f.hooks.subscribe({ id: 'h1', targetUrl: 'https://hooks.example.com/1b', event: 'Referral Created', createdAt: 3 })
      expect([...(await f.hooks.deliveredTo('m-1', ['h1']))]).toEqual([])
    })

    it('samples routed messages of one event, newest first, up to the limit', async () => {
      f = await open()
      for (let i = 1; i <= 3; i++) {
        await f.queue.accept({
          source: 'test',
          requestId: `r${i}`,
          receivedAt: 1000 * i,
          rawBody: '{}',
          headers: {},
          items: [{ id: `test:${i}`, eventType: 'x', payload: {}, status: 'routed', messages: [{ message: referralCreated(i), destinations: [] }] }]
        })
      }
      const sample = await f.hooks.sample('Referral Created', 2)
      expect(sample.map((m) => m.messageId)).toEqual(['m-0003', 'm-0002'])
      expect(sample[0]).toEqual(referralCreated(3))
      expect(await f.hooks.sample('Order Completed', 10)).toEqual([])
    })
  })
}
