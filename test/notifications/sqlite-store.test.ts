import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteNotificationStore } from '../../src/notifications/sqlite.ts'
import { openNotificationStore } from '../../src/notifications/open.ts'
import { SqliteStore } from '../../src/queue/sqlite.ts'
import type { NotificationStore } from '../../src/notifications/store.ts'
import { notificationStoreContract } from './store.contract.ts'
import { ADVOCATE, notification } from './support.ts'

const dir = mkdtempSync(join(tmpdir(), 'rb-notif-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

notificationStoreContract(
  'sqlite',
  async () => {
    const s = new SqliteNotificationStore(join(dir, `contract-${n++}.sqlite`))
    await s.init()
    return s
  },
  (s: NotificationStore) => s.close()
)

describe('sqlite notification store next to the queue', () => {
  it('shares the bridge database file over its own connection, and survives a reopen', async () => {
    const file = join(dir, 'bridge.sqlite')
    const queue = new SqliteStore(file)
    await queue.init()
    const a = await openNotificationStore(`sqlite:${file}`)
    const b = await openNotificationStore(`sqlite:${file}`)
    expect(a.backend).toBe('sqlite')
    expect(await a.add(notification(1))).toBe(true)
    // Another connection (another bridge process on the same file) sees it and dedupes against it.
    expect(await b.add(notification(1))).toBe(false)
    expect((await b.list(ADVOCATE)).map((x) => x.id)).toEqual(['n-0001'])
    await queue.ping()
    await a.close()
    await b.close()
    await queue.close()
    const reopened = await openNotificationStore(`sqlite:${file}`)
    expect(await reopened.unreadCount(ADVOCATE)).toBe(1)
    await reopened.close()
  })

  it('refuses an unknown DATABASE_URL scheme', async () => {
    await expect(openNotificationStore('mysql://x')).rejects.toThrow(/sqlite: or postgres:/)
  })
})
