import { createSign } from 'node:crypto'
import jsforce from 'jsforce'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createSalesforceSandbox } from '../../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'

/**
 * The Salesforce sandbox driven only through jsforce (the official-community SDK the bridge uses), asserting what
 * Salesforce documents. Sources are cited per case.
 */
const USER = 'integration@acme.com'
const PASSWORD = 'correct-horse' + 'SECURITYTOKEN'
let sb: ReturnType<typeof createSalesforceSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>

const fresh = (extra: Record<string, unknown> = {}) => new jsforce.Connection({ loginUrl: server.url, version: '59.0', ...extra })
async function loggedIn() {
  const conn = fresh()
  await conn.login(USER, PASSWORD)
  return conn
}
function assertion(claims: Record<string, unknown>, privateKeyPem = sb.state.jwtKeyPair().privateKeyPem) {
  const unsigned = [{ alg: 'RS256' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.')
  return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKeyPem).toString('base64url')}`
}

beforeAll(async () => {
  sb = createSalesforceSandbox({ oauth: { clientId: 'cid', clientSecret: 'csecret', users: { [USER]: PASSWORD } } })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => sb.state.clear())

describe('Salesforce conformance: authentication', () => {
  // developer.salesforce.com "login()" (SOAP API Developer Guide) and LoginResult: jsforce's conn.login() without a
  // client secret posts the partner-WSDL login envelope to /services/Soap/u/{version}.
  it('jsforce login() over SOAP establishes a session; a bad password is the INVALID_LOGIN fault', async () => {
    const conn = fresh()
    const info = await conn.login(USER, PASSWORD)
    expect(info).toMatchObject({ id: sb.state.userId, organizationId: sb.state.orgId })
    expect(conn.instanceUrl).toBe(server.url)
    expect((await conn.query('SELECT COUNT() FROM Lead')).totalSize).toBe(0)
    await expect(fresh().login(USER, 'wrong')).rejects.toThrow(/INVALID_LOGIN: Invalid username, password, security token; or user locked out\./)
  })

  // help.salesforce.com "OAuth 2.0 Username-Password Flow for Special Scenarios": with a client id and secret jsforce
  // uses grant_type=password; a wrong password is 400 invalid_grant "authentication failure".
  it('OAuth username-password grant', async () => {
    const conn = fresh({ oauth2: { clientId: 'cid', clientSecret: 'csecret', loginUrl: server.url } })
    const info = await conn.login(USER, PASSWORD)
    expect(info.organizationId).toBe(sb.state.orgId)
    expect(conn.accessToken).toBeTruthy()
    const bad = fresh({ oauth2: { clientId: 'cid', clientSecret: 'csecret', loginUrl: server.url } })
    await expect(bad.login(USER, 'nope')).rejects.toMatchObject({ name: 'invalid_grant', message: 'authentication failure' })
  })

  // help.salesforce.com "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration".
  it('OAuth client-credentials grant; a wrong secret is invalid_client', async () => {
    const conn = fresh({ oauth2: { clientId: 'cid', clientSecret: 'csecret', loginUrl: server.url } })
    await conn.authorize({ grant_type: 'client_credentials' })
    expect((await conn.query('SELECT COUNT() FROM Contact')).totalSize).toBe(0)
    const bad = fresh({ oauth2: { clientId: 'cid', clientSecret: 'wrong', loginUrl: server.url } })
    await expect(bad.authorize({ grant_type: 'client_credentials' })).rejects.toMatchObject({ name: 'invalid_client' })
  })

  // help.salesforce.com "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": the assertion must be RS256-signed
  // with the key of the certificate uploaded to the connected app; anything else is invalid_grant.
  it('JWT bearer: a correctly signed assertion is accepted, a garbage signature is refused (default set-up)', async () => {
    const claims = { iss: 'cid', sub: USER, aud: 'https://login.salesforce.com', exp: Math.floor(Date.now() / 1000) + 180 }
    const conn = fresh({ oauth2: { clientId: 'cid', loginUrl: server.url } })
    await conn.authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: assertion(claims) })
    expect(conn.accessToken).toBeTruthy()
    const garbage = assertion(claims).replace(/\.[^.]+$/, '.c2lnbmF0dXJl')
    await expect(fresh({ oauth2: { clientId: 'cid', loginUrl: server.url } }).authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: garbage })).rejects.toMatchObject({ name: 'invalid_grant' })
  })

  // help.salesforce.com "Identity URLs": GET the `id` URL with the access token → the user's identity.
  it('identity() answers the identity service shape', async () => {
    const conn = await loggedIn()
    const id = await conn.identity()
    expect(id).toMatchObject({ user_id: sb.state.userId, organization_id: sb.state.orgId, username: USER, active: true })
    expect(id.urls.rest).toContain('/services/data/v')
  })
})

describe('Salesforce conformance: REST API', () => {
  // developer.salesforce.com "Describe Global": GET /sobjects lists every object with its urls.
  it('describeGlobal() lists the objects', async () => {
    const conn = await loggedIn()
    const global = await conn.describeGlobal()
    expect(global.maxBatchSize).toBe(200)
    expect(global.sobjects.map((s) => s.name)).toEqual(expect.arrayContaining(['Lead', 'Contact', 'Opportunity']))
    expect(global.sobjects.find((s) => s.name === 'Lead')).toMatchObject({ keyPrefix: '00Q', createable: true, urls: { describe: '/services/data/v59.0/sobjects/Lead/describe' } })
  })

  // developer.salesforce.com "sObject Collections" (create, update, upsert, delete, retrieve): one result per record,
  // in order; errors carry statusCode; allOrNone rolls everything back.
  it('array create / update / upsert / retrieve / destroy go through sObject Collections', async () => {
    const conn = await loggedIn()
    const created = await conn.sobject('Contact').create([{ LastName: 'One', Referral_ID__c: 'r-1' }, { LastName: 'Two', Referral_ID__c: 'r-2' }, { FirstName: 'NoLastName' }])
    expect(created.map((r) => r.success)).toEqual([true, true, false])
    expect(created[2]).toMatchObject({ success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', fields: ['LastName'] }] })
    const ids = created.filter((r) => r.success).map((r) => r.id!)
    const updated = await conn.sobject('Contact').update(ids.map((Id, i) => ({ Id, FirstName: `F${i}` })))
    expect(updated.every((r) => r.success)).toBe(true)
    const upserted = await conn.sobject('Contact').upsert([{ Referral_ID__c: 'r-1', LastName: 'Uno' }, { Referral_ID__c: 'r-3', LastName: 'Three' }], 'Referral_ID__c')
    expect(upserted).toEqual([
      { id: ids[0], success: true, errors: [], created: false },
      { id: expect.any(String), success: true, errors: [], created: true }
    ])
    const read = await conn.sobject('Contact').retrieve([ids[0], ids[1]], { fields: ['LastName', 'FirstName'] })
    expect(read.map((r) => r?.LastName)).toEqual(['Uno', 'Two'])
    const destroyed = await conn.sobject('Contact').destroy(ids)
    expect(destroyed.every((r) => r.success)).toBe(true)
    expect(sb.state.records.Contact.size).toBe(1)
  })

  it('allOrNone: one failure rolls back the rest (ALL_OR_NONE_OPERATION_ROLLED_BACK)', async () => {
    const conn = await loggedIn()
    const res = await conn.sobject('Lead').create([{ LastName: 'Ok', Company: 'Acme' }, { LastName: 'Bad' }], { allOrNone: true })
    expect(res[0]).toMatchObject({ success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK' }] })
    expect(res[1]).toMatchObject({ success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING' }] })
    expect(sb.state.records.Lead.size).toBe(0)
  })

  it('more than 200 records in one collection request → 400 EXCEEDED_ID_LIMIT', async () => {
    const conn = await loggedIn()
    const many = Array.from({ length: 201 }, (_, i) => ({ LastName: `L${i}`, Company: 'Acme' }))
    await expect(conn.sobject('Lead').create(many)).rejects.toMatchObject({ errorCode: 'EXCEEDED_ID_LIMIT' })
    expect(sb.state.records.Lead.size).toBe(0)
    // jsforce splits into requests of 200 when asked to, which the sandbox accepts.
    const split = await conn.sobject('Lead').create(many, { allowRecursive: true })
    expect(split.filter((r) => r.success)).toHaveLength(201)
  })

  // developer.salesforce.com "Status Codes and Error Responses": errors are `[{message, errorCode}]`; an unknown
  // resource is 404 NOT_FOUND "The requested resource does not exist".
  it('unknown resources answer [{errorCode: NOT_FOUND, message}]', async () => {
    const conn = await loggedIn()
    await expect(conn.request('/services/data/v59.0/no/such/thing')).rejects.toMatchObject({ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' })
    await expect(conn.sobject('Lead').retrieve('00Q000000000000AAA')).rejects.toMatchObject({ errorCode: 'NOT_FOUND' })
    const raw = await fetch(`${server.url}/services/nothing-here`)
    expect(raw.status).toBe(404)
    expect(await raw.json()).toEqual([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }])
  })

  // developer.salesforce.com SOQL and SOSL Reference "HAVING".
  it('SOQL HAVING filters groups on an aggregate', async () => {
    sb.state.seed('Opportunity', [
      { Name: 'a', StageName: 'Closed Won', CloseDate: '2026-01-01', Amount: 10, Referral_ID__c: 'x' },
      { Name: 'b', StageName: 'Closed Won', CloseDate: '2026-01-01', Amount: 20, Referral_ID__c: 'x' },
      { Name: 'c', StageName: 'Closed Won', CloseDate: '2026-01-01', Amount: 5, Referral_ID__c: 'y' }
    ])
    const conn = await loggedIn()
    const res = await conn.query<{ Referral_ID__c: string; total: number }>('SELECT Referral_ID__c, SUM(Amount) total FROM Opportunity GROUP BY Referral_ID__c HAVING COUNT(Id) > 1')
    expect(res.records.map((r) => [r.Referral_ID__c, r.total])).toEqual([['x', 30]])
    const none = await conn.query('SELECT Referral_ID__c FROM Opportunity GROUP BY Referral_ID__c HAVING SUM(Amount) > 100')
    expect(none.records).toHaveLength(0)
  })

  // A malformed query names the place: "ERROR at Row:1:Column:n" (developer.salesforce.com "Status Codes and Error
  // Responses", MALFORMED_QUERY).
  it('MALFORMED_QUERY carries the Row:1:Column:n pointer', async () => {
    const conn = await loggedIn()
    const err = await conn.query('SELECT Id FROM Lead WHER Name = \'x\'').then(() => undefined, (e: Error & { errorCode?: string }) => e)
    expect(err).toMatchObject({ errorCode: 'MALFORMED_QUERY' })
    expect(err!.message).toMatch(/ERROR at Row:1:Column:21\nunexpected token: 'WHER'|ERROR at Row:1:Column:26\nunexpected token: 'Name'/)
  })
})
