/**
 * A small client for Segment's Public API (api.segmentapis.com), shared by `functions deploy` and `plan push/pull`:
 * bearer token, versioned media type, `{data}` unwrapping, Segment's `{errors: [{message}]}` bodies, and a few
 * retries on 429 that honour Retry-After (capped, so a CLI never hangs for long).
 */
export const SEGMENT_MEDIA = 'application/vnd.segment.v1+json'

export class SegmentApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
    this.name = 'SegmentApiError'
  }
}

export interface PublicApiOptions {
  env?: NodeJS.ProcessEnv
  fetch?: typeof fetch
  /** Longest Retry-After honoured (ms). */
  maxRetryAfterMs?: number
}

export interface PublicApiHints {
  /** Appended when SEGMENT_API_TOKEN is missing: where to get one and which permission it needs. */
  missingToken: string
  /** Appended to 401/403 answers. */
  forbidden: string
  /** Appended to 404 answers. */
  notFound?: string
}

export class SegmentPublicApi {
  private readonly base: string
  private readonly token: string
  private readonly doFetch: typeof fetch
  private readonly maxRetryAfterMs: number

  constructor(
    opts: PublicApiOptions,
    private readonly hints: PublicApiHints
  ) {
    const env = opts.env ?? process.env
    const token = env.SEGMENT_API_TOKEN
    if (!token) throw new Error(`SEGMENT_API_TOKEN is not set (${hints.missingToken})`)
    this.token = token
    this.base = (env.SEGMENT_API_BASE_URL || 'https://api.segmentapis.com').replace(/\/+$/, '')
    this.doFetch = opts.fetch ?? fetch
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.doFetch(`${this.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: SEGMENT_MEDIA, ...(body !== undefined ? { 'content-type': SEGMENT_MEDIA } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      const text = await res.text()
      if (res.status === 429 && attempt < 3) {
        const ra = Number(res.headers.get('retry-after') ?? '1')
        await new Promise((r) => setTimeout(r, Math.min(Number.isFinite(ra) ? ra * 1000 : 1000, this.maxRetryAfterMs)))
        continue
      }
      if (!res.ok) {
        let detail = text
        try {
          const errs = (JSON.parse(text) as { errors?: Array<{ message?: string }> }).errors
          if (errs?.length) detail = errs.map((e) => e.message).join('; ')
        } catch {}
        const hint = res.status === 401 || res.status === 403 ? ` (${this.hints.forbidden})` : res.status === 404 && this.hints.notFound ? ` (${this.hints.notFound})` : ''
        throw new SegmentApiError(res.status, `Segment Public API ${method} ${path} answered ${res.status}: ${detail}${hint}`)
      }
      return (JSON.parse(text) as { data: T }).data
    }
  }
}
