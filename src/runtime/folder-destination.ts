import type { Destination } from '../destinations/types.ts'
import { defaultPolicy, policyFromEnv } from '../destinations/types.ts'
import { builtFunction } from '../functions/build.ts'
import { functionDestination } from './function-destination.ts'
import { resolveSettings, type FunctionFolder, type ResolvedSettings } from './function-folder.ts'

/**
 * A discovered function folder as a destination: settings from env (function.json `bridge.settings`), its
 * sandbox when unconfigured, `bridge.subscribe` as the job filter, `bridge.policy` under the per-destination env
 * overrides (`<NAME>_BATCH_SIZE`, ... see policyFromEnv), `<NAME>_TIMEOUT_MS` for the per-call limit.
 *
 * A hook is for what is genuinely bridge-side and cannot live in the function (Klaviyo's priority lane and SLA,
 * Salesforce's JWT session): it never lists the events a destination wants, the folder does.
 */
export interface DestinationHookContext {
  env: NodeJS.ProcessEnv
  sandboxBase: string
  folder: FunctionFolder
}

export interface DestinationHook {
  /** Decides settings and sandbox mode itself (Salesforce: several auth modes mapped onto one settings set). */
  resolve?(ctx: DestinationHookContext): ResolvedSettings
  /** Wraps the destination. `settings` is the object the function reads on every call (a hook may refresh it). */
  wrap?(destination: Destination, ctx: DestinationHookContext & { settings: Record<string, unknown> }): Destination
}

export interface FolderDestinationOptions {
  env: NodeJS.ProcessEnv
  sandboxBase: string
  functionsDir?: string
  hook?: DestinationHook
  /** Extra/replacement globals for the function (tests). */
  globals?: Record<string, unknown>
}

function timeoutFromEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const key = `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_TIMEOUT_MS`
  const raw = env[key]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${key} must be a positive number of milliseconds, got "${raw}"`)
  return n
}

/** undefined when the folder is neither configured nor has a sandbox (see resolveSettings). */
export async function folderDestination(folder: FunctionFolder, opts: FolderDestinationOptions): Promise<Destination | undefined> {
  const ctx: DestinationHookContext = { env: opts.env, sandboxBase: opts.sandboxBase, folder }
  const resolved = opts.hook?.resolve ? opts.hook.resolve(ctx) : resolveSettings(folder, opts.env, opts.sandboxBase)
  if (!resolved.enabled) return undefined
  const { code } = await builtFunction(folder.name, opts.functionsDir)
  const settings = resolved.settings
  const destination = functionDestination({
    name: folder.name,
    code,
    settings,
    sandboxed: resolved.sandboxed,
    target: resolved.target,
    policy: policyFromEnv(folder.name, { ...defaultPolicy, ...folder.bridge?.policy }, opts.env),
    ...(folder.subscription ? { accepts: folder.subscription } : {}),
    timeoutMs: timeoutFromEnv(folder.name, opts.env),
    globals: opts.globals
  })
  return opts.hook?.wrap ? opts.hook.wrap(destination, { ...ctx, settings }) : destination
}
