import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest'
import { buildFunction } from '../../src/functions/build.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { createSalesforceSandbox, type SfRecord } from '../../src/sandboxes/salesforce.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { Message } from '../../src/messages.ts'
import type { Destination } from '../../src/destinations/types.ts'

/**
 * The BUILT artifact (dist/functions/salesforce.js) in the Segment-like runtime, talking over real HTTP through
 * jsforce (the `jsforce` global) to the Salesforce sandbox: OAuth token endpoint, REST upsert by external id.
 */
const OAUTH = { clientId: 'rb-consumer-key', clientSecret: 'rb-consumer-secret', refreshTokens: ['rb-refresh-token'] }
let code: string
let sandbox: ReturnType<typeof createSalesforceSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
let dest: Destination

const refreshSettings = () => ({ loginUrl: served.url, clientId: OAUTH.clientId, clientSecret: OAUTH.clientSecret, refreshToken: 'rb-refresh-token' })
const make = (settings: Record<string, unknown> = refreshSettings(), timeoutMs?: number) =>
  functionDestination({ name: 'salesforce', code, settings, sandboxed: true, target: served.url, timeoutMs })

let seq = 0
const base = () => ({ messageId: `m${++seq}`, timestamp: '2024-05-01T10:00:00.000Z', context: {} })
const friendIdentify = (email: string, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'identify',
  userId: email,
  traits: { email, referral_role: 'friend', referred_by: 'adv@example.com', referral_id: `ref_${email}`, source_platform: 'referralcandy', ...extra }
})
const referralCreated = (friend: string, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'track',
  event: 'Referral Created',
  userId: friend,
  properties: { referral_id: `ref_${friend}`, referral_code: 'CODE1', advocate_id: 'adv-1', advocate_email: 'adv@example.com', friend_email: friend, status: 'converted', source_platform: 'referralcandy', ...extra }
})
const leads = (): SfRecord[] => [...sandbox.state.records.Lead.values()]
const leadFor = (referralId: string) => leads().filter((l) => l.Referral_ID__c === referralId)
const sfError = (errorCode: string, message: string, fields?: string[]) => [{ message, errorCode, ...(fields ? { fields } : {}) }]

beforeAll(async () => {
  code = (await buildFunction('salesforce')).code
})
beforeEach(async () => {
  sandbox = createSalesforceSandbox({ oauth: OAUTH })
  served = await serveSandbox(sandbox.router)
  dest = make()
})
afterEach(() => served.close())

describe('salesforce function: happy paths', () => {
  it('upserts a Lead on Referral_ID__c with the advocate fields, LeadSource Referral and the required defaults', async () => {
    expect(await dest.deliver([referralCreated('Friend@Example.com')])).toEqual([{ status: 'delivered' }])
    const [lead, ...rest] = leadFor('ref_Friend@Example.com')
    expect(rest).toHaveLength(0)
    expect(lead).toMatchObject({
      Email: 'friend@example.com',
      Referral_Advocate_ID__c: 'adv-1',
      Referral_Advocate_Email__c: 'adv@example.com',
      Referral_Code__c: 'CODE1',
      LeadSource: 'Referral',
      LastName: '[not provided]',
      Company: '[not provided]',
      Status: 'Open - Not Contacted'
    })
  })

  it('friend identify: advocate id/email from referred_by, names kept; later events do not overwrite them with defaults', async () => {
    expect(await dest.deliver([friendIdentify('ann@example.com', { first_name: 'Ann', last_name: 'Lee' })])).toEqual([{ status: 'delivered' }])
    expect(await dest.deliver([referralCreated('ann@example.com')])).toEqual([{ status: 'delivered' }])
    const [lead] = leadFor('ref_ann@example.com')
    expect(lead).toMatchObject({ FirstName: 'Ann', LastName: 'Lee', Referral_Advocate_ID__c: 'adv-1', Referral_Code__c: 'CODE1' })
    expect(leads()).toHaveLength(1)
  })

  it('redelivery (5x) updates the same Lead: exactly one; an update costs one call (no default-field retry)', async () => {
    const m = referralCreated('again@example.com')
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    const before = sandbox.state.apiRequests
    for (let i = 0; i < 4; i++) expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(leadFor('ref_again@example.com')).toHaveLength(1)
    expect(sandbox.state.apiRequests - before).toBe(4)
  })

  it('referral ids with URL-special characters are encoded into the upsert path', async () => {
    expect(await dest.deliver([referralCreated('x@example.com', { referral_id: 'a/b?c d' })])).toEqual([{ status: 'delivered' }])
    expect(leadFor('a/b?c d')).toHaveLength(1)
  })

  it('instanceUrl + accessToken settings work without OAuth', async () => {
    const token = sandbox.state.issueToken()
    const d = make({ instanceUrl: served.url, accessToken: token })
    expect(await d.deliver([referralCreated('direct@example.com')])).toEqual([{ status: 'delivered' }])
    expect(leadFor('ref_direct@example.com')).toHaveLength(1)
  })
})

describe('salesforce function: every mapped error', () => {
  it('INVALID_SESSION_ID → jsforce refreshes the session (refresh-token flow) and repeats the upsert', async () => {
    expect(await dest.deliver([referralCreated('s1@example.com')])).toEqual([{ status: 'delivered' }])
    const sessionsBefore = sandbox.state.sessions.size
    sandbox.state.expireAllSessions()
    expect(await dest.deliver([referralCreated('s2@example.com')])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.sessions.size).toBe(sessionsBefore + 1)
    expect(leadFor('ref_s2@example.com')).toHaveLength(1)
    // The refreshed session is cached: the next call does not refresh again.
    expect(await dest.deliver([referralCreated('s3@example.com')])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.sessions.size).toBe(sessionsBefore + 1)
  })

  it('INVALID_SESSION_ID without refresh settings (access token only) → ValidationError (permanent)', async () => {
    const d = make({ instanceUrl: served.url, accessToken: 'expired-or-wrong' })
    const [r] = await d.deliver([referralCreated('nosession@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^ValidationError: Salesforce INVALID_SESSION_ID/) })
  })

  it('revoked refresh token (invalid_grant) → ValidationError naming the settings', async () => {
    sandbox.state.revokedRefreshTokens.add('rb-refresh-token')
    const [r] = await dest.deliver([referralCreated('revoked@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/ValidationError: Salesforce OAuth invalid_grant.*refreshToken/) })
  })

  it('wrong client id (invalid_client_id) → ValidationError', async () => {
    const [r] = await make({ ...refreshSettings(), clientId: 'other' }).deliver([referralCreated('client@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/invalid_client_id/) })
  })

  it('missing settings → ValidationError', async () => {
    const [r] = await make({}).deliver([referralCreated('cfg@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^ValidationError: settings need/) })
  })

  it('REQUEST_LIMIT_EXCEEDED (403, daily API limit) → RetryError', async () => {
    sandbox = createSalesforceSandbox({ oauth: OAUTH, dailyRequestLimit: 2 }) // the first create takes 2 calls
    await served.close()
    served = await serveSandbox(sandbox.router)
    const d = make()
    expect(await d.deliver([referralCreated('first@example.com')])).toEqual([{ status: 'delivered' }])
    const [r] = await d.deliver([referralCreated('limited@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, error: expect.stringMatching(/^RetryError: Salesforce REQUEST_LIMIT_EXCEEDED/) })
  })

  it('REQUEST_LIMIT_EXCEEDED from the rate limit (429) → RetryError', async () => {
    await dest.deliver([referralCreated('warm@example.com')])
    sandbox.faults.setRateLimit({ limit: 0, windowMs: 60_000 })
    expect((await dest.deliver([referralCreated('rl@example.com')]))[0]).toMatchObject({ status: 'retry' })
  })

  it.each([
    [500, sfError('UNKNOWN_EXCEPTION', 'An unexpected error occurred.')],
    [503, sfError('SERVER_UNAVAILABLE', 'Server temporarily unavailable')],
    [502, 'Bad Gateway'],
    [504, undefined]
  ])('%i → RetryError, then success', async (status, body) => {
    await dest.deliver([referralCreated('warm@example.com')]) // session cached
    sandbox.faults.add({ kind: 'status', status, count: 1, pathContains: '/sobjects/Lead', ...(body !== undefined ? { body } : {}) })
    const [r] = await dest.deliver([referralCreated('five@example.com')])
    expect(r).toMatchObject({ status: 'retry', error: expect.stringMatching(/^RetryError: /) })
    expect(leadFor('ref_five@example.com')).toHaveLength(0)
    expect(await dest.deliver([referralCreated('five@example.com')])).toEqual([{ status: 'delivered' }])
  })

  it('network failure (connection refused, reset) → RetryError', async () => {
    const closed = await serveSandbox(createSalesforceSandbox().router)
    const url = closed.url
    await closed.close()
    const d = make({ ...refreshSettings(), loginUrl: url })
    expect((await d.deliver([referralCreated('net@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/network error/) })
    await dest.deliver([referralCreated('warm@example.com')])
    sandbox.faults.add({ kind: 'reset', count: 1, pathContains: '/sobjects/Lead' })
    expect((await dest.deliver([referralCreated('reset@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/network error/) })
  })

  it('timeout (5 s in Segment; 150 ms here) → retry', async () => {
    const d = make(refreshSettings(), 150)
    sandbox.faults.add({ kind: 'timeout', count: 1, pathContains: '/sobjects/Lead' })
    expect((await d.deliver([referralCreated('slow@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/timeout/) })
  })

  it('REQUIRED_FIELD_MISSING for a field we cannot default (org-specific required field) → ValidationError', async () => {
    sandbox.faults.add({ kind: 'status', status: 400, count: 1, pathContains: '/sobjects/Lead', body: sfError('REQUIRED_FIELD_MISSING', 'Required fields are missing: [Region__c]', ['Region__c']) })
    const [r] = await dest.deliver([referralCreated('req@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^ValidationError: Salesforce REQUIRED_FIELD_MISSING.*Region__c/) })
  })

  it('REQUIRED_FIELD_MISSING for LastName/Company (a create) is answered with the defaults, not an error', async () => {
    const before = sandbox.state.apiRequests
    expect(await dest.deliver([referralCreated('new@example.com')])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.apiRequests - before).toBe(2) // first try without defaults, then with them
  })

  it.each([
    ['INVALID_FIELD', "No such column 'Referral_Code__c' on sobject of type Lead"],
    ['MALFORMED_ID', 'Lead ID: id value of incorrect type: 00Qxyz'],
    ['DUPLICATE_VALUE', 'duplicate value found: Referral_ID__c duplicates value on record with id: 00Q000000000001AAA']
  ])('%s → ValidationError (permanent)', async (errorCode, message) => {
    sandbox.faults.add({ kind: 'status', status: 400, count: 1, pathContains: '/sobjects/Lead', body: sfError(errorCode, message) })
    const [r] = await dest.deliver([referralCreated(`${errorCode.toLowerCase()}@example.com`)])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(new RegExp(`^ValidationError: Salesforce ${errorCode}`)) })
  })

  it('INVALID_EMAIL_ADDRESS from the org (real sandbox validation) → ValidationError', async () => {
    const [r] = await dest.deliver([referralCreated('broken@email')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/INVALID_EMAIL_ADDRESS/) })
  })

  it('missing referral_id → InvalidEventPayload (no Salesforce call)', async () => {
    const before = sandbox.state.apiRequests
    const [a] = await dest.deliver([referralCreated('noid@example.com', { referral_id: undefined })])
    const [b] = await dest.deliver([friendIdentify('noid@example.com', { referral_id: '' })])
    expect(a).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload: Referral Created has no referral_id/) })
    expect(b).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload/) })
    expect(sandbox.state.apiRequests).toBe(before)
  })

  it('other events and advocate identifies → EventNotSupported (ignored)', async () => {
    const other: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'u', properties: { referral_id: 'r' } }
    const advocate: Message = { ...base(), type: 'identify', userId: 'a@example.com', traits: { email: 'a@example.com', referral_role: 'advocate' } }
    expect((await dest.deliver([other]))[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^EventNotSupported/) })
    expect((await dest.deliver([advocate]))[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^EventNotSupported/) })
  })
})

describe('salesforce function: onBatch', () => {
  it('merges identify + track of one referral into one upsert, per-item results for the rest', async () => {
    const other: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'u', properties: {} }
    const msgs = [
      friendIdentify('ok1@example.com', { last_name: 'One' }),
      referralCreated('ok1@example.com'),
      referralCreated('bad@email'),
      referralCreated('noid@example.com', { referral_id: undefined }),
      other,
      referralCreated('ok2@example.com')
    ]
    const r = await dest.deliver(msgs)
    expect(r.map((x) => x.status)).toEqual(['delivered', 'delivered', 'permanent', 'permanent', 'ignored', 'delivered'])
    expect(r[2]).toMatchObject({ statusCode: 400, error: expect.stringMatching(/INVALID_EMAIL_ADDRESS/) })
    expect(r[3]).toMatchObject({ error: expect.stringMatching(/InvalidEventPayload/) })
    expect(leadFor('ref_ok1@example.com')).toHaveLength(1)
    expect(leadFor('ref_ok1@example.com')[0]).toMatchObject({ LastName: 'One', Referral_Code__c: 'CODE1' })
    expect(leadFor('ref_ok2@example.com')).toHaveLength(1)
  })

  it('100 referrals in one batch: all delivered, 100 Leads', async () => {
    const r = await dest.deliver(Array.from({ length: 100 }, (_, i) => referralCreated(`b${i}@example.com`)))
    expect(r.every((x) => x.status === 'delivered')).toBe(true)
    expect(leads()).toHaveLength(100)
  })

  it('REQUEST_LIMIT_EXCEEDED for some items → those items retry (429), the others are delivered', async () => {
    await dest.deliver([referralCreated('warm@example.com')])
    sandbox.faults.add({ kind: 'status', status: 403, count: 2, pathContains: '/sobjects/Lead', body: sfError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.') })
    const r = await dest.deliver(Array.from({ length: 6 }, (_, i) => friendIdentify(`q${i}@example.com`, { last_name: 'Q' })))
    expect(r.filter((x) => x.status === 'retry')).toHaveLength(2)
    expect(r.filter((x) => x.status === 'retry').every((x) => (x as { statusCode?: number }).statusCode === 429)).toBe(true)
    expect(r.filter((x) => x.status === 'delivered')).toHaveLength(4)
  })

  it('a settings failure applies to every item of the batch (permanent)', async () => {
    const r = await make({ ...refreshSettings(), clientId: 'other' }).deliver([referralCreated('a1@example.com'), referralCreated('a2@example.com')])
    expect(r.map((x) => x.status)).toEqual(['permanent', 'permanent'])
  })
})
