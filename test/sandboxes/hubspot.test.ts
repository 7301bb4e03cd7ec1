import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import express from 'express'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Client } from '@hubspot/api-client'
import { createHubspotSandbox, contactsWithEmail } from '../../src/sandboxes/hubspot.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

type Served = Awaited<ReturnType<typeof serveSandbox>>

describe('HubSpot sandbox (standalone, raw HTTP)', () => {
  let sb: ReturnType<typeof createHubspotSandbox>
  let srv: Served
  const TOKEN = 'pat-na1-test'
  const req = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(`${srv.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })

  beforeEach(async () => {
    sb = createHubspotSandbox({ accessToken: TOKEN })
    srv = await serveSandbox(sb.router)
  })
  afterEach(() => srv.close())

  it('requires a bearer token (401 INVALID_AUTHENTICATION body)', async () => {
    const none = await req('GET', '/crm/v3/objects/contacts', undefined, null)
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION', correlationId: expect.any(String), message: expect.any(String) })
    expect((await req('GET', '/crm/v3/objects/contacts', undefined, 'wrong')).status).toBe(401)
  })

  it('creates, reads by id and by email, updates, lists with paging, deletes', async () => {
    const created = await req('POST', '/crm/v3/objects/contacts', { properties: { email: 'Ann@Example.com', firstname: 'Ann' } })
    expect(created.status).toBe(201)
    const c = (await created.json()) as { id: string; properties: Record<string, string> }
    expect(c.properties.email).toBe('Ann@Example.com')
    expect((await req('GET', `/crm/v3/objects/contacts/${c.id}`)).status).toBe(200)
    const byEmail = await req('GET', `/crm/v3/objects/contacts/ann@example.com?idProperty=email&properties=firstname`)
    expect(((await byEmail.json()) as { properties: Record<string, string> }).properties.firstname).toBe('Ann')
    const patched = await req('PATCH', `/crm/v3/objects/contacts/${c.id}`, { properties: { lastname: 'Lee' } })
    expect(patched.status).toBe(200)
    for (let i = 0; i < 3; i++) await req('POST', '/crm/v3/objects/contacts', { properties: { email: `p${i}@example.com` } })
    const page1 = (await (await req('GET', '/crm/v3/objects/contacts?limit=2')).json()) as { results: unknown[]; paging?: { next: { after: string } } }
    expect(page1.results).toHaveLength(2)
    const page2 = (await (await req('GET', `/crm/v3/objects/contacts?limit=2&after=${page1.paging!.next.after}`)).json()) as { results: unknown[]; paging?: unknown }
    expect(page2.results).toHaveLength(2)
    expect(page2.paging).toBeUndefined()
    expect((await req('DELETE', `/crm/v3/objects/contacts/${c.id}`)).status).toBe(204)
    const gone = await req('GET', `/crm/v3/objects/contacts/${c.id}`)
    expect(gone.status).toBe(404)
    expect(await gone.json()).toMatchObject({ category: 'OBJECT_NOT_FOUND' })
  })

  it('enforces email uniqueness: 409 CONFLICT "Contact already exists. Existing ID: N"', async () => {
    const a = (await (await req('POST', '/crm/v3/objects/contacts', { properties: { email: 'dup@example.com' } })).json()) as { id: string }
    const again = await req('POST', '/crm/v3/objects/contacts', { properties: { email: 'DUP@example.com' } })
    expect(again.status).toBe(409)
    expect(await again.json()).toMatchObject({ status: 'error', category: 'CONFLICT', message: `Contact already exists. Existing ID: ${a.id}` })
    expect(contactsWithEmail(sb.state, 'dup@example.com')).toHaveLength(1)
  })

  it('400 VALIDATION_ERROR for invalid email, unknown property, invalid enum options', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ email: 'not-an-email' }, 'INVALID_EMAIL'],
      [{ email: 'ok@example.com', favourite_colour: 'red' }, 'PROPERTY_DOESNT_EXIST'],
      [{ email: 'ok@example.com', lifecyclestage: 'friend' }, 'INVALID_OPTION'],
      [{ email: 'ok@example.com', hs_lead_status: 'HOT' }, 'INVALID_OPTION']
    ]
    for (const [properties, code] of cases) {
      const r = await req('POST', '/crm/v3/objects/contacts', { properties })
      expect(r.status).toBe(400)
      const body = (await r.json()) as { category: string; message: string }
      expect(body.category).toBe('VALIDATION_ERROR')
      expect(body.message).toContain(code)
    }
    const ok = await req('POST', '/crm/v3/objects/contacts', { properties: { email: 'ok@example.com', lifecyclestage: 'lead', hs_lead_status: 'NEW' } })
    expect(ok.status).toBe(201)
  })

  it('batch upsert by email creates then updates the same contact; > 100 inputs is 400', async () => {
    const input = (props: Record<string, string>) => ({ inputs: [{ id: 'b@example.com', idProperty: 'email', properties: props }] })
    const first = (await (await req('POST', '/crm/v3/objects/contacts/batch/upsert', input({ firstname: 'B' }))).json()) as { results: Array<{ id: string; new: boolean }> }
    const second = (await (await req('POST', '/crm/v3/objects/contacts/batch/upsert', input({ lastname: 'C' }))).json()) as { results: Array<{ id: string; new: boolean }> }
    expect(first.results[0]!.new).toBe(true)
    expect(second.results[0]).toMatchObject({ id: first.results[0]!.id, new: false })
    expect(contactsWithEmail(sb.state, 'b@example.com')).toHaveLength(1)
    expect(sb.state.contacts.get(first.results[0]!.id)!.properties).toMatchObject({ firstname: 'B', lastname: 'C' })

    const many = { inputs: Array.from({ length: 101 }, (_, i) => ({ id: `m${i}@example.com`, idProperty: 'email', properties: {} })) }
    const tooMany = await req('POST', '/crm/v3/objects/contacts/batch/upsert', many)
    expect(tooMany.status).toBe(400)
    expect(await tooMany.json()).toMatchObject({ category: 'VALIDATION_ERROR' })
    // Whole batch rejected when one input is invalid.
    const mixed = await req('POST', '/crm/v3/objects/contacts/batch/upsert', {
      inputs: [
        { id: 'good@example.com', idProperty: 'email', properties: {} },
        { id: 'bad', idProperty: 'email', properties: {} }
      ]
    })
    expect(mixed.status).toBe(400)
    expect(contactsWithEmail(sb.state, 'good@example.com')).toHaveLength(0)
  })

  it('upsert idProperty must be unique-valued; custom unique properties work and are enforced', async () => {
    const nonUnique = await req('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs: [{ id: 'x', idProperty: 'firstname', properties: {} }] })
    expect(nonUnique.status).toBe(400)
    const prop = { name: 'referral_id', label: 'Referral ID', type: 'string', fieldType: 'text', groupName: 'contactinformation', hasUniqueValue: true }
    expect((await req('POST', '/crm/v3/properties/contacts', prop)).status).toBe(201)
    const dup = await req('POST', '/crm/v3/properties/contacts', prop)
    expect(dup.status).toBe(409)
    const listed = (await (await req('GET', '/crm/v3/properties/contacts')).json()) as { results: Array<{ name: string; hasUniqueValue: boolean }> }
    expect(listed.results.find((p) => p.name === 'referral_id')?.hasUniqueValue).toBe(true)
    const up = await req('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs: [{ id: 'r1', idProperty: 'referral_id', properties: { email: 'r@example.com' } }] })
    expect(up.status).toBe(200)
    const clash = await req('POST', '/crm/v3/objects/contacts', { properties: { email: 'other@example.com', referral_id: 'r1' } })
    expect(clash.status).toBe(409)
  })

  it('batch read/create/update and search EQ', async () => {
    const created = (await (
      await req('POST', '/crm/v3/objects/contacts/batch/create', { inputs: [{ properties: { email: 's1@example.com' } }, { properties: { email: 's2@example.com', firstname: 'Sam' } }] })
    ).json()) as { results: Array<{ id: string }> }
    expect(created.results).toHaveLength(2)
    const upd = await req('POST', '/crm/v3/objects/contacts/batch/update', { inputs: [{ id: created.results[0]!.id, properties: { firstname: 'Sue' } }] })
    expect(upd.status).toBe(200)
    const read = await req('POST', '/crm/v3/objects/contacts/batch/read', { inputs: [{ id: created.results[0]!.id }, { id: '999999' }], properties: ['firstname'] })
    expect(read.status).toBe(207)
    const search = (await (
      await req('POST', '/crm/v3/objects/contacts/search', { filterGroups: [{ filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'Sam' }] }], properties: ['email'] })
    ).json()) as { total: number; results: Array<{ properties: { email: string } }> }
    expect(search.total).toBe(1)
    expect(search.results[0]!.properties.email).toBe('s2@example.com')
  })

  it('rate limit: 429 with policyName TEN_SECONDLY_ROLLING and Retry-After', async () => {
    sb.faults.setRateLimit({ limit: 2, windowMs: 10_000 })
    await req('GET', '/crm/v3/objects/contacts')
    await req('GET', '/crm/v3/objects/contacts')
    const r = await req('GET', '/crm/v3/objects/contacts')
    expect(r.status).toBe(429)
    expect(r.headers.get('retry-after')).toBeTruthy()
    expect(await r.json()).toMatchObject({ status: 'error', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' })
  })

  it('OAuth refresh_token grant issues a token the API accepts', async () => {
    const r = await fetch(`${srv.url}/oauth/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'c', client_secret: 's', refresh_token: 'rt' })
    })
    expect(r.status).toBe(200)
    const t = (await r.json()) as { access_token: string; expires_in: number }
    expect(t.expires_in).toBe(1800)
    expect((await req('GET', '/crm/v3/objects/contacts', undefined, t.access_token)).status).toBe(200)
    const bad = await fetch(`${srv.url}/oauth/v1/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token' })
    expect(bad.status).toBe(400)
  })
})

describe('HubSpot sandbox mounted under a prefix, driven by the official SDK', () => {
  let server: Server
  let base: string
  const sb = createHubspotSandbox()
  beforeEach(async () => {
    const app = express()
    app.use('/sandbox/hubspot', sb.router)
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s))
    })
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/hubspot`
  })
  afterEach(() => new Promise<void>((r) => server.close(() => r())))

  it('@hubspot/api-client works against it with basePath (properties, upsert, get, 409 as ApiException)', async () => {
    const client = new Client({ accessToken: 'any-token', basePath: base })
    const props = await client.crm.properties.coreApi.getAll('contacts')
    expect(props.results.some((p) => p.name === 'lifecyclestage')).toBe(true)
    const up = await client.crm.contacts.batchApi.upsert({ inputs: [{ id: 'sdk@example.com', idProperty: 'email', properties: { lifecyclestage: 'lead' } }] })
    expect(up.results[0]!.id).toBeTruthy()
    const got = await client.crm.contacts.basicApi.getById('sdk@example.com', ['lifecyclestage'], undefined, undefined, false, 'email')
    expect(got.properties.lifecyclestage).toBe('lead')
    const err = await client.crm.contacts.basicApi.create({ properties: { email: 'sdk@example.com' }, associations: [] }).catch((e) => e)
    expect(err.code).toBe(409)
    expect(err.body.message).toMatch(/Contact already exists\. Existing ID: \d+/)
  })
})
