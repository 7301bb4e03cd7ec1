import type { Source } from './types.ts'
import { fieldsKey, safeEqual } from './signatures.ts'
import { fromIsoString, normalizeEmail } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import type { DraftMessage } from '../messages.ts'
import { identifyDraft, orQuarantine, trackDraft } from '../tracking-plan/draft.ts'

/**
 * Ambassador (getambassador.com) documents its webhook events by their UI names ("Referral Created",
 * "Commission Created", ...) but neither a signature scheme nor payload samples are public
 * (learn.getambassador.com/en/articles/2353329). So: a shared secret the user configures on the
 * notification URL, sent back in the `X-Ambassador-Secret` header or as `?secret=` — weaker than a signature,
 * and the README says so. The payload schema accepts the fields our mapping needs and tolerates the rest;
 * capture a real delivery before relying on more.
 */
interface AmbassadorPayload {
  event: string
  id?: string
  transaction_uid?: string
  created_at?: string
  short_code?: string
  campaign_uid?: string | number
  revenue?: string | number
  currency?: string
  ambassador?: { email?: string; uid?: string; first_name?: string; last_name?: string }
  contact?: { email?: string; uid?: string; first_name?: string; last_name?: string }
  commission?: { uid?: string; amount?: string | number; currency?: string; status?: string }
}

const EVENTS = [
  'Contact Created',
  'Contact Added to Segment',
  'Contact Status Updated',
  'Contact Added to Campaign',
  'Commission Created',
  'Commission Status Updated',
  'Payout Created',
  'Referral Created',
  'Share Tracked',
  'Click Tracked'
]

const person = {
  type: 'object',
  properties: {
    email: { type: 'string', format: 'email' },
    uid: { type: 'string' },
    first_name: { type: 'string' },
    last_name: { type: 'string' }
  }
}

export const ambassador: Source<AmbassadorPayload> = {
  name: 'ambassador',
  secretEnv: ['AMBASSADOR_WEBHOOK_SECRET'],
  contentTypes: ['application/json'],
  label: 'Ambassador (webhook notifications)',
  dedupeKey: '`id`, else hash of event, transaction_uid, commission, people, code, time',
  authScheme: 'shared secret in X-Ambassador-Secret header or ?secret= (Ambassador publishes no signature scheme)',
  sharedSecretOnly: true,

  verify(request, secret) {
    const received = request.headers['x-ambassador-secret'] ?? request.query.secret
    if (!received) return { ok: false, reason: 'missing X-Ambassador-Secret header (or ?secret= parameter)' }
    return safeEqual(secret, received) ? { ok: true } : { ok: false, reason: 'shared secret does not match' }
  },

  payloadSchema: {
    type: 'object',
    required: ['event'],
    properties: {
      event: { type: 'string', enum: EVENTS },
      id: { type: 'string' },
      transaction_uid: { type: 'string' },
      created_at: { type: 'string', format: 'date-time' },
      short_code: { type: 'string' },
      campaign_uid: { type: ['string', 'integer'] },
      ambassador: person,
      contact: person,
      commission: { type: 'object' }
    }
  },

  items(payload) {
    // transaction_uid is unique per campaign for commissions (docs.getambassador.com); otherwise the
    // event's own fields identify it.
    const key =
      payload.id ??
      fieldsKey(
        payload.event,
        payload.transaction_uid,
        payload.commission?.uid,
        payload.commission?.status,
        normalizeEmail(payload.ambassador?.email),
        normalizeEmail(payload.contact?.email),
        payload.short_code,
        payload.created_at
      )
    return [{ key, eventType: payload.event, payload }]
  },

  normalize(item) {
    const p = item.payload as AmbassadorPayload
    const timestamp = p.created_at ? fromIsoString(p.created_at, 'created_at') : new Date().toISOString()
    const advocateEmail = normalizeEmail(p.ambassador?.email)
    const friendEmail = normalizeEmail(p.contact?.email)
    const out: DraftMessage[] = []
    if (advocateEmail) {
      out.push(
        identifyDraft(
          {
            email: advocateEmail,
            first_name: p.ambassador?.first_name,
            last_name: p.ambassador?.last_name,
            referral_code: p.short_code,
            referral_role: 'advocate',
            source_platform: 'ambassador'
          },
          { role: 'identify-advocate', userId: advocateEmail, timestamp }
        )
      )
    }
    if (p.event === 'Referral Created') {
      if (!friendEmail) throw new InvalidPayloadError('Referral Created needs contact.email (the referred friend)')
      out.push(
        identifyDraft(
          {
            email: friendEmail,
            first_name: p.contact?.first_name,
            last_name: p.contact?.last_name,
            referral_role: 'friend',
            referred_by: advocateEmail,
            source_platform: 'ambassador'
          },
          { role: 'identify-friend', userId: friendEmail, timestamp }
        ),
        trackDraft(
          'Referral Created',
          {
            referral_id: `ambassador_${item.key.slice(0, 24)}`,
            referral_code: p.short_code,
            advocate_id: orQuarantine(advocateEmail),
            advocate_email: advocateEmail,
            friend_id: friendEmail,
            friend_email: friendEmail,
            campaign_id: p.campaign_uid === undefined ? undefined : String(p.campaign_uid),
            status: 'created',
            source_platform: 'ambassador'
          },
          { role: 'track', userId: friendEmail, timestamp }
        )
      )
    }
    return out
  }
}
