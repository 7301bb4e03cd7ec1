import express, { type Request, type Response, type NextFunction, type Router } from 'express'

/**
 * Every sandbox shares this switchboard: inject outages (5xx), throttling (429 + Retry-After), hangs
 * (timeouts) and dropped connections, for N requests or until a time, plus a steady rate limit like the
 * vendor's. Controlled over HTTP at `<sandbox>/_sandbox/faults` so tests, the chaos suite and a curious user
 * drive it the same way.
 */
export interface Fault {
  kind: 'status' | 'timeout' | 'reset'
  status?: number
  retryAfterSeconds?: number
  body?: unknown
  /** Applies to this many requests, then clears itself... */
  count?: number
  /** ...or until this time (ms since epoch). */
  until?: number
  /** Only requests whose path contains this string. */
  pathContains?: string
}

export interface RateLimitRule {
  /** Requests allowed per window (the vendor's documented limit, e.g. HubSpot 100 / 10 s). */
  limit: number
  windowMs: number
  /** Vendor-specific 429 body. */
  body?: unknown
}

/** The steady rate limit's current window, for vendors that report it in headers (HubSpot, Segment). */
export interface RateWindow {
  limit: number
  windowMs: number
  remaining: number
  /** When the current window ends (ms since epoch). */
  resetAt: number
}

export interface VendorShape {
  /** The vendor's body for an injected status fault without a `body` (e.g. HubSpot's 429 names its policy). */
  faultBody?: (status: number) => unknown
  /** Content type of the vendor's error answers (e.g. Mailchimp's application/problem+json). */
  errorContentType?: string
  /** Headers the vendor sends on every answer (and on 429s), given the rate window when one is set. */
  headers?: (res: Response, window: RateWindow | undefined, limited: boolean) => void
}

export class FaultSwitch {
  private faults: Fault[] = []
  private rate?: RateLimitRule
  private windowStart = 0
  private windowCount = 0
  readonly counters = { requests: 0, faulted: 0, rateLimited: 0 }

  constructor(private readonly now: () => number = Date.now) {}

  add(fault: Fault): void {
    this.faults.push({ ...fault })
  }

  clear(): void {
    this.faults = []
  }

  setRateLimit(rule: RateLimitRule | undefined): void {
    this.rate = rule
    this.windowStart = this.now()
    this.windowCount = 0
  }

  /** Express middleware; mount it before the vendor routes. */
  middleware(rateLimitBody: (rule: RateLimitRule) => unknown = () => ({ message: 'rate limit exceeded' }), vendor: VendorShape = {}) {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.path.includes('/_sandbox/')) return next()
      this.counters.requests++
      const fault = this.take(req.path)
      if (fault) {
        this.counters.faulted++
        if (fault.kind === 'timeout') return // never answer: the client's timeout fires
        if (fault.kind === 'reset') return req.socket.destroy()
        const status = fault.status ?? 503
        if (fault.retryAfterSeconds !== undefined) res.set('Retry-After', String(fault.retryAfterSeconds))
        vendor.headers?.(res, this.window(), status === 429)
        if (vendor.errorContentType) res.type(vendor.errorContentType)
        return res.status(status).json(fault.body ?? vendor.faultBody?.(status) ?? { status: 'error', message: `sandbox fault: ${status}` })
      }
      if (this.rate) {
        const now = this.now()
        if (now - this.windowStart >= this.rate.windowMs) {
          this.windowStart = now
          this.windowCount = 0
        }
        if (++this.windowCount > this.rate.limit) {
          this.counters.rateLimited++
          res.set('Retry-After', String(Math.max(1, Math.ceil((this.windowStart + this.rate.windowMs - now) / 1000))))
          vendor.headers?.(res, this.window(), true)
          if (vendor.errorContentType) res.type(vendor.errorContentType)
          return res.status(429).json(this.rate.body ?? rateLimitBody(this.rate))
        }
      }
      vendor.headers?.(res, this.window(), false)
      next()
    }
  }

  /** The steady limit's current window, or undefined when none is set. */
  window(): RateWindow | undefined {
    if (!this.rate) return undefined
    return { limit: this.rate.limit, windowMs: this.rate.windowMs, remaining: Math.max(0, this.rate.limit - this.windowCount), resetAt: this.windowStart + this.rate.windowMs }
  }

  private take(path: string): Fault | undefined {
    const now = this.now()
    this.faults = this.faults.filter((f) => (f.count === undefined || f.count > 0) && (f.until === undefined || f.until > now))
    const fault = this.faults.find((f) => !f.pathContains || path.includes(f.pathContains))
    if (fault && fault.count !== undefined) fault.count--
    return fault
  }

  /** `POST /_sandbox/faults` adds one (JSON Fault), `DELETE` clears, `PUT /_sandbox/rate-limit` sets the limit. */
  router(): Router {
    const r = express.Router()
    // Parse JSON only on the control routes: the vendor routes read their own bodies (some as raw bytes).
    r.use('/_sandbox', express.json())
    r.post('/_sandbox/faults', (req, res) => {
      this.add(req.body as Fault)
      res.status(201).json({ faults: this.faults })
    })
    r.delete('/_sandbox/faults', (_req, res) => {
      this.clear()
      res.json({ faults: [] })
    })
    r.put('/_sandbox/rate-limit', (req, res) => {
      this.setRateLimit(req.body?.limit ? (req.body as RateLimitRule) : undefined)
      res.json({ rateLimit: this.rate ?? null })
    })
    return r
  }
}
