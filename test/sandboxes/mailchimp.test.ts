import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createMailchimpSandbox, subscriberHash } from '../../src/sandboxes/mailchimp.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

const KEY = 'abc123-us21'
const LIST = 'sandbox-list'
let sb: ReturnType<typeof createMailchimpSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>

const auth = (key = KEY) => 'Basic ' + Buffer.from(`anystring:${key}`).toString('base64')
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: auth() }, base = server.url) {
  const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers }
}
const memberPath = (email: string, list = LIST) => `/3.0/lists/${list}/members/${subscriberHash(email)}`

beforeAll(async () => {
  sb = createMailchimpSandbox({ apiKey: KEY, mergeFields: ['REFCODE'] })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  for (const l of sb.state.lists.values()) l.clear()
  sb.faults.clear()
})

describe('mailchimp sandbox: members', () => {
  it('subscriber hash is the md5 of the lower-cased email', () => {
    expect(subscriberHash('Urist.McVankab@freddiesjokes.com')).toBe('62eeb292278cc15f5817cb78f7790b08')
  })

  it('PUT creates then updates; status_if_new applies only on create', async () => {
    const created = await call('PUT', memberPath('Friend@Example.com'), { email_address: 'Friend@Example.com', status_if_new: 'subscribed', merge_fields: { FNAME: 'John', REFCODE: 'jb007' } })
    expect(created.status).toBe(200)
    expect(created.json).toMatchObject({ id: subscriberHash('friend@example.com'), email_address: 'Friend@Example.com', status: 'subscribed', merge_fields: { FNAME: 'John', REFCODE: 'jb007' }, list_id: LIST })
    await call('PUT', memberPath('friend@example.com'), { email_address: 'friend@example.com', status: 'unsubscribed' })
    const again = await call('PUT', memberPath('friend@example.com'), { email_address: 'friend@example.com', status_if_new: 'subscribed', merge_fields: { LNAME: 'Doe' } })
    expect(again.json).toMatchObject({ status: 'unsubscribed', merge_fields: { FNAME: 'John', LNAME: 'Doe' } })
    expect(sb.state.lists.get(LIST)!.size).toBe(1)
    const got = await call('GET', memberPath('friend@example.com'))
    expect(got.json.full_name).toBe('John Doe')
  })

  it('400 problem+json on hash mismatch, missing status, unknown merge field; compliance state', async () => {
    const mismatch = await call('PUT', memberPath('a@example.com'), { email_address: 'b@example.com', status_if_new: 'subscribed' })
    expect(mismatch.status).toBe(400)
    expect(mismatch.headers.get('content-type')).toContain('application/problem+json')
    expect(mismatch.json).toMatchObject({ type: expect.stringContaining('mailchimp.com'), title: 'Invalid Resource', status: 400, detail: expect.any(String), instance: expect.any(String) })
    const noStatus = await call('PUT', memberPath('a@example.com'), { email_address: 'a@example.com' })
    expect(noStatus.json.errors).toEqual([{ field: 'status_if_new', message: expect.any(String) }])
    const badMerge = await call('PUT', memberPath('a@example.com'), { email_address: 'a@example.com', status_if_new: 'subscribed', merge_fields: { NOPE: 1 } })
    expect(badMerge.json.errors[0].field).toBe('merge_fields.NOPE')
    await call('PUT', memberPath('c@example.com'), { email_address: 'c@example.com', status_if_new: 'cleaned' })
    const compliance = await call('PUT', memberPath('c@example.com'), { email_address: 'c@example.com', status: 'subscribed' })
    expect(compliance.json.title).toBe('Member In Compliance State')
  })

  it('404 for an unknown list or member', async () => {
    expect((await call('GET', memberPath('x@example.com'))).json).toMatchObject({ status: 404, title: 'Resource Not Found' })
    expect((await call('PUT', memberPath('x@example.com', 'nope'), { email_address: 'x@example.com', status_if_new: 'subscribed' })).status).toBe(404)
  })
})

describe('mailchimp sandbox: tags', () => {
  it('POST tags → 204, idempotent, inactive removes', async () => {
    await call('PUT', memberPath('adv@example.com'), { email_address: 'adv@example.com', status_if_new: 'subscribed' })
    const tag = (tags: unknown) => call('POST', `${memberPath('adv@example.com')}/tags`, { tags })
    expect((await tag([{ name: 'referral-advocate', status: 'active' }])).status).toBe(204)
    await tag([{ name: 'referral-advocate', status: 'active' }, { name: 'vip', status: 'active' }])
    expect((await call('GET', memberPath('adv@example.com'))).json.tags.map((t: { name: string }) => t.name)).toEqual(['referral-advocate', 'vip'])
    await tag([{ name: 'vip', status: 'inactive' }])
    expect((await call('GET', memberPath('adv@example.com'))).json.tags_count).toBe(1)
    expect((await tag([{ name: 'x', status: 'weird' }])).status).toBe(400)
    expect((await call('POST', `${memberPath('ghost@example.com')}/tags`, { tags: [] })).status).toBe(404)
  })
})

describe('mailchimp sandbox: auth, connections, faults', () => {
  it('401 API Key Missing / Invalid', async () => {
    expect((await call('GET', memberPath('a@example.com'), undefined, {})).json).toMatchObject({ status: 401, title: 'API Key Missing' })
    expect((await call('GET', memberPath('a@example.com'), undefined, { authorization: auth('wrong-us1') })).json).toMatchObject({ status: 401, title: 'API Key Invalid' })
  })

  it('429 past the simultaneous connection limit', async () => {
    const slow = createMailchimpSandbox({ apiKey: KEY, maxConnections: 2, latencyMs: 150 })
    const s = await serveSandbox(slow.router)
    try {
      const results = await Promise.all([0, 1, 2].map(() => call('GET', memberPath('a@example.com'), undefined, { authorization: auth() }, s.url)))
      const statuses = results.map((r) => r.status).sort()
      expect(statuses).toEqual([404, 404, 429])
      expect(results.find((r) => r.status === 429)!.json.title).toBe('Too Many Requests')
      expect((await call('GET', memberPath('a@example.com'), undefined, { authorization: auth() }, s.url)).status).toBe(404)
    } finally {
      await s.close()
    }
  })

  it('injected 429 with Retry-After', async () => {
    await fetch(`${server.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 429, retryAfterSeconds: 2, count: 1 }) })
    const res = await call('GET', memberPath('a@example.com'))
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('2')
  })
})
