import { signHubspotV3 } from '../hubspot/signature.ts'
import type { HubspotObjectType } from './hubspot-properties.ts'

/**
 * HubSpot's webhook sender, for the HubSpot sandbox (pass `onPropertyChange` to createHubspotSandbox): a change of a
 * subscribed property is POSTed to the app's target URL as HubSpot does (developers.hubspot.com/docs/api/webhooks):
 * a JSON array of events `{eventId, subscriptionId, portalId, appId, occurredAt, subscriptionType:
 * "deal.propertyChange", attemptNumber, objectId, propertyName, propertyValue, changeSource}`, with
 * `X-HubSpot-Signature-v3` / `X-HubSpot-Request-Timestamp` (and `X-HubSpot-Signature-Version: v3`).
 * A failed delivery (non-2xx, network error) is retried like HubSpot retries (up to 10 attempts; here at once,
 * `attemptNumber` counting up, since tests must not sleep through HubSpot's real schedule). Default subscription:
 * `deal.propertyChange` on `dealstage`.
 */
export interface HubspotWebhookSenderOptions {
  targetUrl: string | (() => string)
  clientSecret: string
  portalId?: number
  appId?: number
  subscriptions?: Array<{ type: HubspotObjectType; property: string }>
  maxAttempts?: number
  now?: () => number
}

export interface SentHubspotWebhook {
  eventId: number
  objectId: number
  propertyValue: string
  attempts: Array<{ status: number | 'network-error' }>
  delivered: boolean
}

export function hubspotWebhookSender(options: HubspotWebhookSenderOptions) {
  const now = options.now ?? Date.now
  const subscriptions = options.subscriptions ?? [{ type: 'deals' as const, property: 'dealstage' }]
  const sent: SentHubspotWebhook[] = []
  let nextEventId = 1000
  let pending = Promise.resolve()
  const url = () => (typeof options.targetUrl === 'function' ? options.targetUrl() : options.targetUrl)

  async function deliver(record: SentHubspotWebhook, event: Record<string, unknown>): Promise<void> {
    for (let attempt = 1; attempt <= (options.maxAttempts ?? 10) && !record.delivered; attempt++) {
      const body = JSON.stringify([{ ...event, attemptNumber: attempt - 1 }])
      const timestamp = String(now())
      const target = url()
      try {
        const res = await fetch(target, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-hubspot-signature-v3': signHubspotV3(options.clientSecret, 'POST', target, body, timestamp),
            'x-hubspot-request-timestamp': timestamp,
            'x-hubspot-signature-version': 'v3'
          },
          body
        })
        await res.text().catch(() => '')
        record.attempts.push({ status: res.status })
        record.delivered = res.status >= 200 && res.status < 300
      } catch {
        record.attempts.push({ status: 'network-error' })
      }
    }
  }

  return {
    sent,
    /** Give as `onPropertyChange` to createHubspotSandbox. */
    onPropertyChange(change: { type: HubspotObjectType; id: string; property: string; value: string }) {
      if (!subscriptions.some((s) => s.type === change.type && s.property === change.property)) return
      const record: SentHubspotWebhook = { eventId: nextEventId++, objectId: Number(change.id), propertyValue: change.value, attempts: [], delivered: false }
      sent.push(record)
      const event = {
        eventId: record.eventId,
        subscriptionId: 1,
        portalId: options.portalId ?? 62515,
        appId: options.appId ?? 1160452,
        occurredAt: now(),
        subscriptionType: `${change.type.replace(/s$/, '')}.propertyChange`,
        objectId: record.objectId,
        propertyName: change.property,
        propertyValue: change.value,
        changeSource: 'CRM_UI'
      }
      // One at a time, in order, as HubSpot sends one object's changes.
      pending = pending.then(() => deliver(record, event))
    },
    /** Resolves when every webhook sent so far has been delivered or given up. */
    idle: () => pending
  }
}
