import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { testBridge, sign, type TestBridge } from '../helpers/bridge.ts'
import type { TrackMessage } from '../../src/messages.ts'

/** src/ingest/cohort-events.ts through the real webhook route and SQLite store: one event per fact, any order. */
const affiliate = { id: 'aff-1', email: 'Sarah@Example.com' }
const customer = { id: 'cus_1', email: 'friend@example.com', name: 'Fred Friend' }
const referral = (id: string, state: string) => ({ id, link: { token: 'sarah' }, customer, affiliate, conversion_state: state, created_at: '2026-10-01T10:00:00.000Z' })
const hook = (eventId: string, type: string, object: unknown, at: string) => JSON.stringify({ object, event: { id: eventId, type, created_at: at } })
const sale = (id: string, refId: string, at: string, cents = 4200) => ({ id, currency: 'USD', sale_amount_cents: cents, charged_at: at, referral: { id: refId, customer }, affiliate })

describe('cohort facts at ingest', () => {
  let bridge: TestBridge
  beforeEach(async () => {
    bridge = await testBridge()
  })
  afterEach(async () => bridge.close())

  const post = async (raw: string) => expect((await bridge.post('rewardful', raw, sign.rewardful(raw))).status).toBe(200)
  const tracks = async () => {
    const rows = await bridge.store.recentMessages(0, 1000)
    return rows.filter((r) => r.status === 'routed' && r.message.type === 'track').map((r) => r.message as TrackMessage)
  }
  const named = async (event: string) => (await tracks()).filter((m) => m.event === event)

  it('in order: Referral Created (lead) once, then Status Changed lead → converted, one sign-up, Referral Converted on the advocate at the first sale', async () => {
    await post(hook('e1', 'referral.lead', referral('r1', 'lead'), '2026-10-01T10:00:00.000Z'))
    await post(hook('e1-again', 'referral.lead', referral('r1', 'lead'), '2026-10-01T10:05:00.000Z')) // same fact, new event id
    await post(hook('e2', 'referral.converted', referral('r1', 'conversion'), '2026-10-03T10:00:00.000Z'))
    await post(hook('e3', 'sale.created', sale('s1', 'r1', '2026-10-03T10:00:00.000Z'), '2026-10-03T10:00:00.000Z'))
    await post(hook('e4', 'sale.created', sale('s2', 'r1', '2026-10-09T10:00:00.000Z', 999), '2026-10-09T10:00:00.000Z'))

    expect((await named('Referral Created')).map((m) => m.properties.status)).toEqual(['lead'])
    expect((await named('Referral Status Changed')).map((m) => [m.properties.from_status, m.properties.to_status])).toEqual([['lead', 'converted']])
    expect(await named('Referred Friend Signed Up')).toHaveLength(1)
    expect(await named('Order Completed')).toHaveLength(2)
    const converted = await named('Referral Converted')
    expect(converted).toHaveLength(1)
    expect(converted[0]).toMatchObject({ userId: 'sarah@example.com', timestamp: '2026-10-03T10:00:00.000Z', properties: { referral_id: 'r1', friend_id: 'friend@example.com', order_id: 's1', revenue: 42, currency: 'USD' } })
  })

  it('out of order: the sale and the conversion before the lead still give one Referral Created, no backwards status change, one sign-up, one conversion', async () => {
    await post(hook('e3', 'sale.created', sale('s1', 'r2', '2026-10-03T10:00:00.000Z'), '2026-10-03T10:00:00.000Z'))
    await post(hook('e2', 'referral.converted', referral('r2', 'conversion'), '2026-10-03T10:00:00.000Z'))
    await post(hook('e1', 'referral.lead', referral('r2', 'lead'), '2026-10-01T10:00:00.000Z'))

    expect((await named('Referral Created')).map((m) => m.properties.status)).toEqual(['converted'])
    expect(await named('Referral Status Changed')).toEqual([])
    expect(await named('Referred Friend Signed Up')).toHaveLength(1)
    expect(await named('Referral Converted')).toHaveLength(1)
    const detail = await bridge.store.getEvent('rewardful:e1')
    expect(detail?.inbox.reason).toMatch(/not sent again: the referral is already stored as converted/)
  })
})
