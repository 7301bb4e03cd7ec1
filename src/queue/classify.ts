import type { DeliveryResult } from '../destinations/types.ts'

/**
 * One place decides whether a failure is retried, following Segment's Functions contract and Event Delivery
 * codes: network errors, timeouts, 408/423/429 and 5xx are retried; other 4xx are permanent; 501 is permanent
 * (the endpoint will not start implementing the call on a retry).
 */
export function classifyStatus(statusCode: number, error: string, retryAfterMs?: number): DeliveryResult {
  if (statusCode >= 200 && statusCode < 300) return { status: 'delivered' }
  if (statusCode === 408 || statusCode === 423 || statusCode === 429 || (statusCode >= 500 && statusCode !== 501)) {
    return { status: 'retry', error, statusCode, retryAfterMs }
  }
  return { status: 'permanent', error, statusCode }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'])

/** Thrown errors: named contract errors first, then HTTP status if the error carries one, else network ⇒ retry. */
export function classifyError(err: unknown): DeliveryResult {
  const e = err as { name?: string; message?: string; code?: string; status?: number; statusCode?: number; cause?: { code?: string }; retryAfterMs?: number }
  const message = e?.message ?? String(err)
  switch (e?.name) {
    case 'RetryError':
      return { status: 'retry', error: `RetryError: ${message}`, statusCode: e.status, retryAfterMs: e.retryAfterMs }
    case 'ValidationError':
    case 'InvalidEventPayload':
      return { status: 'permanent', error: `${e.name}: ${message}` }
    case 'EventNotSupported':
      return { status: 'ignored', reason: `EventNotSupported: ${message}` }
    case 'TimeoutError':
    case 'AbortError':
      return { status: 'retry', error: `timeout: ${message}` }
  }
  const status = e?.status ?? e?.statusCode
  if (typeof status === 'number') return classifyStatus(status, message, e.retryAfterMs)
  const code = e?.code ?? e?.cause?.code
  if (code && NETWORK_CODES.has(code)) return { status: 'retry', error: `${code}: ${message}` }
  // Unknown errors are retried: losing a message to a bug we have not classified is worse than a retry.
  return { status: 'retry', error: message }
}
