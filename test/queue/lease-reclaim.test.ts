import { describe, it, expect, afterAll } from 'vitest'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PostgresStore } from '../../src/queue/postgres.ts'
import { DeliveryWorker } from '../../src/queue/worker.ts'
import type { Store, WebhookToAccept } from '../../src/queue/store.ts'
import type { Destination } from '../../src/destinations/types.ts'
import { defaultPolicy } from '../../src/destinations/types.ts'
import type { Clock } from '../../src/clock.ts'
import { systemClock } from '../../src/clock.ts'
import { createLogger } from '../../src/log.ts'
import { until } from '../helpers/bridge.ts'
import { postgresUrl, postgresAddress, probePostgres } from '../helpers/postgres.ts'

/**
 * On PostgreSQL several bridges share the queue, so a peer cannot take every foreign lease at start (the SQLite
 * case, covered by test/e2e/scenario1-crash.test.ts): instances heartbeat, and the leases of one that went silent
 * are reclaimed within `staleAfterMs`, far inside the 60 s lease. Simulated time: the lease would hold for a
 * simulated minute, the peer is declared dead after 10 simulated seconds of silence.
 */
class SimClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(Math.min(ms, 5), signal)
  }
}

const T0 = 1_700_000_000_000
const server = await probePostgres()

function oneJob(): WebhookToAccept {
  return {
    source: 'standard',
    requestId: 'r',
    receivedAt: T0,
    rawBody: '{}',
    headers: {},
    items: [
      {
        id: 'standard:1',
        eventType: 'order.completed',
        payload: {},
        status: 'routed',
        messages: [
          {
            message: { type: 'track', event: 'Order Completed', messageId: 'm1', userId: 'u', timestamp: new Date(T0).toISOString(), context: {}, properties: {} },
            destinations: [{ destination: 'crm' }]
          }
        ]
      }
    ]
  }
}

function crm(): Destination & { calls: number } {
  const d = {
    name: 'crm',
    sandboxed: true,
    target: 'memory',
    calls: 0,
    policy: { ...defaultPolicy, concurrency: 1, leaseMs: 60_000 },
    accepts: () => true,
    async deliver(messages: unknown[]) {
      d.calls++
      return messages.map(() => ({ status: 'delivered' as const }))
    }
  }
  return d
}

if (!server.reachable) {
  console.warn(`PostgreSQL not reachable at ${postgresAddress()}: skipping the heartbeat reclaim test (${server.reason})`)
  describe.skip('lease reclaim on PostgreSQL (no server)', () => {
    it('needs a reachable PostgreSQL server', () => {})
  })
} else {
  const schema = `rb_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 })
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  })

  describe('lease reclaim on PostgreSQL', () => {
    it("a silent instance's leases are reclaimed by a live peer within seconds, and its late answer is fenced out", async () => {
      const clock = new SimClock(T0)
      const logger = createLogger('error')
      const a: Store = new PostgresStore(postgresUrl, { schema })
      await a.init()
      const b: Store = new PostgresStore(postgresUrl, { schema })
      await b.init()
      await a.accept(oneJob())

      // Instance A heartbeats, leases the job for a minute, and dies (SIGKILL: no release, no more heartbeats).
      await a.heartbeat(clock.now())
      const [held] = await a.lease('crm', 1, 60_000, clock.now())
      expect(held.leaseToken.startsWith(`${a.instanceId}/`)).toBe(true)

      const healthy = crm()
      const workerB = new DeliveryWorker(b, [healthy], { clock, logger, pollMs: 10, heartbeatMs: 2_000, staleAfterMs: 10_000 })
      workerB.start()
      // Peer B is alive and A's heartbeat is fresh: nothing is taken.
      clock.t += 5_000
      await new Promise((r) => setTimeout(r, 200))
      expect(healthy.calls).toBe(0)
      // 11 simulated seconds after A's last heartbeat, B's next heartbeat reclaims A's lease (59 s before it expires).
      clock.t += 6_000
      await until(() => healthy.calls === 1, 10_000, 'B delivered the reclaimed job')
      await until(async () => (await b.listJobs('delivered', {})).length === 1, 10_000, 'job recorded delivered by B')
      expect(clock.t - T0).toBeLessThan(60_000)

      // A's answer, if it ever came, is fenced out: the job stays delivered once.
      expect(await a.complete(held, { startedAt: T0, finishedAt: clock.now(), outcome: 'delivered' })).toBe(false)
      const [job] = await b.listJobs('delivered', {})
      expect(job.attempts).toBe(1)
      await workerB.stop()
      await a.close()
      await b.close()
    }, 60_000)
  })
}
