import type { Router } from 'express'
import type { FaultSwitch } from './faults.ts'
import { createSegmentSandbox } from './segment.ts'
import { createHubspotSandbox } from './hubspot.ts'
import { createSegmentPublicApiSandbox } from './segment-public-api.ts'
import { createVendorSandboxes } from './vendors.ts'

/**
 * The sandboxes `npm start` serves under /sandbox/<vendor> when a vendor has no credentials. Each entry is
 * created once per bridge; the destination registry points the official SDK at `<bridge>/sandbox/<vendor>`.
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
    { vendor: 'segment-public-api', ...createSegmentPublicApiSandbox() },
    ...createVendorSandboxes()
  ]
}
