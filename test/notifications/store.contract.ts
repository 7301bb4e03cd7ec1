import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NotificationStore } from '../../src/notifications/store.ts'
import { ADVOCATE, notification } from './support.ts'

/** One contract, both backends (sqlite-store.test.ts, postgres-store.test.ts). */
export function notificationStoreContract(name: string, open: () => Promise<NotificationStore>, dispose: (s: NotificationStore) => Promise<void>) {
  describe(`notification store contract (${name})`, () => {
    let store: NotificationStore
    beforeEach(async () => {
      store = await open()
    })
    afterEach(async () => {
      await dispose(store)
    })

    it('adds once per id: a redelivery reports false and changes nothing', async () => {
      expect(await store.add(notification(1))).toBe(true)
      expect(await store.add(notification(1, { title: 'changed', body: 'changed' }))).toBe(false)
      const [n] = await store.list(ADVOCATE)
      expect(n).toEqual({ ...notification(1), readAt: null })
      expect(await store.list(ADVOCATE)).toHaveLength(1)
    })

    it('concurrent adds of the same id: exactly one is new', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => store.add(notification(2))))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.list(ADVOCATE)).toHaveLength(1)
    })

    it('lists newest first, per advocate, with limit, before cursor and unread filter', async () => {
      for (let i = 1; i <= 5; i++) await store.add(notification(i))
      await store.add(notification(99, { advocateId: 'other@example.com' }))
      const all = await store.list(ADVOCATE)
      expect(all.map((n) => n.id)).toEqual(['n-0005', 'n-0004', 'n-0003', 'n-0002', 'n-0001'])
      expect(all[0].data).toEqual({ order_id: '1005', revenue: 25, currency: 'USD', nested: { ok: true } })
      expect(typeof all[0].createdAt).toBe('number')

      const page1 = await store.list(ADVOCATE, { limit: 2 })
      expect(page1.map((n) => n.id)).toEqual(['n-0005', 'n-0004'])
      const page2 = await store.list(ADVOCATE, { limit: 2, before: page1[1].id })
      expect(page2.map((n) => n.id)).toEqual(['n-0003', 'n-0002'])
      const page3 = await store.list(ADVOCATE, { limit: 2, before: page2[1].id })
      expect(page3.map((n) => n.id)).toEqual(['n-0001'])
      // A cursor that is not this advocate's gives nothing rather than someone else's position.
      expect(await store.list(ADVOCATE, { before: 'n-0099' })).toEqual([])

      expect(await store.markRead(ADVOCATE, ['n-0005', 'n-0003'], 1_800_000_000_000)).toBe(2)
      expect((await store.list(ADVOCATE, { unreadOnly: true })).map((n) => n.id)).toEqual(['n-0004', 'n-0002', 'n-0001'])
      expect((await store.list('other@example.com')).map((n) => n.id)).toEqual(['n-0099'])
    })

    it('orders by storage, not by createdAt (ties and clock skew)', async () => {
      await store.add(notification(1, { createdAt: 5 }))
      await store.add(notification(2, { createdAt: 5 }))
      await store.add(notification(3, { createdAt: 1 }))
      expect((await store.list(ADVOCATE)).map((n) => n.id)).toEqual(['n-0003', 'n-0002', 'n-0001'])
      expect((await store.listAfter(ADVOCATE, 'n-0001'))!.map((n) => n.id)).toEqual(['n-0002', 'n-0003'])
    })

    it('listAfter replays what came after an id, oldest first; unknown or foreign ids are undefined', async () => {
      for (let i = 1; i <= 4; i++) await store.add(notification(i))
      await store.add(notification(50, { advocateId: 'other@example.com' }))
      expect((await store.listAfter(ADVOCATE, 'n-0002'))!.map((n) => n.id)).toEqual(['n-0003', 'n-0004'])
      expect((await store.listAfter(ADVOCATE, 'n-0001', 2))!.map((n) => n.id)).toEqual(['n-0002', 'n-0003'])
      expect(await store.listAfter(ADVOCATE, 'n-0004')).toEqual([])
      expect(await store.listAfter(ADVOCATE, 'nope')).toBeUndefined()
      expect(await store.listAfter(ADVOCATE, 'n-0050')).toBeUndefined()
    })

    it('marks read by ids or all, only unread ones, only the advocate’s own', async () => {
      for (let i = 1; i <= 3; i++) await store.add(notification(i))
      await store.add(notification(9, { advocateId: 'other@example.com' }))
      expect(await store.unreadCount(ADVOCATE)).toBe(3)
      expect(await store.markRead(ADVOCATE, ['n-0001', 'n-0009', 'missing'], 1000)).toBe(1)
      expect(await store.markRead(ADVOCATE, ['n-0001'], 2000)).toBe(0)
      expect(await store.markRead(ADVOCATE, [], 2000)).toBe(0)
      const one = (await store.list(ADVOCATE)).find((n) => n.id === 'n-0001')!
      expect(one.readAt).toBe(1000)
      expect(await store.unreadCount(ADVOCATE)).toBe(2)
      expect(await store.unreadCount('other@example.com')).toBe(1)
      expect(await store.markRead(ADVOCATE, 'all', 3000)).toBe(2)
      expect(await store.unreadCount(ADVOCATE)).toBe(0)
      expect(await store.unreadCount('other@example.com')).toBe(1)
      expect((await store.list(ADVOCATE)).every((n) => n.readAt !== null)).toBe(true)
    })

    it('keeps ids and advocate ids exactly (case, unicode, quotes)', async () => {
      const weird = notification(7, { id: `rb-x-'"; DROP-é`, advocateId: 'Ad.Vocate+tag@Example.com' })
      expect(await store.add(weird)).toBe(true)
      expect(await store.list('advocate+tag@example.com')).toEqual([])
      expect((await store.list('Ad.Vocate+tag@Example.com'))[0].id).toBe(weird.id)
      expect(await store.markRead('Ad.Vocate+tag@Example.com', [weird.id], 1)).toBe(1)
    })
  })
}
