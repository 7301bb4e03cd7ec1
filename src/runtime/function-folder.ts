import { readFileSync, readdirSync, existsSync } from 'node:fs'
import path from 'node:path'
import type { DeliveryPolicy } from '../destinations/types.ts'
import { compileSubscription, type Subscription } from './subscription.ts'

/**
 * One folder = one destination: `destination-functions/<name>/index.ts` (the Segment function) and
 * `function.json` (what Segment's Public API takes: displayName, description, settings) plus a `bridge` block
 * that only this bridge reads:
 *
 *   "bridge": {
 *     "settings": { "<settingName>": { "env": "<ENV_VAR>", "sandbox": "<value in sandbox mode>" } },
 *     "subscribe": "type = \"track\" and event = \"Referral Created\"",
 *     "sandbox": "<vendor>",
 *     "target": "https://api.vendor.example",
 *     "policy": { "batchSize": 100, "ratePerSecond": 9, "concurrency": 1 }
 *   }
 *
 * `sandbox` values may contain `{sandboxUrl}` (= `<sandboxBase>/<vendor>`, wherever the bridge serves its
 * sandboxes). The folder is discovered at start; nothing in src/ names it.
 */

export interface FunctionSettingManifest {
  name: string
  label: string
  description: string
  type: 'ARRAY' | 'BOOLEAN' | 'STRING' | 'TEXT_MAP'
  required: boolean
  sensitive: boolean
}

export interface BridgeSetting {
  env: string
  /** Value in sandbox mode when the env var is unset; `{sandboxUrl}` is replaced. */
  sandbox?: string
}

export interface BridgeBlock {
  settings: Record<string, BridgeSetting>
  /** Segment subscription syntax; default: every message the function has a handler for. */
  subscribe?: string
  /** The sandbox vendor (src/sandboxes) used when no credential env var is set. */
  sandbox?: string
  /** Where it sends with real credentials, for the startup log. */
  target?: string
  policy?: Partial<DeliveryPolicy>
}

export interface FunctionFolder {
  name: string
  dir: string
  displayName: string
  description?: string
  settings: FunctionSettingManifest[]
  bridge?: BridgeBlock
  /** Compiled `bridge.subscribe` (undefined: no filter). */
  subscription?: Subscription
}

export class FunctionFolderError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FunctionFolderError'
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9-_]*$/
const POLICY_NUMBERS = ['concurrency', 'batchSize', 'ratePerSecond', 'burst', 'maxAttempts', 'maxAgeMs', 'baseDelayMs', 'maxDelayMs', 'leaseMs', 'priorityLanes', 'urgentMaxDelayMs']

export function defaultFunctionsDir(projectRoot: string): string {
  return path.join(projectRoot, 'destination-functions')
}

/** Reads and checks one folder's function.json; every problem names the file and the field. */
export function readFunctionFolder(dir: string): FunctionFolder {
  const name = path.basename(dir)
  const file = path.join(dir, 'function.json')
  if (!NAME_RE.test(name)) throw new FunctionFolderError(`${file}: folder name "${name}" must be lower-case letters, digits, - or _`)
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new FunctionFolderError(`${file}: ${(err as Error).message}`)
  }
  const fail = (field: string, problem: string): never => {
    throw new FunctionFolderError(`${file}: ${field} ${problem}`)
  }
  const settings = (raw.settings ?? []) as FunctionSettingManifest[]
  if (!Array.isArray(settings)) fail('settings', 'must be an array')
  const folder: FunctionFolder = {
    name,
    dir,
    displayName: typeof raw.displayName === 'string' ? raw.displayName : name,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    settings
  }
  const b = raw.bridge as Record<string, unknown> | undefined
  if (b === undefined) return folder
  if (!b || typeof b !== 'object') fail('bridge', 'must be an object')
  const bridgeSettings = (b.settings ?? {}) as Record<string, BridgeSetting>
  if (typeof bridgeSettings !== 'object' || Array.isArray(bridgeSettings)) fail('bridge.settings', 'must be an object of { "<setting>": { "env": "<ENV_VAR>" } }')
  for (const [key, s] of Object.entries(bridgeSettings)) {
    if (!settings.some((d) => d.name === key)) fail(`bridge.settings.${key}`, 'names no setting declared in "settings"')
    if (!s || typeof s.env !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(s.env)) fail(`bridge.settings.${key}.env`, 'must be an upper-case environment variable name')
    if (s.sandbox !== undefined && typeof s.sandbox !== 'string') fail(`bridge.settings.${key}.sandbox`, 'must be a string')
  }
  for (const d of settings) if (d.required && !bridgeSettings[d.name]) fail(`bridge.settings.${d.name}`, 'is missing: a required setting needs an env var')
  if (b.subscribe !== undefined && typeof b.subscribe !== 'string') fail('bridge.subscribe', 'must be a string in Segment subscription syntax')
  if (b.sandbox !== undefined && (typeof b.sandbox !== 'string' || !NAME_RE.test(b.sandbox))) fail('bridge.sandbox', 'must name a sandbox vendor (e.g. "hubspot")')
  if (b.target !== undefined && typeof b.target !== 'string') fail('bridge.target', 'must be a string')
  const policy = (b.policy ?? {}) as Record<string, unknown>
  for (const [k, v] of Object.entries(policy)) {
    if (k === 'latePolicy') {
      if (v !== 'send-late' && v !== 'expire') fail('bridge.policy.latePolicy', 'must be send-late or expire')
    } else if (!POLICY_NUMBERS.includes(k)) fail(`bridge.policy.${k}`, `is not a policy field (${[...POLICY_NUMBERS, 'latePolicy'].join(', ')})`)
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`bridge.policy.${k}`, 'must be a non-negative number')
  }
  let subscription: Subscription | undefined
  if (typeof b.subscribe === 'string') {
    try {
      subscription = compileSubscription(b.subscribe)
    } catch (err) {
      fail('bridge.subscribe', (err as Error).message.replace(/^subscribe: /, ''))
    }
  }
  folder.bridge = {
    settings: bridgeSettings,
    ...(typeof b.subscribe === 'string' ? { subscribe: b.subscribe } : {}),
    ...(typeof b.sandbox === 'string' ? { sandbox: b.sandbox } : {}),
    ...(typeof b.target === 'string' ? { target: b.target } : {}),
    policy: policy as Partial<DeliveryPolicy>
  }
  if (subscription) folder.subscription = subscription
  return folder
}

/** Every `<dir>/<name>/` holding index.ts and function.json, sorted by name. */
export function discoverFunctionFolders(dir: string): FunctionFolder[] {
  const entries = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []
  return entries
    .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'index.ts')) && existsSync(path.join(dir, e.name, 'function.json')))
    .map((e) => readFunctionFolder(path.join(dir, e.name)))
    .sort((a, b) => a.name.localeCompare(b.name))
}

export interface ResolvedSettings {
  /** false: not configured and no sandbox; `reason` says why. */
  enabled: boolean
  sandboxed: boolean
  settings: Record<string, unknown>
  target: string
  reason?: string
}

/**
 * Fills the function's settings from env. Credentials = the required settings (or, with none required, the
 * sensitive ones). All credential env vars set ⇒ the real vendor; none set ⇒ the sandbox the folder names (or
 * disabled without one); some but not all ⇒ an error naming the missing variables (a half-configured
 * destination must not silently talk to a sandbox). Other settings take their env var when set, else their
 * sandbox value in sandbox mode, else nothing (the function's own default).
 */
export function resolveSettings(folder: FunctionFolder, env: NodeJS.ProcessEnv, sandboxBase: string): ResolvedSettings {
  const bridge = folder.bridge ?? { settings: {} }
  const mapped = Object.entries(bridge.settings)
  const declared = (name: string) => folder.settings.find((s) => s.name === name)
  let credentials = mapped.filter(([name]) => declared(name)?.required)
  if (!credentials.length) credentials = mapped.filter(([name]) => declared(name)?.sensitive)
  const set = (v: string | undefined) => v !== undefined && v !== ''
  const present = credentials.filter(([, s]) => set(env[s.env]))
  if (present.length && present.length < credentials.length) {
    const missing = credentials.filter(([, s]) => !set(env[s.env])).map(([, s]) => s.env)
    throw new FunctionFolderError(`destination ${folder.name}: ${present.map(([, s]) => s.env).join(', ')} set but ${missing.join(', ')} missing`)
  }
  const sandboxed = credentials.length === 0 ? !!bridge.sandbox : present.length === 0
  if (sandboxed && !bridge.sandbox) {
    return { enabled: false, sandboxed, settings: {}, target: '', reason: `set ${credentials.map(([, s]) => s.env).join(', ')} (no sandbox named in function.json)` }
  }
  const sandboxUrl = bridge.sandbox ? `${sandboxBase}/${bridge.sandbox}` : ''
  const settings: Record<string, unknown> = {}
  let target = bridge.target ?? folder.name
  for (const [name, s] of mapped) {
    const fromEnv = env[s.env]
    let value: unknown
    if (set(fromEnv)) value = fromEnv
    else if (sandboxed && s.sandbox !== undefined) value = s.sandbox.replaceAll('{sandboxUrl}', sandboxUrl)
    if (value === undefined) continue
    if (declared(name)?.type === 'BOOLEAN' && typeof value === 'string') value = value === 'true'
    else if ((declared(name)?.type === 'TEXT_MAP' || declared(name)?.type === 'ARRAY') && typeof value === 'string') value = parseJsonSetting(folder.name, s.env, value)
    settings[name] = value
    // The setting that carries the sandbox URL is the base URL: its value (env override or sandbox) is the target.
    if (s.sandbox?.includes('{sandboxUrl}')) target = String(value)
  }
  return { enabled: true, sandboxed, settings, target }
}

function parseJsonSetting(name: string, envVar: string, raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    throw new FunctionFolderError(`destination ${name}: ${envVar} must be JSON (a TEXT_MAP or ARRAY setting), got ${JSON.stringify(raw.slice(0, 40))}`)
  }
}
