import express, { type Express, type Request, type Response, type NextFunction, type Router } from 'express'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { IngestDeps } from '../ingest/webhook-route.ts'
import { webhookRouter, rawBody } from '../ingest/webhook-route.ts'
import { adminRouter, type AdminDeps } from './admin-routes.ts'
import { planRouter, type PlanRouteDeps } from './plan-routes.ts'
import { webhookHistoryRouter } from './webhook-history-routes.ts'
import { openApiDocument } from './openapi.ts'
import { reportRouter, salesforceConnector } from './report-route.ts'
import type { Sandbox } from '../sandboxes/index.ts'

export interface AppDeps extends IngestDeps, AdminDeps, PlanRouteDeps {
  sandboxes: Sandbox[]
  version: string
  /** False while shutting down: new webhooks get 503 so the platform retries against a live instance. */
  accepting: () => boolean
  /** More API routers, mounted after admin and before the 404 (notifications API, reports). */
  routers?: Router[]
}

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
      res.json({ status: 'ok', store: deps.store.backend })
    } catch {
      res.status(503).json({ error: 'store_unreachable', message: `${deps.store.backend} store did not answer` })
    }
  })
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.render(deps.store, deps.clock))
  })
  // The operator console: static files over the admin API; a strict CSP since it handles the admin token.
  app.use(
    '/console',
    (_req, res, next) => {
      res.set('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'")
      res.set('X-Content-Type-Options', 'nosniff')
      next()
    },
    express.static(fileURLToPath(new URL('./console/', import.meta.url)), { index: 'index.html' })
  )
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(deps.sources, deps.version))
  })
  // Before the admin router: plan routes check the token before reading their (larger) bodies.
  app.use(planRouter(deps))
  app.use(webhookHistoryRouter(deps))
  app.use(adminRouter(deps))
  app.use(reportRouter({ adminToken: deps.adminToken, connect: salesforceConnector(deps.env), defaultCurrency: deps.env.SALESFORCE_CURRENCY, store: deps.store }))
  for (const r of deps.routers ?? []) app.use(r)

  for (const s of deps.sandboxes) app.use(`/sandbox/${s.vendor}`, s.router)

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` })
  })
  // Body-parser errors (size, encoding) arrive here; answer in the same JSON shape as everything else.
  app.use((err: any, req: Request, res: Response, _next: NextFunction) => {
    const source = req.path.startsWith('/webhooks/') ? req.path.split('/')[2] : 'none'
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
