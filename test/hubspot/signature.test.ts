import { describe, expect, it } from 'vitest'
import { createHmac } from 'node:crypto'
import { hubspotUri, verifyHubspotV3 } from '../../src/hubspot/signature.ts'

// Computed here by hand from HubSpot's v3 recipe, not with the code under test.
const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy'
const URI = 'https://www.example.com/webhook_uri?portal%3A=1'
const BODY = '[{"eventId":1,"subscriptionType":"deal.propertyChange","objectId":7,"occurredAt":1}]'
const TS = '1764633600000'
const expected = createHmac('sha256', SECRET).update(`POSThttps://www.example.com/webhook_uri?portal:=1${BODY}${TS}`).digest('base64')

describe('HubSpot v3 signature', () => {
  it('decodes the documented URL-encoded characters only', () => {
    expect(hubspotUri('https://x.io/a%3Ab%2Fc%3Fd%40e%21f%24g%27h%28i%29j%2Ak%2Cl%3Bm%20n')).toBe("https://x.io/a:b/c?d@e!f$g'h(i)j*k,l;m%20n")
  })
  it('accepts the right signature within 5 minutes, refuses the rest with the reason', () => {
    const base = { secret: SECRET, method: 'POST', uri: URI, body: BODY, signature: expected, timestamp: TS, now: Number(TS) + 299_000 }
    expect(verifyHubspotV3(base)).toEqual({ ok: true })
    expect(verifyHubspotV3({ ...base, now: Number(TS) + 301_000 })).toMatchObject({ ok: false, reason: expect.stringContaining('older than 5 minutes') })
    expect(verifyHubspotV3({ ...base, body: BODY.replace('7', '8') })).toMatchObject({ ok: false, reason: expect.stringContaining('does not match') })
    expect(verifyHubspotV3({ ...base, timestamp: String(Number(TS) + 1) })).toMatchObject({ ok: false })
    expect(verifyHubspotV3({ ...base, signature: undefined })).toMatchObject({ ok: false, reason: 'missing X-HubSpot-Signature-v3 header' })
    expect(verifyHubspotV3({ ...base, timestamp: 'yesterday' })).toMatchObject({ ok: false, reason: expect.stringContaining('malformed') })
  })
})
