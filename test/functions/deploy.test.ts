import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createSegmentPublicApiSandbox } from '../../src/sandboxes/segment-public-api.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { deployFunction, diffLines } from '../../src/functions/deploy.ts'
import { functionsCommand } from '../../src/functions/cli.ts'
import { buildFunction } from '../../src/functions/build.ts'

let sb: ReturnType<typeof createSegmentPublicApiSandbox>
let srv: Awaited<ReturnType<typeof serveSandbox>>
let env: NodeJS.ProcessEnv

beforeEach(async () => {
  sb = createSegmentPublicApiSandbox({ token: 'sgp_test' })
  srv = await serveSandbox(sb.router)
  env = { SEGMENT_API_TOKEN: 'sgp_test', SEGMENT_API_BASE_URL: srv.url }
})
afterEach(() => srv.close())

/** A copy of the project layout with one small function we can change between deploys. */
async function tempRoot(source: string): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'rb-deploy-'))
  await mkdir(path.join(root, 'destination-functions', 'demo'), { recursive: true })
  await writeFile(path.join(root, 'destination-functions', 'demo', 'index.ts'), source)
  await writeFile(
    path.join(root, 'destination-functions', 'demo', 'function.json'),
    JSON.stringify({ displayName: 'Demo', settings: [{ name: 'apiKey', label: 'API key', description: 'key', type: 'STRING', required: true, sensitive: true }] })
  )
  return root
}

describe('deployFunction against the Segment Public API sandbox', () => {
  it('creates the hubspot function with the built code and its settings', async () => {
    const built = await buildFunction('hubspot')
    const r = await deployFunction('hubspot', { env })
    expect(r.action).toBe('create')
    const fn = sb.state.functions.get(r.id!)!
    expect(fn.resourceType).toBe('DESTINATION')
    expect(fn.code).toBe(built.code)
    expect(fn.displayName).toBe('Referral Bridge HubSpot (Sandbox Workspace)')
    expect(fn.settings.map((s) => s.name)).toEqual(['accessToken', 'baseUrl', 'referralIdProperty'])
    expect(fn.settings.find((s) => s.name === 'accessToken')).toMatchObject({ required: true, sensitive: true })
    // Same code again: found by display name despite the workspace suffix, nothing written.
    const again = await deployFunction('hubspot', { env })
    expect(again).toMatchObject({ action: 'unchanged', id: r.id })
    expect(sb.state.writes).toHaveLength(1)
  })

  it('create, then update (PATCH) when the code changes', async () => {
    const root = await tempRoot(`async function onTrack(e: unknown) { console.log('v1') }\nexport {}\n`)
    const created = await deployFunction('demo', { env, root })
    expect(created.action).toBe('create')
    await writeFile(path.join(root, 'destination-functions', 'demo', 'index.ts'), `async function onTrack(e: unknown) { console.log('v2') }\nexport {}\n`)
    const updated = await deployFunction('demo', { env, root })
    expect(updated).toMatchObject({ action: 'update', id: created.id })
    expect(sb.state.functions.get(created.id!)!.code).toContain('console.log("v2")')
    expect(sb.state.writes.map((w) => w.method)).toEqual(['POST', 'PATCH'])
    expect(sb.state.functions.size).toBe(1)
  })

  it('--dry-run writes nothing and prints a diff (create and update)', async () => {
    const root = await tempRoot(`async function onTrack(e: unknown) { console.log('v1') }\nexport {}\n`)
    const out: string[] = []
    const io = { env, root, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } }
    expect(await functionsCommand(['deploy', 'demo', '--dry-run'], io)).toBe(0)
    expect(sb.state.writes).toHaveLength(0)
    expect(sb.state.functions.size).toBe(0)
    expect(out.join('')).toMatch(/dry run: would create Demo; nothing written/)
    expect(out.join('')).toContain('+  console.log("v1");')

    expect(await functionsCommand(['deploy', 'demo'], io)).toBe(0)
    expect(sb.state.writes).toHaveLength(1)
    await writeFile(path.join(root, 'destination-functions', 'demo', 'index.ts'), `async function onTrack(e: unknown) { console.log('v2') }\nexport {}\n`)
    out.length = 0
    expect(await functionsCommand(['deploy', 'demo', '--dry-run'], io)).toBe(0)
    expect(sb.state.writes).toHaveLength(1)
    const text = out.join('')
    expect(text).toMatch(/would update Demo \(dfn_/)
    expect(text).toContain('-  console.log("v1");')
    expect(text).toContain('+  console.log("v2");')
    expect([...sb.state.functions.values()][0]!.code).toContain('v1')
  })

  it('honours Retry-After on 429 and explains 401', async () => {
    const root = await tempRoot(`async function onTrack(e: unknown) {}\nexport {}\n`)
    sb.faults.add({ kind: 'status', status: 429, retryAfterSeconds: 0, count: 2 })
    expect((await deployFunction('demo', { env, root })).action).toBe('create')
    await expect(deployFunction('demo', { env: { ...env, SEGMENT_API_TOKEN: 'wrong' }, root })).rejects.toThrow(/401.*SEGMENT_API_TOKEN/)
    await expect(deployFunction('demo', { env: { SEGMENT_API_BASE_URL: srv.url }, root })).rejects.toThrow(/SEGMENT_API_TOKEN is not set/)
  })
})

describe('functions CLI', () => {
  it('build [name] prints the artifact and sha256; unknown names fail', async () => {
    const out: string[] = []
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } }
    expect(await functionsCommand(['build', 'hubspot'], io)).toBe(0)
    expect(out.join('')).toMatch(/built hubspot → dist\/functions\/hubspot\.js .*sha256 [0-9a-f]{64}/)
    expect(await functionsCommand(['build', 'nope'], io)).toBe(1)
    expect(await functionsCommand(['deploy'], io)).toBe(2)
    expect(await functionsCommand(['frobnicate'], io)).toBe(2)
    expect(await functionsCommand(['test', 'nope'], io)).toBe(1)
  })
})

describe('diffLines', () => {
  it('is empty for equal input and marks changes', () => {
    expect(diffLines('a\nb', 'a\nb', 'x', 'y')).toBe('')
    expect(diffLines('a\nb\nc', 'a\nB\nc', 'x', 'y')).toBe('--- x\n+++ y\n a\n-b\n+B\n c')
  })
})
