import express, { type Router } from 'express'
import type { Store, MessageRow } from '../queue/store.ts'
import type { Clock } from '../clock.ts'
import { requireAdminToken } from './admin-auth.ts'
import { parseSince } from './admin-routes.ts'

export interface WebhookHistoryDeps {
  store: Store
  clock: Clock
  adminToken?: string
}

export interface WebhookSummary {
  inboxId: string
  source: string
  eventType: string
  receivedAt: number
  status: string
  messages: Array<{ messageId: string; event: string; status: string }>
  /** Email addresses the messages carry (user ids and email-valued properties/traits). */
  people: string[]
}

/** Messages looked at per search; the console shows at most `limit` webhooks (default 50). */
const SCAN_LIMIT = 20_000

/**
 * `GET /admin/webhooks?source=&since=&email=&id=&limit=`: the console's searchable webhook history (README: "any
 * webhook's full history"). Built from the stored messages of the window, so a webhook that produced no message
 * (stored but ignored) is only found by its id. Bearer BRIDGE_ADMIN_TOKEN.
 */
export function webhookHistoryRouter(deps: WebhookHistoryDeps): Router {
  const r = express.Router()
  r.get('/admin/webhooks', requireAdminToken(deps.adminToken), async (req, res) => {
    const q = (k: string) => (typeof req.query[k] === 'string' && req.query[k] ? String(req.query[k]).trim() : undefined)
    let since: number
    try {
      since = parseSince(q('since') ?? '7d', deps.clock.now())
    } catch {
      return res.status(400).json({ error: 'invalid_request', message: `since must look like 7d, 12h, 30m or an ISO date, got "${q('since')}"` })
    }
    const limit = Math.min(Math.max(Number(q('limit') ?? 50) || 50, 1), 500)
    const id = q('id')
    if (id) {
      const inboxId = await deps.store.resolveInboxId(id)
      const detail = inboxId ? await deps.store.getEvent(inboxId) : undefined
      return res.json({ webhooks: detail ? [summarize(detail.inbox, detail.messages)] : [] })
    }
    const source = q('source')?.toLowerCase()
    const email = q('email')?.toLowerCase()
    const byInbox = new Map<string, MessageRow[]>()
    for (const row of await deps.store.recentMessages(since, SCAN_LIMIT)) {
      if (source && row.message.context?.referral?.source?.toLowerCase() !== source) continue
      byInbox.set(row.inboxId, [...(byInbox.get(row.inboxId) ?? []), row])
    }
    const webhooks: WebhookSummary[] = []
    for (const [inboxId, rows] of byInbox) {
      if (email && !rows.some((r) => emailsOf(r).some((e) => e.includes(email)))) continue
      const detail = await deps.store.getEvent(inboxId)
      if (detail) webhooks.push(summarize(detail.inbox, detail.messages))
      if (webhooks.length >= limit) break
    }
    res.json({ webhooks: webhooks.sort((a, b) => b.receivedAt - a.receivedAt) })
  })
  return r
}

function summarize(inbox: { id: string; source: string; eventType: string; receivedAt: number; status: string }, messages: MessageRow[]): WebhookSummary {
  return {
    inboxId: inbox.id,
    source: inbox.source,
    eventType: inbox.eventType,
    receivedAt: inbox.receivedAt,
    status: inbox.status,
    messages: messages.map((m) => ({ messageId: m.messageId, event: m.message.type === 'track' ? m.message.event : 'identify', status: m.status })),
    people: [...new Set(messages.flatMap(emailsOf))].sort()
  }
}

function emailsOf(row: MessageRow): string[] {
  const m = row.message as { userId?: string; properties?: Record<string, unknown>; traits?: Record<string, unknown> }
  const values = [m.userId, ...Object.values(m.properties ?? {}), ...Object.values(m.traits ?? {})]
  return values.filter((v): v is string => typeof v === 'string' && v.includes('@')).map((v) => v.toLowerCase())
}
