import { afterAll, describe, expect, it, vi } from 'vitest'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PostgresStore } from '../../src/queue/postgres.ts'
import type { LeasedJob, Store, WebhookToAccept } from '../../src/queue/store.ts'
import { storeContract } from './store.contract.ts'
import { groupCommitContract } from './group-commit.contract.ts'
import { postgresUrl, postgresAddress, probePostgres } from '../helpers/postgres.ts'

const url = postgresUrl
const address = postgresAddress

const server = await probePostgres()

if (!server.reachable) {
  console.warn(`PostgreSQL not reachable at ${address(url)}: skipping the PostgreSQL contract suite (${server.reason})`)
  describe.skip('postgres store (no server)', () => {
    it('needs a reachable PostgreSQL server', () => {})
  })
} else {
  const admin = new pg.Pool({ connectionString: url, max: 3 })
  admin.on('error', () => {})
  afterAll(() => admin.end())

  const schemas = new Map<Store, string>()
  const newSchema = (): string => `rb_test_${randomBytes(6).toString('hex')}`
  const dropSchema = (schema: string) => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)

  storeContract(
    'postgres',
    async () => {
      const schema = newSchema()
      const store = new PostgresStore(url, { schema })
      schemas.set(store, schema)
      await store.init()
      return store
    },
    async (store) => {
      await store.close()
      await dropSchema(schemas.get(store)!)
      schemas.delete(store)
    },
    async (store) => {
      const peer = new PostgresStore(url, { schema: schemas.get(store)! })
      await peer.init()
      return peer
    }
  )
  groupCommitContract(
    'postgres',
    async () => {
      const schema = newSchema()
      const store = new PostgresStore(url, { schema })
      schemas.set(store, schema)
      await store.init()
      return store
    },
    async (store) => {
      await store.close()
      await dropSchema(schemas.get(store)!)
      schemas.delete(store)
    }
  )

  const T0 = 1_700_000_000_000

  function webhook(count: number): WebhookToAccept {
    return {
      source: 'referralcandy',
      requestId: 'req-1',
      receivedAt: T0,
      rawBody: '{}',
      headers: {},
      items: Array.from({ length: count }, (_, i) => ({
        id: `rc:${i}`,
        eventType: 'referred_purchase',
        payload: {},
        status: 'routed' as const,
        messages: [
          {
            message: { type: 'track' as const, event: 'Referral Created', messageId: `m${i}`, userId: 'u', timestamp: new Date(T0).toISOString(), context: {}, properties: {} },
            destinations: [{ destination: 'segment' }]
          }
        ]
      }))
    }
  }

  /** Lets the test find (and terminate) exactly this store's server connections. */
  function tagged(name: string): string {
    const u = new URL(url)
    u.searchParams.set('application_name', name)
    return u.toString()
  }

  describe('postgres store, several bridges and a flaky server', () => {
    it('two bridges sharing one schema never lease the same job and together drain all of them', async () => {
      const schema = newSchema()
      const a = new PostgresStore(url, { schema, poolSize: 4 })
      const b = new PostgresStore(url, { schema, poolSize: 4 })
      try {
        await Promise.all([a.init(), b.init()])
        await a.accept(webhook(200))
        const drain = async (store: PostgresStore): Promise<LeasedJob[]> => {
          const got: LeasedJob[] = []
          for (;;) {
            const batch = await store.lease('segment', 7, 60_000, T0)
            if (batch.length === 0) return got
            got.push(...batch)
          }
        }
        const [fromA, fromB] = await Promise.all([
          Promise.all([drain(a), drain(a), drain(a)]).then((lanes) => lanes.flat()),
          Promise.all([drain(b), drain(b), drain(b)]).then((lanes) => lanes.flat())
        ])
        const ids = [...fromA, ...fromB].map((j) => j.id)
        expect(new Set(ids).size).toBe(ids.length)
        expect(ids.length).toBe(200)
        expect(fromA.length).toBeGreaterThan(0)
        expect(fromB.length).toBeGreaterThan(0)
        expect(new Set([...fromA, ...fromB].map((j) => j.leaseToken)).size).toBe(200)
      } finally {
        await Promise.all([a.close(), b.close()])
        await dropSchema(schema)
      }
    })

    it('logs an idle connection the server dropped (without the URL) and reconnects', async () => {
      const schema = newSchema()
      const store = new PostgresStore(tagged(schema), { schema })
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        await store.init()
        const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [schema])
        expect(killed.rowCount).toBeGreaterThan(0)
        await vi.waitFor(() => expect(logged).toHaveBeenCalled(), { timeout: 5_000 })
        expect(JSON.stringify(logged.mock.calls)).not.toContain(url)
        await store.ping()
      } finally {
        logged.mockRestore()
        await store.close()
        await dropSchema(schema)
      }
    })

    it('rejects a call whose connection is lost mid-transaction, then works again', async () => {
      const schema = newSchema()
      const store = new PostgresStore(tagged(schema), { schema })
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
      const blocker = await admin.connect()
      try {
        await store.init()
        await blocker.query('BEGIN')
        await blocker.query(`LOCK TABLE ${schema}.inbox IN ACCESS EXCLUSIVE MODE`)
        const outcome = store.accept(webhook(1)).then(() => 'accepted', (err: unknown) => err)
        // Wait until accept sits inside its transaction, blocked on the lock, before cutting its connection.
        await vi.waitFor(
          async () => {
            const waiting = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [schema])
            expect(waiting.rowCount).toBe(1)
          },
          { timeout: 5_000 }
        )
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [schema])
        expect(await outcome).toBeInstanceOf(Error)
        await blocker.query('ROLLBACK')
        expect(await store.accept(webhook(1))).toEqual({ stored: ['rc:0'], duplicates: [] })
      } finally {
        await blocker.query('ROLLBACK').catch(() => {})
        blocker.release()
        logged.mockRestore()
        await store.close()
        await dropSchema(schema)
      }
    })
  })
}
