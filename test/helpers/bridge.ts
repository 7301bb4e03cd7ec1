import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createHash, createHmac } from 'node:crypto'
import { startBridge, type Bridge, type BridgeOptions } from '../../src/bridge.ts'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { createSegmentSandbox } from '../../src/sandboxes/segment.ts'
import { segmentDestination } from '../../src/destinations/segment.ts'

export const SECRETS = {
  REFERRALCANDY_API_SECRET: 'rc-test-secret',
  REWARDFUL_WEBHOOK_SECRET: 'rewardful-test-secret',
  AMBASSADOR_WEBHOOK_SECRET: 'ambassador-test-secret',
  BRIDGE_ADMIN_TOKEN: 'admin-test-token'
}

export interface TestBridge extends Bridge {
  segment: ReturnType<typeof createSegmentSandbox>
  logs: string[]
  post(source: string, body: string | object, headers?: Record<string, string>): Promise<{ status: number; body: any }>
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

/** A real bridge on a loopback port with a temp SQLite file and a Segment sandbox; fast poll and backoff. */
export async function testBridge(options: BridgeOptions & { env?: Record<string, string> } = {}): Promise<TestBridge> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-test-'))
  const segment = createSegmentSandbox()
  const segmentServer = await serveSandbox(segment.router)
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    }
  })
  const env = { ...SECRETS, DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`, PORT: '0', SANDBOX_PORT: '0', HOST: '127.0.0.1', ...options.env }
  const bridge = await startBridge({
    config: loadConfig(env),
    logger: createLogger('debug', sink),
    sandboxes: false,
    worker: { pollMs: 20, backoffScale: 0.001, ...options.worker },
    destinations: options.destinations ?? [segmentDestination({ writeKey: 'test-key', host: segmentServer.url, sandboxed: true, policy: { baseDelayMs: 1000 } })],
    ...options
  })
  return {
    ...bridge,
    segment,
    logs,
    post: (source, body, headers = {}) => postWebhook(bridge.url, source, body, headers),
    admin: async (method, path, body) => {
      const res = await fetch(`${bridge.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${SECRETS.BRIDGE_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      return { status: res.status, body: await res.json() }
    },
    close: async () => {
      await bridge.stop(2_000)
      await segmentServer.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export async function postWebhook(base: string, source: string, body: string | object, headers: Record<string, string> = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body)
  const res = await fetch(`${base}/webhooks/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, body: parsed as any }
}

/** Signs like each platform documents. */
export const sign = {
  referralcandy: (raw: string, secret = SECRETS.REFERRALCANDY_API_SECRET) => ({
    'x-referral-candy-signature': createHash('md5').update(secret + raw).digest('hex')
  }),
  rewardful: (raw: string, secret = SECRETS.REWARDFUL_WEBHOOK_SECRET) => ({
    'x-rewardful-signature': createHmac('sha256', secret).update(raw).digest('hex')
  }),
  ambassador: (_raw: string, secret = SECRETS.AMBASSADOR_WEBHOOK_SECRET) => ({ 'x-ambassador-secret': secret })
}

export function referralCandyPayload(i = 0) {
  return { referral_email: `friend${i}@example.com`, referral_timestamp: 1434439382 + i, referring_email: `advocate${i % 7}@example.com` }
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
