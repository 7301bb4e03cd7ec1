import { Worker } from 'node:worker_threads'
import type { AcceptResult, WebhookToAccept } from './store.ts'
import type { AcceptOutcome } from './sqlite-accept.mjs'

interface Pending {
  webhook: WebhookToAccept
  resolve: (r: AcceptResult) => void
  reject: (e: Error) => void
}

/**
 * The HTTP thread's side of the SQLite writer thread (sqlite-writer-thread.ts). better-sqlite3 is synchronous:
 * a group commit with `synchronous=FULL` holds whichever thread runs it for the whole fsync. Run on the HTTP
 * thread, every request waits behind it; here the commit runs on its own thread while the HTTP thread parses,
 * verifies and normalizes the next webhooks, which queue up and become the next group.
 *
 * One batch is in flight at a time: while it commits, new webhooks gather, and the moment it is answered they go
 * as the next batch (one transaction, one fsync). A webhook's promise settles only from the thread's answer,
 * which is posted after its transaction committed — the webhook route answers 200 only then.
 */
export class SqliteWriter {
  private readonly worker: Worker
  private queued: Pending[] = []
  private inFlight: Pending[] | undefined
  private idleWaiters: Array<() => void> = []
  private failure: Error | undefined
  private sendScheduled = false

  private constructor(path: string, synchronous: 'FULL' | 'NORMAL') {
    // execArgv []: the thread is plain JavaScript; inheriting `--import tsx` would cost ~0.7 s per start.
    this.worker = new Worker(new URL('./sqlite-writer-thread.mjs', import.meta.url), { workerData: { path, synchronous }, execArgv: [] })
    this.worker.on('message', (msg: { outcomes?: AcceptOutcome[] }) => this.answered(msg.outcomes))
    this.worker.on('error', (err) => this.fail(err))
    this.worker.on('exit', (code) => this.fail(new Error(`SQLite writer thread exited (code ${code})`)))
  }

  /** Starts the thread and waits until it has opened the database (so a bad path fails `init`, not a webhook). */
  static async start(path: string, synchronous: 'FULL' | 'NORMAL'): Promise<SqliteWriter> {
    const writer = new SqliteWriter(path, synchronous)
    await new Promise<void>((resolve, reject) => {
      const onReady = (msg: unknown) => {
        if ((msg as { ready?: boolean }).ready) {
          writer.worker.off('error', reject)
          resolve()
        }
      }
      writer.worker.once('message', onReady)
      writer.worker.once('error', reject)
    })
    return writer
  }

  /** True while a batch is committing on the writer thread. */
  get busy(): boolean {
    return this.inFlight !== undefined
  }

  /**
   * Runs `fn` once no batch is committing. The HTTP thread's own writes (leases, delivery outcomes) go through
   * this, so the two connections never wait on each other's write lock: SQLite's busy handler would sleep
   * (blocking the event loop) instead.
   */
  whenIdle(fn: () => void): void {
    if (!this.inFlight) fn()
    else this.idleWaiters.push(fn)
  }

  accept(webhook: WebhookToAccept): Promise<AcceptResult> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.queued.push({ webhook, resolve, reject })
      this.scheduleSend()
    })
  }

  private scheduleSend(): void {
    if (this.inFlight || this.sendScheduled || !this.queued.length) return
    // Wait for the end of this event-loop turn: webhooks whose requests were read in the same turn share a batch.
    this.sendScheduled = true
    setImmediate(() => {
      this.sendScheduled = false
      this.send()
    })
  }

  private send(): void {
    if (this.inFlight || !this.queued.length || this.failure) return
    this.inFlight = this.queued
    this.queued = []
    this.worker.postMessage({ webhooks: this.inFlight.map((p) => p.webhook) })
  }

  private answered(outcomes: AcceptOutcome[] | undefined): void {
    const batch = this.inFlight
    if (!outcomes || !batch) return
    this.inFlight = undefined
    batch.forEach((p, i) => {
      const o = outcomes[i]
      if (o.ok) p.resolve(o.result)
      else p.reject(Object.assign(new Error(o.message), { code: o.code }))
    })
    // The HTTP thread's writes waiting for the lock go first, then the webhooks that gathered meanwhile.
    for (const fn of this.idleWaiters.splice(0)) fn()
    this.send()
  }

  private fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    for (const p of [...(this.inFlight ?? []), ...this.queued]) p.reject(err)
    this.inFlight = undefined
    this.queued = []
    for (const fn of this.idleWaiters.splice(0)) fn()
  }

  /** Waits for the batch in flight and the queued webhooks, then stops the thread (it closes its connection). */
  async close(): Promise<void> {
    while (!this.failure) {
      this.send()
      if (!this.inFlight) break
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    }
    if (this.failure) return
    this.failure = new Error('the SQLite store is closed')
    const exited = new Promise((resolve) => this.worker.once('exit', resolve))
    this.worker.postMessage({ close: true })
    await exited
  }
}
