import type { Source } from './types.ts'
import { hmacSha256, safeEqual } from './signatures.ts'
import { currencyCode, fromIsoString, integerMinor, minorToDecimal, normalizeEmail, rewardMoney } from '../normalize/units.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, orQuarantine, trackDraft, type PropertiesOf } from '../tracking-plan/draft.ts'

/**
 * Rewardful (developers.rewardful.com/webhooks): envelope `{object, event: {id, type, created_at}, request}`.
 * Signature: `X-Rewardful-Signature` = hex HMAC-SHA256(signing secret, raw body), no timestamp.
 * Only 200 counts as success; failures are retried for 3 days. `event.id` is stable across retries.
 * Money is in cents (`amount`, `sale_amount_cents`).
 */
interface Person { id?: string; email?: string; name?: string; first_name?: string; last_name?: string }
interface Link { token?: string; url?: string }
interface Referral { id: string; link?: Link; customer?: Person | null; affiliate?: Person; conversion_state?: string; created_at?: string }
interface Sale { id: string; currency: string; referral?: Referral; affiliate?: Person; sale_amount_cents: number; stripe_charge_id?: string; charged_at?: string; created_at?: string }
interface RewardfulPayload {
  object: Record<string, any>
  event: { id: string; type: string; created_at: string; api_version?: string }
  request?: { id: string }
}

export const rewardful: Source<RewardfulPayload> = {
  name: 'rewardful',
  secretEnv: ['REWARDFUL_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'Rewardful',
  dedupeKey: '`event.id`',
  authScheme: 'X-Rewardful-Signature: hex HMAC-SHA256(signing secret, raw body)',

  verify(request, secret) {
    const received = request.headers['x-rewardful-signature']
    if (!received) return { ok: false, reason: 'missing X-Rewardful-Signature header' }
    return safeEqual(hmacSha256(secret, request.rawBody, 'hex'), received.trim().toLowerCase())
      ? { ok: true }
      : { ok: false, reason: 'X-Rewardful-Signature does not match HMAC-SHA256(secret, body)' }
  },

  payloadSchema: {
    type: 'object',
    required: ['object', 'event'],
    properties: {
      object: { type: 'object' },
      event: {
        type: 'object',
        required: ['id', 'type', 'created_at'],
        properties: {
          id: { type: 'string', minLength: 1 },
          type: { type: 'string', pattern: '^[a-z_]+\\.[a-z_]+$' },
          created_at: { type: 'string', format: 'date-time' }
        }
      },
      request: { type: 'object', properties: { id: { type: 'string' } } }
    }
  },

  items(payload) {
    return [{ key: payload.event.id, eventType: payload.event.type, payload }]
  },

  normalize(item) {
    const { object, event } = item.payload as RewardfulPayload
    const timestamp = fromIsoString(event.created_at, 'event.created_at')
    switch (event.type) {
      case 'affiliate.created':
      case 'affiliate.confirmed':
      case 'affiliate.updated':
        return [advocateIdentify(object as Person & { links?: Link[] }, timestamp)]
      case 'referral.created':
      case 'referral.lead':
      case 'referral.converted':
        return referralMessages(object as Referral, event.type, timestamp)
      case 'sale.created':
        return saleMessages(object as Sale, timestamp)
      case 'commission.created':
        return commissionMessages(object as { id: string; amount: number; currency: string; sale?: Sale }, timestamp)
      default:
        // Stored and visible in `events show`, but nothing in the tracking plan describes it yet.
        return []
    }
  }
}

function advocateIdentify(affiliate: Person & { links?: Link[] }, timestamp: string): DraftMessage {
  const email = normalizeEmail(affiliate.email)
  return identifyDraft(
    {
      email,
      first_name: affiliate.first_name,
      last_name: affiliate.last_name,
      referral_code: affiliate.links?.[0]?.token,
      referral_role: 'advocate',
      rewardful_affiliate_id: affiliate.id,
      source_platform: 'rewardful'
    },
    { role: 'identify-advocate', userId: email ?? `rewardful:${affiliate.id}`, timestamp }
  )
}

function referralMessages(referral: Referral, type: string, timestamp: string): DraftMessage[] {
  const out: DraftMessage[] = []
  const advocateEmail = normalizeEmail(referral.affiliate?.email)
  if (referral.affiliate) out.push(advocateIdentify(referral.affiliate, timestamp))
  // A `visitor`-state referral is anonymous: there is no friend to identify yet.
  const customer = referral.customer ?? undefined
  const friendEmail = normalizeEmail(customer?.email)
  if (!customer || !(friendEmail || customer.id)) return out
  const friendId = friendEmail ?? `rewardful:${customer.id}`
  const [firstName, ...rest] = (customer.name ?? '').split(' ')
  out.push(
    identifyDraft(
      {
        email: friendEmail,
        first_name: firstName || undefined,
        last_name: rest.join(' ') || undefined,
        referral_role: 'friend',
        referred_by: advocateEmail,
        referral_id: referral.id,
        source_platform: 'rewardful'
      },
      { role: 'identify-friend', userId: friendId, timestamp }
    )
  )
  const advocateId = advocateEmail ?? referral.affiliate?.id
  if (type === 'referral.lead') {
    // The state change is a fact of the referral too: src/ingest/cohort-events.ts turns it into Referral Created
    // (first report) or Referral Status Changed (from the stored state to lead).
    out.push(
      trackDraft(
        'Referral Created',
        {
          referral_id: referral.id,
          referral_code: referral.link?.token,
          advocate_id: orQuarantine(advocateId),
          advocate_email: advocateEmail,
          friend_id: friendId,
          friend_email: friendEmail,
          status: 'lead',
          source_platform: 'rewardful'
        },
        { role: 'referral', userId: friendId, timestamp }
      )
    )
    out.push(
      trackDraft(
        'Referred Friend Signed Up',
        {
          referral_id: referral.id,
          referral_code: referral.link?.token,
          advocate_id: advocateId,
          advocate_email: advocateEmail,
          friend_id: friendId,
          friend_email: friendEmail,
          source_platform: 'rewardful'
        },
        { role: 'track', userId: friendId, timestamp }
      )
    )
    return out
  }
  // Rewardful's conversion_state is free text to us; values outside the plan's enum are quarantined by the runtime check.
  const status = type === 'referral.created' ? ((referral.conversion_state as PropertiesOf<'Referral Created'>['status'] | undefined) ?? 'created') : 'converted'
  out.push(
    trackDraft(
      'Referral Created',
      {
        referral_id: referral.id,
        referral_code: referral.link?.token,
        advocate_id: orQuarantine(advocateId),
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        status,
        source_platform: 'rewardful'
      },
      { role: 'track', userId: friendId, timestamp }
    )
  )
  return out
}

function saleMessages(sale: Sale, timestamp: string): DraftMessage[] {
  const currency = currencyCode(sale.currency, 'object.currency')
  const minor = integerMinor(sale.sale_amount_cents, 'object.sale_amount_cents')
  const customer = sale.referral?.customer ?? undefined
  const friendEmail = normalizeEmail(customer?.email)
  const friendId = friendEmail ?? (customer?.id ? `rewardful:${customer.id}` : undefined)
  const advocateEmail = normalizeEmail(sale.affiliate?.email)
  return [
    trackDraft(
      'Order Completed',
      {
        order_id: sale.stripe_charge_id ?? sale.id,
        revenue: minorToDecimal(minor, currency),
        revenue_known: true,
        revenue_minor: minor,
        currency,
        referral_id: sale.referral?.id,
        referral_code: sale.referral?.link?.token,
        advocate_id: advocateEmail ?? sale.affiliate?.id,
        advocate_email: advocateEmail,
        friend_id: friendId,
        friend_email: friendEmail,
        source_platform: 'rewardful'
      },
      {
        role: 'track',
        ...(friendId ? { userId: friendId } : { anonymousId: `rewardful-sale:${sale.id}` }),
        timestamp: sale.charged_at ? fromIsoString(sale.charged_at, 'object.charged_at') : timestamp
      }
    )
  ]
}

function commissionMessages(commission: { id: string; amount: number; currency: string; sale?: Sale }, timestamp: string): DraftMessage[] {
  const currency = currencyCode(commission.currency, 'object.currency')
  const minor = integerMinor(commission.amount, 'object.amount')
  const advocate = commission.sale?.affiliate
  const advocateEmail = normalizeEmail(advocate?.email)
  const advocateId = advocateEmail ?? (advocate?.id ? `rewardful:${advocate.id}` : `rewardful-commission:${commission.id}`)
  return [
    trackDraft(
      'Referral Reward Earned',
      {
        reward_id: commission.id,
        reward_type: 'commission',
        recipient_role: 'advocate',
        ...rewardMoney(minor, currency),
        referral_id: commission.sale?.referral?.id,
        advocate_id: advocateId,
        advocate_email: advocateEmail,
        friend_email: normalizeEmail(commission.sale?.referral?.customer?.email),
        order_id: commission.sale?.stripe_charge_id ?? commission.sale?.id,
        source_platform: 'rewardful'
      },
      { role: 'track', userId: advocateId, timestamp }
    )
  ]
}
