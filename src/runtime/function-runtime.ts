import vm from 'node:vm'
import nodeCrypto from 'node:crypto'
import { createRequire } from 'node:module'

/**
 * Runs a BUILT Segment destination function (a plain script declaring `async function onTrack(event, settings)`
 * ...) the way Segment's runtime does: in a fresh context whose only globals are the documented ones
 * (_includes/content/functions/runtime.md), backed by the real npm packages. No `require`, `process`, `module`,
 * `import()`: code that works here works when pasted into Segment, and vice versa.
 *
 * node:vm is isolation for honesty, not a security boundary: only run code from this repository.
 *
 * Per-call time limit (Segment: 5 s). On expiry the call rejects with a `TimeoutError` (→ retry, as Segment
 * retries timeouts); the abandoned work may still finish in the background, as on Lambda until it is frozen.
 */

const require = createRequire(import.meta.url)

export interface FunctionBatchItemResult {
  status: number
  errormessage?: string
  /** Our extension: a retry hint for this item. Segment ignores it. */
  retryAfterMs?: number
}

export interface FunctionHandle {
  /** Whether the script defines the handler for this Segment event type (`track` → `onTrack`). */
  handles(type: string): boolean
  call(event: unknown, settings: Record<string, unknown>): Promise<void>
  batch?(events: unknown[], settings: Record<string, unknown>): Promise<FunctionBatchItemResult[]>
}

export interface LoadFunctionOptions {
  timeoutMs?: number
  /** Extra or replacement globals (tests). A value of `undefined` removes a default global. */
  globals?: Record<string, unknown>
}

// ---- Segment's error classes -------------------------------------------------------------------------------
// Defined in the host so the destination can inspect them; `name` is what src/queue/classify.ts switches on.

export class RetryError extends Error {
  retryAfterMs?: number
  status?: number
  constructor(message?: string) {
    super(message)
    this.name = 'RetryError'
  }
}
export class ValidationError extends Error {
  status?: number
  constructor(message?: string) {
    super(message)
    this.name = 'ValidationError'
  }
}
export class InvalidEventPayload extends Error {
  constructor(message?: string) {
    super(message)
    this.name = 'InvalidEventPayload'
  }
}
export class EventNotSupported extends Error {
  constructor(message?: string) {
    super(message)
    this.name = 'EventNotSupported'
  }
}
/** What a call that outlives its time limit rejects with (classifyError: `TimeoutError` ⇒ retry). */
export class FunctionTimeoutError extends Error {
  constructor(ms: number) {
    super(`function did not finish within ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

// ---- cache -------------------------------------------------------------------------------------------------

/** Segment's `cache`: process-local, per function instance, TTL per entry; concurrent loads of a key share one fn() call. */
export function createFunctionCache(now: () => number = Date.now) {
  const entries = new Map<string, { value: unknown; expiresAt: number }>()
  const loading = new Map<string, Promise<unknown>>()
  return {
    async load<T>(key: string, ttlMs: number, fn: () => Promise<T> | T): Promise<T> {
      const hit = entries.get(key)
      if (hit && hit.expiresAt > now()) return hit.value as T
      const pending = loading.get(key)
      if (pending) return pending as Promise<T>
      const p = (async () => {
        try {
          const value = await fn()
          entries.set(key, { value, expiresAt: now() + ttlMs })
          return value
        } finally {
          loading.delete(key)
        }
      })()
      loading.set(key, p)
      return p
    },
    delete(key: string): void {
      entries.delete(key)
    }
  }
}

let libraries: Record<string, unknown> | undefined
function loadLibraries(): Record<string, unknown> {
  libraries ??= {
    _: require('lodash'),
    hubspotlib: { hubspot: require('@hubspot/api-client') },
    jsforce: require('jsforce')
  }
  return libraries
}

/** The documented globals (the subset this project's functions may use), keyed by name. */
export function defaultFunctionGlobals(): Record<string, unknown> {
  return {
    ...loadLibraries(),
    fetch: globalThis.fetch,
    crypto: nodeCrypto,
    btoa: globalThis.btoa,
    atob: globalThis.atob,
    Buffer,
    console,
    URL,
    URLSearchParams,
    setTimeout,
    clearTimeout,
    cache: createFunctionCache(),
    RetryError,
    ValidationError,
    InvalidEventPayload,
    EventNotSupported
  }
}

const HANDLERS: Record<string, string> = {
  identify: 'onIdentify',
  track: 'onTrack',
  page: 'onPage',
  screen: 'onScreen',
  group: 'onGroup',
  alias: 'onAlias',
  delete: 'onDelete'
}

export function handlerName(type: string): string | undefined {
  return HANDLERS[type]
}

export function loadFunction(code: string, opts: LoadFunctionOptions = {}): FunctionHandle {
  const timeoutMs = opts.timeoutMs ?? 5_000
  const globals: Record<string, unknown> = { ...defaultFunctionGlobals() }
  for (const [k, v] of Object.entries(opts.globals ?? {})) {
    if (v === undefined) delete globals[k]
    else globals[k] = v
  }
  const context = vm.createContext(Object.assign(Object.create(null), globals), { name: 'segment-function' })
  // Top-level evaluation: synchronous, so vm's own timeout applies.
  new vm.Script(code, { filename: 'function.js' }).runInContext(context, { timeout: timeoutMs })

  const has = (name: string) => typeof (context as Record<string, unknown>)[name] === 'function'

  /** Calls a handler inside the context (so its synchronous part is bounded by vm's timeout) and races the promise. */
  const invoke = async (handler: string, args: unknown[]): Promise<unknown> => {
    // Arguments cross as JSON, as Segment delivers them: the function gets its own realm's objects and cannot mutate ours.
    const ctx = context as Record<string, unknown>
    ctx.__rb_args = JSON.stringify(args)
    let pending: Promise<unknown>
    try {
      pending = Promise.resolve(
        vm.runInContext(`(() => { const a = JSON.parse(__rb_args); delete globalThis.__rb_args; return ${handler}(...a) })()`, context, {
          timeout: timeoutMs
        })
      )
    } catch (err) {
      if ((err as { code?: string })?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new FunctionTimeoutError(timeoutMs)
      throw err
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FunctionTimeoutError(timeoutMs)), timeoutMs)
    })
    try {
      return await Promise.race([pending, timeout])
    } finally {
      clearTimeout(timer)
      pending.catch(() => {}) // an abandoned (timed-out) call must not become an unhandled rejection
    }
  }

  const handle: FunctionHandle = {
    handles(type: string) {
      const name = handlerName(type)
      return !!name && has(name)
    },
    async call(event, settings) {
      const type = (event as { type?: string })?.type ?? ''
      const name = handlerName(type)
      if (!name || !has(name)) throw new EventNotSupported(`${type || 'unknown'} is not supported`)
      await invoke(name, [event, settings])
    },
    ...(has('onBatch')
      ? {
          async batch(events: unknown[], settings: Record<string, unknown>) {
            const result = await invoke('onBatch', [events, settings])
            if (!Array.isArray(result) || result.length !== events.length) {
              throw new Error(`onBatch must return one result per event (${events.length}), got ${Array.isArray(result) ? result.length : typeof result}`)
            }
            return result.map((r) => {
              const item = (r ?? {}) as FunctionBatchItemResult
              const status = Number(item.status)
              return {
                status: Number.isFinite(status) ? status : 500,
                ...(item.errormessage !== undefined ? { errormessage: String(item.errormessage) } : {}),
                ...(typeof item.retryAfterMs === 'number' ? { retryAfterMs: item.retryAfterMs } : {})
              }
            })
          }
        }
      : {})
  }
  return handle
}
