import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { main } from '../../src/cli/index.ts'
import { SqliteStore } from '../../src/queue/sqlite.ts'

/** The operator CLI against a real SQLite store: list, show and replay dead jobs, show an event, the quarantine. */
async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const sink = new Writable({
    write(chunk, _e, cb) {
      out += String(chunk)
      cb()
    }
  })
  const code = await main(argv, sink)
  return { code, out }
}

describe('referral-bridge CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-cli-'))
  const path = join(dir, 'bridge.sqlite')
  const T0 = Date.now()
  beforeAll(async () => {
    vi.stubEnv('DATABASE_URL', `sqlite:${path}`)
    const store = new SqliteStore(path)
    await store.init()
    const message = (id: string) => ({ type: 'track' as const, event: 'Referral Created', messageId: id, userId: 'f@example.com', timestamp: new Date(T0).toISOString(), context: {}, properties: {} })
    await store.accept({
      source: 'referralcandy',
      requestId: 'r1',
      receivedAt: T0,
      rawBody: '{"referral_email":"f@example.com"}',
      headers: {},
      items: [
        { id: 'referralcandy:k1', eventType: 'referred_purchase', payload: {}, status: 'routed', messages: [{ message: message('m1'), destinations: [{ destination: 'hubspot' }, { destination: 'segment' }] }] },
        { id: 'referralcandy:k2', eventType: 'referred_purchase', payload: {}, status: 'quarantined', messages: [{ message: message('m2'), violations: ['properties.referral_id is required but missing'], destinations: [] }] }
      ]
    })
    const [job] = await store.lease('hubspot', 1, 60_000, T0)
    await store.kill(job, { startedAt: T0, finishedAt: T0, outcome: 'dead', statusCode: 400, error: 'permanent error: VALIDATION_ERROR Property values were not valid' })
    await store.close()
  })
  afterAll(() => {
    vi.unstubAllEnvs()
    rmSync(dir, { recursive: true, force: true })
  })

  it('lists dead jobs with their last error, filtered', async () => {
    const all = await run('dlq', 'list')
    expect(all.code).toBe(0)
    expect(all.out).toContain('m1:hubspot')
    expect(all.out).toContain('VALIDATION_ERROR')
    expect(all.out).toContain('1 dead job(s)')
    expect((await run('dlq', 'list', '--destination', 'segment')).out).toContain('no dead jobs')
    const json = JSON.parse((await run('dlq', 'list', '--json')).out)
    expect(json[0]).toMatchObject({ id: 'm1:hubspot', status: 'dead', attempts: 1 })
  })

  it('shows one dead job with its attempts', async () => {
    const shown = JSON.parse((await run('dlq', 'show', 'm1:hubspot')).out)
    expect(shown.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'dead', statusCode: 400 })])
    expect(shown.message.messageId).toBe('m1')
    expect((await run('dlq', 'show', 'nope')).code).toBe(1)
  })

  it('shows an event by inbox, message or job id', async () => {
    for (const id of ['referralcandy:k1', 'm1', 'm1:segment']) {
      const detail = JSON.parse((await run('events', 'show', id)).out)
      expect(detail.inbox.rawBody).toBe('{"referral_email":"f@example.com"}')
      expect(detail.jobs).toHaveLength(2)
    }
  })

  it('lists the quarantine with readable reasons', async () => {
    const q = await run('quarantine', 'list')
    expect(q.out).toContain('referralcandy:k2')
    expect(q.out).toContain('properties.referral_id is required but missing')
  })

  it('refuses a replay without a selection, then replays with the original ids', async () => {
    const refused = await run('dlq', 'replay')
    expect(refused.code).toBe(2)
    expect(refused.out).toContain('needs job ids, filters, or --all')
    const replay = await run('dlq', 'replay', '--destination', 'hubspot')
    expect(replay.code).toBe(0)
    expect(replay.out).toContain('replayed 1 of 1')
    expect((await run('dlq', 'list')).out).toContain('no dead jobs')
    const store = new SqliteStore(path)
    await store.init()
    const [job] = await store.lease('hubspot', 1, 60_000, Date.now())
    expect(job.id).toBe('m1:hubspot')
    await store.close()
  })

  it('prints usage for unknown commands', async () => {
    const res = await run('frobnicate')
    expect(res.code).toBe(2)
    expect(res.out).toContain('unknown command "frobnicate"')
  })
})
