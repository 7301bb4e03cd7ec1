import { gzipSync } from 'node:zlib'
import type { TrackMessage } from '../messages.ts'
import { classifyError, classifyStatus } from '../queue/classify.ts'
import { parseRetryAfter } from '../queue/backoff.ts'
import type { DeliveryResult } from './types.ts'
import { mixpanelInsertId } from './mixpanel.ts'

/**
 * Events to Mixpanel's Import API, called directly with fetch (docs.mixpanel.com/reference/import-events).
 *
 * Why not the SDK: `/track` silently drops events older than five days (docs.mixpanel.com/troubleshooting/errors/
 * historical-events-not-appearing), so every event goes through `/import`, whatever its age. The `mixpanel` npm
 * package refuses to send a secret over plain HTTP, sends no `strict=1`, reads no `failed_records` and does not
 * gzip; the sandbox would have needed a different path from production. Here the sandbox and production share one
 * code path, only the base URL differs.
 *
 * - Auth (Import Events reference, "Authentication"): a service account (Basic `username:secret` plus
 *   `project_id` in the query), else the project secret (`secret:`), else the project token as the Basic username
 *   ("/import also supports Project Token as an authentication method"), which is what the sandbox gets.
 * - `strict=1`: Mixpanel validates each record; a 400 is a partial success whose `failed_records` name the index
 *   and `insert_id` of each rejected record (docs.mixpanel.com/troubleshooting/errors/400-bad-request). Those are
 *   permanent for their message only; the other records of the batch were imported.
 * - Limits: 2,000 events and 10 MB of uncompressed JSON per request (docs.mixpanel.com/troubleshooting/errors/
 *   413-payload-too-large); gzip saves bandwidth but does not raise the limit, so batches are cut on the
 *   uncompressed size. One event over 1 MB is refused before sending.
 * - 429 (and 5xx): every record of the request is retried by the worker with exponential backoff and jitter,
 *   floored by Retry-After when present ("Please retry the request with exponential backoff", the 429 body).
 * - `$insert_id` from the messageId and `time` from the message timestamp (ms): a redelivery has the same
 *   (event, distinct_id, time, $insert_id) and Mixpanel keeps one copy.
 */
export const IMPORT_MAX_EVENTS = 2000
export const IMPORT_MAX_BYTES = 10 * 1024 * 1024
const EVENT_MAX_BYTES = 1024 * 1024

export interface ImporterConfig {
  token: string
  secret?: string
  serviceAccount?: { username: string; secret: string; projectId: string }
  target: { host: string; protocol: 'http' | 'https'; path: string }
  timeoutMs: number
  /** Overrides the documented limits (tests cut batches small). */
  maxEvents?: number
  maxBytes?: number
}

interface FailedRecord {
  index: number
  insert_id?: string
  field?: string
  message?: string
}

export function mixpanelEventRecord(m: TrackMessage): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    ...m.properties,
    distinct_id: m.userId ?? m.anonymousId,
    $insert_id: mixpanelInsertId(m.messageId),
    time: Date.parse(m.timestamp)
  }
  if (m.context.protocols?.event_version !== undefined) properties.event_version = m.context.protocols.event_version
  return { event: m.event, properties }
}

export function mixpanelImporter(config: ImporterConfig) {
  const maxEvents = Math.min(config.maxEvents ?? IMPORT_MAX_EVENTS, IMPORT_MAX_EVENTS)
  const maxBytes = Math.min(config.maxBytes ?? IMPORT_MAX_BYTES, IMPORT_MAX_BYTES)
  const url = new URL(`${config.target.protocol}://${config.target.host}${config.target.path}/import`)
  url.searchParams.set('strict', '1')
  if (config.serviceAccount) url.searchParams.set('project_id', config.serviceAccount.projectId)
  const user = config.serviceAccount ? `${config.serviceAccount.username}:${config.serviceAccount.secret}` : config.secret ? `${config.secret}:` : `${config.token}:`
  const authorization = `Basic ${Buffer.from(user).toString('base64')}`

  async function post(lines: string[]): Promise<{ results: DeliveryResult[] }> {
    const json = `[${lines.join(',')}]`
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), config.timeoutMs)
    const all = (r: DeliveryResult) => ({ results: lines.map(() => r) })
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json', 'content-encoding': 'gzip', accept: 'application/json' },
        body: gzipSync(json),
        signal: controller.signal
      })
      const text = await res.text()
      if (res.status === 200) return all({ status: 'delivered' })
      const body = parse(text)
      if (res.status === 400 && Array.isArray(body?.failed_records)) {
        const failed = new Map<number, FailedRecord>((body.failed_records as FailedRecord[]).map((f) => [f.index, f]))
        return {
          results: lines.map((_, i) => {
            const f = failed.get(i)
            return f ? { status: 'permanent', statusCode: 400, error: `Mixpanel /import refused the event: ${f.field ?? ''} ${f.message ?? ''}`.trim() } : { status: 'delivered' }
          })
        }
      }
      const message = `Mixpanel /import ${res.status}: ${body?.error ?? text.slice(0, 200)}`
      return all(classifyStatus(res.status, message, parseRetryAfter(res.headers.get('retry-after') ?? undefined, Date.now())))
    } catch (err) {
      if (controller.signal.aborted) return all({ status: 'retry', error: `timeout: Mixpanel /import took longer than ${config.timeoutMs} ms` })
      return all(classifyError(err as Error))
    } finally {
      clearTimeout(timer)
    }
  }

  /** One result per message, in order. */
  async function importEvents(messages: TrackMessage[]): Promise<DeliveryResult[]> {
    const results: DeliveryResult[] = new Array(messages.length)
    let batch: Array<{ index: number; line: string }> = []
    let bytes = 2
    const requests: Array<Promise<void>> = []
    const flush = () => {
      if (batch.length === 0) return
      const sent = batch
      batch = []
      bytes = 2
      requests.push(post(sent.map((b) => b.line)).then(({ results: r }) => sent.forEach((b, i) => (results[b.index] = r[i]))))
    }
    messages.forEach((m, index) => {
      if (Number.isNaN(Date.parse(m.timestamp))) {
        results[index] = { status: 'permanent', error: `invalid timestamp ${m.timestamp}` }
        return
      }
      const line = JSON.stringify(mixpanelEventRecord(m))
      const size = Buffer.byteLength(line)
      if (size > EVENT_MAX_BYTES) {
        results[index] = { status: 'permanent', error: `event is ${size} bytes: Mixpanel refuses events over 1 MB` }
        return
      }
      if (batch.length >= maxEvents || bytes + size + 1 > maxBytes) flush()
      batch.push({ index, line })
      bytes += size + 1
    })
    flush()
    await Promise.all(requests)
    return results
  }

  return { importEvents, url: url.toString() }
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text)
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
