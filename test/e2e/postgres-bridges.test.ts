import { describe, it, expect, afterAll } from 'vitest'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createSegmentSandbox } from '../../src/sandboxes/segment.ts'
import { segmentDestination } from '../../src/destinations/segment.ts'
import { postgresUrl, postgresAddress, probePostgres } from '../helpers/postgres.ts'

const url = postgresUrl

const ok = (await probePostgres()).reachable
if (!ok) console.warn(`PostgreSQL not reachable at ${postgresAddress()}: skipping the two-bridges PostgreSQL test`)

/** Several bridge instances on one PostgreSQL database share the work: every webhook delivered once, none twice. */
describe.skipIf(!ok)('two bridges on one PostgreSQL database', () => {
  const database = `rb_e2e_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: url })
  const bridges: TestBridge[] = []
  afterAll(async () => {
    for (const b of bridges) await b.close()
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  })

  it('splits ingest and delivery between instances without double delivery', async () => {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    const databaseUrl = url.replace(/\/[^/?]*(\?|$)/, `/${database}$1`)
    // One shared Segment sandbox, so "sent twice" would show as received > unique.
    const segment = createSegmentSandbox()
    const sandbox = await serveSandbox(segment.router)
    for (let i = 0; i < 2; i++) {
      bridges.push(
        await testBridge({
          env: { DATABASE_URL: databaseUrl },
          destinations: [segmentDestination({ writeKey: 'k', host: sandbox.url, sandboxed: true, policy: { batchSize: 7, concurrency: 3 } })]
        })
      )
    }
    expect(bridges[0].store.backend).toBe('postgres')
    const sends: Promise<unknown>[] = []
    for (let i = 0; i < 150; i++) {
      const raw = JSON.stringify({ referral_email: `pg${i}@example.com`, referral_timestamp: 1_700_000_000 + i, referring_email: 'adv@example.com' })
      // Every webhook to both instances, as a platform retrying against a load balancer might.
      for (const b of bridges) sends.push(b.post('referralcandy', raw, sign.referralcandy(raw)))
    }
    const answers = (await Promise.all(sends)) as Array<{ status: number; body: { stored: number } }>
    expect(answers.every((a) => a.status === 200)).toBe(true)
    expect(answers.reduce((n, a) => n + a.body.stored, 0)).toBe(150)
    // Five messages per ReferralCandy webhook: two identifies, Referral Created, Order Completed, Referral Converted.
    await until(() => segment.state.messages.size === 750, 20_000, '750 messages at Segment')
    await until(async () => (await bridges[0].store.listJobs('delivered', { limit: 10_000 })).length === 750, 10_000, 'all jobs recorded delivered')
    expect(segment.state.received).toBe(750)
    // Both instances took part in delivery.
    for (const b of bridges) {
      const metrics = await (await fetch(`${b.url}/metrics`)).text()
      const delivered = Number(/bridge_deliveries_total\{destination="segment",outcome="delivered"\} (\d+)/.exec(metrics)?.[1] ?? 0)
      expect(delivered).toBeGreaterThan(0)
    }
    await sandbox.close()
  })
})
