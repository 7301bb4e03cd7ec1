import type { Store } from '../queue/store.ts'
import type { TrackMessage } from '../messages.ts'

/**
 * The analysts' two cohort questions, answered from the store (the committed, plan-checked messages), so they can
 * be cross-checked against what Mixpanel shows (docs/analysts.md; the ground-truth test asserts both agree):
 *
 * - `advocatesWithRecentConversions`: advocates with at least `min` referred friends whose FIRST purchase falls in
 *   the last `withinMs` (a friend who bought before the window and again inside it does not count: Mixpanel's
 *   `Referral Converted` is sent once, at the first purchase).
 * - `friendsSignedUpNotPurchased`: friends with a `Referred Friend Signed Up` and no `Order Completed` at all.
 *
 * Computed from `Order Completed` and `Referred Friend Signed Up` themselves, not from the derived `Referral
 * Converted`, so the report is an independent check of the cohort pass (src/ingest/cohort-events.ts).
 */
export interface AdvocateCohortRow {
  advocate: string
  friends_purchased: number
  friends: string[]
}

export interface FriendCohortRow {
  friend: string
  signed_up_at: string
  advocate?: string
  source_platform?: string
}

/** Every routed track message, oldest first. */
async function routedTracks(store: Store): Promise<TrackMessage[]> {
  const rows = await store.recentMessages(0, Number.MAX_SAFE_INTEGER)
  return rows
    .filter((r) => r.status === 'routed' && r.message.type === 'track')
    .map((r) => r.message as TrackMessage)
    .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)
const lower = (v: unknown) => str(v)?.toLowerCase()

export async function advocatesWithRecentConversions(
  store: Store,
  options: { withinMs: number; min: number; now: number }
): Promise<AdvocateCohortRow[]> {
  /** friend → { advocate, first purchase time }, per referral. */
  const first = new Map<string, { advocate: string; friend: string; at: number }>()
  for (const m of await routedTracks(store)) {
    if (m.event !== 'Order Completed') continue
    const p = m.properties
    const advocate = lower(p.advocate_email) ?? lower(p.advocate_id)
    const friend = lower(p.friend_id) ?? lower(m.userId)
    if (!advocate || !friend) continue
    const key = str(p.referral_id) ?? `${advocate}|${friend}`
    const at = Date.parse(m.timestamp)
    const seen = first.get(key)
    if (!seen || at < seen.at) first.set(key, { advocate, friend, at })
  }
  const since = options.now - options.withinMs
  const byAdvocate = new Map<string, Set<string>>()
  for (const { advocate, friend, at } of first.values()) {
    if (at < since || at > options.now) continue
    const set = byAdvocate.get(advocate) ?? new Set<string>()
    set.add(friend)
    byAdvocate.set(advocate, set)
  }
  return [...byAdvocate.entries()]
    .filter(([, friends]) => friends.size >= options.min)
    .map(([advocate, friends]) => ({ advocate, friends_purchased: friends.size, friends: [...friends].sort() }))
    .sort((a, b) => b.friends_purchased - a.friends_purchased || a.advocate.localeCompare(b.advocate))
}

export async function friendsSignedUpNotPurchased(store: Store): Promise<FriendCohortRow[]> {
  const signedUp = new Map<string, FriendCohortRow>()
  const bought = new Set<string>()
  for (const m of await routedTracks(store)) {
    const friend = lower(m.userId)
    if (!friend) continue
    if (m.event === 'Order Completed') bought.add(friend)
    if (m.event === 'Referred Friend Signed Up' && !signedUp.has(friend)) {
      signedUp.set(friend, {
        friend,
        signed_up_at: m.timestamp,
        advocate: lower(m.properties.advocate_email) ?? lower(m.properties.advocate_id),
        source_platform: str(m.properties.source_platform)
      })
    }
  }
  return [...signedUp.values()].filter((r) => !bought.has(r.friend)).sort((a, b) => a.friend.localeCompare(b.friend))
}

export function cohortCsv(rows: Array<AdvocateCohortRow | FriendCohortRow>): string {
  if (rows.length === 0) return ''
  const headers = Object.keys(rows[0])
  const cell = (v: unknown) => {
    const s = Array.isArray(v) ? v.join(' ') : v === undefined ? '' : String(v)
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return [headers.join(','), ...rows.map((r) => headers.map((h) => cell((r as unknown as Record<string, unknown>)[h])).join(','))].join('\n') + '\n'
}
