import type { DeliveryResult } from '../types.ts'
import type { DestinationHook } from '../../runtime/folder-destination.ts'
import { functionSettings, jwtSession, salesforceAuthFromEnv } from '../../salesforce/auth.ts'

/**
 * Salesforce, bridge side (the function itself is destination-functions/salesforce). Credentials come from the
 * SALESFORCE_* variables through src/salesforce/auth.ts, which knows four modes (refresh token, JWT bearer,
 * instance URL + access token, none ⇒ the sandbox through the refresh-token flow); the function gets them as
 * its settings.
 *
 * JWT: the function (like Segment's runtime) has no RSA signing global, so the bridge mints the session and
 * hands the function `instanceUrl` + `accessToken`; a delivery that fails with INVALID_SESSION_ID gets a new
 * session and one more try.
 */
const sessions = new WeakMap<object, ReturnType<typeof salesforceAuthFromEnv>>()

export const salesforceHook: DestinationHook = {
  resolve({ env, sandboxBase }) {
    const auth = salesforceAuthFromEnv(env, sandboxBase)
    const settings: Record<string, unknown> = functionSettings(auth)
    if (env.SALESFORCE_DEFAULT_COMPANY) settings.defaultCompany = env.SALESFORCE_DEFAULT_COMPANY
    if (env.SALESFORCE_DEFAULT_LAST_NAME) settings.defaultLastName = env.SALESFORCE_DEFAULT_LAST_NAME
    sessions.set(settings, auth)
    return { enabled: true, sandboxed: auth.sandboxed, settings, target: auth.instanceUrl ?? auth.loginUrl }
  },
  wrap(inner, { settings }) {
    const auth = sessions.get(settings)
    if (!auth || auth.mode !== 'jwt-bearer') return inner
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
}
