import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { postmanCollection } from '../../scripts/postman.ts'
import { demoEnv, ENVIRONMENT_FILE } from '../../scripts/demo.ts'
import { loadSources } from '../../src/sources/registry.ts'

// newman running the collection against the demo is the end-to-end check (npm run test:postman, in CI); these
// pin the pieces that run makes no sense without.
const environment = new Map<string, string>(
  (JSON.parse(readFileSync(ENVIRONMENT_FILE, 'utf8')) as { values: Array<{ key: string; value: string }> }).values.map((v) => [v.key, v.value])
)

describe('the Postman collection', () => {
  it('has a request per source, a test in every request, and no unfilled path variable', async () => {
    const collection = (await postmanCollection()) as any
    const requests = collection.item.flatMap((folder: any) => folder.item)
    for (const r of requests) {
      const test = r.event.find((e: any) => e.listen === 'test')
      expect(test.script.exec.join('\n'), r.name).toMatch(/pm\.test\(/)
      for (const v of r.request.url.variable ?? []) expect(v.value, `${r.name} :${v.key}`).toMatch(/^\{\{\w+\}\}$/)
    }
    const webhookPaths = requests.map((r: any) => r.request.url.path.join('/')).filter((p: string) => p.startsWith('webhooks/'))
    expect(new Set(webhookPaths)).toEqual(new Set([...(await loadSources()).keys()].map((name) => `webhooks/${name}`)))
  })
})

describe('npm run demo', () => {
  it('passes the UPPER_CASE environment variables to the bridge and takes ports from the URLs', () => {
    const env = demoEnv()
    expect(env.REFERRALCANDY_API_SECRET).toBe(environment.get('REFERRALCANDY_API_SECRET'))
    expect(env.BRIDGE_ADMIN_TOKEN).toBe(environment.get('BRIDGE_ADMIN_TOKEN'))
    expect(env.PORT).toBe(new URL(environment.get('baseUrl')!).port)
    expect(env.SANDBOX_PORT).toBe(new URL(environment.get('sandboxUrl')!).port)
    expect(Object.keys(env).filter((k) => !/^[A-Z][A-Z0-9_]*$/.test(k))).toEqual([])
    expect(env).not.toHaveProperty('saasquatchDemoPrivateJwk')
  })

  it('lets the shell choose ports and the store (CI runs on free ports)', () => {
    expect(demoEnv(ENVIRONMENT_FILE, { PORT: '4100', SANDBOX_PORT: '4101', DATABASE_URL: 'sqlite:/tmp/x.sqlite' })).toMatchObject({
      PORT: '4100',
      SANDBOX_PORT: '4101',
      DATABASE_URL: 'sqlite:/tmp/x.sqlite'
    })
  })

  it('ships a SaaSquatch demo key whose public half is the JWKS the bridge verifies with', () => {
    const jwk = JSON.parse(environment.get('saasquatchDemoPrivateJwk')!)
    const jwks = JSON.parse(environment.get('SAASQUATCH_WEBHOOK_SECRET')!)
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({ kid: jwk.kid, n: jwk.n, e: jwk.e, alg: 'RS256' })
    // d is the private exponent of (n, e): (m^d)^e = m mod n, the identity the pre-request script's signature needs.
    const n = big(jwk.n)
    const m = 0x1234567890abcdefn
    expect(modPow(modPow(m, big(jwk.d), n), big(jwk.e), n)).toBe(m)
  })
})

const big = (b64url: string) => BigInt(`0x${Buffer.from(b64url, 'base64url').toString('hex')}`)

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n
  base %= modulus
  for (; exponent > 0n; exponent >>= 1n, base = (base * base) % modulus) if (exponent & 1n) result = (result * base) % modulus
  return result
}
