import type { Destination } from './types.ts'
import { policyFromEnv, defaultPolicy } from './types.ts'
import { segmentDestination } from './segment.ts'
import { NOTIFICATION_DESTINATIONS } from '../notifications/wiring.ts'
import { mixpanelDestination } from './mixpanel.ts'
import { projectRoot } from '../functions/build.ts'
import { defaultFunctionsDir, discoverFunctionFolders } from '../runtime/function-folder.ts'
import { folderDestination, type DestinationHook } from '../runtime/folder-destination.ts'
import { klaviyoHook } from './hooks/klaviyo.ts'
import { salesforceHook } from './hooks/salesforce.ts'
import { REST_HOOKS_DESTINATION } from './rest-hooks.ts'
import { referralCandyConversionDestination } from './referralcandy-conversion.ts'
import { SANDBOX_ACCESS_ID, SANDBOX_SECRET } from '../referralcandy/api.ts'
import { growSurfConversionDestination } from './growsurf-conversion.ts'
import { GROWSURF_SANDBOX_API_KEY, GROWSURF_SANDBOX_CAMPAIGN } from '../sandboxes/growsurf.ts'
import { ambassadorConversionDestination } from './ambassador-conversion.ts'
import { AMBASSADOR_SANDBOX_CAMPAIGN, AMBASSADOR_SANDBOX_TOKEN, AMBASSADOR_SANDBOX_USERNAME } from '../sandboxes/ambassador.ts'

/**
 * Which destinations this bridge delivers to, and where. A vendor with credentials talks to the vendor; one
 * without talks to its local sandbox at `<sandboxBase>/<vendor>`.
 * `DESTINATIONS` (comma list) restricts the set; default: all.
 *
 * Two kinds: the bridge-side ones below (Segment, Mixpanel: official SDKs the Functions runtime does not offer;
 * in_app and app_webhook come in `extra`), and every folder under `destination-functions/` (or FUNCTIONS_DIR)
 * with index.ts + function.json, discovered at start (src/runtime/function-folder.ts). Adding a function
 * destination is adding a folder; nothing here names it.
 */
export interface RegistryOptions {
  env: NodeJS.ProcessEnv
  /** e.g. http://127.0.0.1:3001/sandbox */
  sandboxBase: string
  /** Built elsewhere (in_app, app_webhook from src/notifications/wiring.ts), already filtered by DESTINATIONS. */
  extra?: Destination[]
  /** Default: FUNCTIONS_DIR, else <project>/destination-functions. */
  functionsDir?: string
  /** Extra/replacement globals for every function (tests). */
  globals?: Record<string, unknown>
}

export type DestinationFactory = (opts: RegistryOptions) => Destination | Promise<Destination>

export const destinationFactories: Record<string, DestinationFactory> = {
  segment: ({ env, sandboxBase }) => {
    const sandboxed = !env.SEGMENT_WRITE_KEY
    return segmentDestination({
      writeKey: env.SEGMENT_WRITE_KEY || 'sandbox-write-key',
      host: env.SEGMENT_HOST || (sandboxed ? `${sandboxBase}/segment` : 'https://api.segment.io'),
      sandboxed,
      policy: policyFromEnv('segment', { ...defaultPolicy, batchSize: 250, concurrency: 4 }, env)
    })
  },
  // Mixpanel is not a Segment Functions global, so the bridge delivers it itself: events through /import with fetch
  // (src/destinations/mixpanel-import.ts; the sandbox with the project token as Basic auth, the same code path).
  mixpanel: ({ env, sandboxBase }) => {
    const sandboxed = !env.MIXPANEL_TOKEN
    return mixpanelDestination({
      token: env.MIXPANEL_TOKEN || 'sandbox-token',
      secret: sandboxed ? undefined : env.MIXPANEL_API_SECRET || undefined,
      host: env.MIXPANEL_HOST || (sandboxed ? `${sandboxBase}/mixpanel` : 'api.mixpanel.com'),
      sandboxed,
      // A lane's batch of events is one /import request (up to 2,000 events / 10 MB).
      policy: policyFromEnv('mixpanel', { ...defaultPolicy, concurrency: 4, batchSize: 200 }, env)
    })
  },
  // CRM wins reported back to ReferralCandy (purchase.json), so it rewards the advocate; sandboxed without an access id.
  referralcandy_conversion: ({ env, sandboxBase }) => {
    const sandboxed = !env.REFERRALCANDY_ACCESS_ID
    return referralCandyConversionDestination({
      accessId: env.REFERRALCANDY_ACCESS_ID || SANDBOX_ACCESS_ID,
      secret: env.REFERRALCANDY_API_SECRET || SANDBOX_SECRET,
      baseUrl: env.REFERRALCANDY_API_BASE_URL || (sandboxed ? `${sandboxBase}/referralcandy/api/v2` : 'https://my.referralcandy.com/api/v2'),
      sandboxed,
      policy: policyFromEnv('referralcandy_conversion', { ...defaultPolicy, concurrency: 2 }, env)
    })
  },
  // CRM wins reported back to GrowSurf (trigger referral for the referred participant); sandboxed without an API key.
  growsurf_conversion: ({ env, sandboxBase }) => {
    const sandboxed = !env.GROWSURF_API_KEY
    return growSurfConversionDestination({
      apiKey: env.GROWSURF_API_KEY || GROWSURF_SANDBOX_API_KEY,
      campaignId: env.GROWSURF_CAMPAIGN_ID || GROWSURF_SANDBOX_CAMPAIGN,
      baseUrl: env.GROWSURF_API_BASE_URL || (sandboxed ? `${sandboxBase}/growsurf/v2` : 'https://api.growsurf.com/v2'),
      sandboxed,
      policy: policyFromEnv('growsurf_conversion', { ...defaultPolicy, concurrency: 2 }, env)
    })
  },
  // CRM wins recorded at Ambassador (event/record, transaction_uid = deal id); sandboxed without an API token.
  ambassador_conversion: ({ env, sandboxBase }) => {
    const sandboxed = !env.AMBASSADOR_API_TOKEN
    return ambassadorConversionDestination({
      username: env.AMBASSADOR_API_USERNAME || AMBASSADOR_SANDBOX_USERNAME,
      token: env.AMBASSADOR_API_TOKEN || AMBASSADOR_SANDBOX_TOKEN,
      campaignUid: env.AMBASSADOR_CAMPAIGN_UID || AMBASSADOR_SANDBOX_CAMPAIGN,
      baseUrl: env.AMBASSADOR_API_BASE_URL || (sandboxed ? `${sandboxBase}/ambassador/api/v2` : 'https://getambassador.com/api/v2'),
      sandboxed,
      policy: policyFromEnv('ambassador_conversion', { ...defaultPolicy, concurrency: 2 }, env)
    })
  }
}

/** Bridge-side extras of function destinations, by folder name (see each hook for why it cannot live in the function). */
export const destinationHooks: Record<string, DestinationHook> = {
  klaviyo: klaviyoHook,
  salesforce: salesforceHook
}

export function functionsDirFrom(opts: Pick<RegistryOptions, 'env' | 'functionsDir'>): string {
  return opts.functionsDir ?? (opts.env.FUNCTIONS_DIR || defaultFunctionsDir(projectRoot))
}

export async function createDestinations(opts: RegistryOptions): Promise<Destination[]> {
  const functionsDir = functionsDirFrom(opts)
  const folders = discoverFunctionFolders(functionsDir).filter((f) => f.bridge)
  const clash = folders.find((f) => destinationFactories[f.name])
  if (clash) throw new Error(`${functionsDir}/${clash.name}: "${clash.name}" is a bridge-side destination; name the folder differently`)
  const wanted = opts.env.DESTINATIONS?.split(',').map((s) => s.trim()).filter(Boolean)
  const known = [...Object.keys(destinationFactories), ...folders.map((f) => f.name), ...NOTIFICATION_DESTINATIONS, REST_HOOKS_DESTINATION]
  const unknown = wanted?.filter((w) => !known.includes(w)) ?? []
  if (unknown.length) throw new Error(`DESTINATIONS names unknown destination(s): ${unknown.join(', ')} (known: ${known.join(', ')})`)
  const chosen = (n: string) => !wanted || wanted.includes(n)
  const bridgeSide = Object.keys(destinationFactories).filter(chosen)
  const built = await Promise.all([
    ...bridgeSide.map((n) => destinationFactories[n]!(opts)),
    ...folders
      .filter((f) => chosen(f.name))
      .map(async (f) => {
        const d = await folderDestination(f, { env: opts.env, sandboxBase: opts.sandboxBase, functionsDir, hook: destinationHooks[f.name], globals: opts.globals })
        // Named explicitly but neither configured nor sandboxed: say so instead of silently delivering nowhere.
        if (!d && wanted) throw new Error(`DESTINATIONS names ${f.name}, but it is not configured and names no sandbox in its function.json`)
        return d
      })
  ])
  return [...built.filter((d): d is Destination => !!d), ...(opts.extra ?? [])]
}

/** One function destination by folder name, exactly as createDestinations builds it (tests, CLIs, benchmarks). */
export async function functionFolderDestination(name: string, opts: RegistryOptions): Promise<Destination> {
  const functionsDir = functionsDirFrom(opts)
  const folder = discoverFunctionFolders(functionsDir).find((f) => f.name === name && f.bridge)
  if (!folder) throw new Error(`no function folder "${name}" with a bridge block under ${functionsDir}`)
  const d = await folderDestination(folder, { env: opts.env, sandboxBase: opts.sandboxBase, functionsDir, hook: destinationHooks[name], globals: opts.globals })
  if (!d) throw new Error(`${name} is not configured and names no sandbox in its function.json`)
  return d
}
