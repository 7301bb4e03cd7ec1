import type { Source } from './types.ts'
import { fieldsKey, hmacSha256, safeEqual } from './signatures.ts'
import { currencyCode, fromUnixMillis, integerMinor, normalizeEmail, rewardMoney } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import type { DraftMessage } from '../messages.ts'
import type { IdentifyTraits } from '../generated/tracking-plan.ts'
import { identifyDraft, trackDraft, type Loose } from '../tracking-plan/draft.ts'

/**
 * GrowSurf (docs.growsurf.com/developer-tools/webhooks; growsurf/growsurf-mcp:growsurf-docs/webhooks*.md@477553d).
 * Envelope `{event, createdAt (epoch ms), data}`.
 * Signature: `GrowSurf-Signature: ts=<unix ms>,v=<sig>`, sig = HMAC-SHA256(secret, ts + "." + body). GrowSurf
 * only signs when a secret is set on the webhook: set one, unsigned calls are rejected. The digest encoding is
 * not stated; their sample (crypto-js default toString) and every public verifier use hex, so hex it is
 * (catalogue §24.4: confirm with a real delivery). Their sample signs the re-serialized body; we sign the bytes.
 * GrowSurf gives no tolerance: we reject a `ts` more than 5 minutes from our receive time. `ts` is the time of
 * the attempt (GrowSurf retries for days), `createdAt` the time of the event.
 *
 * No event id. Keys come from the event's own ids plus the state that makes a legitimate repeat distinct:
 * GrowSurf sends PARTICIPANT_REACHED_A_GOAL twice under manual approval (approved false, then true) and once per
 * side of a double-sided reward (isReferrer).
 */
interface Participant {
  id: string
  email?: string
  firstName?: string
  lastName?: string
  shareUrl?: string
  referredBy?: string
  fraudRiskLevel?: string
  referrer?: Participant
  referee?: Participant
}
interface ParticipantReward {
  id: string
  approved: boolean
  isReferrer: boolean
  couponCode?: string | null
  referrerId?: string
  referredId?: string
  rewardId?: string
  title?: string
}
interface Commission {
  id: string
  referrerId?: string
  referredId?: string
  amount: number
  currencyISO: string
  status?: string
  createdAt?: number
}
interface GrowSurfPayload {
  event: string
  createdAt: number
  data: Record<string, any>
}

const EVENTS = [
  'PARTICIPANT_REACHED_A_GOAL',
  'NEW_PARTICIPANT_ADDED',
  'PARTICIPANT_FRAUD_STATUS_UPDATED',
  'NEW_COMMISSION_ADDED',
  'COMMISSION_ADJUSTED',
  'NEW_PAYOUT_ISSUED',
  'CAMPAIGN_ENDED'
]

const TOLERANCE_MS = 5 * 60 * 1000

const id = { type: 'string', minLength: 1 }
const participant = {
  type: 'object',
  required: ['id'],
  properties: { id, email: { type: 'string', format: 'email' }, firstName: { type: ['string', 'null'] }, lastName: { type: ['string', 'null'] } }
}

function when(event: string, data: object): object {
  return { if: { properties: { event: { const: event } } }, then: { properties: { data } } }
}

export const growsurf: Source<GrowSurfPayload> = {
  name: 'growsurf',
  secretEnv: ['GROWSURF_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'GrowSurf',
  dedupeKey: 'reward id + `approved` + `isReferrer`, participant id, commission/payout id',
  authScheme: 'GrowSurf-Signature: ts=<unix ms>,v=<hex HMAC-SHA256(secret, ts + "." + raw body)>, ts within 5 minutes',

  verify(request, secret) {
    const header = request.headers['growsurf-signature']
    if (!header) return { ok: false, reason: 'missing GrowSurf-Signature header (set a secret on the GrowSurf webhook)' }
    const parts = new Map(
      header.split(',').map((part) => {
        const at = part.indexOf('=')
        return [part.slice(0, at).trim(), part.slice(at + 1).trim()] as [string, string]
      })
    )
    const ts = parts.get('ts')
    const received = parts.get('v')
    if (!ts || !/^\d+$/.test(ts) || !received) return { ok: false, reason: 'GrowSurf-Signature must be ts=<unix ms>,v=<signature>' }
    if (Math.abs(request.receivedAt.getTime() - Number(ts)) > TOLERANCE_MS) {
      return { ok: false, reason: 'GrowSurf-Signature ts is more than 5 minutes from now (replayed or clock skew)' }
    }
    const expected = hmacSha256(secret, Buffer.concat([Buffer.from(`${ts}.`), request.rawBody]), 'hex')
    return safeEqual(expected, received.toLowerCase())
      ? { ok: true }
      : { ok: false, reason: 'GrowSurf-Signature does not match HMAC-SHA256(secret, ts + "." + body)' }
  },

  payloadSchema: {
    type: 'object',
    required: ['event', 'createdAt', 'data'],
    properties: {
      event: { type: 'string', enum: EVENTS },
      createdAt: { type: 'integer', minimum: 0 },
      data: { type: 'object' }
    },
    allOf: [
      when('PARTICIPANT_REACHED_A_GOAL', {
        required: ['participant', 'reward'],
        properties: {
          participant: {
            ...participant,
            properties: { ...participant.properties, referrer: participant, referee: participant }
          },
          reward: {
            type: 'object',
            required: ['id', 'approved', 'isReferrer'],
            properties: {
              id,
              approved: { type: 'boolean' },
              isReferrer: { type: 'boolean' },
              couponCode: { type: ['string', 'null'] },
              referrerId: { type: 'string' },
              referredId: { type: 'string' }
            }
          }
        }
      }),
      when('NEW_PARTICIPANT_ADDED', {
        required: ['id'],
        properties: { ...participant.properties, referredBy: { type: ['string', 'null'] }, referrer: participant }
      }),
      when('PARTICIPANT_FRAUD_STATUS_UPDATED', {
        required: ['participant'],
        properties: { participant: { ...participant, required: ['id', 'fraudRiskLevel'] } }
      }),
      when('NEW_COMMISSION_ADDED', {
        required: ['participant', 'commission'],
        properties: {
          participant,
          commission: {
            type: 'object',
            required: ['id', 'amount', 'currencyISO'],
            properties: { id, amount: { type: 'integer' }, currencyISO: { type: 'string', pattern: '^[A-Za-z]{3}$' } }
          }
        }
      }),
      when('COMMISSION_ADJUSTED', {
        required: ['adjustedCommission', 'adjustment'],
        properties: {
          adjustedCommission: { type: 'object', required: ['id'], properties: { id } },
          adjustment: { type: 'object', required: ['adjustedAt'], properties: { adjustedAt: { type: 'integer' } } }
        }
      }),
      when('NEW_PAYOUT_ISSUED', {
        required: ['payout'],
        properties: { payout: { type: 'object', required: ['id'], properties: { id } } }
      }),
      when('CAMPAIGN_ENDED', { required: ['id'], properties: { id } })
    ]
  },

  items(payload) {
    const d = payload.data
    let key: string
    switch (payload.event) {
      case 'PARTICIPANT_REACHED_A_GOAL':
        // reward.id is the ParticipantReward; approved and isReferrer separate the documented legitimate repeats.
        key = fieldsKey(payload.event, d.reward.id, d.reward.approved, d.reward.isReferrer)
        break
      case 'NEW_PARTICIPANT_ADDED':
      case 'CAMPAIGN_ENDED':
        key = fieldsKey(payload.event, d.id)
        break
      case 'PARTICIPANT_FRAUD_STATUS_UPDATED':
        key = fieldsKey(payload.event, d.participant.id, d.participant.fraudRiskLevel, payload.createdAt)
        break
      case 'NEW_COMMISSION_ADDED':
        key = fieldsKey(payload.event, d.commission.id)
        break
      case 'COMMISSION_ADJUSTED':
        key = fieldsKey(payload.event, d.adjustedCommission.id, d.adjustment.adjustedAt)
        break
      default: // NEW_PAYOUT_ISSUED (the schema admits nothing else)
        key = fieldsKey(payload.event, d.payout.id)
    }
    return [{ key, eventType: payload.event, payload }]
  },

  normalize(item) {
    const p = item.payload as GrowSurfPayload
    const timestamp = fromUnixMillis(p.createdAt, 'createdAt')
    switch (p.event) {
      case 'PARTICIPANT_REACHED_A_GOAL':
        return reachedGoal(p.data.participant as Participant, p.data.reward as ParticipantReward, timestamp)
      case 'NEW_PARTICIPANT_ADDED':
        return newParticipant(p.data as Participant, timestamp)
      case 'NEW_COMMISSION_ADDED':
        return newCommission(p.data.participant as Participant, p.data.commission as Commission, p.data.referredParticipant, timestamp)
      default:
        // Fraud status, commission adjustments, payouts, campaign end: stored and visible, the plan has no event for them.
        return []
    }
  }
}

function personId(person: Participant | undefined, fallbackId?: string): string | undefined {
  const email = normalizeEmail(person?.email)
  if (email) return email
  const pid = person?.id ?? fallbackId
  return pid ? `growsurf:${pid}` : undefined
}

/** The participant's own share code: the `grsf` parameter of their share URL. */
function shareCode(person: Participant | undefined): string | undefined {
  if (!person?.shareUrl) return undefined
  try {
    return new URL(person.shareUrl).searchParams.get('grsf') ?? undefined
  } catch {
    return undefined
  }
}

/** One id for a referral, whichever event reports it: GrowSurf has no referral object, only the two participants. */
function referralId(referrerId: string | undefined, referredId: string | undefined): string | undefined {
  return referrerId && referredId ? `growsurf:${referrerId}:${referredId}` : undefined
}

/** The traits that differ between the advocate and the friend identify. */
type ExtraTraits = Pick<Partial<Loose<IdentifyTraits>>, 'referral_code' | 'referred_by' | 'referral_id'>

function identify(role: 'advocate' | 'friend', person: Participant, timestamp: string, extra: ExtraTraits): DraftMessage {
  return identifyDraft(
    {
      email: normalizeEmail(person.email),
      first_name: person.firstName,
      last_name: person.lastName,
      referral_role: role,
      ...extra,
      source_platform: 'growsurf'
    },
    { role: `identify-${role}`, userId: personId(person)!, timestamp }
  )
}

function reachedGoal(participant: Participant, reward: ParticipantReward, timestamp: string): DraftMessage[] {
  // isReferrer: the participant is the advocate and `participant.referee` the friend; otherwise the reverse.
  const advocate = reward.isReferrer ? participant : participant.referrer
  const friend = reward.isReferrer ? participant.referee : participant
  const advocateRef = reward.referrerId ?? advocate?.id
  const friendRef = reward.referredId ?? friend?.id
  const refId = referralId(advocateRef, friendRef)
  const advocateId = personId(advocate, advocateRef)
  const recipientId = reward.isReferrer ? advocateId : personId(friend, friendRef)
  if (!recipientId) throw new InvalidPayloadError('PARTICIPANT_REACHED_A_GOAL: the reward recipient has no id')
  const out: DraftMessage[] = []
  if (advocate) out.push(identify('advocate', advocate, timestamp, { referral_code: shareCode(advocate) }))
  if (friend) out.push(identify('friend', friend, timestamp, { referred_by: advocateId, referral_id: refId }))
  // Under manual approval the first delivery is only "pending": the reward is earned when approved.
  if (!reward.approved) return out
  out.push(
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: reward.id,
        // GrowSurf rewards are free-form (title, description, metadata like "amount": "$25"): no money to read.
        reward_type: reward.couponCode ? 'coupon' : 'other',
        recipient_role: reward.isReferrer ? 'advocate' : 'friend',
        coupon_code: reward.couponCode,
        referral_id: refId,
        advocate_id: advocateId,
        advocate_email: normalizeEmail(advocate?.email),
        friend_email: normalizeEmail(friend?.email),
        source_platform: 'growsurf'
      },
      { role: 'track', userId: recipientId, timestamp }
    )
  )
  return out
}

function newParticipant(participant: Participant, timestamp: string): DraftMessage[] {
  const referrerRef = participant.referrer?.id ?? participant.referredBy ?? undefined
  if (!referrerRef) {
    // Not referred: a new participant is an advocate-to-be with their own share link.
    return [identify('advocate', participant, timestamp, { referral_code: shareCode(participant) })]
  }
  const advocateId = personId(participant.referrer, referrerRef)!
  const friendId = personId(participant)!
  const refId = referralId(referrerRef, participant.id)!
  const referralCode = shareCode(participant.referrer)
  const advocateEmail = normalizeEmail(participant.referrer?.email)
  const friendEmail = normalizeEmail(participant.email)
  const out: DraftMessage[] = []
  if (participant.referrer) {
    out.push(identify('advocate', participant.referrer, timestamp, { referral_code: shareCode(participant.referrer) }))
  }
  out.push(
    identify('friend', participant, timestamp, { referred_by: advocateId, referral_id: refId }),
    // The friend joining is both the referral coming into existence and the friend signing up (welcome email).
    // The two property sets are spelled out (not spread from a shared object) so each is checked against its event.
    trackDraft(
      'Referral Created',
      {
        referral_id: refId,
        referral_code: referralCode,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        source_platform: 'growsurf',
        status: 'created'
      },
      { role: 'track', userId: friendId, timestamp }
    ),
    trackDraft(
      'Referred Friend Signed Up',
      {
        referral_id: refId,
        referral_code: referralCode,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        source_platform: 'growsurf',
        friend_first_name: participant.firstName
      },
      { role: 'track-signup', userId: friendId, timestamp }
    )
  )
  return out
}

function newCommission(
  participant: Participant,
  commission: Commission,
  referred: Participant | Record<string, never> | undefined,
  timestamp: string
): DraftMessage[] {
  const currency = currencyCode(commission.currencyISO, 'data.commission.currencyISO')
  // Minor units: 2500 / 10000 with "USD" in GrowSurf's sample (catalogue §6 marks this unverified).
  const minor = integerMinor(commission.amount, 'data.commission.amount')
  const advocateId = personId(participant)!
  return [
    identify('advocate', participant, timestamp, { referral_code: shareCode(participant) }),
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: commission.id,
        reward_type: 'commission',
        recipient_role: 'advocate',
        ...rewardMoney(minor, currency),
        referral_id: referralId(commission.referrerId, commission.referredId),
        advocate_id: advocateId,
        advocate_email: normalizeEmail(participant.email),
        friend_email: normalizeEmail((referred as Participant | undefined)?.email),
        source_platform: 'growsurf'
      },
      { role: 'track', userId: advocateId, timestamp }
    )
  ]
}
