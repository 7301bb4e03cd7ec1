import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createMixpanelSandbox, type MixpanelStoredEvent } from '../../src/sandboxes/mixpanel.ts'
import { mixpanelDestination } from '../../src/destinations/mixpanel.ts'
import { advocatesWithRecentConversions, friendsSignedUpNotPurchased } from '../../src/reports/cohorts.ts'
import { cohortReportCommand } from '../../src/reports/cli.ts'
import { Writable } from 'node:stream'
import type { Connection } from 'jsforce'
import { createSalesforceSandbox } from '../../src/sandboxes/salesforce.ts'
import { connectSalesforce, salesforceAuthFromEnv } from '../../src/salesforce/auth.ts'
import { buildOutboundMessage } from '../../src/salesforce/outbound-message.ts'
import { advocateReport } from '../../src/salesforce/report.ts'
import { hubspotWins } from '../../src/hubspot/report.ts'

/**
 * Ground truth for analysts (issue 15). Generates advocates, referrals, sign-ups and purchases over 60 days from
 * Rewardful, ReferralCandy and Shopify, plus referred friends' deals won in Salesforce (Outbound Messages, the
 * secret in the URL as the source requires; some notified twice), posts them as webhooks (shuffled: state changes and sales before
 * the referral, sign-ups after purchases; 15% redelivered), lets the bridge deliver to the Mixpanel sandbox through
 * /import, then evaluates the cohorts the way Mixpanel's cohort builder does (per distinct_id: did event X at
 * least N times in a time window; did X and not Y) and compares them, and the store reports, with the truth.
 *
 * Order constraints kept (documented in docs/analysts.md): a Shopify order comes after the friend's
 * customers/create (orders name no advocate; attribution joins them to a stored sign-up), and one friend's purchases
 * arrive in the order they happened (Referral Converted is sent at the first purchase the bridge stores).
 */
const DAY = 86_400_000
const NOW = Math.floor(Date.now() / 1000) * 1000
const SHOPIFY_SECRET = 'shopify-test-secret'
const SALESFORCE_SECRET = 'sf-ground-truth-secret'
const TOKEN = 'ground-truth-token'

function rng(seed: number) {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Platform = 'rewardful' | 'referralcandy' | 'shopify'
interface Referral {
  i: number
  platform: Platform
  advocate: string
  friend: string
  signedUpAt?: number
  purchases: Array<{ at: number; cents: number }>
}
interface Hook {
  source: string
  body: string
  headers: Record<string, string>
  /** Hooks with the same chain must arrive in this order. */
  chain?: string
  seq: number
}

function generate(seed = 15) {
  const rand = rng(seed)
  const advocates = Array.from({ length: 12 }, (_, i) => `advocate${i}@example.com`)
  const referrals: Referral[] = []
  const platforms: Platform[] = ['rewardful', 'referralcandy', 'shopify']
  for (let i = 0; i < 120; i++) {
    const platform = platforms[i % 3]
    const advocate = advocates[Math.floor(rand() ** 2 * advocates.length)]
    const start = NOW - 60 * DAY + Math.floor(rand() * 58 * DAY)
    const buys = platform === 'referralcandy' || rand() < 0.55
    const purchases: Referral['purchases'] = []
    if (buys) {
      const first = start + Math.floor(rand() * (NOW - DAY - start))
      purchases.push({ at: Math.floor(first / 1000) * 1000, cents: 1000 + Math.floor(rand() * 20000) })
      if (rand() < 0.3) purchases.push({ at: Math.floor((first + rand() * (NOW - first - 3_600_000)) / 1000) * 1000, cents: 500 + Math.floor(rand() * 5000) })
    }
    referrals.push({ i, platform, advocate, friend: `friend${i}@example.com`, signedUpAt: platform === 'referralcandy' ? undefined : Math.floor(start / 1000) * 1000, purchases })
  }
  return { referrals, rand }
}

/**
 * Deals won in Salesforce for some buying friends (own PRNG, so the referral data set above stays the same). The
 * advocate id on the Opportunity is the advocate's e-mail, as the Lead the bridge upserts for a ReferralCandy
 * referral carries it (test/e2e/scenario2-salesforce.test.ts).
 */
interface Deal {
  referral: Referral
  currency: 'USD' | 'EUR'
  cents: number
  closeDate: string
}
function generateDeals(referrals: Referral[], seed = 1515): Deal[] {
  const rand = rng(seed)
  const deals: Deal[] = []
  for (const r of referrals) {
    if (!r.purchases.length || rand() >= 0.4) continue
    const close = r.purchases[0].at + Math.floor(rand() * (NOW - DAY - r.purchases[0].at))
    // Amounts with odd cents so a float sum that drifts would show.
    deals.push({ referral: r, currency: rand() < 0.7 ? 'USD' : 'EUR', cents: 100_000 + Math.floor(rand() * 4_900_000) + 7, closeDate: iso(close).slice(0, 10) })
  }
  return deals
}

/**
 * One Outbound Message per won Opportunity (Salesforce batches up to 100; one each shuffles them best). A fifth are
 * notified a second time under a new notification id (the rule fired again on an edit): the bridge dedupes on the
 * Opportunity id, so each deal is one `Referral Revenue Won`.
 */
function dealHooks(deals: Deal[], ids: string[], orgId: string, rand: () => number): Hook[] {
  const hooks: Hook[] = []
  deals.forEach((d, k) => {
    const fields = {
      Id: ids[k],
      StageName: 'Closed Won',
      IsWon: 'true',
      Amount: (d.cents / 100).toFixed(2),
      CurrencyIsoCode: d.currency,
      CloseDate: d.closeDate,
      Referral_ID__c: `ref-${d.referral.i}`,
      Referral_Advocate_ID__c: d.referral.advocate,
      Referral_Advocate_Email__c: d.referral.advocate,
      Referral_Friend_Email__c: d.referral.friend
    }
    const notifications = rand() < 0.2 ? 2 : 1
    for (let n = 0; n < notifications; n++) {
      const body = buildOutboundMessage({ organizationId: orgId, sessionId: 'session-id-never-stored', notifications: [{ id: `04l${String(k * 2 + n).padStart(12, '0')}AAA`, fields }] })
      hooks.push({ source: `salesforce?secret=${SALESFORCE_SECRET}`, body, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }, seq: n })
    }
  })
  return hooks
}

/** Minor units per currency, per key. */
type Revenue = Map<string, Record<string, number>>
function addRevenue(into: Revenue, key: string, currency: string, minor: number) {
  const r = into.get(key) ?? {}
  r[currency] = (r[currency] ?? 0) + minor
  into.set(key, r)
}

const iso = (ms: number) => new Date(ms).toISOString()

function hooksFor(r: Referral): Hook[] {
  const hooks: Hook[] = []
  let seq = 0
  const json = (source: string, body: unknown, extra: Record<string, string> = {}, chain?: string) => {
    const raw = JSON.stringify(body)
    const headers =
      source === 'rewardful' ? sign.rewardful(raw) : source === 'referralcandy' ? sign.referralcandy(raw) : { 'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(raw).digest('base64'), ...extra }
    hooks.push({ source, body: raw, headers, chain, seq: seq++ })
  }
  const advocateId = `aff-${r.advocate}`
  const customer = { id: `cus_${r.i}`, email: r.friend, name: `Friend ${r.i}` }
  const affiliate = { id: advocateId, email: r.advocate }
  const referralObject = (state: string) => ({ id: `rw-ref-${r.i}`, link: { token: `code-${r.advocate}` }, customer, affiliate, conversion_state: state, created_at: iso(r.signedUpAt!) })
  if (r.platform === 'rewardful') {
    json('rewardful', { object: referralObject('lead'), event: { id: `evt-lead-${r.i}`, type: 'referral.lead', created_at: iso(r.signedUpAt!) } })
    if (r.purchases.length) {
      json('rewardful', { object: referralObject('conversion'), event: { id: `evt-conv-${r.i}`, type: 'referral.converted', created_at: iso(r.purchases[0].at) } })
    }
    r.purchases.forEach((p, k) =>
      json(
        'rewardful',
        {
          object: { id: `sale-${r.i}-${k}`, currency: 'USD', sale_amount_cents: p.cents, charged_at: iso(p.at), referral: { id: `rw-ref-${r.i}`, customer }, affiliate },
          event: { id: `evt-sale-${r.i}-${k}`, type: 'sale.created', created_at: iso(p.at) }
        },
        {},
        `friend-${r.i}`
      )
    )
  } else if (r.platform === 'referralcandy') {
    for (const p of r.purchases) json('referralcandy', { referral_email: r.friend, referral_timestamp: p.at / 1000, referring_email: r.advocate }, {}, `friend-${r.i}`)
  } else {
    const customerId = 7_000_000 + r.i
    json(
      'shopify',
      {
        id: customerId,
        email: r.friend,
        first_name: `Friend${r.i}`,
        created_at: iso(r.signedUpAt!),
        metafields: [
          { namespace: 'referral', key: 'code', value: `code-${r.advocate}` },
          { namespace: 'referral', key: 'referral_id', value: `shop-ref-${r.i}` },
          { namespace: 'referral', key: 'advocate_email', value: r.advocate }
        ]
      },
      { 'x-shopify-topic': 'customers/create', 'x-shopify-webhook-id': `wh-customer-${r.i}` },
      `friend-${r.i}`
    )
    r.purchases.forEach((p, k) =>
      json(
        'shopify',
        { id: 9_000_000 + r.i * 10 + k, email: r.friend, created_at: iso(p.at), total_price: (p.cents / 100).toFixed(2), currency: 'USD', customer: { id: customerId, email: r.friend } },
        { 'x-shopify-topic': 'orders/create', 'x-shopify-webhook-id': `wh-order-${r.i}-${k}` },
        `friend-${r.i}`
      )
    )
  }
  return hooks
}

/** Shuffled, chains kept in order, 15% redelivered (some at once, some much later). */
function deliveryOrder(hooks: Hook[], rand: () => number): Hook[] {
  const shuffled = [...hooks]
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
  }
  const chains = new Map<string, number[]>()
  shuffled.forEach((h, pos) => h.chain && chains.set(h.chain, [...(chains.get(h.chain) ?? []), pos]))
  for (const positions of chains.values()) {
    const inOrder = positions.map((p) => shuffled[p]).sort((a, b) => a.seq - b.seq)
    positions.forEach((p, k) => (shuffled[p] = inOrder[k]))
  }
  const out: Hook[] = []
  for (const h of shuffled) {
    out.push(h)
    if (rand() < 0.05) out.push(h)
  }
  for (const h of shuffled) if (rand() < 0.1) out.splice(out.length - Math.floor(rand() * 20), 0, h)
  return out
}

/** Mixpanel's cohort builder: distinct_ids that did `event` at least `min` times with time in [from, to]. */
function didAtLeast(events: MixpanelStoredEvent[], event: string, min: number, from = -Infinity, to = Infinity): Set<string> {
  const counts = new Map<string, number>()
  for (const e of events) {
    const t = Number(e.properties.time)
    if (e.event !== event || t < from || t > to) continue
    const id = String(e.properties.distinct_id)
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return new Set([...counts].filter(([, n]) => n >= min).map(([id]) => id))
}

const sorted = (s: Iterable<string>) => [...s].sort()

describe('analysts get the right cohort (ground truth over the Mixpanel sandbox)', () => {
  const mixpanel = createMixpanelSandbox({ token: TOKEN })
  const salesforce = createSalesforceSandbox()
  let served: Awaited<ReturnType<typeof serveSandbox>>
  let servedSalesforce: Awaited<ReturnType<typeof serveSandbox>>
  let conn: Connection
  let bridge: TestBridge
  const { referrals, rand } = generate()
  const deals = generateDeals(referrals)

  beforeAll(async () => {
    served = await serveSandbox(mixpanel.router)
    servedSalesforce = await serveSandbox(salesforce.router)
    conn = await connectSalesforce(salesforceAuthFromEnv({ SALESFORCE_LOGIN_URL: servedSalesforce.url, SALESFORCE_CLIENT_ID: 'cid', SALESFORCE_REFRESH_TOKEN: 'rt' }))
    bridge = await testBridge({
      env: { SHOPIFY_WEBHOOK_SECRET: SHOPIFY_SECRET, SALESFORCE_WEBHOOK_SECRET: SALESFORCE_SECRET, SALESFORCE_ORGANIZATION_ID: salesforce.state.orgId },
      destinations: [mixpanelDestination({ token: TOKEN, host: served.url, sandboxed: true, policy: { batchSize: 200, concurrency: 2 } })]
    })
  }, 60_000)
  afterAll(async () => {
    await bridge?.close()
    await served?.close()
    await servedSalesforce?.close()
  })

  it('Mixpanel cohorts and the store reports equal the generated truth', async () => {
    // The won Opportunities live in the Salesforce sandbox (the report reads them there, as in production).
    const ids = salesforce.state.seed(
      'Opportunity',
      deals.map((d) => ({
        Name: `Referral deal ref-${d.referral.i}`,
        StageName: 'Closed Won',
        CloseDate: d.closeDate,
        Amount: d.cents / 100,
        CurrencyIsoCode: d.currency,
        LeadSource: 'Referral',
        Referral_ID__c: `ref-${d.referral.i}`,
        Referral_Advocate_ID__c: d.referral.advocate,
        Referral_Advocate_Email__c: d.referral.advocate
      }))
    )
    const hooks = deliveryOrder([...referrals.flatMap(hooksFor), ...dealHooks(deals, ids, salesforce.state.orgId, rng(1516))], rand)
    for (const h of hooks) {
      const res = await bridge.post(h.source, h.body, h.headers)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
    }
    await until(
      async () => (await bridge.store.listJobs('pending', {})).length === 0 && (await bridge.store.listJobs('leased', {})).length === 0,
      120_000,
      'every Mixpanel job finished'
    )
    expect(await bridge.store.listJobs('dead', {})).toEqual([]) // nothing dead-lettered, for age or otherwise
    expect(mixpanel.state.dropped).toEqual([])
    const events = [...mixpanel.state.events.values()]

    // Truth.
    const windowFrom = NOW - 30 * DAY
    const recentFirstBuyers = new Map<string, Set<string>>()
    for (const r of referrals) {
      if (r.purchases.length && r.purchases[0].at >= windowFrom) recentFirstBuyers.set(r.advocate, new Set([...(recentFirstBuyers.get(r.advocate) ?? []), r.friend]))
    }
    const truthAdvocates = sorted([...recentFirstBuyers].filter(([, f]) => f.size >= 3).map(([a]) => a))
    const truthFriends = sorted(referrals.filter((r) => r.signedUpAt !== undefined && r.purchases.length === 0).map((r) => r.friend))
    expect(truthAdvocates.length).toBeGreaterThan(1) // the data set exercises the question
    expect(truthFriends.length).toBeGreaterThan(10)

    // Cohort 1: advocates who did Referral Converted ≥ 3 times in the last 30 days.
    expect(sorted(didAtLeast(events, 'Referral Converted', 3, windowFrom, NOW))).toEqual(truthAdvocates)
    // Cohort 2: did Referred Friend Signed Up and not Order Completed.
    const purchased = didAtLeast(events, 'Order Completed', 1)
    expect(sorted([...didAtLeast(events, 'Referred Friend Signed Up', 1)].filter((id) => !purchased.has(id)))).toEqual(truthFriends)
    // One Referral Created per referral (Shopify sign-ups report no referral object), one Referral Converted per buyer.
    const created = events.filter((e) => e.event === 'Referral Created')
    expect(created).toHaveLength(referrals.filter((r) => r.platform !== 'shopify').length)
    expect(new Set(created.map((e) => e.properties.referral_id)).size).toBe(created.length)
    expect(events.filter((e) => e.event === 'Referral Converted')).toHaveLength(referrals.filter((r) => r.purchases.length).length)
    // Every purchase of every source is an Order Completed on the friend; ReferralCandy's without an amount.
    const orders = events.filter((e) => e.event === 'Order Completed')
    expect(orders).toHaveLength(referrals.reduce((n, r) => n + r.purchases.length, 0))
    for (const o of orders.filter((e) => e.properties.source_platform === 'referralcandy')) {
      expect(o.properties).toMatchObject({ revenue_known: false })
      expect(o.properties.revenue).toBeUndefined()
    }

    // Cohort 3: top advocates by closed-won revenue. Mixpanel's Insights: `Referral Revenue Won`, measure "sum of
    // amount", breakdown by distinct_id and currency. Each amount is read back to minor units before summing, so the
    // comparison is to the cent (a float sum of decimals is not).
    const truthRevenue: Revenue = new Map()
    for (const d of deals) addRevenue(truthRevenue, d.referral.advocate, d.currency, d.cents)
    const mixpanelRevenue: Revenue = new Map()
    const won = events.filter((e) => e.event === 'Referral Revenue Won')
    expect(won).toHaveLength(deals.length) // one per deal, however often Salesforce notified it
    for (const e of won) addRevenue(mixpanelRevenue, String(e.properties.distinct_id), String(e.properties.currency), Math.round(Number(e.properties.amount) * 100))
    expect(truthRevenue.size).toBeGreaterThan(3)
    expect(new Set(deals.map((d) => d.currency))).toEqual(new Set(['USD', 'EUR']))
    expect(Object.fromEntries(mixpanelRevenue)).toEqual(Object.fromEntries(truthRevenue))
    // The bridge's advocate revenue report (`report advocates`: Salesforce plus HubSpot wins from the store).
    const revenueReport = await advocateReport(conn, { otherWins: await hubspotWins(bridge.store), now: NOW })
    expect(Object.fromEntries(revenueReport.advocates.map((a) => [a.advocate_email ?? a.advocate_id, Object.fromEntries(Object.entries(a.revenue).map(([c, v]) => [c, v.minor]))]))).toEqual(
      Object.fromEntries(truthRevenue)
    )
    // Ranked the same: by revenue in the ranking currency, then by number of wins, then by advocate.
    const currency = revenueReport.ranking_currency!
    const wins = (id: string) => won.filter((e) => e.properties.distinct_id === id).length
    const mixpanelRanking = [...mixpanelRevenue.keys()].sort((a, b) => (mixpanelRevenue.get(b)![currency] ?? 0) - (mixpanelRevenue.get(a)![currency] ?? 0) || wins(b) - wins(a) || a.localeCompare(b))
    expect(revenueReport.advocates.map((a) => a.advocate_id)).toEqual(mixpanelRanking)

    // Profiles: each friend came from one platform, so first touch and latest are both it; advocates, reported by
    // several platforms, keep one first touch among the platforms that reported them.
    const profiles = mixpanel.state.profiles
    const friendsWithProfile = referrals.filter((r) => profiles.get(r.friend)?.properties.source_platform !== undefined)
    expect(friendsWithProfile.length).toBeGreaterThan(10)
    for (const r of friendsWithProfile) expect(profiles.get(r.friend)!.properties, r.friend).toMatchObject({ source_platform: r.platform, first_source_platform: r.platform })
    for (const a of new Set(referrals.map((r) => r.advocate))) {
      const p = profiles.get(a)?.properties
      if (p?.source_platform !== undefined) expect(referrals.filter((r) => r.advocate === a).map((r) => r.platform), a).toContain(p.first_source_platform)
    }

    // The store reports agree.
    const report = await advocatesWithRecentConversions(bridge.store, { withinMs: 30 * DAY, min: 3, now: NOW })
    expect(sorted(report.map((r) => r.advocate))).toEqual(truthAdvocates)
    expect(sorted((await friendsSignedUpNotPurchased(bridge.store)).map((r) => r.friend))).toEqual(truthFriends)
    // The CLI commands the issue names, JSON and CSV.
    const run = async (args: string[]) => {
      let text = ''
      const out = new Writable({ write: (chunk, _e, cb) => ((text += String(chunk)), cb()) })
      const code = await cohortReportCommand(args, bridge.store, out, NOW)
      return { code, text }
    }
    const advocatesJson = await run(['advocates', '--friends-purchased-within', '30d', '--min', '3', '--format', 'json'])
    expect(advocatesJson.code).toBe(0)
    expect(sorted((JSON.parse(advocatesJson.text) as Array<{ advocate: string }>).map((r) => r.advocate))).toEqual(truthAdvocates)
    const friendsCsv = await run(['friends', '--signed-up-not-purchased', '--format', 'csv'])
    expect(friendsCsv.text.split('\n')[0]).toBe('friend,signed_up_at,advocate,source_platform')
    expect(friendsCsv.text.trim().split('\n')).toHaveLength(truthFriends.length + 1)
    expect((await run(['advocates', '--friends-purchased-within', 'a month'])).code).toBe(2)
    console.log(`ground truth: ${referrals.length} referrals, ${hooks.length} webhooks posted, ${events.length} Mixpanel events; ${truthAdvocates.length} advocates, ${truthFriends.length} friends, ${truthRevenue.size} advocates with ${deals.length} won deals in the cohorts`)
  }, 300_000)
})
