import { createHash } from 'node:crypto'
import type { NewInboxItem, NewMessage, Store } from '../queue/store.ts'
import type { Destination } from '../destinations/types.ts'
import type { TrackingPlan } from '../tracking-plan/plan.ts'
import type { Message, TrackMessage } from '../messages.ts'
import { compact } from '../normalize/compact.ts'
import { normalizeEmail } from '../normalize/units.ts'
import { routeTo } from './normalize.ts'

/**
 * One event per fact, whatever the source and whatever the order of arrival (issue 15: Mixpanel cohorts must
 * equal the truth). Runs in the webhook request after attribution, before the commit, over what every source
 * normalized:
 *
 * - `Referral Created` is a referral's first report only. Its messageId is derived from the referral id, not from
 *   the webhook, so a second report of the same referral (a later state, a redelivery under a new event id, the
 *   next ReferralCandy purchase) finds it in the store (`Store.storedMessages`) and becomes a
 *   `Referral Status Changed` (from the latest stored state to the new one, once per target state) or nothing
 *   when the state is not newer.
 * - A referral whose state says the friend signed up (`lead`) yields `Referred Friend Signed Up` for sources that
 *   only report states; every sign-up has one id per referral (or friend), so it is sent once.
 * - `Order Completed` on a friend, attributed to an advocate, yields `Referral Converted` on the advocate once per
 *   referral: the first purchase the bridge stores for that referral. A purchase that arrives after a later one of
 *   the same friend does not move it (Mixpanel cannot retract an event): docs/analysts.md says so.
 *
 * Every derived fact id is stable, so a concurrent twin of the same webhook commits the same ids and the store's
 * upsert keeps one of them; jobs are keyed by message id, so it is delivered once.
 */
export interface CohortDeps {
  store: Store
  plan: TrackingPlan
  destinations: Destination[]
  receivedAt: number
}

/** Referral states in lifecycle order; a report of an earlier state than the stored one changes nothing. */
const STATE_RANK: Record<string, number> = { visitor: 0, created: 1, pending: 1, lead: 2, conversion: 3, converted: 3, approved: 4 }
const STATES = Object.keys(STATE_RANK)
const SIGNED_UP_STATES = new Set(['lead'])

export function factKey(parts: string): string {
  return createHash('sha256').update(parts).digest('hex').slice(0, 32)
}
export const createdId = (referralId: string) => `rb-referral-${factKey(referralId)}-created`
export const statusId = (referralId: string, status: string) => `rb-referral-${factKey(referralId)}-status-${status}`
export const convertedId = (referralKey: string) => `rb-referral-${factKey(referralKey)}-converted`
export const signedUpId = (referralKey: string) => `rb-referral-${factKey(referralKey)}-signed-up`

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)

/** The referral a message is about: its id, else advocate + friend. */
function referralKeyOf(p: Record<string, unknown>, friend?: string): string | undefined {
  const id = str(p.referral_id)
  if (id) return id
  const advocate = str(p.advocate_email) ?? str(p.advocate_id)
  const f = str(p.friend_email) ?? str(p.friend_id) ?? friend
  return advocate && f ? `${advocate.toLowerCase()}|${f.toLowerCase()}` : undefined
}

export async function cohortEvents(items: NewInboxItem[], deps: CohortDeps): Promise<NewInboxItem[]> {
  const wanted: string[] = []
  for (const item of items) {
    for (const m of item.messages) {
      if (m.violations?.length || m.message.type !== 'track') continue
      const p = m.message.properties
      const key = referralKeyOf(p, m.message.userId)
      if (!key) continue
      if (m.message.event === 'Referral Created') wanted.push(createdId(key), ...STATES.map((s) => statusId(key, s)), signedUpId(key))
      if (m.message.event === 'Referred Friend Signed Up') wanted.push(signedUpId(key))
      if (m.message.event === 'Order Completed') wanted.push(convertedId(key))
    }
  }
  if (wanted.length === 0) return items
  const stored = await deps.store.storedMessages(wanted)
  /** Facts emitted by this request so far (several items of one webhook, or one item reporting twice). */
  const known = new Map<string, Message>(stored)

  const latestState = (key: string): string | undefined => {
    let best: string | undefined
    const created = known.get(createdId(key))
    if (created?.type === 'track') best = str(created.properties.status)
    for (const s of STATES) {
      if (known.has(statusId(key, s)) && (best === undefined || STATE_RANK[s] > (STATE_RANK[best] ?? -1))) best = s
    }
    return best
  }

  const derive = (from: TrackMessage, event: string, messageId: string, userId: string, properties: Record<string, unknown>): NewMessage => {
    const message: TrackMessage = {
      type: 'track',
      event,
      messageId,
      userId,
      timestamp: from.timestamp,
      properties: compact(properties),
      context: {
        ...from.context,
        protocols: { ...from.context.protocols, event_version: deps.plan.currentVersion('track', event) }
      }
    }
    const check = deps.plan.check(message)
    if (!check.ok) return { message, violations: check.reasons, destinations: [] }
    return { message, destinations: routeTo(message, deps.destinations, deps.receivedAt) }
  }

  return items.map((item) => {
    const notes: string[] = []
    const out: NewMessage[] = []
    // A source that reports the sign-up itself (with its personalisation fields) is preferred to one derived from a state.
    const ownSignUps = new Set(
      item.messages.filter((m) => m.message.type === 'track' && m.message.event === 'Referred Friend Signed Up').map((m) => referralKeyOf((m.message as TrackMessage).properties, m.message.userId))
    )
    const emit = (m: NewMessage) => {
      known.set(m.message.messageId, m.message)
      out.push(m)
    }
    for (const m of item.messages) {
      if (m.violations?.length || m.message.type !== 'track') {
        out.push(m)
        continue
      }
      const msg = m.message
      const p = msg.properties
      const key = referralKeyOf(p, msg.userId)
      if (!key) {
        out.push(m)
        continue
      }
      if (msg.event === 'Referral Created') {
        const status = str(p.status) ?? 'created'
        const before = latestState(key)
        if (before === undefined) {
          emit(renamed(m, createdId(key)))
        } else if ((STATE_RANK[status] ?? -1) > (STATE_RANK[before] ?? -1) && !known.has(statusId(key, status))) {
          emit(
            derive(msg, 'Referral Status Changed', statusId(key, status), msg.userId ?? String(p.friend_id), {
              referral_id: str(p.referral_id) ?? key,
              from_status: before,
              to_status: status,
              advocate_id: p.advocate_id,
              advocate_email: p.advocate_email,
              friend_id: p.friend_id,
              source_platform: p.source_platform
            })
          )
        } else {
          notes.push(`Referral Created for ${key} (${status}) not sent again: the referral is already stored as ${before}`)
        }
        if (SIGNED_UP_STATES.has(status) && !ownSignUps.has(key) && !known.has(signedUpId(key)) && msg.userId) {
          emit(
            derive(msg, 'Referred Friend Signed Up', signedUpId(key), msg.userId, {
              referral_id: p.referral_id,
              referral_code: p.referral_code,
              advocate_id: p.advocate_id,
              advocate_email: p.advocate_email,
              friend_id: p.friend_id,
              friend_email: p.friend_email,
              source_platform: p.source_platform
            })
          )
        }
        continue
      }
      if (msg.event === 'Referred Friend Signed Up') {
        if (known.has(signedUpId(key))) notes.push(`Referred Friend Signed Up for ${key} not sent again: already stored`)
        else emit(renamed(m, signedUpId(key)))
        continue
      }
      out.push(m)
      if (msg.event === 'Order Completed') {
        const advocate = normalizeEmail(str(p.advocate_email)) ?? (str(p.advocate_id)?.includes('@') ? normalizeEmail(str(p.advocate_id)) : str(p.advocate_id))
        const friend = str(p.friend_id) ?? msg.userId
        if (!advocate || !friend || known.has(convertedId(key))) continue
        emit(
          derive(msg, 'Referral Converted', convertedId(key), advocate, {
            referral_id: str(p.referral_id) ?? key,
            advocate_id: p.advocate_id,
            advocate_email: p.advocate_email,
            friend_id: friend,
            friend_email: p.friend_email,
            order_id: p.order_id,
            revenue: p.revenue,
            currency: p.revenue === undefined ? undefined : p.currency,
            source_platform: p.source_platform
          })
        )
      }
    }
    const status = out.length === 0 ? 'ignored' : item.status
    return notes.length || out !== item.messages
      ? { ...item, status, messages: out, ...(notes.length ? { reason: [item.reason, ...notes].filter(Boolean).join('; ') } : {}) }
      : item
  })
}

/** The same message under its fact id (so every report of the fact shares one id). */
function renamed(m: NewMessage, messageId: string): NewMessage {
  return { ...m, message: { ...m.message, messageId } }
}
