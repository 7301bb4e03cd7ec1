import type { Notification } from './store.ts'

export interface Subscriber {
  /** Called for each notification published for the advocate. Must not throw (errors are swallowed). */
  send(n: Notification): void
  /** Called once when the hub closes (shutdown): end the stream. */
  end?(): void
}

/**
 * In-process pub/sub: SSE connections subscribe per advocate, the in_app destination publishes once a
 * notification is newly stored. Nothing is buffered here: the store is the record, and a client that was away
 * replays what it missed with Last-Event-ID. With several bridge instances, a live push reaches only the
 * subscribers of the instance that delivered it (see docs/notifications.md).
 */
export class NotificationHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>()
  private closed = false
  readonly counters = { published: 0, sent: 0 }

  subscribe(advocateId: string, subscriber: Subscriber): () => void {
    if (this.closed) {
      subscriber.end?.()
      return () => {}
    }
    let set = this.subscribers.get(advocateId)
    if (!set) this.subscribers.set(advocateId, (set = new Set()))
    set.add(subscriber)
    return () => {
      const s = this.subscribers.get(advocateId)
      if (!s) return
      s.delete(subscriber)
      if (s.size === 0) this.subscribers.delete(advocateId)
    }
  }

  publish(n: Notification): number {
    this.counters.published++
    const set = this.subscribers.get(n.advocateId)
    if (!set) return 0
    let delivered = 0
    for (const s of [...set]) {
      try {
        s.send(n)
        delivered++
      } catch {
        // One broken connection must not stop the others.
      }
    }
    this.counters.sent += delivered
    return delivered
  }

  subscriberCount(advocateId?: string): number {
    if (advocateId !== undefined) return this.subscribers.get(advocateId)?.size ?? 0
    let n = 0
    for (const s of this.subscribers.values()) n += s.size
    return n
  }

  /** Ends every stream (graceful shutdown); later subscribers are ended at once. */
  close(): void {
    this.closed = true
    const all = [...this.subscribers.values()].flatMap((s) => [...s])
    this.subscribers.clear()
    for (const s of all) {
      try {
        s.end?.()
      } catch {}
    }
  }
}
