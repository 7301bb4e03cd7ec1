import { afterAll, describe, it } from 'vitest'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PostgresHookStore } from '../../src/hooks/postgres.ts'
import { PostgresStore } from '../../src/queue/postgres.ts'
import { hookStoreContract } from './store.contract.ts'
import { postgresUrl, postgresAddress, probePostgres } from '../helpers/postgres.ts'

const probe = await probePostgres()
if (!probe.reachable) {
  console.warn(`PostgreSQL not reachable at ${postgresAddress()}: skipping the PostgreSQL hook store suite (${probe.reason})`)
  describe.skip('postgres hook store (no server)', () => {
    it('needs a reachable PostgreSQL server', () => {})
  })
} else {
  const admin = new pg.Pool({ connectionString: postgresUrl, max: 2 })
  admin.on('error', () => {})
  afterAll(() => admin.end())
  hookStoreContract('postgres', async () => {
    const schema = `rb_htest_${randomBytes(6).toString('hex')}`
    const queue = new PostgresStore(postgresUrl, { schema })
    await queue.init()
    const hooks = new PostgresHookStore(postgresUrl, { schema })
    await hooks.init()
    return {
      hooks,
      queue,
      close: async () => {
        await hooks.close()
        await queue.close()
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      }
    }
  })
}
