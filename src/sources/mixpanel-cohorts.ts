import type { Source } from './types.ts'
import { fieldsKey, safeEqual } from './signatures.ts'
import { normalizeEmail } from '../normalize/units.ts'
import { InvalidPayloadError } from '../normalize/errors.ts'
import { identifyDraft } from '../tracking-plan/draft.ts'

/**
 * Mixpanel cohort sync to a custom webhook (docs.mixpanel.com/docs/cohort-sync/webhooks): Mixpanel POSTs JSON
 * `{action, parameters}` where `action` is `members` (the whole cohort: first sync, or a refresh after errors),
 * `add_members` or `remove_members` (diffs since the last sync), and `parameters` carries `mixpanel_project_id`,
 * `mixpanel_cohort_id`, `mixpanel_cohort_name`, `mixpanel_session_id`, `page_info` and `members` (each with
 * `email`, `mixpanel_distinct_id`, `first_name`, `last_name` plus the exported properties). Delivery is
 * at-least-once and retried, so a batch may come twice.
 *
 * Authentication: the only mechanism Mixpanel documents is optional HTTP Basic auth on the connection ("Optional:
 * Basic Authentication when calling the webhook URL provided"); nothing is signed. The bridge requires it: the
 * password must equal MIXPANEL_COHORTS_WEBHOOK_PASSWORD (any username), compared in constant time.
 *
 * Each member becomes one item and one identify: `mixpanel_cohort_<cohort id>` = true (members, add_members) or
 * false (remove_members), which the HubSpot and Klaviyo functions write as a contact / profile property. The key is
 * (cohort, session, page, action, member): a retried batch is a duplicate, a later sync of the same member is new
 * work (and the same value again, harmless). A member without an email cannot reach a CRM keyed on email: its item
 * is quarantined with that reason.
 */
interface CohortMember {
  email?: string
  mixpanel_distinct_id?: string
  first_name?: string
  last_name?: string
  [property: string]: unknown
}

interface CohortPayload {
  action: 'members' | 'add_members' | 'remove_members'
  parameters: {
    mixpanel_project_id?: string | number
    mixpanel_cohort_id: string | number
    mixpanel_cohort_name?: string
    mixpanel_session_id?: string
    page_info?: { total_pages?: number; page_count?: number }
    members: CohortMember[]
  }
}

export const COHORT_TRAIT_PREFIX = 'mixpanel_cohort_'

export function cohortTrait(cohortId: string | number): string {
  return `${COHORT_TRAIT_PREFIX}${String(cohortId).toLowerCase().replace(/[^a-z0-9]+/g, '_')}`
}

export const mixpanelCohorts: Source<CohortPayload> = {
  name: 'mixpanel-cohorts',
  secretEnv: ['MIXPANEL_COHORTS_WEBHOOK_PASSWORD'],
  contentTypes: ['application/json'],
  label: 'Mixpanel cohort sync (custom webhook)',
  dedupeKey: 'cohort id, session id, page, action and member',
  authScheme: 'HTTP Basic auth; password = MIXPANEL_COHORTS_WEBHOOK_PASSWORD (set on the Mixpanel webhook connection)',
  sharedSecretOnly: true,

  verify(request, secret) {
    const header = request.headers.authorization ?? ''
    if (!header.startsWith('Basic ')) return { ok: false, reason: 'missing HTTP Basic Authorization header (set a password on the Mixpanel webhook connection)' }
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
    const password = decoded.slice(decoded.indexOf(':') + 1)
    return decoded.includes(':') && safeEqual(password, secret) ? { ok: true } : { ok: false, reason: 'Basic auth password does not match MIXPANEL_COHORTS_WEBHOOK_PASSWORD' }
  },

  payloadSchema: {
    type: 'object',
    required: ['action', 'parameters'],
    properties: {
      action: { enum: ['members', 'add_members', 'remove_members'] },
      parameters: {
        type: 'object',
        required: ['mixpanel_cohort_id', 'members'],
        properties: {
          mixpanel_cohort_id: { type: ['string', 'integer'] },
          mixpanel_cohort_name: { type: 'string' },
          mixpanel_session_id: { type: 'string' },
          members: { type: 'array', items: { type: 'object' } }
        }
      }
    }
  },

  items(payload) {
    const p = payload.parameters
    return p.members.map((member) => ({
      key: fieldsKey(String(p.mixpanel_cohort_id), p.mixpanel_session_id ?? '', p.page_info?.page_count ?? '', payload.action, member.mixpanel_distinct_id ?? member.email ?? JSON.stringify(member)),
      eventType: payload.action,
      payload: { action: payload.action, cohortId: p.mixpanel_cohort_id, cohortName: p.mixpanel_cohort_name, member }
    }))
  },

  normalize(item) {
    const { action, cohortId, member } = item.payload as { action: CohortPayload['action']; cohortId: string | number; member: CohortMember }
    const email = normalizeEmail(typeof member.email === 'string' ? member.email : undefined) ?? (String(member.mixpanel_distinct_id ?? '').includes('@') ? normalizeEmail(String(member.mixpanel_distinct_id)) : undefined)
    if (!email) throw new InvalidPayloadError('cohort member has no email (nor an email distinct_id): HubSpot and Klaviyo are keyed on email')
    return [
      identifyDraft(
        {
          email,
          first_name: typeof member.first_name === 'string' ? member.first_name : undefined,
          last_name: typeof member.last_name === 'string' ? member.last_name : undefined,
          source_platform: 'mixpanel',
          [cohortTrait(cohortId)]: action !== 'remove_members'
        } as Parameters<typeof identifyDraft>[0],
        // The payload carries no time: the identify is stamped when it is normalized.
        { role: 'identify', userId: email, timestamp: new Date().toISOString() }
      )
    ]
  }
}
