import { createHubspotSandbox } from '../../src/sandboxes/hubspot.ts'
import { hubspotWebhookSender } from '../../src/sandboxes/hubspot-webhooks.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'

export const CLIENT_SECRET = 'hubspot-test-client-secret'

/** The HubSpot sandbox on its own port, sending signed deal-stage webhooks to `target()`. */
export async function hubspotWithWebhooks(target: () => string) {
  const sender = hubspotWebhookSender({ targetUrl: target, clientSecret: CLIENT_SECRET })
  const sandbox = createHubspotSandbox({ rateLimit: null, onPropertyChange: sender.onPropertyChange })
  const server = await serveSandbox(sandbox.router)
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: 'Bearer test', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  /** A contact, a deal in an open stage, the deal associated to the contact. */
  const dealFor = async (email: string, amount: string, currency: string | undefined, closedate = '2026-11-20T15:30:00.000Z') => {
    // A contact may have several deals: reuse it (HubSpot's 409 names the existing id).
    const contact = await api('POST', '/crm/v3/objects/contacts', { properties: { email } }).catch((err: Error) => {
      const existing = /Existing ID: (\d+)/.exec(err.message)?.[1]
      if (!existing) throw err
      return { id: existing }
    })
    const deal = await api('POST', '/crm/v3/objects/deals', {
      properties: { dealname: `deal for ${email}`, amount, ...(currency ? { deal_currency_code: currency } : {}), closedate, dealstage: 'contractsent' }
    })
    await api('PUT', `/crm/v4/objects/deals/${deal.id}/associations/default/contacts/${contact.id}`)
    return { contactId: String(contact.id), dealId: String(deal.id) }
  }
  const setStage = (dealId: string, stage: string) => api('PATCH', `/crm/v3/objects/deals/${dealId}`, { properties: { dealstage: stage } })
  return { sandbox, sender, server, api, dealFor, setStage, close: () => server.close() }
}
