import express, { type Router } from 'express'
import type { FaultSwitch } from './faults.ts'
import { createSegmentSandbox } from './segment.ts'
import { createHubspotSandbox } from './hubspot.ts'
import { createSegmentPublicApiSandbox } from './segment-public-api.ts'
import { createVendorSandboxes } from './vendors.ts'
import { createSegmentProtocolsSandbox } from './segment-protocols.ts'
import { createReferralCandySandbox } from './referralcandy.ts'
import { createGa4Sandbox } from './ga4.ts'
import { createGrowSurfSandbox } from './growsurf.ts'
import { createAmbassadorSandbox } from './ambassador.ts'

/**
 * The sandboxes `npm start` serves under /sandbox/<vendor> when a vendor has no credentials. Each entry is
 * created once per bridge; the destination registry points the official SDK at `http://127.0.0.1:<SANDBOX_PORT>/sandbox/<vendor>` (their own loopback listener).
 */
export interface Sandbox {
  vendor: string
  router: Router
  faults: FaultSwitch
  state: unknown
}

export function createSandboxes(): Sandbox[] {
  const segment = createSegmentSandbox()
  return [
    { vendor: 'segment', ...segment },
    { vendor: 'hubspot', ...createHubspotSandbox() },
    segmentPublicApi(),
    { vendor: 'referralcandy', ...createReferralCandySandbox() },
    { vendor: 'ga4', ...createGa4Sandbox() },
    { vendor: 'growsurf', ...createGrowSurfSandbox() },
    { vendor: 'ambassador', ...createAmbassadorSandbox() },
    ...createVendorSandboxes()
  ]
}

/**
 * Segment's Public API is one host (api.segmentapis.com) for functions and tracking plans alike, so both
 * sandboxes answer under /sandbox/segment-api: one SEGMENT_API_BASE_URL serves `functions deploy` and
 * `plan push`. Faults injected at /sandbox/segment-api/_sandbox/faults apply to the functions endpoints.
 */
function segmentPublicApi(): Sandbox {
  const functions = createSegmentPublicApiSandbox()
  const protocols = createSegmentProtocolsSandbox()
  const router = express.Router()
  router.use(functions.router, protocols.router)
  return { vendor: 'segment-api', router, faults: functions.faults, state: { functions: functions.state, trackingPlans: protocols.state } }
}
