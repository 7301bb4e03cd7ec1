/**
 * Types for the globals Segment documents for Functions (segment.com/docs/connections/functions, runtime.md,
 * errors-and-error-handling.md). Destination functions in this folder are written WITHOUT imports: they may only
 * use what is declared here, exactly as in Segment's editor. src/runtime/function-runtime.ts provides the same
 * globals (backed by the real npm packages) when we run the built artifact locally.
 *
 * This is a global script (no top-level import/export), so these names are visible to the whole TypeScript
 * program; only destination-functions/ may rely on them at runtime.
 *
 * Already typed by lib.dom / @types/node and therefore not redeclared: fetch, Headers, Request, Response, FormData,
 * btoa, atob, Buffer, console, URL, URLSearchParams, setTimeout, setInterval (and clear*). At run time `fetch` and its
 * classes are node-fetch 2's and `FormData` is form-data 2.4.0 (docs/functions-runtime.md): the WHATWG types
 * cover what both share; node-fetch's extras (`res.buffer()`, `headers.raw()`, `{timeout}`) are not typed. `crypto` is Node's `crypto` module in Segment (not Web Crypto); its
 * most used functions are merged into the `Crypto` interface below so `crypto.createHash(...)` type-checks.
 */

// ---- error classes -------------------------------------------------------------------------------------------

/** Segment retries the event (destination functions: up to four hours, randomized exponential backoff). */
declare class RetryError extends Error {
  constructor(message?: string)
  /**
   * Our extension (Segment ignores it): how long to wait before the retry, e.g. from a 429's Retry-After.
   * The local queue (src/runtime/function-destination.ts → classifyError) honours it.
   */
  retryAfterMs?: number
  /** Our extension: the HTTP status that caused the retry, for logs. */
  status?: number
}
/** "Invalid Settings" in Segment's Event Delivery: the function's settings are wrong. Discarded. */
declare class ValidationError extends Error {
  constructor(message?: string)
  status?: number
}
/** "Message Rejected": the event lacks something required. Discarded. */
declare class InvalidEventPayload extends Error {
  constructor(message?: string)
}
/** "Unsupported Event Type": the function does not handle this event. Discarded (we record it as ignored). */
declare class EventNotSupported extends Error {
  constructor(message?: string)
}

// ---- cache ---------------------------------------------------------------------------------------------------

interface SegmentFunctionCache {
  /** Returns the cached value for key if younger than ttlMs, else awaits fn(), caches and returns it. Failures are not cached. */
  load<T>(key: string, ttlMs: number, fn: () => Promise<T> | T): Promise<T>
  delete(key: string): void
}
declare const cache: SegmentFunctionCache

// ---- libraries -----------------------------------------------------------------------------------------------

declare const _: typeof import('lodash')
declare const hubspotlib: { hubspot: typeof import('@hubspot/api-client') }
/**
 * At run time this is jsforce **1.11.0** (Segment's documented version, npm alias `jsforce1`). 1.11 ships no types,
 * so these are jsforce 3's: stick to what both have (Connection, OAuth2, request, sobject); the tests run on 1.11.
 */
declare const jsforce: typeof import('jsforce')
/** moment-timezone 0.5.31. */
declare const moment: typeof import('moment-timezone')
// Documented globals whose packages ship no types at these versions: typed loosely on purpose.
declare const jsonwebtoken: any
declare const xml: (value: unknown, options?: unknown) => string
declare const xml2js: any
declare const uuidv5: { uuidv5: (namespace: string, name: string, binary?: boolean) => string }
declare const OAuth: any
declare const zlib: { zlib: typeof import('node:zlib') }
declare const https: typeof import('node:https')

/** Node's crypto module (Segment exposes `crypto` = require('crypto')). */
interface Crypto {
  createHash: typeof import('node:crypto').createHash
  createHmac: typeof import('node:crypto').createHmac
  randomBytes: typeof import('node:crypto').randomBytes
  timingSafeEqual: typeof import('node:crypto').timingSafeEqual
}

// ---- events and settings -------------------------------------------------------------------------------------

interface SegmentEventBase {
  type: string
  messageId?: string
  userId?: string | null
  anonymousId?: string | null
  timestamp?: string
  receivedAt?: string
  sentAt?: string
  context?: Record<string, any>
  integrations?: Record<string, unknown>
}
interface SegmentIdentifyEvent extends SegmentEventBase {
  type: 'identify'
  traits?: Record<string, any>
}
interface SegmentTrackEvent extends SegmentEventBase {
  type: 'track'
  event: string
  properties?: Record<string, any>
}
interface SegmentOtherEvent extends SegmentEventBase {
  type: 'page' | 'screen' | 'group' | 'alias' | 'delete'
  [key: string]: unknown
}
type SegmentEvent = SegmentIdentifyEvent | SegmentTrackEvent | SegmentOtherEvent

/** Settings as defined in the function's Settings tab (values are strings, booleans, arrays or string maps). */
type FunctionSettings = Record<string, any>

/** One entry of onBatch's return value, aligned by index with the input events. */
interface SegmentBatchItemResult {
  status: number
  errormessage?: string
  /** Our extension (Segment ignores it), see RetryError.retryAfterMs. */
  retryAfterMs?: number
}
