import type { Connection } from 'jsforce'
import { describeFields, type FieldInfo } from './soql.ts'

/**
 * `referral-bridge salesforce setup --check`: describes Lead, Contact and Opportunity and reports the custom fields
 * the bridge needs (docs/salesforce.md says how to create them and map them on lead conversion).
 */
export interface FieldRequirement {
  object: 'Lead' | 'Contact' | 'Opportunity'
  field: string
  /** describe `type`s that are acceptable. */
  types: string[]
  externalId?: boolean
  unique?: boolean
  required: boolean
  purpose: string
}

const OBJECTS = ['Lead', 'Contact', 'Opportunity'] as const

export const REQUIREMENTS: FieldRequirement[] = OBJECTS.flatMap((object): FieldRequirement[] => [
  { object, field: 'Referral_ID__c', types: ['string'], externalId: true, unique: object !== 'Opportunity', required: true, purpose: 'referral id (upsert key on Lead)' },
  { object, field: 'Referral_Advocate_ID__c', types: ['string'], required: true, purpose: 'advocate credited' },
  { object, field: 'Referral_Advocate_Email__c', types: ['email'], required: true, purpose: 'advocate email' },
  { object, field: 'Referral_Code__c', types: ['string'], required: true, purpose: 'code the friend used' },
  { object, field: 'Referral_Friend_Email__c', types: ['email'], required: false, purpose: 'optional: friend email on Referral Revenue Won' }
])

export interface CheckRow {
  object: string
  field: string
  status: 'ok' | 'missing' | 'wrong type' | 'not external id' | 'not unique' | 'optional, missing'
  detail: string
}

export async function checkSetup(conn: Connection): Promise<{ ok: boolean; rows: CheckRow[]; multiCurrency: boolean }> {
  const described = new Map<string, Map<string, FieldInfo>>()
  for (const o of OBJECTS) described.set(o, await describeFields(conn, o))
  const rows = REQUIREMENTS.map((req): CheckRow => {
    const f = described.get(req.object)!.get(req.field.toLowerCase())
    const expected = `${req.types.join('/')}${req.externalId ? ', External ID' : ''}${req.unique ? ', Unique' : ''}`
    if (!f) return { object: req.object, field: req.field, status: req.required ? 'missing' : 'optional, missing', detail: `create: ${expected} — ${req.purpose}` }
    if (!req.types.includes(f.type)) return { object: req.object, field: req.field, status: 'wrong type', detail: `is ${f.type}, expected ${expected}` }
    if (req.externalId && !f.externalId) return { object: req.object, field: req.field, status: 'not external id', detail: `tick "External ID" (${expected})` }
    if (req.unique && !f.unique) return { object: req.object, field: req.field, status: 'not unique', detail: `tick "Unique" (${expected})` }
    return { object: req.object, field: req.field, status: 'ok', detail: expected }
  })
  const ok = rows.every((r) => r.status === 'ok' || r.status === 'optional, missing')
  return { ok, rows, multiCurrency: described.get('Opportunity')!.has('currencyisocode') }
}

export function checkTable(result: { ok: boolean; rows: CheckRow[]; multiCurrency: boolean }): string {
  const header = ['object', 'field', 'status', 'detail']
  const cells = result.rows.map((r) => [r.object, r.field, r.status === 'ok' ? 'ok' : r.status.toUpperCase(), r.detail])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const fmt = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()
  const lines = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt), '']
  lines.push(`Opportunity.CurrencyIsoCode: ${result.multiCurrency ? 'present (multi-currency org: revenue is reported per currency)' : 'absent (single-currency org: set SALESFORCE_CURRENCY, default USD)'}`)
  lines.push(result.ok ? 'setup ok: every required field exists with the right type' : 'setup INCOMPLETE: create the fields marked above (docs/salesforce.md), then map them in Lead conversion')
  return lines.join('\n') + '\n'
}
