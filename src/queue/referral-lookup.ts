import type { ReferralKeys, ReferralMatch } from './store.ts'
import type { ReferralKey } from './schema.ts'

/**
 * The probes of `Store.findReferral`, strongest first: a code on the order is the shop's own statement that the
 * order used the referral; an email or a customer id only says the buyer is someone who was referred. Both
 * backends run them in this order and stop at the first hit.
 */
export function referralProbes(keys: ReferralKeys): Array<{ key: ReferralKey; value: string }> {
  const uniq = (values: string[] | undefined, map: (v: string) => string) =>
    [...new Set((values ?? []).map((v) => map(v.trim())).filter(Boolean))]
  const codes = uniq(keys.codes, (v) => v.toLowerCase())
  const emails = uniq(keys.emails, (v) => v.toLowerCase())
  const ids = uniq(keys.ids, (v) => v)
  return [
    ...codes.map((value) => ({ key: 'referral_code' as const, value })),
    ...codes.map((value) => ({ key: 'discount_code' as const, value })),
    ...emails.map((value) => ({ key: 'friend_email' as const, value })),
    ...emails.map((value) => ({ key: 'friend_id' as const, value })),
    ...ids.map((value) => ({ key: 'friend_id' as const, value }))
  ]
}

/** A stored referral message row → the match, or undefined when it names no advocate. */
export function referralMatch(
  row: { message_id: string; event: string; body: string; created_at: number | string },
  probe: { key: ReferralKey; value: string }
): ReferralMatch | undefined {
  const p = (JSON.parse(row.body) as { properties?: Record<string, unknown> }).properties ?? {}
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)
  const advocateId = str(p.advocate_id) ?? str(p.advocate_email)
  if (!advocateId) return undefined
  return {
    messageId: row.message_id,
    event: row.event,
    matchedBy: probe.key,
    value: probe.value,
    advocateId,
    advocateEmail: str(p.advocate_email),
    referralId: str(p.referral_id),
    referralCode: str(p.referral_code),
    createdAt: Number(row.created_at)
  }
}
