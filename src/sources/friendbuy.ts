import type { Source, WebhookItem } from './types.ts'
import { fieldsKey, hmacSha256, safeEqual } from './signatures.ts'
import { fromIsoString, normalizeEmail, rewardFromDecimal, type RewardMoney } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, trackDraft } from '../tracking-plan/draft.ts'

/**
 * Friendbuy (developers.friendbuy.com, "Webhooks"; friendbuy/slate:source/includes/_webhooks.md@2447d8e).
 * Envelope `{id, type, data[], createdOn}`: `id` is the id of the *call*, not of an event, and several events of
 * one type can share a call, so every element of `data[]` is its own item, keyed by `rewardId` (reward types),
 * `eventId` (emailCapture) or (emailAddress, campaignId) (emailOptOut).
 * Signature: `X-Friendbuy-Hmac-SHA256` = base64 HMAC-SHA256(secret key, raw body). The docs' prose says SHA1,
 * their steps and Node sample use SHA-256 (and real headers are 44 base64 chars = 32 bytes). No timestamp.
 * Only 200 counts as success; anything else is retried every 15 minutes for 24 hours.
 *
 * The Reward Validation callback (body `{eventType, recipientType, campaignId, event, advocate, actor}`) is not a
 * notification: Friendbuy reads the status (200 = validate the reward, 400 = invalidate). Acknowledging it with
 * the generic 200 would validate every reward, so `unroutable()` answers 501 and items() refuses it.
 */
interface RewardElement {
  rewardId: string
  rewardType?: string
  rewardUnit?: string
  rewardAmount?: string | number
  /** The payload table calls the amount `amount`; the sample sends `rewardAmount`. Both are read. */
  amount?: string | number
  emailAddress?: string
  createdOn?: string
  customerId?: string
  couponCode?: string | null
}
interface EmailCaptureElement {
  eventId: string
  emailAddress: string
  name?: string
  campaign?: { id?: string; name?: string }
  referral?: { channel?: string; code?: string }
  advocate?: { email?: string; name?: string; customerId?: string }
  attributionId?: string
  incentive?: { couponCode?: string; amount?: number | string; currency?: string }
}
interface FriendbuyEnvelope {
  id: string
  type: string
  data: Array<Record<string, unknown>>
  createdOn: string
}
interface RewardValidationCallback {
  eventType: string
  recipientType: string
  campaignId?: string
}
type FriendbuyPayload = FriendbuyEnvelope | RewardValidationCallback

/** What one item stores: the envelope around a single element of `data[]`. */
interface FriendbuyItem {
  id: string
  type: string
  createdOn: string
  data: Record<string, unknown>
}

const email = { type: 'string', format: 'email' }
const text = { type: 'string' }

function elementsOf(type: string, element: object): object {
  return {
    if: { properties: { type: { const: type } }, required: ['type'] },
    then: { properties: { data: { items: element } } }
  }
}

const envelopeSchema = {
  type: 'object',
  required: ['id', 'type', 'data', 'createdOn'],
  properties: {
    id: { type: 'string', minLength: 1 },
    type: { type: 'string', minLength: 1 },
    data: { type: 'array', minItems: 1, items: { type: 'object' } },
    createdOn: { type: 'string', format: 'date-time' }
  },
  allOf: [
    elementsOf('advocateReward', {
      required: ['rewardId'],
      properties: {
        rewardId: { type: 'string', minLength: 1 },
        rewardType: text,
        rewardUnit: text,
        rewardAmount: { type: ['string', 'number'] },
        amount: { type: ['string', 'number'] },
        emailAddress: email,
        createdOn: { type: 'string', format: 'date-time' },
        customerId: text,
        couponCode: { type: ['string', 'null'] }
      }
    }),
    elementsOf('emailCapture', {
      required: ['eventId', 'emailAddress'],
      properties: {
        eventId: { type: 'string', minLength: 1 },
        emailAddress: email,
        name: text,
        campaign: { type: 'object', properties: { id: text, name: text } },
        referral: { type: 'object', properties: { channel: text, code: text } },
        advocate: { type: 'object', properties: { email, name: text, customerId: text } },
        attributionId: text,
        incentive: { type: 'object', properties: { couponCode: text } }
      }
    }),
    elementsOf('emailOptOut', {
      required: ['emailAddress', 'campaignId'],
      properties: { emailAddress: email, campaignId: { type: 'string', minLength: 1 }, campaignName: text }
    })
  ]
}

const rewardValidationSchema = {
  type: 'object',
  required: ['eventType', 'recipientType'],
  not: { required: ['data'] },
  properties: {
    eventType: text,
    recipientType: text,
    campaignId: text,
    event: { type: 'object' },
    advocate: { type: 'object' },
    actor: { type: 'object' }
  }
}

function isRewardValidation(payload: FriendbuyPayload): payload is RewardValidationCallback {
  return typeof (payload as RewardValidationCallback).eventType === 'string' && !('data' in payload)
}

export const friendbuy: Source<FriendbuyPayload> = {
  name: 'friendbuy',
  secretEnv: ['FRIENDBUY_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'Friendbuy (advocateReward, emailCapture, emailOptOut)',
  dedupeKey: 'per `data[]` item: `rewardId` / `eventId` / (email, campaign)',
  authScheme: 'X-Friendbuy-Hmac-SHA256: base64 HMAC-SHA256(secret key, raw body)',

  verify(request, secret) {
    const received = request.headers['x-friendbuy-hmac-sha256']
    if (!received) return { ok: false, reason: 'missing X-Friendbuy-Hmac-SHA256 header' }
    // Friendbuy's own Node sample signs JSON.stringify(parsed body); we sign the bytes as received.
    return safeEqual(hmacSha256(secret, request.rawBody, 'base64'), received.trim())
      ? { ok: true }
      : { ok: false, reason: 'X-Friendbuy-Hmac-SHA256 does not match base64 HMAC-SHA256(secret, body)' }
  },

  // Both shapes are accepted so that a reward-validation callback reaches unroutable() (501), not a 400.
  payloadSchema: { anyOf: [envelopeSchema, rewardValidationSchema] },

  unroutable(payload) {
    if (isRewardValidation(payload)) {
      return (
        'Friendbuy reward-validation callback: the status code validates (200) or invalidates (400) the reward, ' +
        'a business decision this bridge does not take; point the Reward Validation URL at the service that decides'
      )
    }
    return undefined
  },

  items(payload) {
    if (isRewardValidation(payload)) {
      // Never store and acknowledge it: a 200 would validate the reward (see unroutable()).
      throw new InvalidPayloadError('Friendbuy reward-validation callbacks are answered by unroutable(), not stored')
    }
    return payload.data.map((element): WebhookItem => {
      const item: FriendbuyItem = { id: payload.id, type: payload.type, createdOn: payload.createdOn, data: element }
      return { key: keyOf(payload.type, element), eventType: payload.type, payload: item }
    })
  },

  normalize(item) {
    const p = item.payload as FriendbuyItem
    switch (p.type) {
      case 'advocateReward':
        return advocateReward(p.data as unknown as RewardElement, p.createdOn)
      case 'emailCapture':
        return emailCapture(p.data as unknown as EmailCaptureElement, p.createdOn)
      default:
        // emailOptOut, and the newer types (friendIncentive, loyaltyReward, receipt, ledgerTransaction,
        // customerUpdate) whose payloads are not held verbatim: stored and visible, not routed.
        return []
    }
  }
}

function keyOf(type: string, element: Record<string, unknown>): string {
  if (type === 'emailOptOut') {
    return fieldsKey('emailOptOut', normalizeEmail(element.emailAddress), element.campaignId as string)
  }
  if (typeof element.rewardId === 'string' && element.rewardId) return element.rewardId
  if (typeof element.eventId === 'string' && element.eventId) return element.eventId
  // Undocumented element without an id (newer types): its content is what identifies it.
  return fieldsKey(type, JSON.stringify(element))
}

function splitName(name: string | undefined): { first?: string; last?: string } {
  const [first, ...rest] = (name ?? '').trim().split(/\s+/)
  return { first: first || undefined, last: rest.join(' ') || undefined }
}

function advocateReward(reward: RewardElement, envelopeCreatedOn: string): DraftMessage[] {
  const timestamp = reward.createdOn
    ? fromIsoString(reward.createdOn, 'data[].createdOn')
    : fromIsoString(envelopeCreatedOn, 'createdOn')
  const advocateEmail = normalizeEmail(reward.emailAddress)
  const advocateId = advocateEmail ?? (reward.customerId ? `friendbuy:${reward.customerId}` : undefined)
  if (!advocateId) throw new InvalidPayloadError('advocateReward needs data[].emailAddress or data[].customerId')
  // rewardUnit is a currency code, "%" or a SKU: only a currency makes the amount money.
  const rawAmount = reward.rewardAmount ?? reward.amount
  let money: RewardMoney | undefined
  if (rawAmount !== undefined && rawAmount !== null && /^[A-Za-z]{3}$/.test(reward.rewardUnit ?? '')) {
    money = rewardFromDecimal(rawAmount, reward.rewardUnit, 'data[].rewardAmount', 'data[].rewardUnit')
  }
  return [
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: reward.rewardId,
        reward_type: reward.rewardType ?? 'other',
        recipient_role: 'advocate',
        ...money,
        coupon_code: reward.couponCode,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        source_platform: 'friendbuy'
      },
      { role: 'track', userId: advocateId, timestamp }
    )
  ]
}

function emailCapture(capture: EmailCaptureElement, envelopeCreatedOn: string): DraftMessage[] {
  // An email captured outside a referral (no advocate, no attribution) describes no referral person.
  if (!capture.advocate && !capture.attributionId) return []
  const timestamp = fromIsoString(envelopeCreatedOn, 'createdOn')
  const friendEmail = normalizeEmail(capture.emailAddress)!
  const friend = splitName(capture.name)
  const advocateEmail = normalizeEmail(capture.advocate?.email)
  const advocateId =
    advocateEmail ?? (capture.advocate?.customerId ? `friendbuy:${capture.advocate.customerId}` : undefined)
  const advocate = splitName(capture.advocate?.name)
  const out: DraftMessage[] = []
  if (advocateId) {
    out.push(
      identifyDraft(
        {
          email: advocateEmail,
          first_name: advocate.first,
          last_name: advocate.last,
          referral_role: 'advocate',
          // Friendbuy referral codes (purl) belong to the advocate who shared them.
          referral_code: capture.referral?.code,
          source_platform: 'friendbuy'
        },
        { role: 'identify-advocate', userId: advocateId, timestamp }
      )
    )
  }
  out.push(
    identifyDraft(
      {
        email: friendEmail,
        first_name: friend.first,
        last_name: friend.last,
        referral_role: 'friend',
        referred_by: advocateId,
        referral_id: capture.attributionId,
        source_platform: 'friendbuy'
      },
      { role: 'identify-friend', userId: friendEmail, timestamp }
    ),
    trackDraft(
      'Referred Friend Signed Up',
      {
        referral_id: capture.attributionId,
        referral_code: capture.referral?.code,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        advocate_name: capture.advocate?.name?.trim(),
        friend_id: friendEmail,
        friend_email: friendEmail,
        friend_first_name: friend.first,
        discount_code: capture.incentive?.couponCode,
        source_platform: 'friendbuy'
      },
      { role: 'track', userId: friendEmail, timestamp }
    )
  )
  return out
}
