import express, { type Router } from 'express'
import { FaultSwitch } from './faults.ts'
import { referralCandySignature, SANDBOX_ACCESS_ID, SANDBOX_SECRET, type ReferralCandyReferral } from '../referralcandy/api.ts'
import { safeEqual } from '../sources/signatures.ts'

/**
 * ReferralCandy REST API sandbox (https://www.referralcandy.com/api): `GET /api/v2/referrals.json` with the
 * documented `accessID` + `timestamp` + `signature` (hex MD5(secret + sorted "name=value" strings)). A wrong
 * access id or signature, or a timestamp more than 10 minutes away from the sandbox clock, answers 401 with a
 * JSON `message` (the API documents 401 = "Authentication credentials provided were incorrect"; the exact body
 * is not documented). `period_from` / `period_to` (Unix seconds, inclusive) filter on `referral_timestamp`.
 * Seed referrals with `state.referrals.push(...)` or `POST /_sandbox/referrals` (JSON array or one record).
 */
export interface ReferralCandySandboxState {
  referrals: ReferralCandyReferral[]
  /** Authenticated referrals.json calls, with their query (signature removed). */
  requests: Array<Record<string, string>>
  rejected: number
}

export const TIMESTAMP_WINDOW_SECONDS = 600

export function createReferralCandySandbox(options: { accessId?: string; secret?: string; now?: () => number } = {}) {
  const accessId = options.accessId ?? SANDBOX_ACCESS_ID
  const secret = options.secret ?? (process.env.REFERRALCANDY_API_SECRET || SANDBOX_SECRET)
  const now = options.now ?? Date.now
  const state: ReferralCandySandboxState = { referrals: [], requests: [], rejected: 0 }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  router.use(faults.router())
  router.post('/_sandbox/referrals', express.json(), (req, res) => {
    const body = req.body as ReferralCandyReferral | ReferralCandyReferral[]
    state.referrals.push(...(Array.isArray(body) ? body : [body]))
    res.status(201).json({ referrals: state.referrals.length })
  })
  router.use(faults.middleware(() => ({ message: 'Too Many Requests' })))

  router.get('/api/v2/referrals.json', (req, res) => {
    // The raw query, not Express' parsed one: the signature is over the exact strings.
    const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '')
    const params: Record<string, string> = {}
    for (const [k, v] of query) params[k] = v
    const reject = (message: string) => {
      state.rejected++
      res.status(401).json({ message })
    }
    if (!params.accessID || !params.timestamp || !params.signature) return reject('accessID, timestamp and signature are required')
    if (params.accessID !== accessId) return reject('Authentication credentials provided were incorrect: unknown accessID')
    const ts = Number(params.timestamp)
    if (!/^\d+$/.test(params.timestamp) || Math.abs(now() / 1000 - ts) > TIMESTAMP_WINDOW_SECONDS) {
      return reject('Authentication credentials provided were incorrect: timestamp must be the current Unix time in seconds')
    }
    if (!safeEqual(referralCandySignature(secret, params), params.signature.toLowerCase())) {
      return reject('Authentication credentials provided were incorrect: signature does not match')
    }
    const { signature: _signature, ...logged } = params
    state.requests.push(logged)
    const from = params.period_from !== undefined ? Number(params.period_from) : -Infinity
    const to = params.period_to !== undefined ? Number(params.period_to) : Infinity
    if (Number.isNaN(from) || Number.isNaN(to)) return res.status(400).json({ message: 'period_from and period_to must be Unix timestamps (seconds)' })
    const referrals = state.referrals.filter((r) => {
      const t = Number(r.referral_timestamp)
      return t >= from && t <= to
    })
    res.json({ message: 'Success', referrals })
  })

  return { router, state, faults }
}
