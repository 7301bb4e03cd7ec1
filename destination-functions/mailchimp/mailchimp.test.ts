import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest'
import { buildFunction } from '../../src/functions/build.ts'
import { functionDestination } from '../../src/runtime/function-destination.ts'
import { createMailchimpSandbox, subscriberHash, type MailchimpSandboxOptions } from '../../src/sandboxes/mailchimp.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import type { Message } from '../../src/messages.ts'
import type { Destination } from '../../src/destinations/types.ts'

/** The BUILT artifact (dist/functions/mailchimp.js) in the Segment-like runtime against the Mailchimp sandbox over HTTP. */
const KEY = '0123456789abcdef0123456789abcdef-us21'
const LIST = 'sandbox-list'
let code: string
let sandbox: ReturnType<typeof createMailchimpSandbox>
let served: Awaited<ReturnType<typeof serveSandbox>>
let dest: Destination

async function serve(options: MailchimpSandboxOptions = {}) {
  sandbox = createMailchimpSandbox({ apiKey: KEY, ...options })
  served = await serveSandbox(sandbox.router)
}
const make = (settings: Record<string, unknown> = {}, timeoutMs?: number) =>
  functionDestination({ name: 'mailchimp', code, settings: { apiKey: KEY, listId: LIST, baseUrl: served.url, ...settings }, sandboxed: true, target: served.url, timeoutMs })

let seq = 0
const base = () => ({ messageId: `m${++seq}`, timestamp: '2026-05-01T10:00:00.000Z', context: {} })
const identify = (email: string | undefined, traits: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'identify',
  userId: email ?? 'u',
  traits: { ...(email ? { email } : {}), referral_role: 'friend', referred_by: 'sarah@example.com', first_name: 'John', last_name: 'Friend', source_platform: 'friendbuy', ...traits }
})
const signUp = (friend: string | undefined, extra: Record<string, unknown> = {}): Message => ({
  ...base(),
  type: 'track',
  event: 'Referred Friend Signed Up',
  userId: friend ?? 'u',
  properties: { friend_id: friend ?? 'u', ...(friend ? { friend_email: friend } : {}), friend_first_name: 'John', referral_code: 'jb007', advocate_name: 'Sarah', source_platform: 'standard', ...extra }
})
const member = (email: string) => sandbox.state.lists.get(LIST)!.get(subscriberHash(email))

beforeAll(async () => {
  code = (await buildFunction('mailchimp')).code
})
beforeEach(async () => {
  await serve()
  dest = make()
})
afterEach(() => served.close())

describe('mailchimp function: happy paths', () => {
  it('friend identify → member by md5(lower-case email), status_if_new pending (double opt-in), FNAME/LNAME, tag Referral Lead', async () => {
    expect(await dest.deliver([identify('John.Friend@Example.com')])).toEqual([{ status: 'delivered' }])
    const m = member('john.friend@example.com')!
    expect(m).toMatchObject({ id: subscriberHash('john.friend@example.com'), email_address: 'john.friend@example.com', status: 'pending', merge_fields: { FNAME: 'John', LNAME: 'Friend' } })
    expect(m.tags.map((t) => t.name)).toEqual(['Referral Lead'])
  })

  it('advocate identify → tag Referral Advocate; statusIfNew subscribed / transactional settings', async () => {
    expect(await make({ statusIfNew: 'subscribed' }).deliver([identify('sarah@example.com', { referral_role: 'advocate', referred_by: undefined })])).toEqual([{ status: 'delivered' }])
    expect(member('sarah@example.com')).toMatchObject({ status: 'subscribed', tags: [{ name: 'Referral Advocate' }] })
    expect(await make({ statusIfNew: 'transactional' }).deliver([signUp('t@example.com')])).toEqual([{ status: 'delivered' }])
    expect(member('t@example.com')).toMatchObject({ status: 'transactional', merge_fields: { FNAME: 'John' }, tags: [{ name: 'Referral Lead' }] })
  })

  it('Referred Friend Signed Up → friend member tagged; 5 redeliveries leave one member with one tag, status untouched', async () => {
    const m = signUp('again@example.com')
    for (let i = 0; i < 5; i++) expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(sandbox.state.lists.get(LIST)!.size).toBe(1)
    expect(member('again@example.com')!.tags).toHaveLength(1)
    // An existing member who unsubscribed stays unsubscribed: only status_if_new is sent.
    member('again@example.com')!.status = 'unsubscribed'
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(member('again@example.com')!.status).toBe('unsubscribed')
  })

  it('mergeFields setting maps traits to the audience merge fields', async () => {
    await served.close()
    await serve({ mergeFields: ['REFCODE'] })
    const d = make({ mergeFields: { referral_code: 'REFCODE' } })
    expect(await d.deliver([signUp('code@example.com')])).toEqual([{ status: 'delivered' }])
    expect(member('code@example.com')!.merge_fields).toEqual({ FNAME: 'John', REFCODE: 'jb007' })
  })
})

describe('mailchimp function: every mapped error', () => {
  it('429 Too Many Requests (10 simultaneous connections) → retry; Retry-After kept when present', async () => {
    sandbox.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 3, count: 1, body: { type: 'x', title: 'Too Many Requests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.', instance: 'i' } })
    const [r] = await dest.deliver([identify('busy@example.com')])
    expect(r).toMatchObject({ status: 'retry', statusCode: 429, retryAfterMs: 3000, error: expect.stringMatching(/RetryError: Mailchimp 429 Too Many Requests You have exceeded the limit of 10 simultaneous connections/) })
  })

  it("the sandbox's real connection limit surfaces as a retry", async () => {
    await served.close()
    await serve({ maxConnections: 1, latencyMs: 100 })
    const d = make()
    const results = await Promise.all([d.deliver([identify('c1@example.com')]), d.deliver([identify('c2@example.com')])])
    expect(results.flat().map((r) => r.status).sort()).toEqual(['delivered', 'retry'])
  })

  it.each([500, 502, 503])('%i → retry, then delivered (the retry repeats both idempotent calls)', async (status) => {
    sandbox.faults.add({ kind: 'status', status, count: 1, pathContains: '/tags' })
    const m = identify('five@example.com')
    expect((await dest.deliver([m]))[0]).toMatchObject({ status: 'retry', statusCode: status })
    expect(member('five@example.com')!.tags).toHaveLength(0)
    expect(await dest.deliver([m])).toEqual([{ status: 'delivered' }])
    expect(member('five@example.com')!.tags.map((t) => t.name)).toEqual(['Referral Lead'])
  })

  it('network failure and timeout → retry', async () => {
    const closed = await serveSandbox(createMailchimpSandbox().router)
    await closed.close()
    expect((await make({ baseUrl: closed.url }).deliver([identify('net@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/network error talking to Mailchimp/) })
    sandbox.faults.add({ kind: 'timeout', count: 1 })
    expect((await make({}, 150).deliver([identify('slow@example.com')]))[0]).toMatchObject({ status: 'retry', error: expect.stringMatching(/^timeout/) })
  })

  it('401 API Key Invalid → permanent with a settings hint', async () => {
    const [r] = await make({ apiKey: 'wrong-us21' }).deliver([identify('auth@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/ValidationError: Mailchimp 401 API Key Invalid.*check the apiKey setting/) })
  })

  it('403 Forbidden / Wrong Datacenter → permanent', async () => {
    sandbox.faults.add({ kind: 'status', status: 403, count: 1, body: { title: 'Wrong Datacenter', status: 403, detail: "The API key provided is linked to a different datacenter", instance: 'i' } })
    expect((await dest.deliver([identify('dc@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/403 Wrong Datacenter/) })
  })

  it('404 unknown audience → permanent with a listId hint', async () => {
    const [r] = await make({ listId: 'nope' }).deliver([identify('list@example.com')])
    expect(r).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Mailchimp 404 Resource Not Found.*check the listId setting: audience "nope"/) })
  })

  it('400 Invalid Resource (unknown merge field, bad email) → permanent with the field errors', async () => {
    const [a] = await make({ mergeFields: { referral_code: 'NOPE' } }).deliver([signUp('mf@example.com')])
    expect(a).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Mailchimp 400 Invalid Resource .*\(merge_fields.NOPE: Merge field "NOPE" does not exist/) })
    const [b] = await dest.deliver([identify('bad@email')])
    expect(b).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Mailchimp 400 Invalid Resource Please provide a valid email address/) })
  })

  it('400 Forgotten Email Not Subscribed (permanently deleted member) → permanent', async () => {
    sandbox.faults.add({ kind: 'status', status: 400, count: 1, body: { title: 'Forgotten Email Not Subscribed', status: 400, detail: 'gone@example.com was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list.', instance: 'i' } })
    expect((await dest.deliver([identify('gone@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/Forgotten Email Not Subscribed/) })
  })

  it('settings problems → ValidationError before any call', async () => {
    expect((await make({ apiKey: '' }).deliver([identify('x@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/apiKey setting is required/) })
    expect((await make({ listId: '' }).deliver([identify('x@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/listId setting is required/) })
    expect((await make({ statusIfNew: 'unsubscribed' }).deliver([identify('x@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/statusIfNew must be one of/) })
    expect((await make({ apiKey: 'nodc', baseUrl: '' }).deliver([identify('x@example.com')]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/-<datacenter>/) })
    expect(sandbox.state.requests).toBe(0)
  })

  it('missing email → InvalidEventPayload; other track events → EventNotSupported (ignored)', async () => {
    expect((await dest.deliver([identify(undefined)]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload/) })
    expect((await dest.deliver([signUp(undefined)]))[0]).toMatchObject({ status: 'permanent', error: expect.stringMatching(/^InvalidEventPayload/) })
    const order: Message = { ...base(), type: 'track', event: 'Order Completed', userId: 'u', properties: {} }
    expect((await dest.deliver([order]))[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^EventNotSupported/) })
    expect(sandbox.state.requests).toBe(0)
  })
})
