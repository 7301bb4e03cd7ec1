import type { TrackMessage } from '../../src/messages.ts'
import type { NewNotification } from '../../src/notifications/store.ts'

export const ADVOCATE = 'advocate@example.com'

export function orderCompleted(i: number, overrides: Partial<TrackMessage['properties']> = {}): TrackMessage {
  return {
    type: 'track',
    event: 'Order Completed',
    messageId: `rb-shopify-test${String(i).padStart(4, '0')}-track`,
    userId: `friend${i}@example.com`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString(),
    context: { protocols: { event_version: 1 } },
    properties: {
      order_id: `100${i}`,
      revenue: 25,
      revenue_minor: 2500,
      currency: 'USD',
      advocate_id: ADVOCATE,
      advocate_email: ADVOCATE,
      friend_email: `friend${i}@example.com`,
      source_platform: 'shopify',
      ...overrides
    }
  }
}

export function notification(i: number, overrides: Partial<NewNotification> = {}): NewNotification {
  return {
    id: `n-${String(i).padStart(4, '0')}`,
    advocateId: ADVOCATE,
    kind: 'friend_purchase',
    title: 'Your friend made a purchase',
    body: `Your friend f*** bought — order #100${i}, $25.00`,
    data: { order_id: `100${i}`, revenue: 25, currency: 'USD', nested: { ok: true } },
    createdAt: 1_760_000_000_000 + i,
    ...overrides
  }
}

export interface SseEvent {
  id?: string
  event: string
  data: string
}

/** A minimal EventSource over fetch: collects events and comments, so tests can wait for them. */
export async function openStream(url: string, headers: Record<string, string>) {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  const events: SseEvent[] = []
  const comments: string[] = []
  let ended = false
  const done = (async () => {
    if (!res.body) return
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let cut: number
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const ev: SseEvent = { event: 'message', data: '' }
          const data: string[] = []
          let hasField = false
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else {
              const i = line.indexOf(':')
              const field = i < 0 ? line : line.slice(0, i)
              const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
              if (field === 'id') ev.id = val
              else if (field === 'event') ev.event = val
              else if (field === 'data') data.push(val)
              else continue
              hasField = true
            }
          }
          if (hasField && (data.length || ev.id !== undefined)) {
            ev.data = data.join('\n')
            events.push(ev)
          }
        }
      }
    } catch {
      // aborted
    } finally {
      ended = true
    }
  })()
  return {
    res,
    events,
    comments,
    get ended() {
      return ended
    },
    notifications: () => events.filter((e) => e.event === 'notification').map((e) => ({ id: e.id, ...JSON.parse(e.data) })),
    close: async () => {
      controller.abort()
      await done
    }
  }
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
