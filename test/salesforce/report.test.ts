import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import express from 'express'
import pg from 'pg'
import type { Connection } from 'jsforce'
import { createSalesforceSandbox, SALESFORCE_OBJECTS } from '../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { connectSalesforce, salesforceAuthFromEnv } from '../../src/salesforce/auth.ts'
import { aggregateByKey, queryAll } from '../../src/salesforce/soql.ts'
import { advocateReport, reportCsv, reportTable } from '../../src/salesforce/report.ts'
import { reconcile } from '../../src/salesforce/reconcile.ts'
import { fileWatermark, postgresWatermark, watermarkFor } from '../../src/salesforce/watermark.ts'
import { reportCommand, salesforceCommand } from '../../src/salesforce/cli.ts'
import { reportRouter } from '../../src/server/report-route.ts'
import { openStore } from '../../src/queue/open.ts'
import { loadTrackingPlan } from '../../src/tracking-plan/plan.ts'

let sandbox: ReturnType<typeof createSalesforceSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
let conn: Connection
let dir: string
const env = () => ({ SALESFORCE_LOGIN_URL: served.url, SALESFORCE_CLIENT_ID: 'cid', SALESFORCE_REFRESH_TOKEN: 'rt' })
const DAY = 86_400_000
const now = Date.now()
const iso = (ms: number) => new Date(ms).toISOString()

function capture() {
  let text = ''
  const out = new Writable({
    write(chunk, _e, cb) {
      text += String(chunk)
      cb()
    }
  })
  return { out, text: () => text }
}

/** 12 advocates, 3 leads each (one old), some converted to opportunities in USD / EUR / JPY. */
function seed() {
  const leads = []
  const opps = []
  for (let a = 0; a < 12; a++) {
    const advocate = `adv${String(a).padStart(2, '0')}@example.com`
    for (let k = 0; k < 3; k++) {
      const rid = `r-${a}-${k}`
      const old = k === 0
      leads.push({ LastName: 'F', Company: 'C', Referral_ID__c: rid, Referral_Advocate_ID__c: advocate, Referral_Advocate_Email__c: advocate, IsConverted: k < 2, CreatedDate: iso(old ? now - 90 * DAY : now - DAY) })
      if (k < 2) {
        const stage = (a + k) % 3 === 0 ? 'Closed Lost' : 'Closed Won'
        const currency = a % 4 === 0 ? 'EUR' : a === 5 ? 'JPY' : 'USD'
        opps.push({
          Name: rid,
          StageName: stage,
          CloseDate: new Date(old ? now - 90 * DAY : now - DAY).toISOString().slice(0, 10),
          Amount: currency === 'JPY' ? 120000 + a : 100 * a + 0.1 * k + 0.05,
          CurrencyIsoCode: currency,
          Referral_ID__c: rid,
          Referral_Advocate_ID__c: advocate,
          Referral_Advocate_Email__c: advocate,
          LastModifiedDate: iso(now - (40 - a) * 60_000)
        })
      }
    }
  }
  sandbox.state.seed('Lead', leads)
  return sandbox.state.seed('Opportunity', opps)
}

beforeEach(async () => {
  sandbox = createSalesforceSandbox()
  served = await serveSandbox(sandbox.router)
  conn = await connectSalesforce(salesforceAuthFromEnv(env()))
  dir = mkdtempSync(join(tmpdir(), 'rb-sf-'))
})
afterEach(async () => {
  await served.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('SOQL paging', () => {
  it('aggregates are paged by key (no queryMore for aggregates): same rows as one big query', async () => {
    seed()
    const build = (key: string) => `SELECT Referral_Advocate_ID__c, IsConverted, COUNT(Id) n FROM Lead WHERE Referral_ID__c != null${key} GROUP BY Referral_Advocate_ID__c, IsConverted`
    const all = await aggregateByKey(conn, 'Referral_Advocate_ID__c', build)
    const paged = await aggregateByKey(conn, 'Referral_Advocate_ID__c', build, 5)
    expect(all).toHaveLength(24)
    expect(paged.map((r) => `${r.Referral_Advocate_ID__c}/${r.IsConverted}/${r.n}`).sort()).toEqual(all.map((r) => `${r.Referral_Advocate_ID__c}/${r.IsConverted}/${r.n}`).sort())
  })

  it('record queries follow nextRecordsUrl', async () => {
    sandbox.state.seed('Lead', Array.from({ length: 450 }, (_, i) => ({ LastName: 'x', Company: 'c', Referral_ID__c: `p${i}` })))
    expect(await queryAll(conn, 'SELECT Id FROM Lead', { pageSize: 200 })).toHaveLength(450)
  })
})

describe('advocate report', () => {
  it('counts, win rate and exact per-currency revenue; ranked by the main currency', async () => {
    seed()
    const report = await advocateReport(conn)
    expect(report.currencies).toEqual(['EUR', 'JPY', 'USD'])
    expect(report.ranking_currency).toBe('USD')
    const adv1 = report.advocates.find((r) => r.advocate_id === 'adv01@example.com')!
    // a=1: k=0 won (1+0)%3≠0, k=1 won (2%3≠0) → 100.05 + 100.15
    expect(adv1).toMatchObject({ referrals: 3, leads: 1, converted: 2, opportunities: 2, won: 2, lost: 0, win_rate: 1, revenue: { USD: { amount: '200.20', minor: 20020 } } })
    const adv0 = report.advocates.find((r) => r.advocate_id === 'adv00@example.com')!
    expect(adv0).toMatchObject({ won: 1, lost: 1, win_rate: 0.5, revenue: { EUR: { amount: '0.15', minor: 15 } } })
    const adv5 = report.advocates.find((r) => r.advocate_id === 'adv05@example.com')!
    expect(adv5).toMatchObject({ won: 1, lost: 1, revenue: { JPY: { amount: '120005', minor: 120005 } } }) // JPY has no minor digits
    expect(report.advocates[0]!).toMatchObject({ advocate_id: 'adv10@example.com', revenue: { USD: { amount: '2000.20' } } })
    const usd = report.advocates.map((r) => r.revenue.USD?.minor ?? 0)
    expect([...usd].sort((a, b) => b - a)).toEqual(usd)
  })

  it('--since: leads created and opportunities closing on/after the date', async () => {
    seed()
    const report = await advocateReport(conn, { since: now - 30 * DAY })
    const adv1 = report.advocates.find((r) => r.advocate_id === 'adv01@example.com')!
    expect(adv1).toMatchObject({ referrals: 2, opportunities: 1, won: 1, revenue: { USD: { minor: 10015 } } })
  })

  it('convertCurrency is used when the org supports it; the sandbox does not, and the report says so', async () => {
    seed()
    const report = await advocateReport(conn, { convert: true })
    expect(report.converted).toBe('not available')
    expect(report.totals.won).toBeGreaterThan(0)
  })

  it('table and CSV output', async () => {
    seed()
    const report = await advocateReport(conn)
    const csv = reportCsv(report).trim().split('\n')
    expect(csv[0]).toBe('rank,advocate_id,advocate_email,referrals,leads,converted,opportunities,won,lost,win_rate,revenue_EUR,revenue_JPY,revenue_USD')
    expect(csv).toHaveLength(13)
    expect(csv[1]).toBe('1,adv10@example.com,adv10@example.com,3,1,2,2,2,0,1,0.00,0,2000.20')
    const table = reportTable(report)
    expect(table).toMatch(/revenue USD/)
    expect(table).toMatch(/12 advocates, 36 referrals, 24 opportunities/)
  })
})

describe('report over HTTP and the CLI', () => {
  it('GET /api/reports/advocates: bearer token, json and csv, bad parameters', async () => {
    seed()
    const app = express()
    app.use(reportRouter({ adminToken: 'tok', connect: async () => conn }))
    const server = await serveSandbox(app as never)
    try {
      const get = (path: string, token?: string) => fetch(`${server.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
      expect((await get('/api/reports/advocates')).status).toBe(401)
      expect((await get('/api/reports/advocates', 'wrong')).status).toBe(401)
      const json = await get('/api/reports/advocates?since=30d', 'tok')
      expect(json.status).toBe(200)
      const body = (await json.json()) as { advocates: unknown[]; since: string }
      expect(body.advocates).toHaveLength(12)
      expect(body.since).toBeTruthy()
      const csv = await get('/api/reports/advocates?format=csv', 'tok')
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
      expect((await csv.text()).split('\n')[0]).toMatch(/^rank,advocate_id/)
      expect((await get('/api/reports/advocates?format=xml', 'tok')).status).toBe(400)
      expect((await get('/api/reports/advocates?since=yesterday', 'tok')).status).toBe(400)
    } finally {
      await server.close()
    }
    const closed = express()
    closed.use(reportRouter({ connect: async () => conn }))
    const s2 = await serveSandbox(closed as never)
    expect((await fetch(`${s2.url}/api/reports/advocates`)).status).toBe(503)
    await s2.close()
  })

  it('referral-bridge report advocates --format csv|json|table', async () => {
    seed()
    for (const format of ['csv', 'json', 'table']) {
      const c = capture()
      expect(await reportCommand(['advocates', '--format', format], c.out, env())).toBe(0)
      if (format === 'json') expect(JSON.parse(c.text()).advocates).toHaveLength(12)
      if (format === 'csv') expect(c.text().split('\n')[0]).toMatch(/^rank,/)
      if (format === 'table') expect(c.text()).toMatch(/ranked by revenue in USD/)
    }
    const bad = capture()
    expect(await reportCommand(['advocates', '--format', 'xml'], bad.out, env())).toBe(2)
  })

  it('referral-bridge salesforce setup --check: ok on a complete org, a clear table and exit 1 when fields are missing', async () => {
    const ok = capture()
    expect(await salesforceCommand(['setup', '--check'], ok.out, env())).toBe(0)
    expect(ok.text()).toMatch(/setup ok/)
    expect(ok.text()).toMatch(/Referral_Friend_Email__c +OPTIONAL, MISSING/)
    const contact = SALESFORCE_OBJECTS.Contact!
    const opp = SALESFORCE_OBJECTS.Opportunity!
    const savedContact = contact.fields
    const savedOpp = opp.fields
    try {
      contact.fields = savedContact.filter((f) => f.name !== 'Referral_Code__c')
      opp.fields = savedOpp.map((f) => (f.name === 'Referral_ID__c' ? { ...f, externalId: false } : f))
      const bad = capture()
      expect(await salesforceCommand(['setup', '--check'], bad.out, env())).toBe(1)
      expect(bad.text()).toMatch(/Contact +Referral_Code__c +MISSING/)
      expect(bad.text()).toMatch(/Opportunity +Referral_ID__c +NOT EXTERNAL ID/)
      expect(bad.text()).toMatch(/setup INCOMPLETE/)
    } finally {
      contact.fields = savedContact
      opp.fields = savedOpp
    }
  })
})

describe('reconciliation watermark', () => {
  it('second run reads only what changed since the watermark (minus the overlap); nothing is stored twice', async () => {
    const ids = seed()
    const store = await openStore(`sqlite:${join(dir, 'bridge.sqlite')}`)
    try {
      const watermark = await watermarkFor(`sqlite:${join(dir, 'bridge.sqlite')}`)
      expect(watermark.describe).toBe(join(dir, 'salesforce-reconcile.json'))
      const deps = { conn, organizationId: sandbox.state.orgId, store, plan: loadTrackingPlan('tracking-plan'), destinations: [], watermark, overlapMs: 60_000 }
      const first = await reconcile(deps)
      const won = [...sandbox.state.records.Opportunity.values()].filter((o) => o.IsWon === true)
      expect(first).toMatchObject({ fetched: won.length, stored: won.length, duplicates: 0, quarantined: 0 })
      expect(first.soql).not.toMatch(/LastModifiedDate >/)
      const saved = JSON.parse(readFileSync(join(dir, 'salesforce-reconcile.json'), 'utf8')) as { lastModifiedDate: string }
      const latest = Math.max(...won.map((o) => Date.parse(String(o.LastModifiedDate).replace('+0000', 'Z'))))
      expect(Date.parse(saved.lastModifiedDate)).toBe(latest)

      // One opportunity is won later: only it (plus the overlap window) is read again.
      const lostOne = [...sandbox.state.records.Opportunity.values()].find((o) => o.StageName === 'Closed Lost')!
      sandbox.state.write('Opportunity', { StageName: 'Closed Won' }, String(lostOne.Id))
      const second = await reconcile(deps)
      expect(second.soql).toMatch(/LastModifiedDate > \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/)
      expect(second.stored).toBe(1)
      expect(second.fetched).toBeLessThan(won.length)
      expect(ids.length).toBe(24)
      const third = await reconcile(deps)
      expect(third.stored).toBe(0)
    } finally {
      await store.close()
    }
  })

  it('file watermark survives a restart; PostgreSQL watermark never moves backwards (when a server answers)', async () => {
    const file = fileWatermark(join(dir, 'w.json'))
    expect(await file.get()).toBeUndefined()
    await file.set(Date.UTC(2026, 0, 2))
    expect(await fileWatermark(join(dir, 'w.json')).get()).toBe(Date.UTC(2026, 0, 2))

    const url = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 })
    probe.on('error', () => {})
    const reachable = await probe.connect().then(
      () => true,
      () => false
    )
    await probe.end().catch(() => {})
    if (!reachable) {
      console.log(`PostgreSQL watermark part skipped: nothing answers at ${new URL(url).host}`)
      return
    }
    const key = `test.watermark.${Date.now()}`
    const w = await postgresWatermark(url, key)
    try {
      await w.set(Date.UTC(2026, 0, 5))
      await w.set(Date.UTC(2026, 0, 3))
      expect(await w.get()).toBe(Date.UTC(2026, 0, 5))
    } finally {
      await w.close()
    }
  })
})
