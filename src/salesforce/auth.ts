import { createSign, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import jsforce, { Connection } from 'jsforce'

/**
 * Salesforce sessions for the bridge side (reconciliation, report, setup check, the JWT mode of the destination):
 * a jsforce Connection from one of three documented OAuth 2.0 setups.
 *
 * - **Refresh token** (`SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET`, `SALESFORCE_REFRESH_TOKEN`): the first
 *   session comes from `POST <login>/services/oauth2/token grant_type=refresh_token`; the Connection carries
 *   `oauth2` + `refreshToken`, so jsforce refreshes it on a 401 INVALID_SESSION_ID and repeats the request.
 * - **JWT bearer** (`SALESFORCE_CLIENT_ID`, `SALESFORCE_USERNAME`, `SALESFORCE_PRIVATE_KEY`): an RS256-signed
 *   assertion `{iss: client id, sub: username, aud: login URL, exp: now + 3 min}` (signed with node:crypto, no
 *   extra dependency) exchanged for a session; the Connection's `refreshFn` signs a new assertion on
 *   INVALID_SESSION_ID (the JWT flow issues no refresh token).
 * - **Access token** (`SALESFORCE_INSTANCE_URL` + `SALESFORCE_ACCESS_TOKEN`): used as is; cannot be refreshed.
 *
 * Login URL: `SALESFORCE_LOGIN_URL` (default https://login.salesforce.com; https://test.salesforce.com for a
 * sandbox org, or `SALESFORCE_SANDBOX=true`; a My Domain URL works too). No credentials at all ⇒ the local
 * Salesforce sandbox at `<sandboxBase>/salesforce` through the refresh-token flow.
 */
export interface SalesforceAuth {
  mode: 'refresh-token' | 'jwt-bearer' | 'access-token'
  loginUrl: string
  instanceUrl?: string
  accessToken?: string
  clientId?: string
  clientSecret?: string
  refreshToken?: string
  username?: string
  /** PEM. */
  privateKey?: string
  /** JWT `aud`; default derived from the login URL. */
  audience?: string
  version: string
  /** True when this is the local sandbox (no credentials configured). */
  sandboxed: boolean
}

export const SALESFORCE_API_VERSION = '59.0'
export const LOGIN_URL = 'https://login.salesforce.com'
export const SANDBOX_LOGIN_URL = 'https://test.salesforce.com'
/** What the bridge uses against its own Salesforce sandbox (the sandbox accepts any client and refresh token). */
export const SANDBOX_CREDENTIALS = { clientId: 'sandbox-client-id', clientSecret: 'sandbox-client-secret', refreshToken: 'sandbox-refresh-token' }

export function hasSalesforceCredentials(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SALESFORCE_REFRESH_TOKEN || env.SALESFORCE_PRIVATE_KEY || env.SALESFORCE_ACCESS_TOKEN)
}

/** Reads the SALESFORCE_* variables; without credentials, the sandbox at `<sandboxBase>/salesforce`. */
export function salesforceAuthFromEnv(env: NodeJS.ProcessEnv, sandboxBase = `http://127.0.0.1:${env.SANDBOX_PORT || 3001}/sandbox`): SalesforceAuth {
  const version = env.SALESFORCE_API_VERSION || SALESFORCE_API_VERSION
  const loginUrl = trimSlash(env.SALESFORCE_LOGIN_URL || (env.SALESFORCE_SANDBOX === 'true' ? SANDBOX_LOGIN_URL : LOGIN_URL))
  if (!hasSalesforceCredentials(env)) {
    return { mode: 'refresh-token', loginUrl: trimSlash(env.SALESFORCE_LOGIN_URL || `${sandboxBase}/salesforce`), ...SANDBOX_CREDENTIALS, version, sandboxed: true }
  }
  if (env.SALESFORCE_PRIVATE_KEY) {
    const missing = ['SALESFORCE_CLIENT_ID', 'SALESFORCE_USERNAME'].filter((v) => !env[v])
    if (missing.length) throw new Error(`the JWT bearer flow needs ${missing.join(' and ')} with SALESFORCE_PRIVATE_KEY`)
    return {
      mode: 'jwt-bearer',
      loginUrl,
      clientId: env.SALESFORCE_CLIENT_ID,
      username: env.SALESFORCE_USERNAME,
      privateKey: readPem(env.SALESFORCE_PRIVATE_KEY),
      audience: env.SALESFORCE_JWT_AUDIENCE || undefined,
      version,
      sandboxed: false
    }
  }
  if (env.SALESFORCE_REFRESH_TOKEN) {
    if (!env.SALESFORCE_CLIENT_ID) throw new Error('SALESFORCE_REFRESH_TOKEN needs SALESFORCE_CLIENT_ID (and usually SALESFORCE_CLIENT_SECRET)')
    return {
      mode: 'refresh-token',
      loginUrl,
      clientId: env.SALESFORCE_CLIENT_ID,
      clientSecret: env.SALESFORCE_CLIENT_SECRET || undefined,
      refreshToken: env.SALESFORCE_REFRESH_TOKEN,
      instanceUrl: env.SALESFORCE_INSTANCE_URL || undefined,
      version,
      sandboxed: false
    }
  }
  if (!env.SALESFORCE_INSTANCE_URL) throw new Error('SALESFORCE_ACCESS_TOKEN needs SALESFORCE_INSTANCE_URL')
  return { mode: 'access-token', loginUrl, instanceUrl: trimSlash(env.SALESFORCE_INSTANCE_URL), accessToken: env.SALESFORCE_ACCESS_TOKEN, version, sandboxed: false }
}

/** JWT `aud`: https://test.salesforce.com for sandbox orgs, https://login.salesforce.com for production, else the login URL (Experience Cloud). */
export function jwtAudience(auth: Pick<SalesforceAuth, 'loginUrl' | 'audience'>): string {
  if (auth.audience) return auth.audience
  const host = new URL(auth.loginUrl).hostname
  if (host === 'test.salesforce.com' || host.endsWith('.sandbox.my.salesforce.com')) return SANDBOX_LOGIN_URL
  if (host === 'login.salesforce.com' || host.endsWith('.my.salesforce.com')) return LOGIN_URL
  return auth.loginUrl
}

/** RS256 JWT for the OAuth 2.0 JWT bearer flow (help.salesforce.com "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"). */
export function signJwtAssertion(opts: { clientId: string; username: string; audience: string; privateKey: string; now?: number; ttlSeconds?: number }): string {
  const now = Math.floor((opts.now ?? Date.now()) / 1000)
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const unsigned = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: opts.clientId, sub: opts.username, aud: opts.audience, exp: now + (opts.ttlSeconds ?? 180), jti: randomUUID() })}`
  const signature = createSign('RSA-SHA256').update(unsigned).sign(opts.privateKey).toString('base64url')
  return `${unsigned}.${signature}`
}

interface TokenResponse {
  access_token: string
  instance_url: string
  /** Identity URL `…/id/<orgId>/<userId>`. */
  id?: string
}

function withIdentity(conn: Connection, res: TokenResponse): Connection {
  const parts = res.id?.split('/') ?? []
  const [organizationId, id] = parts.slice(-2)
  if (organizationId && id) conn.userInfo = { id, organizationId, url: res.id! }
  return conn
}

async function jwtToken(auth: SalesforceAuth): Promise<TokenResponse> {
  const assertion = signJwtAssertion({ clientId: auth.clientId!, username: auth.username!, audience: jwtAudience(auth), privateKey: auth.privateKey! })
  const oauth2 = new jsforce.OAuth2({ loginUrl: auth.loginUrl })
  return (await oauth2.requestToken({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion })) as unknown as TokenResponse
}

/**
 * A ready Connection (session established). jsforce refreshes it on INVALID_SESSION_ID: refresh-token mode through
 * its OAuth2 client, JWT mode through a refreshFn that signs a new assertion.
 */
export async function connectSalesforce(auth: SalesforceAuth): Promise<Connection> {
  const version = auth.version
  if (auth.mode === 'access-token') return new Connection({ instanceUrl: auth.instanceUrl, accessToken: auth.accessToken, version })
  if (auth.mode === 'jwt-bearer') {
    const first = await jwtToken(auth)
    const conn = new Connection({
      instanceUrl: first.instance_url,
      accessToken: first.access_token,
      version,
      refreshFn: (_conn, callback) => {
        jwtToken(auth).then(
          (res) => callback(null, res.access_token, res as never),
          (err: Error) => callback(err)
        )
      }
    })
    return withIdentity(conn, first)
  }
  const oauth2 = { clientId: auth.clientId, clientSecret: auth.clientSecret, loginUrl: auth.loginUrl, redirectUri: 'http://localhost/unused' }
  const res = (await new jsforce.OAuth2(oauth2).refreshToken(auth.refreshToken!)) as unknown as TokenResponse
  return withIdentity(new Connection({ oauth2, instanceUrl: res.instance_url, accessToken: res.access_token, refreshToken: auth.refreshToken, version }), res)
}

/** The destination function's settings for this auth (the function itself only speaks refresh token or access token). */
export function functionSettings(auth: SalesforceAuth): Record<string, string> {
  if (auth.mode === 'refresh-token') {
    return { loginUrl: auth.loginUrl, clientId: auth.clientId!, ...(auth.clientSecret ? { clientSecret: auth.clientSecret } : {}), refreshToken: auth.refreshToken!, apiVersion: auth.version }
  }
  if (auth.mode === 'access-token') return { instanceUrl: auth.instanceUrl!, accessToken: auth.accessToken!, apiVersion: auth.version }
  return { apiVersion: auth.version } // JWT: instanceUrl + accessToken are filled in by the bridge (src/destinations/hooks/salesforce.ts)
}

/** A fresh session for the JWT mode of the destination (instance URL + access token). */
export async function jwtSession(auth: SalesforceAuth): Promise<{ instanceUrl: string; accessToken: string }> {
  const res = await jwtToken(auth)
  return { instanceUrl: res.instance_url, accessToken: res.access_token }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '')
}

function readPem(value: string): string {
  const text = value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8')
  return text.replace(/\\n/g, '\n')
}
