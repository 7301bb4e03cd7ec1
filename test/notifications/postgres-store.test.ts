import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PostgresNotificationStore } from '../../src/notifications/postgres.ts'
import type { NotificationStore } from '../../src/notifications/store.ts'
import { notificationStoreContract } from './store.contract.ts'
import { ADVOCATE, notification } from './support.ts'
import { postgresUrl, postgresAddress, probePostgres } from '../helpers/postgres.ts'

const url = postgresUrl
const address = postgresAddress

const probe = await probePostgres()
const server = probe.reachable ? ({ ok: true } as const) : ({ ok: false, reason: probe.reason } as const)

if (!server.ok) {
  console.warn(`PostgreSQL not reachable at ${address(url)}: skipping the PostgreSQL notification store suite (${server.reason})`)
  describe.skip('postgres notification store (no server)', () => {
    it('needs a reachable PostgreSQL server', () => {})
  })
} else {
  const admin = new pg.Pool({ connectionString: url, max: 2 })
  admin.on('error', () => {})
  const schemas = new Map<NotificationStore, string>()
  const created: string[] = []
  const newSchema = () => {
    const s = `rb_ntest_${randomBytes(6).toString('hex')}`
    created.push(s)
    return s
  }
  afterAll(async () => {
    for (const s of created) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
    await admin.end()
  })

  notificationStoreContract(
    'postgres',
    async () => {
      const schema = newSchema()
      const store = new PostgresNotificationStore(url, { schema })
      await store.init()
      schemas.set(store, schema)
      return store
    },
    async (store) => {
      await store.close()
      await admin.query(`DROP SCHEMA IF EXISTS ${schemas.get(store)} CASCADE`)
    }
  )

  describe('postgres notification store, several instances', () => {
    it('two pools (two bridges) on one database: init races, dedupe across them', async () => {
      const schema = newSchema()
      const a = new PostgresNotificationStore(url, { schema })
      const b = new PostgresNotificationStore(url, { schema })
      await Promise.all([a.init(), b.init()])
      const results = await Promise.all([a.add(notification(1)), b.add(notification(1)), a.add(notification(1)), b.add(notification(1))])
      expect(results.filter(Boolean)).toHaveLength(1)
      expect((await b.list(ADVOCATE)).map((n) => n.id)).toEqual(['n-0001'])
      await a.close()
      await b.close()
    })

    it('rejects schema names that would need quoting', () => {
      expect(() => new PostgresNotificationStore(url, { schema: 'Bad-Name' })).toThrow(/invalid PostgreSQL schema/)
    })
  })
}
