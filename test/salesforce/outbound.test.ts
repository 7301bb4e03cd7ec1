import { describe, it, expect, beforeAll, afterAll, beforeEach, vi } from 'vitest'
import { testBridge, type TestBridge } from '../helpers/bridge.ts'
import { ackEnvelope, buildOutboundMessage, parseOutboundMessage, parseXml, sameSalesforceId, XmlError } from '../../src/salesforce/outbound-message.ts'
import { salesforce } from '../../src/sources/salesforce.ts'

const ORG = '00D5g000004XyZaEAK'
const SECRET = 'om-secret'
const won = (id: string, extra: Record<string, string | null> = {}) => ({
  id: `04l${id.slice(3)}`,
  fields: {
    Id: id,
    Amount: '1250.5',
    CurrencyIsoCode: 'EUR',
    CloseDate: '2026-11-20',
    StageName: 'Closed Won',
    IsWon: 'true',
    LastModifiedDate: '2026-11-20T10:00:00.000Z',
    Referral_ID__c: 'referralcandy_abc',
    Referral_Advocate_ID__c: 'adv@example.com',
    Referral_Advocate_Email__c: 'Adv@Example.com',
    Referral_Code__c: 'ADV10',
    ...extra
  }
})

describe('Outbound Message XML', () => {
  it('reads the documented notifications() envelope (namespaces, xsi:nil, entities)', () => {
    const xml = buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000001AAA', { Referral_Code__c: 'A&B <10>', Referral_Friend_Email__c: null })] })
    const m = parseOutboundMessage(xml)
    expect(m).toMatchObject({ organizationId: ORG, actionId: '04k000000000001AAA', hasSessionId: false })
    expect(m.notifications).toHaveLength(1)
    expect(m.notifications[0]).toMatchObject({ id: '04l000000000001AAA', sObjectType: 'Opportunity' })
    expect(m.notifications[0]!.fields).toMatchObject({ Amount: '1250.5', Referral_Code__c: 'A&B <10>', Referral_Friend_Email__c: null })
  })

  it('accepts a hand-written envelope with other prefixes and whitespace (what Salesforce sends)', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${ORG}</OrganizationId>
   <ActionId>04k5g000000CaQwAAK</ActionId>
   <SessionId>00D5g!AQ0AQsecret</SessionId>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0/00D5g000004XyZa</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/59.0/00D5g000004XyZa</PartnerUrl>
   <Notification>
    <Id>04l5g00000HbCdEAAV</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0065g00000AbCdEAAZ</sf:Id>
     <sf:Amount>99.99</sf:Amount>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`
    const m = parseOutboundMessage(xml)
    expect(m.hasSessionId).toBe(true)
    expect(m.notifications[0]!.fields).toEqual({ Id: '0065g00000AbCdEAAZ', Amount: '99.99' })
  })

  it.each([
    ['a DOCTYPE (entity expansion)', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', /DTD/],
    ['an unknown entity', '<x>&foo;</x>', /unknown entity/],
    ['mismatched tags', '<a><b></a></b>', /closed by/],
    ['trailing content', '<a/><b/>', /after the root/],
    ['undeclared prefix', '<p:a/>', /undeclared namespace prefix/],
    ['unquoted attributes', '<a b=c/>', /not quoted/]
  ])('parseXml refuses %s', (_label, xml, re) => {
    expect(() => parseXml(xml)).toThrow(re)
  })

  it.each([
    ['JSON', '{"OrganizationId":"x"}', /no root element/],
    ['a SOAP envelope with another body', '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><other/></s:Body></s:Envelope>', /exactly one <notifications/],
    ['no OrganizationId', buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000001AAA')] }).replace(/<OrganizationId>.*<\/OrganizationId>/, ''), /no <OrganizationId>/],
    ['a nested field', buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000001AAA')] }).replace('<sf:Amount>1250.5</sf:Amount>', '<sf:Amount><sf:x>1</sf:x></sf:Amount>'), /not a simple value/],
    ['101 notifications', buildOutboundMessage({ organizationId: ORG, notifications: Array.from({ length: 101 }, (_, i) => won(`006${String(i).padStart(12, '0')}AAA`)) }), /1 to 100/]
  ])('parseOutboundMessage refuses %s', (_label, xml, re) => {
    expect(() => parseOutboundMessage(xml)).toThrow(XmlError)
    expect(() => parseOutboundMessage(xml)).toThrow(re)
  })

  it('org ids compare on their 15-character id, case-sensitively', () => {
    expect(sameSalesforceId(ORG, ORG.slice(0, 15))).toBe(true)
    expect(sameSalesforceId(ORG, ORG.slice(0, 15).toLowerCase())).toBe(false)
    expect(sameSalesforceId(ORG, '00D5g000004XyZb')).toBe(false)
    expect(sameSalesforceId(ORG, 'not-an-id')).toBe(false)
  })

  it('the ack is the documented notificationsResponse', () => {
    const ack = parseXml(ackEnvelope())
    const body = ack.children[0]!.children[0]!
    expect(body).toMatchObject({ local: 'notificationsResponse', ns: 'http://soap.sforce.com/2005/09/outbound' })
    expect(body.children[0]).toMatchObject({ local: 'Ack', text: 'true' })
  })

  it('normalize: amount to minor units, currency, ids, advocate; won key is the opportunity id only', () => {
    const [item] = salesforce.items(
      { organizationId: ORG, actionId: 'a', hasSessionId: false, notifications: [{ id: '04l1', sObjectType: 'Opportunity', fields: won('0065g00000AbCdE').fields }] },
      {} as never
    )
    expect(item).toMatchObject({ key: 'opportunity-won:0065g00000AbCdEAAV', eventType: 'opportunity.closed_won' })
    const [m] = salesforce.normalize(item!)
    expect(m).toMatchObject({
      type: 'track',
      event: 'Referral Revenue Won',
      userId: 'adv@example.com',
      timestamp: '2026-11-20T00:00:00.000Z',
      properties: { opportunity_id: '0065g00000AbCdEAAV', amount: 1250.5, amount_minor: 125050, currency: 'EUR', referral_id: 'referralcandy_abc', advocate_id: 'adv@example.com', advocate_email: 'adv@example.com', closed_at: '2026-11-20T00:00:00.000Z', source_platform: 'salesforce' }
    })
  })
})

describe('POST /webhooks/salesforce through a real bridge', () => {
  let bridge: TestBridge
  const post = (body: string, { secret = SECRET, contentType = 'text/xml; charset=utf-8' } = {}) =>
    fetch(`${bridge.url}/webhooks/salesforce?secret=${encodeURIComponent(secret)}`, { method: 'POST', headers: { 'content-type': contentType, soapaction: '""' }, body })
  beforeAll(async () => {
    bridge = await testBridge({ deliver: false, env: { SALESFORCE_WEBHOOK_SECRET: SECRET } })
  })
  beforeEach(() => {
    vi.stubEnv('SALESFORCE_ORGANIZATION_ID', ORG)
  })
  afterAll(async () => {
    vi.unstubAllEnvs()
    await bridge.close()
  })

  it('answers the SOAP Ack after the commit; a resent message is a duplicate (same inbox item)', async () => {
    const xml = buildOutboundMessage({ organizationId: ORG, sessionId: '00D!secret-session', notifications: [won('006000000000011AAA'), won('006000000000012AAA')] })
    for (let i = 0; i < 2; i++) {
      const res = await post(xml)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/xml; charset=utf-8')
      expect(await res.text()).toBe(ackEnvelope())
    }
    const event = await bridge.store.getEvent('salesforce:opportunity-won:006000000000011AAA')
    expect(event?.messages).toHaveLength(1)
    expect(event?.messages[0]!.message).toMatchObject({ event: 'Referral Revenue Won', properties: { amount_minor: 125050 } })
    expect(event?.inbox.rawBody).toContain('<SessionId>[redacted]</SessionId>')
    expect(event?.inbox.rawBody).not.toContain('secret-session')
  })

  it('a non-won notification is acknowledged and ignored (keyed by notification id, so a later win still counts)', async () => {
    const res = await post(buildOutboundMessage({ organizationId: ORG, notifications: [{ id: '04l000000000777AAA', fields: { Id: '006000000000777AAA', StageName: 'Closed Lost', IsWon: 'false' } }] }))
    expect(res.status).toBe(200)
    expect((await bridge.store.getEvent('salesforce:notification:04l000000000777AAA'))?.inbox.status).toBe('ignored')
    expect(await bridge.store.getEvent('salesforce:opportunity-won:006000000000777AAA')).toBeUndefined()
  })

  it('a won opportunity without Amount is quarantined with a readable reason (still acknowledged)', async () => {
    const res = await post(buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000888AAA', { Amount: null })] }))
    expect(res.status).toBe(200)
    const event = await bridge.store.getEvent('salesforce:opportunity-won:006000000000888AAA')
    expect(event?.inbox).toMatchObject({ status: 'quarantined', reason: expect.stringMatching(/Amount is missing/) })
  })

  it('the 15-character org id configured works too', async () => {
    vi.stubEnv('SALESFORCE_ORGANIZATION_ID', ORG.slice(0, 15))
    expect((await post(buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000013AAA')] }))).status).toBe(200)
  })

  it.each([
    ['wrong secret', { secret: 'nope' }, ORG, 401, /shared secret does not match/],
    ['another org', {}, '00D000000000002AAA', 401, /is not SALESFORCE_ORGANIZATION_ID/],
    ['JSON content type', { contentType: 'application/json' }, ORG, 415, /text\/xml/]
  ])('%s → %s, nothing stored', async (_label, opts, org, status, re) => {
    const res = await post(buildOutboundMessage({ organizationId: org, notifications: [won('006000000000099AAA')] }), opts)
    expect(res.status).toBe(status)
    expect(JSON.stringify(await res.json())).toMatch(re)
    expect(await bridge.store.getEvent('salesforce:opportunity-won:006000000000099AAA')).toBeUndefined()
  })

  it('SALESFORCE_ORGANIZATION_ID unset → 401 (fail closed)', async () => {
    vi.stubEnv('SALESFORCE_ORGANIZATION_ID', '')
    const res = await post(buildOutboundMessage({ organizationId: ORG, notifications: [won('006000000000099AAA')] }))
    expect(res.status).toBe(401)
    expect((await res.json()).message).toMatch(/SALESFORCE_ORGANIZATION_ID is not set/)
  })

  it('not an Outbound Message → 400 malformed_body', async () => {
    const res = await post('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    expect(res.status).toBe(400)
    expect((await res.json()).message).toMatch(/not a Salesforce Outbound Message: DTDs/)
  })
})
