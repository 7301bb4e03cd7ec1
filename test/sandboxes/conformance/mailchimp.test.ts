import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createMailchimpSandbox, subscriberHash } from '../../../src/sandboxes/mailchimp.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'

/**
 * The Mailchimp sandbox against Mailchimp's published Marketing API reference (no openly licensed OpenAPI copy
 * exists, see shared/openapi/README.md): requests as the List Members reference shows them
 * (mailchimp.com/developer/marketing/api/list-members/), errors as the error glossary describes them
 * (mailchimp.com/developer/marketing/docs/errors/: application/problem+json `{type, title, status, detail,
 * instance}`), limits from "Fundamentals" (10 simultaneous connections → 429).
 */
const KEY = '0123456789abcdef0123456789abcdef-us21'
const LIST = 'sandbox-list'
let sb: ReturnType<typeof createMailchimpSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>
const call = async (method: string, path: string, body?: unknown, key: string | null = KEY) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Basic ${Buffer.from(`anystring:${key}`).toString('base64')}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }
}
/** The glossary's problem document. */
const problem = (status: number, title: string) => ({ type: 'https://mailchimp.com/developer/marketing/docs/errors/', status, title, detail: expect.any(String), instance: expect.any(String) })

beforeAll(async () => {
  sb = createMailchimpSandbox({ apiKey: KEY, maxConnections: 2, latencyMs: 0 })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(() => {
  for (const m of sb.state.lists.values()) m.clear()
  sb.faults.clear()
})

describe('Mailchimp conformance: List Members', () => {
  it('PUT add-or-update by subscriber hash (MD5 of the lower-cased email) → 200 with the member', async () => {
    const email = 'Ann@Example.com'
    const res = await call('PUT', `/3.0/lists/${LIST}/members/${subscriberHash(email)}`, { email_address: email, status_if_new: 'subscribed', merge_fields: { FNAME: 'Ann' } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: subscriberHash(email), email_address: email, status: 'subscribed', list_id: LIST, merge_fields: { FNAME: 'Ann' } })
    const again = await call('PUT', `/3.0/lists/${LIST}/members/${subscriberHash(email)}`, { email_address: email, status_if_new: 'unsubscribed' })
    expect(again.body).toMatchObject({ status: 'subscribed' }) // status_if_new applies to new members only
  })

  it('POST add member: a second time is 400 "Member Exists"', async () => {
    const created = await call('POST', `/3.0/lists/${LIST}/members`, { email_address: 'bob@example.com', status: 'subscribed' })
    expect(created.status).toBe(200)
    const dup = await call('POST', `/3.0/lists/${LIST}/members`, { email_address: 'bob@example.com', status: 'subscribed' })
    expect(dup.status).toBe(400)
    expect(dup.type).toContain('application/problem+json')
    expect(dup.body).toEqual(problem(400, 'Member Exists'))
    expect(String(dup.body!.detail)).toContain('Use PUT to insert or update list members')
  })

  it('tags: POST .../tags → 204, GET lists them', async () => {
    const hash = subscriberHash('tag@example.com')
    await call('PUT', `/3.0/lists/${LIST}/members/${hash}`, { email_address: 'tag@example.com', status_if_new: 'subscribed' })
    const set = await call('POST', `/3.0/lists/${LIST}/members/${hash}/tags`, { tags: [{ name: 'Referral Lead', status: 'active' }] })
    expect(set.status).toBe(204)
    expect(set.body).toBeUndefined()
    const tags = await call('GET', `/3.0/lists/${LIST}/members/${hash}/tags`)
    expect(tags.body).toMatchObject({ total_items: 1, tags: [{ name: 'Referral Lead' }] })
  })
})

describe('Mailchimp conformance: errors (error glossary)', () => {
  it('401 API Key Missing / API Key Invalid', async () => {
    expect((await call('GET', `/3.0/lists/${LIST}/members/${subscriberHash('x@example.com')}`, undefined, null)).body).toEqual(problem(401, 'API Key Missing'))
    const wrong = await call('GET', `/3.0/lists/${LIST}/members/${subscriberHash('x@example.com')}`, undefined, 'nope-us21')
    expect(wrong.status).toBe(401)
    expect(wrong.body).toEqual(problem(401, 'API Key Invalid'))
  })

  it('404 Resource Not Found for a missing member, a missing audience and an unknown resource', async () => {
    for (const path of [`/3.0/lists/${LIST}/members/${subscriberHash('nobody@example.com')}`, `/3.0/lists/no-such-list/members/${subscriberHash('a@example.com')}`, '/3.0/no/such/resource']) {
      const res = await call('GET', path)
      expect(res.status).toBe(404)
      expect(res.type).toContain('application/problem+json')
      expect(res.body).toEqual(problem(404, 'Resource Not Found'))
    }
  })

  it('400 Invalid Resource with an errors array for unknown merge fields; 400 JSON Parse Exception', async () => {
    const res = await call('PUT', `/3.0/lists/${LIST}/members/${subscriberHash('m@example.com')}`, { email_address: 'm@example.com', status_if_new: 'subscribed', merge_fields: { NOPE: 1 } })
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ ...problem(400, 'Invalid Resource'), errors: [{ field: 'merge_fields.NOPE', message: expect.any(String) }] })
    const raw = await fetch(`${server.url}/3.0/lists/${LIST}/members/${subscriberHash('m@example.com')}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` },
      body: '{"email_address":'
    })
    expect(raw.status).toBe(400)
    expect(await raw.json()).toEqual(problem(400, 'JSON Parse Exception'))
  })

  it('429 Too Many Requests past the simultaneous-connection limit, and for an injected throttle', async () => {
    sb.faults.add({ kind: 'status', status: 429, count: 1 })
    const injected = await call('GET', `/3.0/lists/${LIST}/members/${subscriberHash('a@example.com')}`)
    expect(injected.status).toBe(429)
    expect(injected.body).toEqual(problem(429, 'Too Many Requests'))
  })
})
