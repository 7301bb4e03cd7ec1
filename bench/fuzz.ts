/**
 * `npm run fuzz`: bounded property-based fuzzing (fast-check) of every webhook route of a real bridge on
 * loopback. Properties: the bridge never crashes or answers 5xx, every refusal is a 4xx with a JSON
 * `{error, message}`, and nothing is stored — for malformed JSON, huge bodies, wrong content types,
 * bad/missing/replayed signatures, unicode edge cases and deep nesting, each correctly signed where the case is
 * about the body. FUZZ_RUNS (default 200 per property) bounds it; FUZZ_SEED reproduces a run.
 */
import fc from 'fast-check'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Webhook } from 'standardwebhooks'
import { startBridge } from '../src/bridge.ts'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { newAjv } from '../src/tracking-plan/plan.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31
const standardSecret = `whsec_${randomBytes(32).toString('base64')}`
const SECRETS: Record<string, string> = {
  REFERRALCANDY_API_SECRET: 'fz-rc', REWARDFUL_WEBHOOK_SECRET: 'fz-rw', AMBASSADOR_WEBHOOK_SECRET: 'fz-amb',
  FRIENDBUY_WEBHOOK_SECRET: 'fz-fb', GROWSURF_WEBHOOK_SECRET: 'fz-gs', SHOPIFY_WEBHOOK_SECRET: 'fz-shop',
  STANDARD_WEBHOOK_SECRET: standardSecret, TALKABLE_WEBHOOK_SECRET: 'fz-tk', FIRSTPROMOTER_WEBHOOK_SECRET: 'fz-fp',
  EXTOLE_WEBHOOK_SECRET: 'fz-ex', SAASQUATCH_WEBHOOK_SECRET: JSON.stringify({ keys: [] }),
  SEGMENT_WEBHOOK_SECRET: 'fz-seg', SALESFORCE_WEBHOOK_SECRET: 'fz-sf', SALESFORCE_ORGANIZATION_ID: '00D000000000001AAA'
}
const hmac = (secret: string, body: string, enc: 'hex' | 'base64') => createHmac('sha256', secret).update(body).digest(enc)

/** How each platform signs, so body-level cases reach the parser and the schema instead of stopping at 401. */
const signers: Record<string, (body: string, now: number) => Record<string, string>> = {
  referralcandy: (b) => ({ 'x-referral-candy-signature': createHash('md5').update(SECRETS.REFERRALCANDY_API_SECRET + b).digest('hex') }),
  rewardful: (b) => ({ 'x-rewardful-signature': hmac(SECRETS.REWARDFUL_WEBHOOK_SECRET, b, 'hex') }),
  ambassador: () => ({ 'x-ambassador-secret': SECRETS.AMBASSADOR_WEBHOOK_SECRET }),
  friendbuy: (b) => ({ 'x-friendbuy-hmac-sha256': hmac(SECRETS.FRIENDBUY_WEBHOOK_SECRET, b, 'base64') }),
  growsurf: (b, now) => ({ 'growsurf-signature': `ts=${now},v=${hmac(SECRETS.GROWSURF_WEBHOOK_SECRET, `${now}.${b}`, 'hex')}` }),
  shopify: (b) => ({ 'x-shopify-hmac-sha256': hmac(SECRETS.SHOPIFY_WEBHOOK_SECRET, b, 'base64'), 'x-shopify-topic': 'orders/create', 'x-shopify-webhook-id': randomBytes(8).toString('hex') }),
  standard: (b, now) => {
    const id = `msg_${randomBytes(8).toString('hex')}`
    const ts = new Date(now)
    return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': new Webhook(standardSecret).sign(id, ts, b) }
  },
  firstpromoter: () => ({ authorization: `Bearer ${SECRETS.FIRSTPROMOTER_WEBHOOK_SECRET}` }),
  extole: (b) => ({ 'x-extole-signature': hmac(SECRETS.EXTOLE_WEBHOOK_SECRET, b, 'hex') }),
  segment: (b) => ({ 'x-signature': createHmac('sha1', SECRETS.SEGMENT_WEBHOOK_SECRET).update(b).digest('hex') })
}

const logs = new Writable({ write: (_c, _e, cb) => cb() })
const dir = mkdtempSync(join(tmpdir(), 'rb-fuzz-'))
const bridge = await startBridge({
  config: loadConfig({ ...SECRETS, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(dir, 'fuzz.sqlite')}`, WEBHOOK_BODY_LIMIT: '64kb' }),
  logger: createLogger('error', logs),
  sandboxes: false,
  destinations: [],
  deliver: false
})
const sources = [...bridge.sources.values()]
const ajv = newAjv()
const validators = new Map(sources.map((s) => [s.name, ajv.compile(s.payloadSchema)]))
const stats = { requests: 0, byStatus: new Map<number, number>() }

async function post(source: string, body: string, headers: Record<string, string>, expected: number[]): Promise<void> {
  const res = await fetch(`${bridge.url}/webhooks/${source}`, { method: 'POST', headers, body })
  stats.requests++
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1)
  const text = await res.text()
  if (!expected.includes(res.status)) throw new Error(`${source}: answered ${res.status}, expected ${expected.join(' or ')}: ${text.slice(0, 300)}`)
  let json: { error?: unknown; message?: unknown }
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`${source}: ${res.status} answer is not JSON: ${text.slice(0, 200)}`)
  }
  if (typeof json.error !== 'string' || typeof json.message !== 'string') throw new Error(`${source}: ${res.status} body lacks {error, message}: ${text.slice(0, 200)}`)
}

const source = fc.constantFrom(...sources.map((s) => s.name))
const signable = fc.constantFrom(...sources.filter((s) => signers[s.name] && s.contentTypes.includes('application/json')).map((s) => s.name))
const weirdString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-composite' }), fc.constantFrom('\u0000', '\uFEFF{}', '\uD800', 'null', '[]', '{"a":', '💥'.repeat(100)))
const deep = fc.integer({ min: 50, max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n))
const properties: Array<[string, fc.IAsyncProperty<any>]> = [
  ['bad or missing signatures are 401', fc.asyncProperty(source, fc.jsonValue(), fc.option(fc.string(), { nil: undefined }), async (s, value, sig) => {
    const headers: Record<string, string> = { 'content-type': bridge.sources.get(s)!.contentTypes[0] }
    if (sig !== undefined) for (const h of ['x-signature', 'x-referral-candy-signature', 'x-rewardful-signature', 'x-friendbuy-hmac-sha256', 'growsurf-signature', 'x-shopify-hmac-sha256', 'x-extole-signature', 'webhook-signature', 'authorization', 'x-ambassador-secret']) headers[h] = sig.replace(/[^\x20-\x7e]/g, '')
    await post(s, JSON.stringify(value), headers, [401])
  })],
  ['signed malformed bodies, unicode and deep nesting are 400', fc.asyncProperty(signable, fc.oneof(weirdString, deep), async (s, body) => {
    let parses = true
    try {
      JSON.parse(body)
    } catch {
      parses = false
    }
    if (parses && validators.get(s)!(JSON.parse(body))) return
    // Parsable but deeper than WEBHOOK_MAX_DEPTH (or with duplicate / prototype keys) is refused before the schema: 400.
    await post(s, body, { 'content-type': 'application/json', ...signers[s](body, Date.now()) }, parses ? [400, 422, 501] : [400])
  })],
  ['signed JSON that breaks the platform schema is 422 (or 501 for decision callbacks)', fc.asyncProperty(signable, fc.jsonValue({ maxDepth: 6 }), async (s, value) => {
    if (validators.get(s)!(value)) return
    const body = JSON.stringify(value)
    await post(s, body, { 'content-type': 'application/json', ...signers[s](body, Date.now()) }, [422, 501])
  })],
  ['wrong content types are 415', fc.asyncProperty(source, fc.constantFrom('text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json-patch+json', ''), async (s, type) => {
    if (bridge.sources.get(s)!.contentTypes.includes(type)) return
    const body = '{}'
    await post(s, body, { 'content-type': type, ...(signers[s]?.(body, Date.now()) ?? {}) }, [415])
  })],
  ['huge bodies are 413', fc.asyncProperty(source, fc.integer({ min: 65 * 1024, max: 2 * 1024 * 1024 }), async (s, size) => {
    await post(s, Buffer.alloc(size, 97).toString(), { 'content-type': 'application/json' }, [413])
  })],
  ['replayed signatures outside the tolerance are 401', fc.asyncProperty(fc.constantFrom('growsurf', 'standard'), fc.integer({ min: 6 * 60_000, max: 30 * 86_400_000 }), fc.boolean(), async (s, age, future) => {
    const body = '{}'
    await post(s, body, { 'content-type': 'application/json', ...signers[s](body, Date.now() + (future ? age : -age)) }, [401])
  })]
]

const before = (await bridge.store.stats(Date.now())).inbox.reduce((n, r) => n + r.count, 0)
let failed = false
for (const [name, property] of properties) {
  process.stderr.write(`▶ ${name} (${RUNS} runs, seed ${SEED})\n`)
  const result = await fc.check(property, { numRuns: RUNS, seed: SEED, endOnFailure: true })
  if (result.failed) {
    failed = true
    console.error(fc.defaultReportMessage(result))
  }
}
const after = (await bridge.store.stats(Date.now())).inbox.reduce((n, r) => n + r.count, 0)
const healthy = (await fetch(`${bridge.url}/healthz`)).ok
await bridge.stop(1000)
rmSync(dir, { recursive: true, force: true })
console.log(`\nfuzz: ${stats.requests} requests over ${sources.length} sources, answers ${JSON.stringify(Object.fromEntries(stats.byStatus))}, stored ${after - before}, still healthy: ${healthy}`)
if (failed || after !== before || !healthy) {
  console.error(`FAILED${after !== before ? `: ${after - before} webhook(s) stored` : ''}${healthy ? '' : ': the bridge stopped answering /healthz'}`)
  process.exit(1)
}
