import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { safeEqual } from '../sources/signatures.ts'

/**
 * The one check in front of every admin, plan, webhook-history and report route: `Authorization: Bearer
 * <BRIDGE_ADMIN_TOKEN>`, compared in constant time. Mounted before any body parser, so an anonymous caller's body
 * is never read. No configured token = the admin API is closed (503 says how to open it), never open to all.
 */
export function requireAdminToken(adminToken: string | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!adminToken) {
      return res.status(503).json({ error: 'admin_disabled', message: 'set BRIDGE_ADMIN_TOKEN to enable the admin API' })
    }
    const header = req.headers.authorization ?? ''
    const token = header.startsWith('Bearer ') ? header.slice(7) : undefined
    if (!safeEqual(adminToken, token)) {
      return res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'unauthorized', message: 'admin routes need Authorization: Bearer <BRIDGE_ADMIN_TOKEN>' })
    }
    next()
  }
}
