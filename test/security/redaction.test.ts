import { describe, it, expect, afterEach } from 'vitest'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { testBridge, sign, until, type TestBridge } from '../helpers/bridge.ts'
import { createScrubber, secretValuesFromEnv, REDACTED } from '../../src/scrub.ts'
import { defaultPolicy, type Destination } from '../../src/destinations/types.ts'
import { buildOutboundMessage, redactSessionId } from '../../src/salesforce/outbound-message.ts'
import { talkable } from '../../src/sources/talkable.ts'
import type { WebhookRequest } from '../../src/sources/types.ts'

// A token with characters that change under URL- and base64-encoding, so each form is a different string.
const TOKEN = 'pat-na1-7f3e+9b/2c=Qx'
const forms = {
  raw: TOKEN,
  urlEncoded: encodeURIComponent(TOKEN),
  base64: Buffer.from(TOKEN).toString('base64'),
  basicAuth: Buffer.from(`api:${TOKEN}`).toString('base64')
}
const leaks = (text: string) => Object.entries(forms).filter(([, f]) => text.includes(f)).map(([name]) => name)

/**
 * A vendor that answers every call 401 with the request's credentials quoted back, in every form a vendor quotes
 * them: as sent, inside a URL, in a Basic auth header it echoes. Real HTTP, so what the destination stores is what
 * a vendor's body makes it store.
 */
async function echoingVendor(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ message: `invalid token ${req.headers['x-token']}`, url: `https://api.example.com/v1?api_key=${forms.urlEncoded}`, echo: `Authorization: Basic ${forms.basicAuth}`, raw: forms.base64 }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

function vendorDestination(url: string, name: string, throwIt: boolean): Destination {
  return {
    name,
    sandboxed: false,
    target: url,
    policy: { ...defaultPolicy, maxAttempts: 1, baseDelayMs: 1 },
    accepts: () => true,
    async deliver(messages) {
      const res = await fetch(url, { method: 'POST', headers: { 'x-token': TOKEN }, body: JSON.stringify(messages) })
      const body = await res.text()
      if (throwIt) throw new Error(`HTTP ${res.status}: ${body}`)
      return messages.map(() => ({ status: 'permanent' as const, statusCode: res.status, error: `HTTP ${res.status}: ${body}` }))
    }
  }
}

describe('secrets echoed by vendors never reach jobs, attempts, logs or the admin API', () => {
  let bridge: TestBridge | undefined
  let vendor: { url: string; server: Server } | undefined
  afterEach(async () => {
    await bridge?.close()
    vendor?.server.close()
    bridge = vendor = undefined
  })

  it('a 401 body quoting the token (raw, URL-encoded, base64, inside Basic auth) is stored and shown scrubbed', async () => {
    vendor = await echoingVendor()
    bridge = await testBridge({
      env: { HUBSPOT_ACCESS_TOKEN: TOKEN, DESTINATIONS: 'hubspot' },
      destinations: [vendorDestination(vendor.url, 'hubspot', false), vendorDestination(vendor.url, 'klaviyo', true)]
    })
    const raw = JSON.stringify({ referral_email: 'f@example.com', referral_timestamp: 1434439382, referring_email: 'a@example.com' })
    // A platform header that quotes the token too (a misconfigured template) is stored scrubbed.
    const accepted = await bridge.post('referralcandy', raw, { ...sign.referralcandy(raw), 'x-debug-note': `token=${TOKEN}` })
    expect(accepted.status).toBe(200)
    await until(async () => (await bridge!.store.listJobs('dead', {})).length >= 2 || (await bridge!.store.listJobs('pending', { destination: 'klaviyo' })).some((j) => j.attempts > 0), 10_000, 'failed deliveries')
    const jobs = [...(await bridge.store.listJobs('dead', {})), ...(await bridge.store.listJobs('pending', {})), ...(await bridge.store.listJobs('leased', {}))]
    const hubspotJob = jobs.find((j) => j.destination === 'hubspot')
    expect(hubspotJob, JSON.stringify(jobs)).toBeDefined()
    expect(hubspotJob!.lastError).toContain('invalid token')
    expect(hubspotJob!.lastError).toContain(REDACTED)
    for (const j of jobs) expect(leaks(JSON.stringify(j)), `job ${j.destination}`).toEqual([])

    const detail = await bridge.admin('GET', `/admin/events/${accepted.body.ids[0]}`)
    expect(detail.status).toBe(200)
    expect(detail.body.attempts.length).toBeGreaterThan(0)
    expect(leaks(JSON.stringify(detail.body))).toEqual([])
    expect(JSON.stringify(detail.body.inbox)).toContain(`token=${REDACTED}`)
    expect(leaks(JSON.stringify((await bridge.admin('GET', '/admin/dlq')).body))).toEqual([])
    expect(leaks(bridge.logs.join(''))).toEqual([])
    expect(bridge.logs.join('')).toContain('invalid token')
  })

  it('the scrubber: configured secret values in every encoding, from any env var that holds one', () => {
    const scrub = createScrubber(secretValuesFromEnv({ HUBSPOT_ACCESS_TOKEN: TOKEN, DATABASE_URL: 'postgres://u:db-pass-word@h/db', PORT: '3000', SHORT_TOKEN: 'abc' }))
    for (const [name, form] of Object.entries(forms)) expect(scrub(`before ${form} after`), name).toBe(`before ${REDACTED} after`)
    expect(scrub('password db-pass-word')).toBe(`password ${REDACTED}`)
    expect(scrub('Basic ' + Buffer.from(`a:${TOKEN}`).toString('base64'))).not.toContain(Buffer.from(`a:${TOKEN}`).toString('base64'))
    expect(scrub('port 3000, abc')).toBe('port 3000, abc')
  })
})

describe('form and XML bodies are redacted on their parsed structure', () => {
  const request = (body: string): WebhookRequest => ({ rawBody: Buffer.from(body), headers: { 'content-type': 'application/x-www-form-urlencoded' }, query: {}, receivedAt: new Date() })

  it('Talkable: the key field is masked however its name is encoded', () => {
    for (const name of ['key', 'k%65y', '%6B%65%79', 'ke%79']) {
      const body = `site=s&${name}=the-site-key&type=x&payload=%7B%7D`
      expect(new URLSearchParams(body).get('key')).toBe('the-site-key') // what verify() reads
      const redacted = talkable.redactRawBody(request(body))
      expect(redacted, name).not.toContain('the-site-key')
      expect(redacted).toBe(`site=s&${name}=[redacted]&type=x&payload=%7B%7D`)
    }
    expect(talkable.redactRawBody(request('monkey=1&keys=2'))).toBe('monkey=1&keys=2')
  })

  it('Salesforce: a SessionId in CDATA, split by a comment, or as character references is redacted', () => {
    const base = buildOutboundMessage({ organizationId: '00D5g000004XyZaEAK', sessionId: 'PLACEHOLDER', notifications: [] as never })
    const variants = [
      '<![CDATA[00D!live-session]]>',
      '00D!live<!-- x -->-session',
      '00D!live-&#115;ession',
      '<!-- a --><![CDATA[00D!live-]]>session'
    ]
    for (const v of variants) {
      const xml = base.replace('PLACEHOLDER', v)
      const redacted = redactSessionId(xml)
      expect(redacted, v).not.toMatch(/live/)
      expect(redacted).toBe(base.replace('PLACEHOLDER', '[redacted]'))
    }
    expect(redactSessionId('<unparsable')).not.toContain('unparsable')
  })
})
