import { createSign } from 'node:crypto'
import jsforce from 'jsforce'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createSalesforceSandbox, to18 } from '../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

const TOKEN = '00D000000000001!static-test-token'
let sb: ReturnType<typeof createSalesforceSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>

const conn = () => new jsforce.Connection({ loginUrl: server.url, instanceUrl: server.url, accessToken: TOKEN, version: '59.0' })
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}/services/data/v59.0${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } })
const form = (body: Record<string, string>) =>
  fetch(`${server.url}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() })
// Signed with the key pair the sandbox generates by default (it checks every signature).
const jwt = (claims: Record<string, unknown>) => {
  const unsigned = [{ alg: 'RS256' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.')
  return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(sb.state.jwtKeyPair().privateKeyPem).toString('base64url')}`
}

beforeAll(async () => {
  sb = createSalesforceSandbox({
    accessTokens: [TOKEN],
    oauth: { clientId: 'client-id', clientSecret: 'client-secret', refreshTokens: ['good-refresh'], jwtUsers: ['integration@example.com'] },
    dailyRequestLimit: 1_000_000
  })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  sb.state.clear()
  sb.faults.clear()
})

describe('salesforce sandbox: OAuth', () => {
  it('refresh_token grant issues a session; bad refresh token → invalid_grant', async () => {
    const ok = await form({ grant_type: 'refresh_token', client_id: 'client-id', client_secret: 'client-secret', refresh_token: 'good-refresh' })
    expect(ok.status).toBe(200)
    const body = await ok.json()
    expect(body).toMatchObject({ token_type: 'Bearer', instance_url: server.url })
    const bad = await form({ grant_type: 'refresh_token', client_id: 'client-id', client_secret: 'client-secret', refresh_token: 'nope' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ error: 'invalid_grant', error_description: 'expired access/refresh token' })
    const client = await form({ grant_type: 'refresh_token', client_id: 'other', refresh_token: 'good-refresh' })
    expect((await client.json()).error).toBe('invalid_client_id')
    expect((await (await form({ grant_type: 'urn:example:not-a-grant' })).json()).error).toBe('unsupported_grant_type')
  })

  it('jwt-bearer grant checks iss, aud, exp and sub', async () => {
    const exp = Math.floor(Date.now() / 1000) + 180
    const good = { iss: 'client-id', sub: 'integration@example.com', aud: 'https://login.salesforce.com', exp }
    const ok = await form({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt(good) })
    expect(ok.status).toBe(200)
    const grant = async (claims: Record<string, unknown>) => (await form({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt(claims) })).json()
    expect(await grant({ ...good, exp: exp - 3600 })).toEqual({ error: 'invalid_grant', error_description: 'expired authorization code' })
    expect(await grant({ ...good, sub: 'someone@else.com' })).toEqual({ error: 'invalid_grant', error_description: "user hasn't approved this consumer" })
    expect((await grant({ ...good, aud: 'https://evil.example' })).error_description).toBe('audience is invalid')
    expect((await form({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'garbage' })).status).toBe(400)
  })

  it('expired session → 401 INVALID_SESSION_ID, and jsforce refreshes through the token endpoint', async () => {
    const t = sb.state.issueToken('integration@example.com', 60_000)
    sb.state.sessions.get(t)!.expiresAt = 0
    const res = await fetch(`${server.url}/services/data/v59.0/limits`, { headers: { authorization: `Bearer ${t}` } })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual([{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }])

    const c = new jsforce.Connection({
      oauth2: { clientId: 'client-id', clientSecret: 'client-secret', loginUrl: server.url },
      instanceUrl: server.url,
      accessToken: t,
      refreshToken: 'good-refresh',
      version: '59.0'
    })
    let refreshed = false
    c.on('refresh', () => (refreshed = true))
    const result = await c.query('SELECT Id FROM Lead')
    expect(refreshed).toBe(true)
    expect(result.totalSize).toBe(0)
  })
})

describe('salesforce sandbox: sobjects via jsforce', () => {
  it('upserts a Lead by Referral_ID__c: created, then updated (no duplicate)', async () => {
    const c = conn()
    const first = await c.sobject('Lead').upsert({ Referral_ID__c: 'ref-1', LastName: 'Friend', Company: 'Acme', Email: 'friend@example.com' }, 'Referral_ID__c')
    expect(first).toMatchObject({ success: true, created: true })
    const second = await c.sobject('Lead').upsert({ Referral_ID__c: 'ref-1', LastName: 'Friend', Company: 'Acme', Referral_Code__c: 'jb007' }, 'Referral_ID__c')
    expect(second).toMatchObject({ success: true, created: false, id: (first as { id: string }).id })
    expect(sb.state.records.Lead.size).toBe(1)
    const lead = await c.sobject('Lead').retrieve((first as { id: string }).id)
    expect(lead).toMatchObject({ Referral_Code__c: 'jb007', Email: 'friend@example.com', Name: 'Friend', Status: 'Open - Not Contacted' })
  })

  it('raw upsert answers 201 created then 200 {created:false} (v46+), 204 on older versions', async () => {
    const body = JSON.stringify({ LastName: 'X', Company: 'Y' })
    const created = await api('/sobjects/Lead/Referral_ID__c/ref-raw', { method: 'PATCH', body })
    expect(created.status).toBe(201)
    expect(await created.json()).toMatchObject({ success: true, errors: [], created: true })
    const updated = await api('/sobjects/Lead/Referral_ID__c/ref-raw', { method: 'PATCH', body })
    expect(updated.status).toBe(200)
    expect((await updated.json()).created).toBe(false)
    const old = await fetch(`${server.url}/services/data/v45.0/sobjects/Lead/Referral_ID__c/ref-raw`, { method: 'PATCH', body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
    expect(old.status).toBe(204)
  })

  it('validation errors carry Salesforce error codes', async () => {
    const c = conn()
    await expect(c.sobject('Lead').create({ LastName: 'Only' })).rejects.toMatchObject({ errorCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [Company]' })
    await expect(c.sobject('Lead').create({ LastName: 'A', Company: 'B', Nope__c: 1 })).rejects.toMatchObject({ errorCode: 'INVALID_FIELD' })
    await expect(c.sobject('Opportunity').create({ Name: 'O', StageName: 'Closed Won', CloseDate: '2026-01-01', IsWon: true })).rejects.toMatchObject({ errorCode: 'INVALID_FIELD_FOR_INSERT_UPDATE' })
    await c.sobject('Lead').create({ LastName: 'A', Company: 'B', Referral_ID__c: 'dup' })
    await expect(c.sobject('Lead').create({ LastName: 'C', Company: 'D', Referral_ID__c: 'dup' })).rejects.toMatchObject({ errorCode: 'DUPLICATE_VALUE' })
    const raw = await api('/sobjects/Lead', { method: 'POST', body: JSON.stringify({ LastName: 'A' }) })
    expect(raw.status).toBe(400)
    expect(await raw.json()).toEqual([{ message: 'Required fields are missing: [Company]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['Company'] }])
  })

  it('Contact and Opportunity CRUD; Opportunity IsWon/IsClosed follow StageName', async () => {
    const c = conn()
    const contact = (await c.sobject('Contact').create({ LastName: 'Adv', Email: 'adv@example.com' })) as { id: string }
    expect(contact.id).toMatch(/^003/)
    const opp = (await c.sobject('Opportunity').create({ Name: 'Deal', StageName: 'Prospecting', CloseDate: '2026-03-01', Amount: 1200, Referral_ID__c: 'ref-1' })) as { id: string }
    expect(opp.id).toHaveLength(18)
    expect(await c.sobject('Opportunity').retrieve(opp.id)).toMatchObject({ IsWon: false, IsClosed: false, CurrencyIsoCode: 'USD' })
    await c.sobject('Opportunity').update({ Id: opp.id, StageName: 'Closed Won' })
    expect(await c.sobject('Opportunity').retrieve(opp.id)).toMatchObject({ IsWon: true, IsClosed: true })
    expect((await api(`/sobjects/Opportunity/${opp.id.slice(0, 15)}`)).status).toBe(200) // 15-char ids work too
    expect((await api('/sobjects/Opportunity/006000000000000AAA')).status).toBe(404)
  })

  it('upsert on a non-unique external id with several matches → 300', async () => {
    sb.state.seed('Opportunity', [
      { Name: 'A', StageName: 'Prospecting', CloseDate: '2026-01-01', Referral_ID__c: 'shared' },
      { Name: 'B', StageName: 'Prospecting', CloseDate: '2026-01-01', Referral_ID__c: 'shared' }
    ])
    const res = await api('/sobjects/Opportunity/Referral_ID__c/shared', { method: 'PATCH', body: JSON.stringify({ Amount: 5 }) })
    expect(res.status).toBe(300)
    expect(await res.json()).toHaveLength(2)
  })

  it('describe lists standard and custom fields', async () => {
    const d = await conn().sobject('Opportunity').describe()
    const names = d.fields.map((x) => x.name)
    expect(names).toEqual(expect.arrayContaining(['StageName', 'IsWon', 'IsClosed', 'Amount', 'CurrencyIsoCode', 'CloseDate', 'LastModifiedDate', 'Referral_ID__c', 'Referral_Advocate_ID__c', 'Referral_Advocate_Email__c', 'Referral_Code__c']))
    expect(d.fields.find((x) => x.name === 'Referral_ID__c')).toMatchObject({ custom: true, externalId: true })
  })
})

describe('salesforce sandbox: SOQL', () => {
  const seedOpps = () =>
    sb.state.seed('Opportunity', [
      { Name: 'o1', StageName: 'Closed Won', CloseDate: '2026-01-10', Amount: 100, Referral_Advocate_ID__c: 'adv1', Referral_ID__c: 'r1', LastModifiedDate: '2026-01-10T10:00:00.000+0000' },
      { Name: 'o2', StageName: 'Closed Won', CloseDate: '2026-01-11', Amount: 250.5, Referral_Advocate_ID__c: 'adv1', Referral_ID__c: 'r2', LastModifiedDate: '2026-01-11T10:00:00.000+0000' },
      { Name: 'o3', StageName: 'Closed Lost', CloseDate: '2026-01-12', Amount: 999, Referral_Advocate_ID__c: 'adv1', Referral_ID__c: 'r3', LastModifiedDate: '2026-01-12T10:00:00.000+0000' },
      { Name: 'o4', StageName: 'Closed Won', CloseDate: '2026-01-13', Amount: 40, Referral_Advocate_ID__c: 'adv2', Referral_ID__c: 'r4', LastModifiedDate: '2026-01-13T10:00:00.000+0000', CurrencyIsoCode: 'EUR' },
      { Name: 'o5', StageName: 'Prospecting', CloseDate: '2026-02-01', Amount: 70, Referral_ID__c: 'r5', LastModifiedDate: '2026-01-14T10:00:00.000+0000' }
    ])

  it('filters with =, !=, >, IN, LIKE, AND, datetime literals; ORDER BY; LIMIT', async () => {
    seedOpps()
    const c = conn()
    const won = await c.query<{ Name: string; Amount: number }>("SELECT Name, Amount FROM Opportunity WHERE IsWon = true AND Referral_ID__c != null AND LastModifiedDate > 2026-01-10T12:00:00Z ORDER BY Amount DESC")
    expect(won.records.map((r) => r.Name)).toEqual(['o2', 'o4'])
    expect(won.records[0]).toMatchObject({ attributes: { type: 'Opportunity' }, Amount: 250.5 })
    const inq = await c.query<{ Name: string }>("SELECT Name FROM Opportunity WHERE StageName IN ('Closed Lost', 'Prospecting') ORDER BY Name LIMIT 1")
    expect(inq.records.map((r) => r.Name)).toEqual(['o3'])
    const like = await c.query<{ Name: string }>("SELECT Name FROM Opportunity WHERE Referral_Advocate_ID__c LIKE 'ADV%' AND CloseDate >= 2026-01-11 ORDER BY CloseDate")
    expect(like.records.map((r) => r.Name)).toEqual(['o2', 'o3', 'o4'])
  })

  it('aggregates: SUM, COUNT, COUNT_DISTINCT with GROUP BY, aliases and exprN', async () => {
    seedOpps()
    const c = conn()
    const res = await c.query<Record<string, unknown>>(
      'SELECT Referral_Advocate_ID__c, SUM(Amount) total, COUNT(Id), COUNT_DISTINCT(Referral_ID__c) FROM Opportunity WHERE IsWon = true GROUP BY Referral_Advocate_ID__c ORDER BY Referral_Advocate_ID__c'
    )
    expect(res.records).toEqual([
      { attributes: { type: 'AggregateResult' }, Referral_Advocate_ID__c: 'adv1', total: 350.5, expr0: 2, expr1: 2 },
      { attributes: { type: 'AggregateResult' }, Referral_Advocate_ID__c: 'adv2', total: 40, expr0: 1, expr1: 1 }
    ])
    const count = await c.query('SELECT COUNT() FROM Opportunity WHERE IsClosed = false')
    expect(count.totalSize).toBe(1)
    expect(count.records).toEqual([])
    const total = await c.query<Record<string, unknown>>('SELECT SUM(Amount) FROM Opportunity')
    expect(total.records[0].expr0).toBe(1459.5)
  })

  it('errors: MALFORMED_QUERY, INVALID_FIELD (with position), INVALID_TYPE, ungrouped field', async () => {
    const c = conn()
    await expect(c.query('SELEC Id FROM Lead')).rejects.toMatchObject({ errorCode: 'MALFORMED_QUERY' })
    await expect(c.query('SELECT Foo FROM Lead')).rejects.toMatchObject({ errorCode: 'INVALID_FIELD', message: expect.stringContaining("No such column 'Foo' on entity 'Lead'") })
    await expect(c.query('SELECT Id FROM Lead WHERE Nope__c = 1')).rejects.toMatchObject({ errorCode: 'INVALID_FIELD', message: expect.stringContaining('Row:1:Column:27') })
    await expect(c.query('SELECT Id FROM Foo')).rejects.toMatchObject({ errorCode: 'INVALID_TYPE' })
    await expect(c.query('SELECT Name, SUM(Amount) FROM Opportunity')).rejects.toMatchObject({ errorCode: 'MALFORMED_QUERY', message: expect.stringContaining('Field must be grouped or aggregated: Name') })
    const raw = await api(`/query?q=${encodeURIComponent('SELECT Id FROM')}`)
    expect(raw.status).toBe(400)
    expect((await raw.json())[0].errorCode).toBe('MALFORMED_QUERY')
  })

  it('pages at 2000 records with nextRecordsUrl; queryMore and autoFetch get them all', async () => {
    sb.state.seed('Lead', Array.from({ length: 4500 }, (_, i) => ({ LastName: `L${i}`, Company: 'C', Referral_ID__c: `ref-${i}` })))
    const first = await (await api(`/query?q=${encodeURIComponent('SELECT Id, Referral_ID__c FROM Lead')}`)).json()
    expect(first).toMatchObject({ totalSize: 4500, done: false })
    expect(first.records).toHaveLength(2000)
    expect(first.nextRecordsUrl).toMatch(/^\/services\/data\/v59\.0\/query\/01g\w+-2000$/)
    const c = conn()
    const page1 = await c.query('SELECT Id FROM Lead')
    expect(page1.done).toBe(false)
    const page2 = await c.queryMore(page1.nextRecordsUrl!)
    expect(page2.records).toHaveLength(2000)
    const page3 = await c.queryMore(page2.nextRecordsUrl!)
    expect(page3).toMatchObject({ done: true })
    expect(page3.records).toHaveLength(500)
    const all = await c.query('SELECT Id FROM Lead', { autoFetch: true, maxFetch: 10_000 })
    expect(all.records).toHaveLength(4500)
    expect(new Set(all.records.map((r) => r.Id)).size).toBe(4500)
    expect((await api('/query/01gbogus-2000')).status).toBe(400)
  })
})

describe('salesforce sandbox: limits and faults', () => {
  it('REQUEST_LIMIT_EXCEEDED 403 past the daily allocation', async () => {
    const small = createSalesforceSandbox({ accessTokens: [TOKEN], dailyRequestLimit: 2 })
    const s = await serveSandbox(small.router)
    try {
      const get = () => fetch(`${s.url}/services/data/v59.0/limits`, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect((await get()).headers.get('sforce-limit-info')).toBe('api-usage=1/2')
      expect((await get()).status).toBe(200)
      const limited = await get()
      expect(limited.status).toBe(403)
      expect(await limited.json()).toEqual([{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }])
    } finally {
      await s.close()
    }
  })

  it('injected 429 carries Retry-After; jsforce retries an injected 503 and surfaces a 4xx', async () => {
    await fetch(`${server.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 429, retryAfterSeconds: 5, count: 1 }) })
    const res = await api('/limits')
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('5')
    await fetch(`${server.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 503, count: 1, pathContains: '/query' }) })
    // jsforce retries 5xx/429 itself (500 ms, doubling): the injected outage is absorbed on its second try.
    const before = sb.faults.counters.faulted
    expect((await conn().query('SELECT Id FROM Lead')).totalSize).toBe(0)
    expect(sb.faults.counters.faulted).toBe(before + 1)
    await fetch(`${server.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 400, count: 1, pathContains: '/query', body: [{ message: 'boom', errorCode: 'MALFORMED_QUERY' }] }) })
    await expect(conn().query('SELECT Id FROM Lead')).rejects.toMatchObject({ errorCode: 'MALFORMED_QUERY' })
  })

  it('to18 computes the case-safe suffix', () => {
    expect(to18('001A0000006Vm9r')).toBe('001A0000006Vm9rIAC')
  })
})

describe('salesforce sandbox mounted under /sandbox/salesforce (createVendorSandboxes)', () => {
  it('token instance_url carries the prefix; jsforce upserts and pages through it', async () => {
    const express = (await import('express')).default
    const { createVendorSandboxes } = await import('../../src/sandboxes/vendors.ts')
    const vendors = createVendorSandboxes()
    expect(vendors.map((v) => v.vendor)).toEqual(['mixpanel', 'salesforce', 'klaviyo', 'mailchimp'])
    const app = express()
    for (const v of vendors) app.use(`/sandbox/${v.vendor}`, v.router)
    const srv = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    const root = `http://127.0.0.1:${(srv.address() as import('node:net').AddressInfo).port}/sandbox/salesforce`
    try {
      const tok = await (
        await fetch(`${root}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&client_id=any&refresh_token=any' })
      ).json()
      expect(tok.instance_url).toBe(root)
      const c = new jsforce.Connection({ instanceUrl: tok.instance_url, accessToken: tok.access_token, version: '59.0' })
      const sf = vendors.find((v) => v.vendor === 'salesforce')!
      if (sf.vendor !== 'salesforce') throw new Error('unreachable')
      sf.state.seed('Lead', Array.from({ length: 2100 }, (_, i) => ({ LastName: `L${i}`, Company: 'C' })))
      await c.sobject('Lead').upsert({ Referral_ID__c: 'mounted', LastName: 'M', Company: 'C' }, 'Referral_ID__c')
      const all = await c.query('SELECT Id FROM Lead', { autoFetch: true, maxFetch: 5000 })
      expect(all.records).toHaveLength(2101)
    } finally {
      await new Promise<void>((resolve) => {
        srv.closeAllConnections()
        srv.close(() => resolve())
      })
    }
  })
})
