import type { Message } from '../messages.ts'
import type { DeliveryResult, Destination } from '../destinations/types.ts'
import { defaultPolicy, policyFromEnv } from '../destinations/types.ts'
import { functionDestination } from '../runtime/function-destination.ts'
import { builtFunction } from './build.ts'
import { functionSettings, jwtSession, salesforceAuthFromEnv } from '../salesforce/auth.ts'

/** Messages the Salesforce function acts on: the two friend events, and identifies of friends that carry a referral_id. */
export const SALESFORCE_TRACK_EVENTS = ['Referral Created', 'Referred Friend Signed Up']

export function salesforceAccepts(m: Message): boolean {
  if (m.type === 'identify') return typeof m.traits?.referral_id === 'string' && m.traits.referral_id !== ''
  return SALESFORCE_TRACK_EVENTS.includes(m.event)
}

/**
 * The `salesforce` destination: the built destination function (dist/functions/salesforce.js) run locally in the
 * Segment-like runtime. Credentials (src/salesforce/auth.ts): refresh token (`SALESFORCE_CLIENT_ID`,
 * `SALESFORCE_CLIENT_SECRET`, `SALESFORCE_REFRESH_TOKEN`, `SALESFORCE_LOGIN_URL`), JWT bearer (`SALESFORCE_CLIENT_ID`,
 * `SALESFORCE_USERNAME`, `SALESFORCE_PRIVATE_KEY`) or `SALESFORCE_INSTANCE_URL` + `SALESFORCE_ACCESS_TOKEN`; none ⇒
 * the sandbox at `<sandboxBase>/salesforce` through the refresh-token flow.
 *
 * JWT: the function (like Segment's runtime) has no RSA signing global, so the bridge mints the session and hands
 * the function `instanceUrl` + `accessToken`; a delivery that fails with INVALID_SESSION_ID gets a new session and
 * one more try.
 *
 * Policy: batches of 100 through onBatch, one lane (two lanes could upsert the same referral id at once, and
 * Salesforce answers the loser of that race with DUPLICATE_VALUE), no rate limit (Salesforce limits API calls per
 * 24 h, not per second; REQUEST_LIMIT_EXCEEDED is retried).
 */
export async function salesforceDestination({ env, sandboxBase }: { env: NodeJS.ProcessEnv; sandboxBase: string }): Promise<Destination> {
  const auth = salesforceAuthFromEnv(env, sandboxBase)
  const { code } = await builtFunction('salesforce')
  const settings: Record<string, unknown> = functionSettings(auth)
  const policy = policyFromEnv('salesforce', { ...defaultPolicy, batchSize: 100, concurrency: 1 }, env)
  const target = auth.instanceUrl ?? auth.loginUrl
  const inner = functionDestination({ name: 'salesforce', code, settings, sandboxed: auth.sandboxed, target, accepts: salesforceAccepts, policy })
  if (auth.mode !== 'jwt-bearer') return inner

  let session: Promise<void> | undefined
  const renew = () =>
    (session ??= jwtSession(auth).then(
      (s) => {
        Object.assign(settings, s) // the function reads its settings on every call
        session = undefined
      },
      (err) => {
        session = undefined
        throw err
      }
    ))
  const expired = (r: DeliveryResult) => r.status === 'permanent' && /INVALID_SESSION_ID/.test(r.error)
  return {
    ...inner,
    async deliver(messages) {
      try {
        if (!settings.accessToken) await renew()
      } catch (err) {
        const error = `Salesforce JWT bearer flow failed: ${(err as Error).message}`
        return messages.map(() => ({ status: 'retry', error }) as DeliveryResult)
      }
      const results = await inner.deliver(messages)
      const again = messages.map((_, i) => i).filter((i) => expired(results[i]!))
      if (again.length === 0) return results
      try {
        await renew()
      } catch {
        return results
      }
      const retried = await inner.deliver(again.map((i) => messages[i]!))
      again.forEach((i, j) => (results[i] = retried[j]!))
      return results
    }
  }
}
