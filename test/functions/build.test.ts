import { describe, it, expect } from 'vitest'
import { mkdtemp, mkdir, writeFile, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { buildFunction, checkArtifact, listFunctions, FunctionBuildError } from '../../src/functions/build.ts'
import { loadFunction } from '../../src/runtime/function-runtime.ts'

async function tempFunction(name: string, source: string): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'rb-fn-'))
  await mkdir(path.join(root, 'destination-functions', name), { recursive: true })
  await writeFile(path.join(root, 'destination-functions', name, 'index.ts'), source)
  return root
}

describe('buildFunction', () => {
  it('builds the hubspot function into one plain script with top-level handlers and no module syntax', async () => {
    const built = await buildFunction('hubspot')
    expect(built.path).toMatch(/dist[/\\]functions[/\\]hubspot\.js$/)
    expect(await readFile(built.path, 'utf8')).toBe(built.code)
    expect(built.code).not.toMatch(/\brequire\s*\(/)
    expect(built.code).not.toMatch(/^\s*import\s/m)
    expect(built.code).not.toMatch(/^\s*export\s/m)
    expect(built.code).toMatch(/^async function onIdentify\(event, settings\)/m)
    expect(built.code).toMatch(/^async function onTrack\(event, settings\)/m)
    expect(built.code).toMatch(/^async function onBatch\(events, settings\)/m)
    expect(built.code).not.toMatch(/: SegmentEvent|interface HsItem/) // types are gone
    expect(built.code.split('\n').length).toBeGreaterThan(50) // not minified
    expect(checkArtifact(built.code)).toEqual([])
  })

  it('is deterministic: building twice yields the same sha256', async () => {
    const a = await buildFunction('hubspot')
    const b = await buildFunction('hubspot')
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(b.sha256).toBe(a.sha256)
  })

  it('the runtime runs the built artifact; the TypeScript source is not runnable as is', async () => {
    const built = await buildFunction('hubspot')
    const handle = loadFunction(built.code)
    expect(handle.handles('identify')).toBe(true)
    expect(handle.handles('track')).toBe(true)
    expect(handle.handles('page')).toBe(false)
    expect(handle.batch).toBeTypeOf('function')
    const ts = await readFile(path.resolve('destination-functions/hubspot/index.ts'), 'utf8')
    expect(() => loadFunction(ts)).toThrow()
  })

  it('fails with a clear message when the output would need require/import', async () => {
    const withRequire = await tempFunction('bad', `const x = require('lodash')\nasync function onTrack(e: unknown) { return x }\n`)
    await expect(buildFunction('bad', { root: withRequire })).rejects.toThrow(/require\(\)/)
    const withImport = await tempFunction('bad2', `import fs from 'node:fs'\nasync function onTrack(e: unknown) { return fs }\n`)
    await expect(buildFunction('bad2', { root: withImport })).rejects.toThrow(FunctionBuildError)
    await expect(buildFunction('bad2', { root: withImport })).rejects.toThrow(/imports a module/)
    const noHandler = await tempFunction('none', `const a = 1\nexport {}\n`)
    await expect(buildFunction('none', { root: noHandler })).rejects.toThrow(/no top-level/)
    await expect(buildFunction('missing', { root: noHandler })).rejects.toThrow(/does not exist/)
    await expect(buildFunction('../etc', { root: noHandler })).rejects.toThrow(/invalid function name/)
  })

  it('strips the `export {}` module marker and nothing else', async () => {
    const root = await tempFunction('ok', `async function onTrack(e: { a: number }): Promise<void> { console.log(e.a) }\nexport {}\n`)
    const built = await buildFunction('ok', { root })
    expect(built.code).not.toContain('export')
    expect(loadFunction(built.code).handles('track')).toBe(true)
    expect(await listFunctions(root)).toEqual(['ok'])
  })
})
