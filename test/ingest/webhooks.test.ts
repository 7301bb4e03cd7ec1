import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFileSync } from 'node:fs'
import { testBridge, sign, referralCandyPayload, until, type TestBridge } from '../helpers/bridge.ts'

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')

describe('POST /webhooks/:source', () => {
  let bridge: TestBridge
  beforeAll(async () => {
    bridge = await testBridge()
  })
  afterAll(async () => {
    await bridge.close()
  })

  const inboxCount = async () => (await bridge.store.stats(Date.now())).inbox.reduce((n, r) => n + r.count, 0)

  it('accepts a signed ReferralCandy webhook with exactly 200 after committing, and delivers it to Segment', async () => {
    const raw = fixture('referralcandy/referred-purchase.json')
    const res = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ ok: true, stored: 1, duplicates: 0 })
    const detail = await bridge.store.getEvent(res.body.ids[0])
    expect(detail?.inbox.rawBody).toBe(raw)
    expect(detail?.messages.map((m) => m.message.type === 'track' ? m.message.event : 'identify').sort()).toEqual(['Order Completed', 'Referral Converted', 'Referral Created', 'identify', 'identify'])
    await until(() => bridge.segment.state.messages.size === 5, 10_000, 'five messages at Segment')
    const track = [...bridge.segment.state.messages.values()].find((m) => m.type === 'track' && m.event === 'Referral Created')!
    expect(track).toMatchObject({
      event: 'Referral Created',
      userId: 'friend@example.com',
      timestamp: '2015-06-16T07:23:02.000Z',
      properties: { advocate_email: 'advocate@example.com', friend_email: 'friend@example.com', source_platform: 'referralcandy' },
      context: { protocols: { event_version: 1 } }
    })
    expect(String(track.messageId).length).toBeLessThanOrEqual(100)
    await until(async () => (await bridge.store.listJobs('delivered', {})).length === 5, 10_000, 'jobs marked delivered')
  })

  it('answers a redelivery 200 without creating work', async () => {
    const raw = JSON.stringify(referralCandyPayload(1))
    const first = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
    const before = (await bridge.store.stats(Date.now())).jobs.reduce((n, j) => n + j.count, 0)
    for (let i = 0; i < 5; i++) {
      const again = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
      expect(again.status).toBe(200)
      expect(again.body).toMatchObject({ stored: 0, duplicates: 1, ids: first.body.ids })
    }
    const after = (await bridge.store.stats(Date.now())).jobs.reduce((n, j) => n + j.count, 0)
    expect(after).toBe(before)
  })

  it('treats the same referral with other whitespace/case in emails as the same event', async () => {
    const a = JSON.stringify({ referral_email: 'Case@Example.com', referral_timestamp: 1500000000, referring_email: 'adv@example.com' })
    const b = JSON.stringify({ referring_email: 'ADV@example.com', referral_timestamp: 1500000000, referral_email: 'case@example.com' })
    const first = await bridge.post('referralcandy', a, sign.referralcandy(a))
    const second = await bridge.post('referralcandy', b, sign.referralcandy(b))
    expect(second.body.ids).toEqual(first.body.ids)
    expect(second.body.duplicates).toBe(1)
  })

  it('refuses a wrong or missing signature with 401 and stores nothing', async () => {
    const raw = JSON.stringify(referralCandyPayload(2))
    const before = await inboxCount()
    const wrong = await bridge.post('referralcandy', raw, sign.referralcandy(raw, 'another-secret'))
    expect(wrong.status).toBe(401)
    expect(wrong.body).toMatchObject({ error: 'invalid_signature' })
    const missing = await bridge.post('referralcandy', raw)
    expect(missing.status).toBe(401)
    expect(missing.body.message).toMatch(/missing X-Referral-Candy-Signature/)
    // Signed over other bytes: a re-serialised body must not verify.
    const tampered = await bridge.post('referralcandy', raw.replace('friend2', 'friend3'), sign.referralcandy(raw))
    expect(tampered.status).toBe(401)
    expect(await inboxCount()).toBe(before)
  })

  it('names the failing JSON pointers of a payload that breaks the schema (422)', async () => {
    const raw = JSON.stringify({ referral_email: 'not-an-email', referral_timestamp: 'yesterday' })
    const res = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
    expect(res.status).toBe(422)
    expect(res.body.error).toBe('schema_violation')
    const pointers = res.body.errors.map((e: { pointer: string }) => e.pointer).sort()
    expect(pointers).toEqual(['/referral_email', '/referral_timestamp', '/referring_email'])
  })

  it('rejects malformed JSON (400), wrong content type (415), oversize bodies (413), unknown sources (404)', async () => {
    const before = await inboxCount()
    const bad = '{"referral_email": '
    expect((await bridge.post('referralcandy', bad, sign.referralcandy(bad))).body).toMatchObject({ error: 'malformed_body' })
    const raw = JSON.stringify(referralCandyPayload(3))
    const form = await bridge.post('referralcandy', raw, { ...sign.referralcandy(raw), 'content-type': 'text/plain' })
    expect(form.status).toBe(415)
    expect(form.body.error).toBe('unsupported_media_type')
    const huge = JSON.stringify({ ...referralCandyPayload(4), pad: 'x'.repeat(600 * 1024) })
    const big = await bridge.post('referralcandy', huge, sign.referralcandy(huge))
    expect(big.status).toBe(413)
    expect(big.body.error).toBe('payload_too_large')
    const unknown = await bridge.post('nosuchplatform', raw)
    expect(unknown.status).toBe(404)
    expect(unknown.body.sources).toContain('referralcandy')
    expect(await inboxCount()).toBe(before)
  })

  it('refuses a source whose secret is not configured, with the variable to set', async () => {
    const other = await testBridge({ env: { REWARDFUL_WEBHOOK_SECRET: '' } })
    try {
      const raw = fixture('rewardful/referral.converted.json')
      const res = await other.post('rewardful', raw, sign.rewardful(raw))
      expect(res.status).toBe(503)
      expect(res.body).toMatchObject({ error: 'source_not_configured' })
      expect(res.body.message).toContain('REWARDFUL_WEBHOOK_SECRET')
    } finally {
      await other.close()
    }
  })

  it('maps Rewardful referral and commission events, money in integer minor units', async () => {
    const referral = fixture('rewardful/referral.converted.json')
    expect((await bridge.post('rewardful', referral, sign.rewardful(referral))).status).toBe(200)
    const commission = fixture('rewardful/commission.created.json')
    const res = await bridge.post('rewardful', commission, sign.rewardful(commission))
    expect(res.status).toBe(200)
    const detail = await bridge.store.getEvent(res.body.ids[0])
    const reward = detail!.messages.find((m) => m.message.type === 'track')!.message
    expect(reward).toMatchObject({
      event: 'Referral Reward Earned',
      userId: 'james@mi6.co.uk',
      properties: { reward_amount_minor: 750, reward_amount: 7.5, currency: 'USD', recipient_role: 'advocate' }
    })
    // Rewardful's event.id is the key: the same event redelivered (new request.id) is a duplicate.
    const redelivered = JSON.stringify({ ...JSON.parse(commission), request: { id: 'another-attempt' } })
    expect((await bridge.post('rewardful', redelivered, sign.rewardful(redelivered))).body.duplicates).toBe(1)
  })

  it('takes the Ambassador shared secret from the header or the URL', async () => {
    const body = { event: 'Referral Created', created_at: '2026-11-01T10:00:00Z', short_code: 'mbsy42', ambassador: { email: 'amb@example.com', first_name: 'Amb' }, contact: { email: 'pal@example.com' } }
    const raw = JSON.stringify(body)
    expect((await bridge.post('ambassador', raw, sign.ambassador(raw))).status).toBe(200)
    const viaUrl = await fetch(`${bridge.url}/webhooks/ambassador?secret=${encodeURIComponent('ambassador-test-secret')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw })
    expect(viaUrl.status).toBe(200)
    expect((await viaUrl.json()).duplicates).toBe(1)
    expect((await bridge.post('ambassador', raw, { 'x-ambassador-secret': 'guess' })).status).toBe(401)
  })

  it('quarantines what the tracking plan rejects, with a readable reason, and never drops it', async () => {
    // Rewardful sale with a currency the plan's pattern refuses after normalization: "usd1" is not ISO-4217.
    const sale = {
      object: { id: 'sale-1', currency: 'usd1', sale_amount_cents: 100, affiliate: { id: 'a1', email: 'a1@example.com' } },
      event: { id: 'evt-sale-bad-currency', type: 'sale.created', created_at: '2026-11-01T10:00:00Z' }
    }
    const raw = JSON.stringify(sale)
    const res = await bridge.post('rewardful', raw, sign.rewardful(raw))
    expect(res.status).toBe(200)
    const q = await bridge.admin('GET', '/admin/quarantine?source=rewardful')
    const item = q.body.items.find((i: { inboxId: string }) => i.inboxId === res.body.ids[0])
    expect(item.reasons[0]).toMatch(/currency must be a 3-letter ISO-4217 currency code/)
    const detail = await bridge.admin('GET', `/admin/events/${encodeURIComponent(res.body.ids[0])}`)
    expect(detail.body.inbox.rawBody).toBe(raw)
    expect(detail.body.jobs).toEqual([])
  })

  it('logs request ids and never the secrets or signatures', async () => {
    const raw = JSON.stringify(referralCandyPayload(5))
    const headers = sign.referralcandy(raw)
    await bridge.post('referralcandy', raw, { ...headers, 'x-request-id': 'req-log-check' })
    await bridge.post('ambassador', '{}', { 'x-ambassador-secret': 'ambassador-test-secret' })
    const logs = bridge.logs.join('')
    expect(logs).toContain('req-log-check')
    for (const secret of ['rc-test-secret', 'ambassador-test-secret', 'admin-test-token', headers['x-referral-candy-signature']]) {
      expect(logs).not.toContain(secret)
    }
    const stored = await bridge.store.getEvent((await bridge.store.listQuarantine({})).at(0)?.inboxId ?? '')
    expect(JSON.stringify(stored?.inbox.headers ?? {})).not.toMatch(/signature/i)
  })
})
