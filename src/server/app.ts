import express, { type Express, type Request, type Response, type NextFunction, type Router } from 'express'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { IngestDeps } from '../ingest/webhook-route.ts'
import { webhookRouter, rawBody, parseByteLimit } from '../ingest/webhook-route.ts'
import { adminRouter, type AdminDeps } from './admin-routes.ts'
import { planRouter, type PlanRouteDeps } from './plan-routes.ts'
import { webhookHistoryRouter } from './webhook-history-routes.ts'
import { openApiDocument } from './openapi.ts'
import { reportRouter, salesforceConnector } from './report-route.ts'
import { safeEqual } from '../sources/signatures.ts'
import { scrubDeep } from '../scrub.ts'

export interface AppDeps extends IngestDeps, AdminDeps, PlanRouteDeps {
  version: string
  /** METRICS_TOKEN: when set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string
  /** `http://127.0.0.1:<SANDBOX_PORT>/sandbox`, known once the sandbox listener is bound. */
  sandboxBase: () => string
  /** False while shutting down: new webhooks get 503 so the platform retries against a live instance. */
  accepting: () => boolean
  /** More API routers, mounted after admin and before the 404 (notifications API, reports). */
  routers?: Router[]
}

/** The largest body the admin and notification APIs read (their JSON parsers' own limits are at most this). */
const API_BODY_LIMIT = 256 * 1024

export function createApp(deps: AppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  // No ETags: Express would hash every response body (SHA-1), webhook acks included, for caching nobody does here.
  app.set('etag', false)
  app.set('trust proxy', true)
  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id']
    res.locals.requestId = typeof incoming === 'string' && /^[\w.-]{1,100}$/.test(incoming) ? incoming : randomUUID()
    res.set('X-Request-Id', res.locals.requestId)
    next()
  })

  // Never a sandbox on this port, whatever a router mounts later: they live on 127.0.0.1:SANDBOX_PORT only.
  app.use('/sandbox', (req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.originalUrl.split('?')[0]} (sandboxes are not served on this port)` })
  })

  // A declared Content-Length over the limit is refused before a byte of the body is read (a 50 MB body trickled
  // at 1 KB/s must not hold the connection); `Connection: close` so Node does not wait to drain it.
  const maxBody = parseByteLimit(deps.bodyLimit)
  app.use((req, res, next) => {
    const declared = Number(req.headers['content-length'])
    if (!(declared > (req.path.startsWith('/webhooks/') ? maxBody : API_BODY_LIMIT))) return next()
    const name = req.path.startsWith('/webhooks/') ? req.path.split('/')[2] : undefined
    if (name !== undefined) deps.metrics.rejected.inc({ source: deps.metrics.sourceLabel(name), reason: 'payload_too_large' })
    res.set('Connection', 'close').status(413).json({ error: 'payload_too_large', message: `Content-Length ${declared} exceeds the limit of ${name !== undefined ? deps.bodyLimit : '256kb'}` })
  })

  app.use('/webhooks', (req, res, next) => {
    if (deps.accepting()) return next()
    res.status(503).set('Retry-After', '5').json({ error: 'not_accepting', message: 'this instance is starting or shutting down; retry' })
  })
  app.use('/webhooks', rawBody(deps.bodyLimit))
  app.use(webhookRouter(deps))

  app.get('/healthz', async (_req, res) => {
    // Healthy = ready to take webhooks: the store answers and this instance is neither starting nor stopping.
    if (!deps.accepting()) return res.status(503).json({ error: 'not_accepting', message: 'starting or shutting down' })
    try {
      await deps.store.ping()
      const sandboxed = deps.destinations().filter((d) => d.sandboxed).map((d) => d.name)
      res.json({ status: 'ok', store: deps.store.backend, sandboxed })
    } catch {
      res.status(503).json({ error: 'store_unreachable', message: `${deps.store.backend} store did not answer` })
    }
  })
  app.get('/metrics', async (req, res) => {
    if (deps.metricsToken) {
      const header = req.headers.authorization ?? ''
      const token = header.startsWith('Bearer ') ? header.slice(7) : undefined
      if (!safeEqual(deps.metricsToken, token)) {
        return res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'unauthorized', message: '/metrics needs Authorization: Bearer <METRICS_TOKEN>' })
      }
    }
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.render(deps.store, deps.clock))
  })
  // The operator console: static files over the admin API; a strict CSP since it handles the admin token.
  app.use(
    '/console',
    (_req, res, next) => {
      res.set('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'")
      res.set('X-Content-Type-Options', 'nosniff')
      // The admin token lives in this page: no Referer carrying console URLs out, no framing (older browsers
      // ignore CSP frame-ancestors).
      res.set('Referrer-Policy', 'no-referrer')
      res.set('X-Frame-Options', 'DENY')
      next()
    },
    express.static(fileURLToPath(new URL('./console/', import.meta.url)), { index: 'index.html' })
  )
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(deps.sources, deps.version))
  })
  // The admin API shows stored vendor errors and webhook bodies: scrubbed again on the way out, for rows
  // written before a secret was configured (or rotated).
  app.use('/admin', (_req, res, next) => {
    const json = res.json.bind(res)
    res.json = (body: unknown) => json(scrubDeep(body, deps.scrub))
    next()
  })
  // Before the admin router: plan routes check the token before reading their (larger) bodies.
  app.use(planRouter(deps))
  app.use(webhookHistoryRouter(deps))
  app.use(adminRouter(deps))
  app.use(reportRouter({ adminToken: deps.adminToken, connect: salesforceConnector(deps.env, deps.sandboxBase), defaultCurrency: deps.env.SALESFORCE_CURRENCY, store: deps.store }))
  for (const r of deps.routers ?? []) app.use(r)

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` })
  })
  // Body-parser errors (size, encoding) arrive here; answer in the same JSON shape as everything else.
  app.use((err: any, req: Request, res: Response, _next: NextFunction) => {
    // Label values from a closed set: a path segment an attacker chose would create a new series per request.
    const source = req.path.startsWith('/webhooks/') ? deps.metrics.sourceLabel(req.path.split('/')[2]) : 'none'
    if (err?.type === 'encoding.unsupported') {
      deps.metrics.rejected.inc({ source, reason: 'unsupported_encoding' })
      return res.status(415).json({ error: 'unsupported_encoding', message: err.message })
    }
    if (err?.type === 'entity.too.large') {
      deps.metrics.rejected.inc({ source, reason: 'payload_too_large' })
      return res.status(413).json({ error: 'payload_too_large', message: `body exceeds ${deps.bodyLimit}` })
    }
    if (err?.status && err.status < 500) {
      deps.metrics.rejected.inc({ source, reason: 'bad_request' })
      return res.status(err.status).json({ error: 'bad_request', message: err.message })
    }
    deps.logger.error('unhandled error', { requestId: res.locals.requestId, error: err })
    res.status(500).json({ error: 'internal_error', message: 'unexpected error; nothing was stored', requestId: res.locals.requestId })
  })
  return app
}
