import { randomUUID } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import type { Store } from '../queue/store.ts'
import type { Source, WebhookRequest } from '../sources/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Destination } from '../destinations/types.ts'
import { normalizeItem } from '../ingest/normalize.ts'
import { cohortEvents } from '../ingest/cohort-events.ts'
import { normalizeEmail } from '../normalize/units.ts'
import { fileWatermark, postgresWatermark, type Watermark } from '../salesforce/watermark.ts'
import { listReferrals, type ReferralCandyClient, type ReferralCandyReferral } from './api.ts'

/**
 * ReferralCandy's only webhook (custom reward) fires once per referred purchase and a lost delivery is never
 * resent. This poller reads `referrals.json` and commits every referral through the webhook's own ingest path:
 * each record becomes the webhook payload (`referral_email`, `referral_timestamp`, `referring_email`), then the
 * `referralcandy` source's `items()` (key = fieldsKey(advocate, friend, purchase time), the webhook's key) →
 * `normalizeItem` → `store.accept`. A referral the webhook already delivered is a duplicate: no new message, no
 * new job.
 *
 * Window: `period_from` = `since`, else the watermark (end of the last successful poll) minus `overlapMs`
 * (default 24 h: referrals can be registered after their purchase time, and re-reading is free), else
 * `firstLookbackMs` (30 days) ago; `period_to` = now. The watermark is set to that `period_to` once every chunk
 * is committed; a failed poll leaves it where it was.
 */
export const REFERRALCANDY_SOURCE_NAME = 'referralcandy'
export const POLL_WATERMARK_KEY = 'referralcandy.poll.watermark'
const DAY = 86_400_000

export interface PollDeps {
  store: Store
  /** The loaded sources (`loadSources()` / `bridge.sources`); must contain `referralcandy`. */
  sources: Map<string, Source>
  plan: TrackingPlan
  destinations: Destination[]
  client: ReferralCandyClient
  watermark?: Watermark
  /** Start here (ms) instead of the watermark. */
  since?: number
  now?: () => number
  overlapMs?: number
  firstLookbackMs?: number
  /** Items per store.accept transaction (default 100). */
  chunkSize?: number
  onProgress?: (p: { done: number; total: number; stored: number; duplicates: number }) => void
}

export interface PollSummary {
  /** Records returned by referrals.json. */
  fetched: number
  /** New: the webhook never delivered them (or an earlier poll did not see them). */
  stored: number
  /** Already in the store (webhook or earlier poll), including repeats inside this answer. */
  duplicates: number
  /** Stored but quarantined by the tracking plan. */
  quarantined: number
  /** Records without a friend email, advocate email or purchase time: nothing to key them on. */
  skipped: number
  periodFrom: string
  periodTo: string
  watermark?: string
}

interface ReferralCandyPayload {
  referral_email: string
  referral_timestamp: number
  referring_email: string
}

/** A referrals.json record → the webhook's payload, or undefined when it lacks what the key is made of. */
export function toWebhookPayload(r: ReferralCandyReferral): ReferralCandyPayload | undefined {
  const friend = normalizeEmail(r.referral_email)
  const advocate = normalizeEmail(r.referring_email)
  const ts = typeof r.referral_timestamp === 'string' && /^\d+$/.test(r.referral_timestamp.trim()) ? Number(r.referral_timestamp) : r.referral_timestamp
  if (!friend || !advocate || typeof ts !== 'number' || !Number.isInteger(ts) || ts < 0) return undefined
  // The webhook's exact shape (emails as ReferralCandy sent them; the source normalizes them for the key).
  return { referral_email: String(r.referral_email).trim(), referral_timestamp: ts, referring_email: String(r.referring_email).trim() }
}

export async function pollReferrals(deps: PollDeps): Promise<PollSummary> {
  const source = deps.sources.get(REFERRALCANDY_SOURCE_NAME)
  if (!source) throw new Error(`source "${REFERRALCANDY_SOURCE_NAME}" is not loaded`)
  const now = deps.now ?? Date.now
  const chunkSize = Math.max(1, deps.chunkSize ?? 100)
  const periodTo = now()
  const mark = deps.since === undefined ? await deps.watermark?.get() : undefined
  const periodFrom = Math.max(0, deps.since ?? (mark !== undefined ? mark - (deps.overlapMs ?? DAY) : periodTo - (deps.firstLookbackMs ?? 30 * DAY)))

  const records = await listReferrals(deps.client, { from: Math.floor(periodFrom / 1000), to: Math.ceil(periodTo / 1000) })
  const summary: PollSummary = {
    fetched: records.length,
    stored: 0,
    duplicates: 0,
    quarantined: 0,
    skipped: 0,
    periodFrom: new Date(periodFrom).toISOString(),
    periodTo: new Date(periodTo).toISOString()
  }

  // Record → webhook items, deduped inside this answer (one inbox id per referral per transaction).
  const seen = new Set<string>()
  const entries: Array<{ record: ReferralCandyReferral; payload: ReferralCandyPayload }> = []
  for (const record of records) {
    const payload = toWebhookPayload(record)
    if (!payload) {
      summary.skipped++
      continue
    }
    entries.push({ record, payload })
  }

  const runId = `referralcandy-poll-${randomUUID()}`
  let done = summary.skipped
  for (let start = 0, chunk = 0; start < entries.length; start += chunkSize, chunk++) {
    const slice = entries.slice(start, start + chunkSize)
    const receivedAt = now()
    const items = []
    for (const { payload } of slice) {
      const raw = JSON.stringify(payload)
      const request: WebhookRequest = { rawBody: Buffer.from(raw), headers: {}, query: {}, receivedAt: new Date(receivedAt) }
      for (const item of source.items(payload, request)) {
        if (seen.has(item.key)) {
          summary.duplicates++
          continue
        }
        seen.add(item.key)
        items.push(normalizeItem(source, item, deps.plan, deps.destinations, receivedAt))
      }
    }
    // The same facts as the webhook path (Referral Created once, Order Completed, Referral Converted): docs/analysts.md.
    const facts = items.length ? await cohortEvents(items, { store: deps.store, plan: deps.plan, destinations: deps.destinations, receivedAt }) : items
    const result = items.length
      ? await deps.store.accept({
          source: source.name,
          requestId: `${runId}-${chunk}`,
          receivedAt,
          rawBody: JSON.stringify({ origin: 'referralcandy-poll', method: 'referrals.json', periodFrom: summary.periodFrom, periodTo: summary.periodTo, chunk, records: slice.map((e) => e.record) }),
          headers: {},
          items: facts
        })
      : { stored: [], duplicates: [] }
    summary.stored += result.stored.length
    summary.duplicates += result.duplicates.length
    summary.quarantined += items.filter((i) => result.stored.includes(i.id) && i.status === 'quarantined').length
    done += slice.length
    deps.onProgress?.({ done, total: records.length, stored: summary.stored, duplicates: summary.duplicates })
  }

  if (deps.watermark) {
    await deps.watermark.set(periodTo)
    summary.watermark = new Date(periodTo).toISOString()
  }
  return summary
}

/**
 * Where the poller remembers its last successful `period_to`: `referralcandy-poll.json` next to a SQLite
 * database, or key `referralcandy.poll.watermark` of `referral_bridge_kv` on PostgreSQL (the Salesforce
 * reconciliation's watermark module, another file/key). Losing it only means a longer first look-back.
 */
export async function pollWatermarkFor(databaseUrl: string): Promise<Watermark> {
  if (databaseUrl.startsWith('sqlite:')) return fileWatermark(join(dirname(resolve(databaseUrl.slice('sqlite:'.length))), 'referralcandy-poll.json'))
  return postgresWatermark(databaseUrl, POLL_WATERMARK_KEY)
}
