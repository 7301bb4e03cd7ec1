import vm from 'node:vm'
import nodeCrypto from 'node:crypto'
import { createRequire } from 'node:module'

/**
 * Runs a BUILT Segment destination function (a plain script declaring `async function onTrack(event, settings)`
 * ...) the way Segment's runtime does: in a fresh context whose only globals are the documented ones
 * (segment-docs src/_includes/content/functions/runtime.md), backed by the npm packages at the documented
 * versions. No `require`, `process`, `module`, `import()`: code that works here works when pasted into Segment,
 * and vice versa. docs/functions-runtime.md has the point-by-point table (documented behaviour, ours, the test).
 *
 * node:vm is isolation for honesty, not a security boundary: only run code from this repository.
 *
 * Per-call time limit (Segment: 5 s, usage.md). On expiry the call rejects with a `TimeoutError` (→ retry, as
 * Segment retries timeouts); the abandoned work may still finish in the background, as on Lambda until it is frozen.
 */

const require = createRequire(import.meta.url)

export interface FunctionBatchItemResult {
  status: number
  errormessage?: string
  /** Our extension: a retry hint for this item. Segment ignores it. */
  retryAfterMs?: number
}

/**
 * What onBatch's resolved value means (destination-functions.md "Handling batching errors"): an array aligned by
 * index with the events whose entries carry `status` reports each event (`{status: 200}` or
 * `{status: 4xx|5xx, errormessage}`); anything else (nothing, or the documented `Promise.all` of one promise per
 * event-type group) means the whole batch succeeded, because "Segment considers a function's execution successful
 * if it finishes without error" (errors-and-error-handling.md). Status entries whose count differs from the
 * events' cannot be matched to events: that is a bug in the function, reported as such (a Bad Request).
 */
export function batchResults(result: unknown, count: number): FunctionBatchItemResult[] {
  const reports = Array.isArray(result) && result.some((r) => !!r && typeof r === 'object' && 'status' in r)
  if (!reports) return Array.from({ length: count }, () => ({ status: 200 }))
  const list = result as unknown[]
  if (list.length !== count) throw new OnBatchResultError(`onBatch returned ${list.length} status entries for ${count} events; they are matched by index`)
  return list.map((r) => {
    const item = (r ?? {}) as FunctionBatchItemResult
    const status = Number(item.status)
    if (item.status === undefined) return { status: 200 }
    return {
      status: Number.isFinite(status) ? status : 500,
      ...(item.errormessage !== undefined ? { errormessage: String(item.errormessage) } : {}),
      ...(typeof item.retryAfterMs === 'number' ? { retryAfterMs: item.retryAfterMs } : {})
    }
  })
}

export class OnBatchResultError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OnBatchResultError'
  }
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

/**
 * Segment's `cache` (runtime.md "Caching"): process-local, per function instance. `load(key, ttl, fn)` returns the
 * cached value or awaits fn() and caches it; "If [ttl is] omitted or set to -1, the value will have no expiry".
 * Failures are not cached; concurrent loads of one key share one fn() call.
 */
export function createFunctionCache(now: () => number = Date.now) {
  const entries = new Map<string, { value: unknown; expiresAt: number }>()
  const loading = new Map<string, Promise<unknown>>()
  const load = async <T>(key: string, ttlOrFn: number | undefined | (() => Promise<T> | T), maybeFn?: () => Promise<T> | T): Promise<T> => {
    // `cache.load(key, fn)` (ttl omitted) is the documented no-expiry form too.
    const fn = (typeof ttlOrFn === 'function' ? ttlOrFn : maybeFn) as () => Promise<T> | T
    const ttl = typeof ttlOrFn === 'number' ? ttlOrFn : -1
    const hit = entries.get(key)
    if (hit && hit.expiresAt > now()) return hit.value as T
    const pending = loading.get(key)
    if (pending) return pending as Promise<T>
    const p = (async () => {
      try {
        const value = await fn()
        entries.set(key, { value, expiresAt: ttl < 0 || !Number.isFinite(ttl) ? Infinity : now() + ttl })
        return value
      } finally {
        loading.delete(key)
      }
    })()
    loading.set(key, p)
    return p
  }
  return {
    load,
    delete(key: string): void {
      entries.delete(key)
    }
  }
}

let libraries: Record<string, unknown> | undefined
/**
 * The documented libraries (runtime.md), loaded once. Where the bridge itself depends on a newer major, the
 * documented version sits beside it under an npm alias (jsforce1 = jsforce@1.11.0, form-data2 = form-data@2.4.0).
 * docs/functions-runtime.md lists every documented global, the version we give and the ones we do not provide.
 */
function loadLibraries(): Record<string, unknown> {
  if (libraries) return libraries
  const nodeFetch = require('node-fetch') as ((...args: unknown[]) => unknown) & { Headers: unknown; Request: unknown; Response: unknown }
  libraries = {
    // node-fetch 2 (documented: v2.6.0): `{timeout}`, res.buffer(), headers.raw() and its Headers/Request/Response.
    fetch: nodeFetch,
    Headers: nodeFetch.Headers,
    Request: nodeFetch.Request,
    Response: nodeFetch.Response,
    // The npm packages, not the WHATWG globals: they accept what Buffer accepts instead of throwing InvalidCharacterError.
    atob: require('atob'),
    btoa: require('btoa'),
    _: require('lodash'),
    hubspotlib: { hubspot: require('@hubspot/api-client') },
    jsforce: require('jsforce1'),
    jsonwebtoken: require('jsonwebtoken'),
    moment: require('moment-timezone'),
    OAuth: require('oauth'),
    FormData: require('form-data2'),
    uuidv5: { uuidv5: require('uuidv5') },
    xml: require('xml'),
    xml2js: require('xml2js'),
    // npm `zlib` 1.0.5 is a 2011 native addon that no longer builds; the documented use (`zlib.zlib.deflateSync`) is Node's API.
    zlib: { zlib: require('node:zlib') },
    https: require('node:https'),
    crypto: nodeCrypto
  }
  return libraries
}

/** The documented globals, keyed by name (a fresh `cache` per call: one per function instance). */
export function defaultFunctionGlobals(): Record<string, unknown> {
  return {
    ...loadLibraries(),
    Buffer,
    console,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    AbortController,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    setImmediate,
    clearImmediate,
    queueMicrotask,
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
            return batchResults(await invoke('onBatch', [events, settings]), events.length)
          }
        }
      : {})
  }
  return handle
}
