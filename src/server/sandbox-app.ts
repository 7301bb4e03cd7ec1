import express, { type Express, type Request, type Response, type NextFunction } from 'express'
import type { Sandbox } from '../sandboxes/index.ts'

/**
 * The vendor sandboxes (fake Segment, HubSpot, Salesforce, ReferralCandy...) on their own app, which the bridge
 * binds to 127.0.0.1:SANDBOX_PORT only. They hold customer data, accept writes and inject faults without any
 * authentication, so they must never be reachable on the public PORT. Paths keep the `/sandbox/<vendor>` prefix,
 * so a base URL is `http://127.0.0.1:<SANDBOX_PORT>/sandbox/<vendor>`.
 */
export function createSandboxApp(sandboxes: Sandbox[]): Express {
  const app = express()
  app.disable('x-powered-by')
  for (const s of sandboxes) app.use(`/sandbox/${s.vendor}`, s.router)
  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no sandbox route for ${req.method} ${req.path}`, sandboxes: sandboxes.map((s) => `/sandbox/${s.vendor}`) })
  })
  app.use((err: any, _req: Request, res: Response, _next: NextFunction) => {
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500
    res.status(status).json({ error: status < 500 ? 'bad_request' : 'internal_error', message: String(err?.message ?? err) })
  })
  return app
}
