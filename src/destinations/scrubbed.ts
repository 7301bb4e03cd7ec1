import type { Scrub } from '../scrub.ts'
import type { Destination, DeliveryResult } from './types.ts'

/**
 * The destination with every error it reports passed through the secret scrubber before the queue stores it
 * (jobs.last_error, attempts.error) or logs it: vendors echo the request's credentials in error bodies (an
 * "invalid token abc…" message, a URL with ?api_key=…). Everything else about the destination is unchanged.
 */
export function scrubbedDestination(destination: Destination, scrub: Scrub): Destination {
  const clean = (r: DeliveryResult): DeliveryResult => ('error' in r ? { ...r, error: scrub(r.error) } : r.status === 'ignored' ? { ...r, reason: scrub(r.reason) } : r)
  const deliver: Destination['deliver'] = async (messages) => {
    try {
      return (await destination.deliver(messages)).map(clean)
    } catch (err) {
      // Same error object (the queue reads its class and status), message and stack scrubbed.
      const e = err instanceof Error ? err : new Error(String(err))
      e.message = scrub(e.message)
      if (e.stack) e.stack = scrub(e.stack)
      throw e
    }
  }
  return new Proxy(destination, {
    get(target, prop, receiver) {
      if (prop === 'deliver') return deliver
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}
