import { Client } from '@hubspot/api-client'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createHubspotSandbox } from '../../../src/sandboxes/hubspot.ts'
import { serveSandbox } from '../../../src/sandboxes/serve.ts'

/**
 * The HubSpot sandbox driven only through @hubspot/api-client (HubSpot's specs are not licensed for reuse, so the
 * reference is developers.hubspot.com, cited per case). Faults are injected over HTTP at /_sandbox/faults, as the
 * chaos suite and the demo do.
 */
let sb: ReturnType<typeof createHubspotSandbox>
let server: Awaited<ReturnType<typeof serveSandbox>>
const client = (extra: Record<string, unknown> = {}) => new Client({ accessToken: 'pat-test', basePath: server.url, ...extra })
const control = (method: string, path: string, body?: unknown) =>
  fetch(`${server.url}/_sandbox/${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: { code: number; body: Record<string, unknown>; headers: Record<string, string> }) => e)
/** Lets the event loop run (I/O included) without timers, so fake timers cannot stall it. */
const tick = () => new Promise<void>((r) => setImmediate(r))

beforeAll(async () => {
  sb = createHubspotSandbox({ rateLimit: null })
  server = await serveSandbox(sb.router)
})
afterAll(() => server.close())
beforeEach(async () => {
  await control('DELETE', 'faults')
  await control('PUT', 'rate-limit', {})
})
afterEach(() => vi.useRealTimers())

describe('HubSpot conformance: rate limits', () => {
  // developers.hubspot.com "API usage guidelines and limits": a burst 429 names policyName TEN_SECONDLY_ROLLING;
  // @hubspot/api-client (lib/src/services/decorators/RetryDecorator.js) retries exactly that after 10 s × attempt.
  it('a 429 injected through /_sandbox/faults is retried by the SDK after exactly 10 s', async () => {
    await control('POST', 'faults', { kind: 'status', status: 429, count: 1 })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const silenced = vi.spyOn(console, 'error').mockImplementation(() => {})
    let settled = false
    const page = client({ numberOfApiCallRetries: 2 }).crm.contacts.basicApi.getPage(1)
    page.then(() => (settled = true), () => (settled = true))
    // Wait for the 429 and the SDK's retry timer; an SDK that does not retry settles instead (and fails below).
    while (!settled && (sb.faults.counters.faulted === 0 || vi.getTimerCount() === 0)) await tick()
    expect(settled).toBe(false)
    const before = sb.faults.counters.requests
    await vi.advanceTimersByTimeAsync(9_999)
    expect(sb.faults.counters.requests).toBe(before) // not yet
    await vi.advanceTimersByTimeAsync(1)
    const res = await page
    expect(res.results).toEqual([])
    expect(sb.faults.counters.requests).toBe(before + 1)
    expect(silenced).toHaveBeenCalledWith(expect.stringContaining('status code [429], will retry [1] time in [10000] ms'))
  })

  it('the injected 429 body is HubSpot\'s; a 429 of another policy is not retried', async () => {
    await control('POST', 'faults', { kind: 'status', status: 429, count: 1 })
    const err = await errorOf(client().crm.contacts.basicApi.getPage(1))
    expect(err!.code).toBe(429)
    expect(err!.body).toMatchObject({ status: 'error', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING', portalId: expect.any(Number), correlationId: expect.any(String) })
    await control('POST', 'faults', { kind: 'status', status: 429, count: 1, body: { status: 'error', errorType: 'RATE_LIMIT', policyName: 'DAILY', message: 'You have reached your daily limit.' } })
    const requests = sb.faults.counters.requests
    expect((await errorOf(client({ numberOfApiCallRetries: 3 }).crm.contacts.basicApi.getPage(1)))!.code).toBe(429)
    expect(sb.faults.counters.requests).toBe(requests + 1)
  })

  // Same guide, "Rate limit headers": X-HubSpot-RateLimit-Daily, -Daily-Remaining, -Interval-Milliseconds, -Max,
  // -Remaining, -Secondly, -Secondly-Remaining.
  it('every answer carries X-HubSpot-RateLimit-* headers, counting down; past the limit, 429', async () => {
    await control('PUT', 'rate-limit', { limit: 2, windowMs: 10_000 })
    const first = await client().crm.contacts.basicApi.getPageWithHttpInfo(1)
    expect(first.headers).toMatchObject({
      'x-hubspot-ratelimit-daily': '250000',
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-max': '2',
      'x-hubspot-ratelimit-remaining': '1'
    })
    expect(Number(first.headers['x-hubspot-ratelimit-daily-remaining'])).toBeLessThan(250000)
    expect((await client().crm.contacts.basicApi.getPageWithHttpInfo(1)).headers['x-hubspot-ratelimit-remaining']).toBe('0')
    const limited = await errorOf(client().crm.contacts.basicApi.getPage(1))
    expect(limited!.code).toBe(429)
    expect(limited!.body.policyName).toBe('TEN_SECONDLY_ROLLING')
    expect(limited!.headers['x-hubspot-ratelimit-remaining']).toBe('0')
  })
})

describe('HubSpot conformance: errors', () => {
  // developers.hubspot.com "Handling errors": `{status, message, correlationId, category, errors[{message, code,
  // context}]}`.
  it('VALIDATION_ERROR details are {message, code, context.propertyName} without `in`', async () => {
    const err = await errorOf(client().crm.contacts.basicApi.create({ properties: { email: 'not-an-email' }, associations: [] }))
    expect(err!.code).toBe(400)
    expect(err!.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', correlationId: expect.any(String) })
    const detail = (err!.body.errors as Array<Record<string, unknown>>)[0]
    expect(detail).toEqual({ message: 'Email address not-an-email is invalid', code: 'INVALID_EMAIL', context: { propertyName: ['email'] } })
  })

  it('a missing object and an unknown route are 404 in HubSpot\'s shape', async () => {
    const missing = await errorOf(client().crm.deals.basicApi.getById('999999'))
    expect(missing!.code).toBe(404)
    expect(missing!.body).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND', correlationId: expect.any(String) })
    const route = await client().apiRequest({ method: 'GET', path: '/crm/v3/no-such-thing' })
    expect(route.status).toBe(404)
    expect(await route.json()).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND', message: expect.any(String), correlationId: expect.any(String) })
  })
})

describe('HubSpot conformance: companies, deals, associations v4', () => {
  // developers.hubspot.com "CRM API | Deals" (dealname, amount, dealstage, pipeline, closedate, deal_currency_code),
  // "CRM API | Companies", "CRM API | Associations v4" (default type ids: deal→contact 3, deal→company 341).
  it('creates a company and a won deal, associates them with a contact, reads the associations both ways', async () => {
    const hs = client()
    const contact = await hs.crm.contacts.basicApi.create({ properties: { email: 'buyer@acme.com' }, associations: [] })
    const company = await hs.crm.companies.basicApi.create({ properties: { name: 'Acme', domain: 'acme.com' }, associations: [] })
    const deal = await hs.crm.deals.basicApi.create({
      properties: { dealname: 'Referral order 1001', amount: '129.90', dealstage: 'closedwon', closedate: '2026-11-30T12:00:00.000Z', deal_currency_code: 'EUR' },
      associations: []
    })
    expect(deal.properties).toMatchObject({ dealname: 'Referral order 1001', amount: '129.90', dealstage: 'closedwon', pipeline: 'default', deal_currency_code: 'EUR' })
    const toContact = await hs.crm.associations.v4.basicApi.createDefault('deals', deal.id, 'contacts', contact.id)
    expect(toContact.results[0]!.associationSpec).toMatchObject({ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 3 })
    await hs.crm.associations.v4.basicApi.create('deals', deal.id, 'companies', company.id, [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId: 5 }])
    const fromDeal = await hs.crm.associations.v4.basicApi.getPage('deals', deal.id, 'companies')
    expect(fromDeal.results.map((r) => [String(r.toObjectId), r.associationTypes.map((t) => t.typeId)])).toEqual([[company.id, [5, 341]]])
    const fromContact = await hs.crm.associations.v4.basicApi.getPage('contacts', contact.id, 'deals')
    expect(fromContact.results[0]).toMatchObject({ toObjectId: Number(deal.id), associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 4 }] })
    const batch = await hs.crm.associations.v4.batchApi.getPage('companies', 'deals', { inputs: [{ id: company.id }] })
    expect(batch.results[0]!.to.map((t) => String(t.toObjectId))).toEqual([deal.id])
    const bad = await errorOf(hs.crm.associations.v4.basicApi.createDefault('deals', deal.id, 'contacts', '424242'))
    expect(bad!.code).toBe(404)
  })

  it('a deal with an unknown stage or currency is a VALIDATION_ERROR INVALID_OPTION', async () => {
    const err = await errorOf(client().crm.deals.basicApi.create({ properties: { dealname: 'x', dealstage: 'won!' }, associations: [] }))
    expect(err!.code).toBe(400)
    expect((err!.body.errors as Array<{ code: string }>)[0]!.code).toBe('INVALID_OPTION')
  })

  // developers.hubspot.com "CRM API | Search": filters AND-ed inside a group, GTE/LTE/BETWEEN on dates and numbers, sorts.
  it('searches deals won in a period, sorted by amount', async () => {
    const hs = client()
    const mk = (name: string, amount: string, dealstage: string, closedate: string) =>
      hs.crm.deals.basicApi.create({ properties: { dealname: name, amount, dealstage, closedate, deal_currency_code: 'USD' }, associations: [] })
    await mk('nov-a', '50', 'closedwon', '2026-11-10T00:00:00.000Z')
    await mk('nov-b', '500', 'closedwon', '2026-11-20T00:00:00.000Z')
    await mk('nov-lost', '900', 'closedlost', '2026-11-21T00:00:00.000Z')
    await mk('oct', '70', 'closedwon', '2026-10-01T00:00:00.000Z')
    const found = await hs.crm.deals.searchApi.doSearch({
      filterGroups: [
        {
          filters: [
            { propertyName: 'dealstage', operator: 'EQ' as never, value: 'closedwon' },
            { propertyName: 'closedate', operator: 'BETWEEN' as never, value: String(Date.parse('2026-11-01T00:00:00Z')), highValue: String(Date.parse('2026-11-25T23:59:59Z')) },
            { propertyName: 'amount', operator: 'GTE' as never, value: '10' }
          ]
        }
      ],
      sorts: ['-amount'],
      properties: ['dealname', 'amount'],
      limit: 10,
      after: '0'
    })
    expect(found.total).toBe(2)
    expect(found.results.map((r) => r.properties.dealname)).toEqual(['nov-b', 'nov-a'])
  })
})
