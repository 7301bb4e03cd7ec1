import express, { type Router } from 'express'
import { Webhook } from 'standardwebhooks'
import { FaultSwitch } from './faults.ts'

/**
 * The shop's app, as far as the bridge's outbound webhooks go: `POST /webhooks/referral-bridge` verifies the
 * Standard Webhooks signature with the `standardwebhooks` package (401 when it does not verify, including a
 * timestamp more than 5 minutes off) and dedupes on `webhook-id` the way a real receiver should. `received`
 * counts every verified copy, `webhooks` holds each id once, so tests can tell "sent twice" from "applied twice".
 * Outages ("the app is down") come from the shared FaultSwitch at `/_sandbox/faults`; `GET /_sandbox/webhooks`
 * shows the state.
 */
export interface ReceivedAppWebhook {
  id: string
  timestamp: number
  type: string
  payload: { type: string; timestamp: string; data: Record<string, unknown> }
  /** How many verified copies arrived with this id. */
  copies: number
  firstReceivedAt: number
}

export interface AppSandboxState {
  webhooks: Map<string, ReceivedAppWebhook>
  /** Verified requests, duplicates included. */
  received: number
  /** Requests refused for their signature or headers. */
  rejected: number
}

export function createAppSandbox(options: { secret: string; now?: () => number }) {
  const verifier = new Webhook(options.secret)
  const now = options.now ?? Date.now
  const state: AppSandboxState = { webhooks: new Map(), received: 0, rejected: 0 }
  const faults = new FaultSwitch(now)
  const router: Router = express.Router()
  router.use(faults.router())
  router.use(faults.middleware(() => ({ error: 'rate_limited', message: 'Too Many Requests' })))

  router.post('/webhooks/referral-bridge', express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : ''
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? '')
    }
    let payload: ReceivedAppWebhook['payload']
    try {
      payload = verifier.verify(raw, headers) as ReceivedAppWebhook['payload']
    } catch (err) {
      state.rejected++
      return res.status(401).json({ error: 'invalid_signature', message: (err as Error).message })
    }
    state.received++
    const id = headers['webhook-id']
    const seen = state.webhooks.get(id)
    if (seen) {
      seen.copies++
      return res.status(200).json({ ok: true, duplicate: true })
    }
    state.webhooks.set(id, {
      id,
      timestamp: Number(headers['webhook-timestamp']),
      type: String(payload?.type),
      payload,
      copies: 1,
      firstReceivedAt: now()
    })
    res.status(200).json({ ok: true })
  })

  router.get('/_sandbox/webhooks', (_req, res) => {
    res.json({ received: state.received, unique: state.webhooks.size, rejected: state.rejected, webhooks: [...state.webhooks.values()] })
  })

  return { router, state, faults }
}
