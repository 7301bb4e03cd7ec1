import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, mkdir, writeFile, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { functionsCommand } from '../../src/functions/cli.ts'
import { projectRoot } from '../../src/functions/build.ts'
import { createSegmentPublicApiSandbox } from '../../src/sandboxes/segment-public-api.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

/** `functions new`, `functions test --event` (the editor's "Run") and `functions deploy --source`, as a user runs them. */
let tmp: string
let receiver: Server
let receiverUrl: string
let hits = 0

async function run(args: string[], env: NodeJS.ProcessEnv, root = projectRoot): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await functionsCommand(args, { env, root, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } })
  return { code, out, err }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rb-tooling-'))
  receiver = createServer((req, res) => {
    hits++
    req.resume()
    req.on('end', () => res.writeHead(req.url?.includes('fail') ? 503 : 200, { 'content-type': 'application/json' }).end('{}'))
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`
})
afterAll(async () => {
  receiver.closeAllConnections()
  receiver.close()
  await rm(tmp, { recursive: true, force: true })
})

describe('functions new + functions test --event', () => {
  it('scaffolds a folder that runs as is: HTTP calls and the outcome are printed, secrets masked', async () => {
    const dir = path.join(tmp, 'fns')
    const env = { FUNCTIONS_DIR: dir }
    const created = await run(['new', 'acme'], env)
    expect(created.code).toBe(0)
    expect(created.out).toMatch(/created .*acme\/index\.ts/)
    expect(JSON.parse(await readFile(path.join(dir, 'acme', 'function.json'), 'utf8')).bridge.settings.apiKey.env).toBe('ACME_API_KEY')
    expect((await run(['new', 'acme'], env)).code).toBe(1) // never overwrites

    const event = path.join(dir, 'acme', 'events', 'track.json')
    const ok = await run(['test', 'acme', '--event', event, '--settings', 'apiKey=k-123', '--settings', `baseUrl=${receiverUrl}`], env)
    expect(ok.err).toBe('')
    expect(ok.out).toContain(`POST ${receiverUrl}/events → 200`)
    expect(ok.out).toMatch(/outcome: ok\n$/)
    expect(ok.code).toBe(0)
    expect(ok.out).not.toContain('k-123')

    const retry = await run(['test', 'acme', '--event', event, '--settings', 'apiKey=k', `--settings=baseUrl=${receiverUrl}/fail`], env)
    expect(retry.out).toMatch(/retry: RetryError: HTTP 503/)
    expect(retry.out).toMatch(/outcome: retry/)
    expect(retry.code).toBe(1)

    const noKey = await run(['test', 'acme', '--event', event], env)
    expect(noKey.out).toMatch(/discarded: ValidationError: apiKey setting is required/)
    expect(noKey.out).toMatch(/outcome: discarded/)
  })

  it('a folder with a sandbox runs against it when unconfigured (ga4): api_secret masked in the printed call', async () => {
    const file = path.join(tmp, 'order.json')
    await writeFile(file, JSON.stringify({ type: 'track', event: 'Order Completed', messageId: 'm1', userId: 'u1', timestamp: new Date().toISOString(), context: {}, properties: { order_id: 'o1', revenue: 10, currency: 'EUR', referral_id: 'r1' } }))
    const r = await run(['test', 'ga4', '--event', file], {})
    expect(r.out).toMatch(/using the ga4 sandbox/)
    expect(r.out).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/ga4\/mp\/collect\?measurement_id=G-SANDBOX01&api_secret=\*\*\* → 204/)
    expect(r.out).not.toContain('sandbox-api-secret')
    expect(r.code).toBe(0)
  })

  it('a TypeError is reported as discarded, like Segment', async () => {
    const dir = path.join(tmp, 'thrower-fns')
    await mkdir(path.join(dir, 'oops'), { recursive: true })
    await writeFile(path.join(dir, 'oops', 'index.ts'), `async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings) { await fetch(settings.url); (undefined as any).x }\nexport {}\n`)
    await writeFile(path.join(dir, 'oops', 'function.json'), JSON.stringify({ settings: [{ name: 'url', label: 'u', description: 'u', type: 'STRING', required: true, sensitive: false }] }))
    const file = path.join(tmp, 'track.json')
    await writeFile(file, JSON.stringify({ type: 'track', event: 'X', messageId: 'm', context: {} }))
    const before = hits
    const r = await run(['test', 'oops', '--event', file, '--settings', `url=${receiverUrl}`], { FUNCTIONS_DIR: dir })
    expect(hits - before).toBe(1)
    expect(r.out).toMatch(/discarded: Bad Request, discarded as Segment does: TypeError/)
    expect(r.code).toBe(1)
  })
})

describe('functions deploy --source', () => {
  it('creates the function and its destination instance with settings from env; again: unchanged; a required setting without env fails', async () => {
    const sb = createSegmentPublicApiSandbox({ token: 'sgp_test' })
    const srv = await serveSandbox(sb.router)
    try {
      const env = { SEGMENT_API_TOKEN: 'sgp_test', SEGMENT_API_BASE_URL: srv.url, GA4_MEASUREMENT_ID: 'G-REAL1', GA4_API_SECRET: 'real-secret' }
      const first = await run(['deploy', 'ga4', '--source', 'src_1'], env)
      expect(first.err).toBe('')
      expect(first.out).toMatch(/created Referral Bridge Google Analytics 4/)
      expect(first.out).toMatch(/created destination instance "Referral Bridge Google Analytics 4" \(.+\) on source src_1; settings: measurementId, apiSecret; not set \(no env var\): baseUrl/)
      expect(first.out).not.toContain('real-secret')
      const [instance] = [...sb.state.destinations.values()]
      expect(instance).toMatchObject({ sourceId: 'src_1', enabled: true, settings: { measurementId: 'G-REAL1', apiSecret: 'real-secret' } })
      expect(instance!.metadata.id).toBe([...sb.state.functions.values()][0]!.catalogId)

      const again = await run(['deploy', 'ga4', '--source', 'src_1'], env)
      expect(again.out).toMatch(/unchanged, nothing to deploy/)
      expect(again.out).toMatch(/destination instance unchanged/)
      const rotated = await run(['deploy', 'ga4', '--source', 'src_1'], { ...env, GA4_API_SECRET: 'rotated' })
      expect(rotated.out).toMatch(/updated destination instance/)
      expect(sb.state.destinations.size).toBe(1)
      expect([...sb.state.destinations.values()][0]!.settings.apiSecret).toBe('rotated')

      const missing = await run(['deploy', 'ga4', '--source', 'src_2'], { SEGMENT_API_TOKEN: 'sgp_test', SEGMENT_API_BASE_URL: srv.url })
      expect(missing.code).toBe(1)
      expect(missing.err).toMatch(/setting measurementId is required; set GA4_MEASUREMENT_ID/)

      const plain = await run(['deploy', 'ga4'], env)
      expect(plain.out).toMatch(/next: connect it to a source/)
    } finally {
      await srv.close()
    }
  })
})
