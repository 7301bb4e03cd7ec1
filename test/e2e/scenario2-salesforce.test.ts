import { describe, it, expect, afterAll, beforeAll, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Connection } from 'jsforce'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { segmentDestination } from '../../src/destinations/segment.ts'
import { mixpanelDestination } from '../../src/destinations/mixpanel.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import type { SalesforceOrg, SfRecord } from '../../src/sandboxes/salesforce.ts'
import type { SegmentSandboxState } from '../../src/sandboxes/segment.ts'
import type { MixpanelSandboxState } from '../../src/sandboxes/mixpanel.ts'
import type { HubspotSandboxState } from '../../src/sandboxes/hubspot.ts'
import { contactsWithEmail } from '../../src/sandboxes/hubspot.ts'
import { connectSalesforce, salesforceAuthFromEnv } from '../../src/salesforce/auth.ts'
import { buildOutboundMessage } from '../../src/salesforce/outbound-message.ts'
import { organizationIdOf, reconcile } from '../../src/salesforce/reconcile.ts'
import { fileWatermark } from '../../src/salesforce/watermark.ts'
import { advocateReport, type AdvocateReport } from '../../src/salesforce/report.ts'
import { syncLifetimeRevenue } from '../../src/salesforce/revenue-sync.ts'

/**
 * Scenario 2, the whole loop with a generated ground truth (seeded PRNG, so every run is the same):
 *
 * 200 advocates, 2 000 referrals as signed ReferralCandy webhooks → the bridge → Leads upserted by the BUILT
 * Salesforce destination function (jsforce, OAuth refresh-token flow) into the Salesforce sandbox → a random subset
 * converted (Opportunities seeded with the referral fields; won in USD and EUR with known amounts, lost, open) →
 * Outbound Messages pushed for most won ones, some pushes lost, one envelope redelivered → SOQL reconciliation →
 * exactly one `Referral Revenue Won` per won opportunity at Segment (and Mixpanel), the report right to the cent,
 * lifetime revenue set on HubSpot contacts and Mixpanel profiles, and a second reconciliation adds nothing.
 */
const SEED = 20261126
const ADVOCATES = 200
const REFERRALS = 2000
const WEBHOOK_SECRET = 'sf-outbound-secret'

function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Truth {
  referrals: number
  converted: number
  opportunities: number
  won: number
  lost: number
  revenue: Record<string, number>
}

async function pool<T>(items: T[], size: number, fn: (item: T) => Promise<void>) {
  let next = 0
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

describe('scenario 2: which advocates generate the most closed-won revenue in Salesforce', () => {
  let bridge: TestBridge
  let sandboxBase: string
  let org: SalesforceOrg
  let segment: SegmentSandboxState
  let mixpanel: MixpanelSandboxState
  let hubspot: HubspotSandboxState
  let conn: Connection
  let dir: string
  const rand = mulberry32(SEED)
  const truth = new Map<string, Truth>()
  const wonOpps = new Map<string, { amountMinor: number; currency: string; advocate: string }>()
  let pushed = 0
  let lostPushes = 0

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rb-scenario2-'))
    bridge = await testBridge({
      sandboxes: true,
      env: { SQLITE_SYNCHRONOUS: 'NORMAL', SALESFORCE_WEBHOOK_SECRET: WEBHOOK_SECRET },
      destinations: async (base) => {
        sandboxBase = base
        const mp = mixpanelDestination({ token: 'sandbox-token', host: `${base}/mixpanel`, sandboxed: true, policy: { batchSize: 50, concurrency: 4 } })
        return [
          segmentDestination({ writeKey: 'test-key', host: `${base}/segment`, sandboxed: true, policy: { batchSize: 100, baseDelayMs: 200 } }),
          // Scoped to the revenue event here (the ingestion of 6 000 referral messages into Mixpanel is covered elsewhere).
          { ...mp, accepts: (m) => m.type === 'track' && m.event === 'Referral Revenue Won' },
          await functionFolderDestination('salesforce', { env: {}, sandboxBase: base })
        ]
      }
    })
    const find = <T>(vendor: string) => bridge.sandboxes.find((s) => s.vendor === vendor)!.state as T
    org = find<SalesforceOrg>('salesforce')
    segment = find<SegmentSandboxState>('segment')
    mixpanel = find<MixpanelSandboxState>('mixpanel')
    hubspot = find<HubspotSandboxState>('hubspot')
    vi.stubEnv('SALESFORCE_ORGANIZATION_ID', org.orgId.slice(0, 15)) // the 15-character form works too
    conn = await connectSalesforce(salesforceAuthFromEnv({}, sandboxBase))
  }, 30_000)

  afterAll(async () => {
    vi.unstubAllEnvs()
    await bridge?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('runs the loop: 2 000 referrals → Leads → won opportunities → push + reconciliation → events, report, lifetime revenue', async () => {
    // ---- 1. referrals through the bridge (signed ReferralCandy webhooks) ----
    const advocates = Array.from({ length: ADVOCATES }, (_, i) => `advocate${String(i).padStart(3, '0')}@example.com`)
    const referrals = Array.from({ length: REFERRALS }, (_, j) => ({
      advocate: advocates[Math.floor(rand() * ADVOCATES)]!,
      friend: `friend${String(j).padStart(4, '0')}@example.com`,
      at: 1_780_000_000 + j
    }))
    for (const a of advocates) truth.set(a, { referrals: 0, converted: 0, opportunities: 0, won: 0, lost: 0, revenue: {} })
    for (const r of referrals) truth.get(r.advocate)!.referrals++
    const started = Date.now()
    await pool(referrals, 16, async (r) => {
      const raw = JSON.stringify({ referral_email: r.friend, referral_timestamp: r.at, referring_email: r.advocate })
      const res = await bridge.post('referralcandy', raw, sign.referralcandy(raw))
      expect(res.status).toBe(200)
    })
    const openJobs = async (destination: string) =>
      (await bridge.store.listJobs('pending', { destination })).length + (await bridge.store.listJobs('leased', { destination })).length
    await until(async () => org.records.Lead.size === REFERRALS && (await openJobs('salesforce')) === 0, 40_000, 'salesforce leads upserted')
    expect(await bridge.store.listJobs('dead', { destination: 'salesforce' })).toHaveLength(0)
    const leads = [...org.records.Lead.values()]
    expect(new Set(leads.map((l) => l.Referral_ID__c)).size).toBe(REFERRALS)
    expect(leads.every((l) => l.LeadSource === 'Referral' && typeof l.Referral_Advocate_ID__c === 'string' && l.Referral_Advocate_Email__c === l.Referral_Advocate_ID__c)).toBe(true)
    const ingestMs = Date.now() - started

    // ---- 2. a random subset converted: opportunities with the referral fields (lead conversion mapping) ----
    const now = Date.now()
    const day = 86_400_000
    const opportunities: SfRecord[] = []
    for (const lead of leads.sort((a, b) => String(a.Referral_ID__c).localeCompare(String(b.Referral_ID__c)))) {
      if (rand() >= 0.4) continue
      lead.IsConverted = true
      lead.Status = 'Closed - Converted'
      const t = truth.get(String(lead.Referral_Advocate_ID__c))!
      t.converted++
      t.opportunities++
      const roll = rand()
      const stage = roll < 0.5 ? 'Closed Won' : roll < 0.75 ? 'Closed Lost' : 'Negotiation/Review'
      const currency = rand() < 0.7 ? 'USD' : 'EUR'
      const minor = 5_000 + Math.floor(rand() * 995_000)
      const closeDay = stage === 'Negotiation/Review' ? now + 20 * day : now - Math.floor(rand() * 3) * day
      opportunities.push({
        Name: `Referral deal ${lead.Referral_ID__c}`,
        StageName: stage,
        CloseDate: new Date(closeDay).toISOString().slice(0, 10),
        Amount: minor / 100,
        CurrencyIsoCode: currency,
        LeadSource: 'Referral',
        Referral_ID__c: lead.Referral_ID__c,
        Referral_Advocate_ID__c: lead.Referral_Advocate_ID__c,
        Referral_Advocate_Email__c: lead.Referral_Advocate_Email__c,
        LastModifiedDate: new Date(now - Math.floor(rand() * 2 * day)).toISOString()
      })
      if (stage === 'Closed Won') {
        t.won++
        t.revenue[currency] = (t.revenue[currency] ?? 0) + minor
      } else if (stage === 'Closed Lost') t.lost++
    }
    const ids = org.seed('Opportunity', opportunities)
    ids.forEach((id, i) => {
      const o = opportunities[i]!
      if (o.StageName === 'Closed Won') wonOpps.set(id, { amountMinor: Math.round(Number(o.Amount) * 100), currency: String(o.CurrencyIsoCode), advocate: String(o.Referral_Advocate_ID__c) })
    })
    expect(wonOpps.size).toBeGreaterThan(300)

    // ---- 3. Outbound Messages for most won opportunities; some pushes are lost ----
    const toNotify: Array<Record<string, string>> = []
    for (const id of ids) {
      const o = org.records.Opportunity.get(id)!
      if (o.IsWon !== true) continue
      if (rand() < 0.15) {
        lostPushes++
        continue
      }
      toNotify.push({
        Id: id,
        Amount: String(o.Amount),
        CurrencyIsoCode: String(o.CurrencyIsoCode),
        CloseDate: String(o.CloseDate),
        StageName: 'Closed Won',
        IsWon: 'true',
        LastModifiedDate: String(o.LastModifiedDate),
        Referral_ID__c: String(o.Referral_ID__c),
        Referral_Advocate_ID__c: String(o.Referral_Advocate_ID__c),
        Referral_Advocate_Email__c: String(o.Referral_Advocate_Email__c)
      })
    }
    pushed = toNotify.length
    const lost = [...org.records.Opportunity.values()].find((o) => o.StageName === 'Closed Lost')!
    const envelopes: string[] = []
    // The 100th notification of the first envelope gives way to the lost opportunity: that push is "lost" too.
    const displaced = toNotify.length >= 100 ? 1 : 0
    for (let i = 0; i < toNotify.length; i += 100) {
      const notes = toNotify.slice(i, i + 100).map((fields, k) => ({ id: `04l${String(i + k).padStart(12, '0')}AAA`, fields }))
      // A lost opportunity in the first envelope (a too-broad rule): acknowledged, ignored. (≤ 100 per envelope.)
      if (i === 0) notes.splice(99, 1, { id: '04l999999999999AAA', fields: { Id: String(lost.Id), StageName: 'Closed Lost', IsWon: 'false', Amount: String(lost.Amount) } as Record<string, string> })
      envelopes.push(buildOutboundMessage({ organizationId: org.orgId, sessionId: 'live-session-id-must-not-be-stored', notifications: notes }))
    }
    pushed -= displaced
    lostPushes += displaced
    envelopes.push(envelopes[0]!) // Salesforce resends an envelope it considers unacknowledged
    for (const xml of envelopes) {
      const res = await fetch(`${bridge.url}/webhooks/salesforce?secret=${WEBHOOK_SECRET}`, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }, body: xml })
      expect(res.status, await res.clone().text()).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/xml/)
      expect(await res.text()).toContain('<Ack>true</Ack>')
    }

    // ---- 4. reconciliation catches the lost pushes; everything it saw by push is a duplicate ----
    const watermark = fileWatermark(join(dir, 'salesforce-reconcile.json'))
    const progress: number[] = []
    const first = await reconcile({
      conn,
      organizationId: organizationIdOf(conn),
      store: bridge.store,
      plan: bridge.plan,
      destinations: bridge.destinations,
      watermark,
      pageSize: 200,
      onProgress: (p) => progress.push(p.fetched)
    })
    bridge.worker.notify()
    expect(first).toMatchObject({ fetched: wonOpps.size, stored: lostPushes, duplicates: pushed, quarantined: 0 })
    expect(first.pages).toBe(Math.ceil(wonOpps.size / 200))
    expect(progress.length).toBe(first.pages)

    // ---- 5. exactly one Referral Revenue Won per won opportunity, at Segment and Mixpanel ----
    const revenueEvents = () => [...segment.messages.values()].filter((m) => m.event === 'Referral Revenue Won') as Array<{ properties: Record<string, any>; userId: string }>
    await until(async () => revenueEvents().length >= wonOpps.size && (await openJobs('segment')) === 0 && (await openJobs('mixpanel')) === 0, 30_000, 'revenue events delivered')
    const events = revenueEvents()
    expect(events).toHaveLength(wonOpps.size)
    const byOpp = new Map(events.map((e) => [e.properties.opportunity_id as string, e]))
    expect(byOpp.size).toBe(wonOpps.size)
    for (const [id, o] of wonOpps) {
      const e = byOpp.get(id)!
      expect(e, id).toBeDefined()
      expect(e.properties).toMatchObject({ amount_minor: o.amountMinor, currency: o.currency, advocate_id: o.advocate, source_platform: 'salesforce' })
      expect(e.properties.amount).toBe(o.amountMinor / 100)
      expect(e.userId).toBe(o.advocate)
    }
    const mpRevenue = [...mixpanel.events.values()].filter((e) => e.event === 'Referral Revenue Won')
    expect(mpRevenue).toHaveLength(wonOpps.size)
    expect(await bridge.store.listJobs('dead', {})).toHaveLength(0)
    // The session id Salesforce may include is never stored.
    const stored = await bridge.store.getEvent(`salesforce:opportunity-won:${toNotify[0]!.Id}`)
    expect(stored?.inbox.rawBody).not.toContain('live-session-id-must-not-be-stored')

    // ---- 6. the report, to the cent ----
    const report: AdvocateReport = await advocateReport(conn, { pageSize: 200 })
    expect(report.currencies).toEqual(['EUR', 'USD'])
    expect(report.ranking_currency).toBe('USD')
    expect(report.advocates).toHaveLength(ADVOCATES)
    for (const row of report.advocates) {
      const t = truth.get(row.advocate_id)!
      expect(row, row.advocate_id).toMatchObject({ referrals: t.referrals, converted: t.converted, leads: t.referrals - t.converted, opportunities: t.opportunities, won: t.won, lost: t.lost })
      expect(Object.fromEntries(Object.entries(row.revenue).map(([c, v]) => [c, v.minor]))).toEqual(t.revenue)
      for (const [c, v] of Object.entries(row.revenue)) expect(v.amount).toBe((t.revenue[c]! / 100).toFixed(2))
      expect(row.win_rate).toBe(t.won + t.lost ? Math.round((t.won / (t.won + t.lost)) * 10_000) / 10_000 : null)
    }
    const expectedOrder = [...truth.entries()]
      .sort(([a, x], [b, y]) => (y.revenue.USD ?? 0) - (x.revenue.USD ?? 0) || y.won - x.won || a.localeCompare(b))
      .map(([a]) => a)
    expect(report.advocates.map((r) => r.advocate_id)).toEqual(expectedOrder)
    const totalMinor = (c: string) => [...truth.values()].reduce((s, t) => s + (t.revenue[c] ?? 0), 0)
    expect(report.totals.revenue.USD!.minor).toBe(totalMinor('USD'))
    expect(report.totals.revenue.EUR!.minor).toBe(totalMinor('EUR'))
    expect(report.totals).toMatchObject({ referrals: REFERRALS, won: wonOpps.size })

    // ---- 7. lifetime revenue on HubSpot contacts and Mixpanel profiles (a $set: twice = same values) ----
    const targets = { hubspot: { accessToken: 'sandbox-hubspot-token', basePath: `${sandboxBase}/hubspot` }, mixpanel: { token: 'sandbox-token', host: `${sandboxBase}/mixpanel` } }
    const earners = [...truth.entries()].filter(([, t]) => t.won > 0)
    for (let run = 0; run < 2; run++) {
      const done = await syncLifetimeRevenue(report, targets)
      expect(done).toEqual({ hubspot: earners.length, mixpanel: earners.length })
    }
    for (const [advocate, t] of earners) {
      const contacts = contactsWithEmail(hubspot, advocate)
      expect(contacts, advocate).toHaveLength(1)
      expect(Number(contacts[0]!.properties.referral_lifetime_revenue)).toBe((t.revenue.USD ?? 0) / 100)
      expect(contacts[0]!.properties.referral_lifetime_revenue_currency).toBe('USD')
      const profile = mixpanel.profiles.get(advocate)!
      expect(profile.properties.referral_lifetime_revenue).toBe((t.revenue.USD ?? 0) / 100)
      expect(profile.properties.referral_lifetime_revenue_by_currency).toEqual(Object.fromEntries(Object.entries(t.revenue).sort().map(([c, m]) => [c, m / 100])))
    }
    expect(hubspot.properties.get('referral_lifetime_revenue')?.type).toBe('number')

    // ---- 8. re-running the reconciliation adds nothing ----
    const again = await reconcile({ conn, organizationId: organizationIdOf(conn), store: bridge.store, plan: bridge.plan, destinations: bridge.destinations, watermark, pageSize: 200 })
    expect(again.stored).toBe(0)
    const fromScratch = await reconcile({ conn, organizationId: organizationIdOf(conn), store: bridge.store, plan: bridge.plan, destinations: bridge.destinations, watermark, since: 0, pageSize: 200 })
    expect(fromScratch).toMatchObject({ fetched: wonOpps.size, stored: 0, duplicates: wonOpps.size })
    await new Promise((r) => setTimeout(r, 200))
    expect(revenueEvents()).toHaveLength(wonOpps.size)

    console.log(
      `scenario 2: ${ADVOCATES} advocates, ${REFERRALS} referrals (ingest + Leads ${ingestMs} ms), ${opportunities.length} opportunities, ` +
        `${wonOpps.size} won (USD ${(totalMinor('USD') / 100).toFixed(2)}, EUR ${(totalMinor('EUR') / 100).toFixed(2)}), ` +
        `${pushed} pushed, ${lostPushes} pushes lost → reconciliation stored ${first.stored}; top advocate ${report.advocates[0]!.advocate_id} ` +
        `USD ${report.advocates[0]!.revenue.USD?.amount}`
    )
  }, 90_000)
})
