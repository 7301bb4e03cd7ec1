import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFunctionFolder, resolveSettings, discoverFunctionFolders } from '../../src/runtime/function-folder.ts'

let dir: string
const settings = [
  { name: 'apiKey', label: 'k', description: 'k', type: 'STRING', required: true, sensitive: true },
  { name: 'listId', label: 'l', description: 'l', type: 'STRING', required: true, sensitive: false },
  { name: 'baseUrl', label: 'b', description: 'b', type: 'STRING', required: false, sensitive: false },
  { name: 'map', label: 'm', description: 'm', type: 'TEXT_MAP', required: false, sensitive: false },
  { name: 'flag', label: 'f', description: 'f', type: 'BOOLEAN', required: false, sensitive: false }
]
const bridge = {
  settings: {
    apiKey: { env: 'ACME_KEY', sandbox: 'sandbox-key' },
    listId: { env: 'ACME_LIST', sandbox: 'sandbox-list' },
    baseUrl: { env: 'ACME_BASE_URL', sandbox: '{sandboxUrl}' },
    map: { env: 'ACME_MAP' },
    flag: { env: 'ACME_FLAG' }
  },
  sandbox: 'acme',
  target: 'https://api.acme.example',
  policy: { batchSize: 10 }
}
function folder(name: string, manifest: unknown, index = 'async function onTrack() {}\nexport {}\n') {
  mkdirSync(join(dir, name), { recursive: true })
  writeFileSync(join(dir, name, 'index.ts'), index)
  writeFileSync(join(dir, name, 'function.json'), JSON.stringify(manifest))
  return join(dir, name)
}
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rb-folder-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('function folders', () => {
  it('unconfigured → sandbox values, {sandboxUrl} from the sandboxBase it is given; env overrides a sandbox value', () => {
    const f = readFunctionFolder(folder('acme', { settings, bridge }))
    expect(resolveSettings(f, {}, 'http://127.0.0.1:3001/sandbox')).toEqual({
      enabled: true,
      sandboxed: true,
      settings: { apiKey: 'sandbox-key', listId: 'sandbox-list', baseUrl: 'http://127.0.0.1:3001/sandbox/acme' },
      target: 'http://127.0.0.1:3001/sandbox/acme'
    })
    expect(resolveSettings(f, { ACME_BASE_URL: 'http://x' }, 'http://s').settings.baseUrl).toBe('http://x')
  })

  it('configured → real values, typed (TEXT_MAP as JSON, BOOLEAN), target from the bridge block', () => {
    const f = readFunctionFolder(folder('acme', { settings, bridge }))
    const r = resolveSettings(f, { ACME_KEY: 'k', ACME_LIST: 'l', ACME_MAP: '{"a":"B"}', ACME_FLAG: 'true' }, 'http://s')
    expect(r).toEqual({ enabled: true, sandboxed: false, settings: { apiKey: 'k', listId: 'l', map: { a: 'B' }, flag: true }, target: 'https://api.acme.example' })
    expect(() => resolveSettings(f, { ACME_KEY: 'k', ACME_LIST: 'l', ACME_MAP: 'nope' }, 'http://s')).toThrow(/ACME_MAP must be JSON/)
  })

  it('half-configured is refused, naming what is missing; no sandbox and unconfigured = not enabled', () => {
    const f = readFunctionFolder(folder('acme', { settings, bridge }))
    expect(() => resolveSettings(f, { ACME_KEY: 'k' }, 'http://s')).toThrow('destination acme: ACME_KEY set but ACME_LIST missing')
    const g = readFunctionFolder(folder('nosb', { settings, bridge: { ...bridge, sandbox: undefined } }))
    expect(resolveSettings(g, {}, 'http://s')).toMatchObject({ enabled: false, reason: expect.stringMatching(/set ACME_KEY, ACME_LIST/) })
  })

  it('function.json problems name the file and the field', () => {
    expect(() => readFunctionFolder(folder('a', { settings, bridge: { ...bridge, settings: { apiKey: bridge.settings.apiKey } } }))).toThrow(/a\/function\.json: bridge\.settings\.listId is missing: a required setting needs an env var/)
    expect(() => readFunctionFolder(folder('b', { settings, bridge: { ...bridge, policy: { batchSize: -1 } } }))).toThrow(/bridge\.policy\.batchSize must be a non-negative number/)
    expect(() => readFunctionFolder(folder('c', { settings, bridge: { ...bridge, policy: { speed: 1 } } }))).toThrow(/bridge\.policy\.speed is not a policy field/)
    expect(() => readFunctionFolder(folder('d', { settings, bridge: { ...bridge, settings: { ...bridge.settings, nope: { env: 'X' } } } }))).toThrow(/bridge\.settings\.nope names no setting/)
    expect(() => readFunctionFolder(folder('e', { settings, bridge: { ...bridge, settings: { ...bridge.settings, apiKey: { env: 'lower' } } } }))).toThrow(/upper-case environment variable/)
    expect(() => readFunctionFolder(folder('f', { settings, bridge: { ...bridge, subscribe: 'event = ' } }))).toThrow(/f\/function\.json: bridge\.subscribe expected a value/)
  })

  it('discovery: every folder with index.ts and function.json, sorted; others ignored', () => {
    folder('zeta', { settings: [] })
    folder('alpha', { settings, bridge })
    mkdirSync(join(dir, 'notes'))
    expect(discoverFunctionFolders(dir).map((f) => [f.name, !!f.bridge])).toEqual([
      ['alpha', true],
      ['zeta', false]
    ])
    expect(discoverFunctionFolders(join(dir, 'missing'))).toEqual([])
  })
})
