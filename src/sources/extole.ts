import type { Source } from './types.ts'
import { hmacSha256, safeEqual } from './signatures.ts'
import { fromIsoString, normalizeEmail, rewardFromDecimal, type RewardMoney } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { trackDraft } from '../tracking-plan/draft.ts'

/**
 * Extole reward webhooks (extole/product-docs:technical/platform-integrations/webhooks/{index,reward-webhooks,
 * webhook-creation}.mdx@cd44313 = dev.extole.com/docs/reward-webhooks, /webhook-creation; catalogue §4).
 * Signature (Security Center client key, HS256 option): `X-Extole-Signature` = lowercase hex
 * HMAC-SHA256(key, exact body). The docs' Ruby `sha1=` snippet is legacy and not accepted. Extole warns that
 * re-serializing the JSON changes it (their documented body even has a space in `"person_id": "…"`): we sign
 * the bytes as received. Bearer / Basic / OAuth client-key options are not implemented.
 * Only 200 is success; ordering is not guaranteed; Extole tells receivers to dedupe and still answer 200.
 *
 * The body shape is configurable per webhook. This source expects the default (unmapped) reward-event body, or a
 * mapping that keeps its field names: `type`, `event_id` (the key), `event_time`, `reward_id`, `face_value`,
 * `face_value_type`, `person_id` / `partner_user_id` / `email`, and optionally `rewardee_role`.
 *
 * reward_earned → Referral Reward Earned. `face_value` is money only when `face_value_type` is a currency code.
 * The default body does not say whose reward it is: `rewardee_role` (top level or in `data`, as on the reward
 * page's mapped example) decides, and without it the reward is taken as the advocate's — the default reward
 * webhooks are advocate rewards; map `rewardee_role` for friend rewards. The other reward states (fulfilled, sent,
 * redeemed, revoked, failed, canceled) and the other families are stored and visible, and route nothing.
 */
interface ExtolePayload {
  type: string
  event_id: string
  event_time?: string
  reward_id?: string
  reward_supplier_name?: string
  reward_supplier_type?: string
  person_id?: string | number
  partner_user_id?: string | number
  email?: string
  face_value?: number | string | null
  face_value_type?: string | null
  rewardee_role?: string
  data?: { rewardee_role?: string; [key: string]: unknown }
}

export const extole: Source<ExtolePayload> = {
  name: 'extole',
  secretEnv: ['EXTOLE_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'Extole (reward webhooks)',
  dedupeKey: '`event_id`',
  authScheme: 'X-Extole-Signature: lowercase hex HMAC-SHA256(client key, raw body)',

  verify(request, secret) {
    const received = request.headers['x-extole-signature']
    if (!received) return { ok: false, reason: 'missing X-Extole-Signature header (choose the HS256 client key option)' }
    return safeEqual(hmacSha256(secret, request.rawBody, 'hex'), received.trim().toLowerCase())
      ? { ok: true }
      : { ok: false, reason: 'X-Extole-Signature does not match hex HMAC-SHA256(client key, body)' }
  },

  payloadSchema: {
    type: 'object',
    required: ['type', 'event_id'],
    properties: {
      type: { type: 'string', pattern: '^[a-z_]+$' },
      event_id: { type: 'string', minLength: 1 },
      event_time: { type: 'string', format: 'date-time' },
      reward_id: { type: 'string', minLength: 1 },
      person_id: { type: ['string', 'integer'] },
      partner_user_id: { type: ['string', 'integer', 'null'] },
      email: { type: ['string', 'null'] },
      face_value: { type: ['number', 'string', 'null'] },
      face_value_type: { type: ['string', 'null'] },
      rewardee_role: { type: 'string' },
      data: { type: 'object' }
    },
    allOf: [
      {
        if: { properties: { type: { pattern: '^reward_' } } },
        then: { required: ['reward_id'] }
      },
      {
        if: { properties: { type: { const: 'reward_earned' } } },
        then: { required: ['event_time'] }
      }
    ]
  },

  items(payload) {
    return [{ key: payload.event_id, eventType: payload.type, payload }]
  },

  normalize(item) {
    const p = item.payload as ExtolePayload
    if (p.type !== 'reward_earned') return []
    const roleValue = (p.rewardee_role ?? p.data?.rewardee_role)?.toLowerCase()
    if (roleValue !== undefined && roleValue !== 'advocate' && roleValue !== 'friend') {
      throw new InvalidPayloadError(`rewardee_role must be advocate or friend, got ${JSON.stringify(roleValue)}`)
    }
    const recipient = roleValue ?? 'advocate'
    const email = normalizeEmail(p.email)
    const userId =
      email ??
      (p.person_id !== undefined ? `extole:${p.person_id}` : p.partner_user_id ? `extole:partner:${p.partner_user_id}` : undefined)
    if (!userId) throw new InvalidPayloadError('reward_earned needs email, person_id or partner_user_id')
    let money: RewardMoney | undefined
    if (p.face_value !== null && p.face_value !== undefined && /^[A-Za-z]{3}$/.test(p.face_value_type ?? '')) {
      money = rewardFromDecimal(p.face_value, p.face_value_type, 'face_value', 'face_value_type')
    }
    return [
      trackDraft(
        'Referral Reward Earned',
        {
          reward_id: p.reward_id!,
          reward_type: p.reward_supplier_type ? p.reward_supplier_type.toLowerCase() : 'other',
          recipient_role: recipient,
          ...money,
          advocate_id: recipient === 'advocate' ? userId : undefined,
          advocate_email: recipient === 'advocate' ? email : undefined,
          friend_email: recipient === 'friend' ? email : undefined,
          source_platform: 'extole'
        },
        { role: 'track', userId, timestamp: fromIsoString(p.event_time, 'event_time') }
      )
    ]
  }
}
