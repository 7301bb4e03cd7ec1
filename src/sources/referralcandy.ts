import type { Source } from './types.ts'
import { fieldsKey, md5Hex, safeEqual } from './signatures.ts'
import { fromUnixSeconds, normalizeEmail } from '../normalize/units.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'

/**
 * ReferralCandy's one outbound webhook: the Custom Reward webhook, sent when a referred purchase is detected
 * (help.referralcandy.com "Custom reward: accumulating referral rewards in your own platform").
 * Signature: `X-Referral-Candy-Signature` = hex MD5(API secret + raw body). No timestamp, no event id.
 */
interface ReferralCandyPayload {
  referral_email: string
  referral_timestamp: number
  referring_email: string
}

export const referralcandy: Source<ReferralCandyPayload> = {
  name: 'referralcandy',
  secretEnv: ['REFERRALCANDY_API_SECRET'],
  contentTypes: ['application/json'],
  label: 'ReferralCandy (custom-reward webhook)',
  dedupeKey: 'hash of advocate email, friend email, purchase time',
  authScheme: 'X-Referral-Candy-Signature: hex MD5(API secret + raw body)',

  verify(request, secret) {
    const received = request.headers['x-referral-candy-signature']
    if (!received) return { ok: false, reason: 'missing X-Referral-Candy-Signature header' }
    const expected = md5Hex(Buffer.concat([Buffer.from(secret), request.rawBody]))
    return safeEqual(expected, received.trim().toLowerCase())
      ? { ok: true }
      : { ok: false, reason: 'X-Referral-Candy-Signature does not match MD5(API secret + body)' }
  },

  payloadSchema: {
    type: 'object',
    required: ['referral_email', 'referral_timestamp', 'referring_email'],
    properties: {
      referral_email: { type: 'string', format: 'email' },
      referral_timestamp: { type: 'integer', minimum: 0 },
      referring_email: { type: 'string', format: 'email' }
    }
  },

  items(payload) {
    // No event id: the advocate, the friend and the purchase time identify the referred purchase.
    const key = fieldsKey(
      normalizeEmail(payload.referring_email),
      normalizeEmail(payload.referral_email),
      payload.referral_timestamp
    )
    return [{ key, eventType: 'referred_purchase', payload }]
  },

  normalize(item) {
    const p = item.payload as ReferralCandyPayload
    const advocate = normalizeEmail(p.referring_email)!
    const friend = normalizeEmail(p.referral_email)!
    const timestamp = fromUnixSeconds(p.referral_timestamp, 'referral_timestamp')
    // One referral per (advocate, friend): every purchase the friend makes is reported by its own webhook, and they
    // must share the referral so Referral Created / Referral Converted are sent once (src/ingest/cohort-events.ts).
    const referralId = `referralcandy_${fieldsKey(advocate, friend).slice(0, 24)}`
    return [
      identifyDraft(
        { email: advocate, referral_role: 'advocate', source_platform: 'referralcandy' },
        { role: 'identify-advocate', userId: advocate, timestamp }
      ),
      identifyDraft(
        {
          email: friend,
          referral_role: 'friend',
          referred_by: advocate,
          referral_id: referralId,
          source_platform: 'referralcandy'
        },
        { role: 'identify-friend', userId: friend, timestamp }
      ),
      trackDraft(
        'Referral Created',
        {
          referral_id: referralId,
          advocate_id: advocate,
          advocate_email: advocate,
          friend_id: friend,
          friend_email: friend,
          status: 'converted',
          source_platform: 'referralcandy'
        },
        { role: 'track', userId: friend, timestamp }
      ),
      // The webhook is sent for a referred purchase, so it is an Order Completed too. It carries no amount (the help
      // article above lists only the three fields): revenue stays absent and revenue_known false, never 0.
      trackDraft(
        'Order Completed',
        {
          order_id: `referralcandy_${item.key.slice(0, 24)}`,
          referral_id: referralId,
          advocate_id: advocate,
          advocate_email: advocate,
          friend_id: friend,
          friend_email: friend,
          revenue_known: false,
          source_platform: 'referralcandy'
        },
        { role: 'order', userId: friend, timestamp }
      )
    ]
  }
}
