import type { Router } from 'express'
import type { FaultSwitch } from './faults.ts'
import { createKlaviyoSandbox, type KlaviyoSandboxOptions, type KlaviyoSandboxState } from './klaviyo.ts'
import { createMailchimpSandbox, type MailchimpSandboxOptions, type MailchimpSandboxState } from './mailchimp.ts'
import { createMixpanelSandbox, type MixpanelSandboxOptions, type MixpanelSandboxState } from './mixpanel.ts'
import { createSalesforceSandbox, type SalesforceOrg, type SalesforceSandboxOptions } from './salesforce.ts'

/**
 * The analytics / CRM / email sandboxes, in the shape of `Sandbox` (src/sandboxes/index.ts): mount each router at
 * `/sandbox/<vendor>`. The typed entries keep each vendor's state type, so tests can reach e.g. `salesforce.state.seed`.
 */
export type VendorSandbox =
  | { vendor: 'mixpanel'; router: Router; faults: FaultSwitch; state: MixpanelSandboxState }
  | { vendor: 'salesforce'; router: Router; faults: FaultSwitch; state: SalesforceOrg }
  | { vendor: 'klaviyo'; router: Router; faults: FaultSwitch; state: KlaviyoSandboxState }
  | { vendor: 'mailchimp'; router: Router; faults: FaultSwitch; state: MailchimpSandboxState }

export interface VendorSandboxOptions {
  mixpanel?: MixpanelSandboxOptions
  salesforce?: SalesforceSandboxOptions
  klaviyo?: KlaviyoSandboxOptions
  mailchimp?: MailchimpSandboxOptions
}

export function createVendorSandboxes(options: VendorSandboxOptions = {}): VendorSandbox[] {
  return [
    { vendor: 'mixpanel', ...createMixpanelSandbox(options.mixpanel) },
    { vendor: 'salesforce', ...createSalesforceSandbox(options.salesforce) },
    { vendor: 'klaviyo', ...createKlaviyoSandbox(options.klaviyo) },
    { vendor: 'mailchimp', ...createMailchimpSandbox(options.mailchimp) }
  ]
}
