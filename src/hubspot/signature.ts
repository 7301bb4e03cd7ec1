import { createHmac } from 'node:crypto'
import { safeEqual } from '../sources/signatures.ts'

/**
 * HubSpot's v3 request signature (developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests,
 * "Validate the v3 request signature"):
 *
 *   X-HubSpot-Signature-v3     = base64(HMAC-SHA256(client secret, method + uri + body + timestamp))
 *   X-HubSpot-Request-Timestamp = ms since the epoch; "reject the request if the timestamp is older than 5 minutes"
 *
 * `uri` is the full URL HubSpot called (protocol, host, path, query), with these URL-encoded characters decoded
 * first, as the doc lists them: %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;
 */
export const HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000

const DECODED: Record<string, string> = {
  '%3A': ':', '%2F': '/', '%3F': '?', '%40': '@', '%21': '!', '%24': '$', '%27': "'", '%28': '(', '%29': ')', '%2A': '*', '%2C': ',', '%3B': ';'
}

export function hubspotUri(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => DECODED[m.toUpperCase()])
}

export function signHubspotV3(secret: string, method: string, uri: string, body: string, timestamp: number | string): string {
  return createHmac('sha256', secret).update(`${method.toUpperCase()}${hubspotUri(uri)}${body}${timestamp}`, 'utf8').digest('base64')
}

export type HubspotVerification = { ok: true } | { ok: false; reason: string }

export function verifyHubspotV3(input: {
  secret: string
  method: string
  uri: string
  body: string
  signature: string | undefined
  timestamp: string | undefined
  now: number
}): HubspotVerification {
  if (!input.signature) return { ok: false, reason: 'missing X-HubSpot-Signature-v3 header' }
  if (!input.timestamp || !/^\d+$/.test(input.timestamp)) return { ok: false, reason: 'missing or malformed X-HubSpot-Request-Timestamp header (ms since the epoch)' }
  const age = input.now - Number(input.timestamp)
  // Older than 5 minutes: a replay. A timestamp from the future beyond the same window is refused too (clock skew allowance).
  if (age > HUBSPOT_MAX_AGE_MS || age < -HUBSPOT_MAX_AGE_MS) {
    return { ok: false, reason: `X-HubSpot-Request-Timestamp is ${Math.round(age / 1000)} s off; HubSpot requests older than 5 minutes are refused` }
  }
  const expected = signHubspotV3(input.secret, input.method, input.uri, input.body, input.timestamp)
  return safeEqual(expected, input.signature.trim())
    ? { ok: true }
    : { ok: false, reason: 'X-HubSpot-Signature-v3 does not match base64 HMAC-SHA256(client secret, method + URI + body + timestamp)' }
}
