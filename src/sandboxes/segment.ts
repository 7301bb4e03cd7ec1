import express, { type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Segment Tracking API sandbox (segment.com/docs/connections/sources/catalog/libraries/server/http-api):
 * `POST /v1/batch` with HTTP Basic auth (write key as user), `{batch: [...], sentAt}`; 200 `{"success": true}`;
 * 400 for a batch over 500 KB or a message over 32 KB; Segment dedupes on messageId, and so do we: `messages`
 * holds each messageId once, `received` counts every copy sent, so tests can tell "sent twice" from "applied twice".
 */
export interface SegmentSandboxState {
  messages: Map<string, Record<string, unknown>>
  /** When each messageId first arrived (ms), for latency measurements. */
  firstSeenAt: Map<string, number>
  received: number
  batches: number
}

export function createSegmentSandbox(options: { writeKey?: string } = {}) {
  const state: SegmentSandboxState = { messages: new Map(), firstSeenAt: new Map(), received: 0, batches: 0 }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  router.use(faults.router())
  router.use(faults.middleware(() => ({ success: false, message: 'Too Many Requests' })))

  router.post('/v1/batch', express.raw({ type: '*/*', limit: '2mb' }), (req, res) => {
    const auth = req.headers.authorization ?? ''
    const writeKey = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : ''
    if (!writeKey || (options.writeKey && writeKey !== options.writeKey)) {
      return res.status(401).json({ success: false, message: 'Invalid write key' })
    }
    const raw = req.body as Buffer
    if (raw.length > 500 * 1024) return res.status(400).json({ success: false, message: 'batch exceeds 500KB' })
    let body: { batch?: Array<Record<string, unknown>> }
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      return res.status(400).json({ success: false, message: 'invalid JSON' })
    }
    if (!Array.isArray(body.batch)) return res.status(400).json({ success: false, message: 'batch must be an array' })
    for (const m of body.batch) {
      if (Buffer.byteLength(JSON.stringify(m)) > 32 * 1024) return res.status(400).json({ success: false, message: 'message exceeds 32KB' })
    }
    state.batches++
    for (const m of body.batch) {
      state.received++
      const id = String(m.messageId)
      if (!state.messages.has(id)) {
        state.messages.set(id, m)
        state.firstSeenAt.set(id, Date.now())
      }
    }
    res.status(200).json({ success: true })
  })

  router.get('/v1/messages', (_req, res) => {
    res.json({ received: state.received, batches: state.batches, messages: [...state.messages.values()] })
  })

  return { router, state, faults }
}
