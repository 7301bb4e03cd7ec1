import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { createSalesforceSandbox } from '../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { connectSalesforce, jwtAudience, salesforceAuthFromEnv, signJwtAssertion, SANDBOX_CREDENTIALS } from '../../src/salesforce/auth.ts'
import { queryAll } from '../../src/salesforce/soql.ts'
import { functionFolderDestination } from '../../src/destinations/registry.ts'
import type { Message, TrackMessage } from '../../src/messages.ts'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString()
const OTHER_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

let sandbox: ReturnType<typeof createSalesforceSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
beforeEach(async () => {
  sandbox = createSalesforceSandbox({
    oauth: { clientId: 'cid', clientSecret: 'csecret', refreshTokens: ['rt-1'], jwtUsers: ['integration@acme.com'], jwtPublicKeyPem: PUBLIC_PEM }
  })
  served = await serveSandbox(sandbox.router)
})
afterEach(() => served.close())

const refreshEnv = () => ({ SALESFORCE_LOGIN_URL: served.url, SALESFORCE_CLIENT_ID: 'cid', SALESFORCE_CLIENT_SECRET: 'csecret', SALESFORCE_REFRESH_TOKEN: 'rt-1' })
const jwtEnv = (key = PRIVATE_PEM) => ({ SALESFORCE_LOGIN_URL: served.url, SALESFORCE_CLIENT_ID: 'cid', SALESFORCE_USERNAME: 'integration@acme.com', SALESFORCE_PRIVATE_KEY: key })

describe('salesforce auth from env', () => {
  it('no credentials → the sandbox through the refresh-token flow', () => {
    expect(salesforceAuthFromEnv({}, 'http://127.0.0.1:9/sandbox')).toMatchObject({ mode: 'refresh-token', loginUrl: 'http://127.0.0.1:9/sandbox/salesforce', sandboxed: true, ...SANDBOX_CREDENTIALS })
  })
  it('sandbox org login URL: SALESFORCE_SANDBOX=true → https://test.salesforce.com; JWT audience follows it', () => {
    const auth = salesforceAuthFromEnv({ SALESFORCE_SANDBOX: 'true', SALESFORCE_CLIENT_ID: 'c', SALESFORCE_REFRESH_TOKEN: 'r' })
    expect(auth).toMatchObject({ mode: 'refresh-token', loginUrl: 'https://test.salesforce.com', sandboxed: false })
    expect(jwtAudience({ loginUrl: 'https://test.salesforce.com' })).toBe('https://test.salesforce.com')
    expect(jwtAudience({ loginUrl: 'https://acme--uat.sandbox.my.salesforce.com' })).toBe('https://test.salesforce.com')
    expect(jwtAudience({ loginUrl: 'https://acme.my.salesforce.com' })).toBe('https://login.salesforce.com')
  })
  it('incomplete settings are explicit errors', () => {
    expect(() => salesforceAuthFromEnv({ SALESFORCE_REFRESH_TOKEN: 'r' })).toThrow(/SALESFORCE_CLIENT_ID/)
    expect(() => salesforceAuthFromEnv({ SALESFORCE_PRIVATE_KEY: PRIVATE_PEM })).toThrow(/SALESFORCE_CLIENT_ID and SALESFORCE_USERNAME/)
    expect(() => salesforceAuthFromEnv({ SALESFORCE_ACCESS_TOKEN: 't' })).toThrow(/SALESFORCE_INSTANCE_URL/)
  })
  it('a PEM with literal \\n (as env files store it) is accepted', () => {
    const auth = salesforceAuthFromEnv({ ...jwtEnv(PRIVATE_PEM.replace(/\n/g, '\\n')) })
    expect(auth.privateKey).toBe(PRIVATE_PEM)
  })
})

describe('salesforce connections (jsforce) against the sandbox', () => {
  it('refresh-token flow: connects, knows its org, and refreshes on INVALID_SESSION_ID', async () => {
    const conn = await connectSalesforce(salesforceAuthFromEnv(refreshEnv()))
    expect(conn.userInfo?.organizationId).toBe(sandbox.state.orgId)
    sandbox.state.seed('Opportunity', [{ Name: 'x', StageName: 'Closed Won', CloseDate: '2026-11-01', Referral_ID__c: 'r1' }])
    expect(await queryAll(conn, 'SELECT Id FROM Opportunity')).toHaveLength(1)
    const sessions = sandbox.state.sessions.size
    sandbox.state.expireAllSessions()
    expect(await queryAll(conn, 'SELECT Id FROM Opportunity')).toHaveLength(1)
    expect(sandbox.state.sessions.size).toBe(sessions + 1)
  })

  it('a revoked refresh token fails with invalid_grant', async () => {
    sandbox.state.revokedRefreshTokens.add('rt-1')
    await expect(connectSalesforce(salesforceAuthFromEnv(refreshEnv()))).rejects.toMatchObject({ name: 'invalid_grant' })
  })

  it('JWT bearer flow: RS256 assertion verified by the org; a new assertion on INVALID_SESSION_ID', async () => {
    const conn = await connectSalesforce(salesforceAuthFromEnv(jwtEnv()))
    expect(await queryAll(conn, 'SELECT Id FROM Lead')).toEqual([])
    const sessions = sandbox.state.sessions.size
    sandbox.state.expireAllSessions()
    expect(await queryAll(conn, 'SELECT Id FROM Lead')).toEqual([])
    expect(sandbox.state.sessions.size).toBe(sessions + 1)
  })

  it('JWT signed with the wrong key, or for an unapproved user → invalid_grant', async () => {
    await expect(connectSalesforce(salesforceAuthFromEnv(jwtEnv(OTHER_PEM)))).rejects.toMatchObject({ name: 'invalid_grant' })
    await expect(connectSalesforce(salesforceAuthFromEnv({ ...jwtEnv(), SALESFORCE_USERNAME: 'someone@acme.com' }))).rejects.toMatchObject({ name: 'invalid_grant' })
  })

  it('the assertion carries iss/sub/aud/exp (3 min)', () => {
    const jwt = signJwtAssertion({ clientId: 'cid', username: 'u@acme.com', audience: 'https://login.salesforce.com', privateKey: PRIVATE_PEM, now: 1_000_000 })
    const [h, p] = jwt.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x!, 'base64url').toString()))
    expect(h).toEqual({ alg: 'RS256', typ: 'JWT' })
    expect(p).toMatchObject({ iss: 'cid', sub: 'u@acme.com', aud: 'https://login.salesforce.com', exp: 1000 + 180 })
  })
})

describe('salesforce destination in JWT mode', () => {
  const msg = (friend: string): TrackMessage => ({
    type: 'track',
    event: 'Referral Created',
    messageId: `m-${friend}`,
    userId: friend,
    timestamp: '2026-11-01T00:00:00.000Z',
    context: {},
    properties: { referral_id: `ref-${friend}`, advocate_id: 'adv@example.com', advocate_email: 'adv@example.com', friend_email: friend, status: 'created', source_platform: 'rewardful' }
  })

  it('the bridge mints the session by JWT and renews it when Salesforce answers INVALID_SESSION_ID', async () => {
    const dest = await functionFolderDestination('salesforce', { env: jwtEnv(), sandboxBase: 'http://unused' })
    expect(dest.sandboxed).toBe(false)
    expect(await dest.deliver([msg('a@example.com')])).toEqual([{ status: 'delivered' }])
    sandbox.state.expireAllSessions()
    expect(await dest.deliver([msg('b@example.com'), msg('c@example.com')])).toEqual([{ status: 'delivered' }, { status: 'delivered' }])
    expect(sandbox.state.records.Lead.size).toBe(3)
  })

  it('accepts only the friend events and identifies carrying a referral_id', async () => {
    const dest = await functionFolderDestination('salesforce', { env: refreshEnv(), sandboxBase: 'http://unused' })
    expect(dest.accepts(msg('x@example.com'))).toBe(true)
    expect(dest.accepts({ ...msg('x@example.com'), event: 'Referral Revenue Won' })).toBe(false)
    expect(dest.accepts({ type: 'identify', messageId: 'i', timestamp: '', context: {}, traits: { email: 'a@example.com' } })).toBe(false)
    expect(dest.accepts({ type: 'identify', messageId: 'i', timestamp: '', context: {}, traits: { email: 'a@example.com', referral_id: 'r' } })).toBe(true)
  })
})
