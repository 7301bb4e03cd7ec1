import { generateKeyPairSync, randomBytes } from 'node:crypto'

/**
 * The Salesforce sandbox's org model: the objects it knows (Lead, Contact, Opportunity with the bridge's custom
 * `Referral_*__c` fields), validation as Salesforce applies it on insert/update, ids with the case-safe suffix,
 * sessions. No HTTP here: src/sandboxes/salesforce.ts serves it, src/sandboxes/salesforce-soql.ts queries it.
 */

export type FieldType = 'id' | 'string' | 'email' | 'picklist' | 'boolean' | 'currency' | 'double' | 'date' | 'datetime' | 'reference'

export interface FieldDef {
  name: string
  type: FieldType
  label: string
  required?: boolean
  externalId?: boolean
  unique?: boolean
  /** Read-only (system, formula or compound fields). */
  readonly?: boolean
  defaultValue?: unknown
  picklist?: string[]
}

export interface ObjectDef {
  name: string
  label: string
  keyPrefix: string
  fields: FieldDef[]
}

const f = (name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef => ({
  name,
  type,
  label: name.replace(/__c$/, '').replace(/_/g, ' '),
  ...extra
})
const system = [
  f('IsDeleted', 'boolean', { readonly: true, defaultValue: false }),
  f('CreatedDate', 'datetime', { readonly: true }),
  f('LastModifiedDate', 'datetime', { readonly: true }),
  f('SystemModstamp', 'datetime', { readonly: true })
]
const referralFields = (idUnique: boolean) => [
  f('Referral_ID__c', 'string', { externalId: true, unique: idUnique }),
  f('Referral_Advocate_ID__c', 'string'),
  f('Referral_Advocate_Email__c', 'email'),
  f('Referral_Code__c', 'string')
]

export const SALESFORCE_OBJECTS: Record<string, ObjectDef> = {
  Lead: {
    name: 'Lead',
    label: 'Lead',
    keyPrefix: '00Q',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('FirstName', 'string'),
      f('LastName', 'string', { required: true }),
      f('Name', 'string', { readonly: true }),
      f('Company', 'string', { required: true }),
      f('Email', 'email'),
      f('Phone', 'string'),
      f('Status', 'picklist', { defaultValue: 'Open - Not Contacted', picklist: ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', 'Closed - Not Converted'] }),
      f('LeadSource', 'picklist'),
      f('IsConverted', 'boolean', { defaultValue: false }),
      f('ConvertedOpportunityId', 'reference', { readonly: true }),
      ...system,
      ...referralFields(true)
    ]
  },
  Contact: {
    name: 'Contact',
    label: 'Contact',
    keyPrefix: '003',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('FirstName', 'string'),
      f('LastName', 'string', { required: true }),
      f('Name', 'string', { readonly: true }),
      f('Email', 'email'),
      f('AccountId', 'reference'),
      f('LeadSource', 'picklist'),
      ...system,
      ...referralFields(true)
    ]
  },
  Opportunity: {
    name: 'Opportunity',
    label: 'Opportunity',
    keyPrefix: '006',
    fields: [
      f('Id', 'id', { readonly: true }),
      f('Name', 'string', { required: true }),
      f('StageName', 'picklist', { required: true, picklist: ['Prospecting', 'Qualification', 'Needs Analysis', 'Proposal/Price Quote', 'Negotiation/Review', 'Closed Won', 'Closed Lost'] }),
      f('CloseDate', 'date', { required: true }),
      f('Amount', 'currency'),
      f('CurrencyIsoCode', 'picklist', { defaultValue: 'USD', picklist: ['USD', 'EUR', 'GBP', 'CAD', 'AUD', 'JPY'] }),
      f('IsWon', 'boolean', { readonly: true }),
      f('IsClosed', 'boolean', { readonly: true }),
      f('LeadSource', 'picklist'),
      f('AccountId', 'reference'),
      ...system,
      // Several opportunities can come from one referral: an external id, but not unique (upsert may answer 300).
      ...referralFields(false)
    ]
  }
}

export interface SfError {
  message: string
  errorCode: string
  fields?: string[]
}

export class SalesforceApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: SfError[] | unknown
  ) {
    super(Array.isArray(errors) ? (errors as SfError[]).map((e) => e.message).join('; ') : 'salesforce error')
  }
}

export const sfErr = (status: number, errorCode: string, message: string, fields?: string[]) =>
  new SalesforceApiError(status, [{ message, errorCode, ...(fields ? { fields } : {}) }])

/** The 18-character form of a 15-character id (case-safe suffix). */
export function to18(id15: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'
  let suffix = ''
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0
    for (let i = 0; i < 5; i++) if (/[A-Z]/.test(id15[chunk * 5 + i])) bits |= 1 << i
    suffix += alphabet[bits]
  }
  return id15 + suffix
}

export type SfRecord = Record<string, unknown>

/** The org: records per object, sessions, API usage. */
export class SalesforceOrg {
  readonly records: Record<string, Map<string, SfRecord>> = { Lead: new Map(), Contact: new Map(), Opportunity: new Map() }
  readonly sessions = new Map<string, { expiresAt: number; user: string }>()
  readonly revokedRefreshTokens = new Set<string>()
  apiRequests = 0
  /** The integration user every session runs as (the identity URL ends with it). */
  readonly userId = '005000000000001AAA'
  private seq = 0
  private keys?: { privateKeyPem: string; publicKeyPem: string }

  constructor(
    readonly now: () => number,
    readonly orgId = '00D000000000001AAA'
  ) {}

  objectDef(name: string): ObjectDef | undefined {
    const key = Object.keys(SALESFORCE_OBJECTS).find((k) => k.toLowerCase() === name.toLowerCase())
    return key ? SALESFORCE_OBJECTS[key] : undefined
  }

  field(obj: ObjectDef, name: string): FieldDef | undefined {
    return obj.fields.find((x) => x.name.toLowerCase() === name.toLowerCase())
  }

  newId(obj: ObjectDef): string {
    return to18(`${obj.keyPrefix}${'0'.repeat(7)}${String(++this.seq).padStart(5, '0')}`.slice(0, 15))
  }

  find(objName: string, id: string): SfRecord | undefined {
    const map = this.records[this.objectDef(objName)?.name ?? '']
    if (!map) return undefined
    if (id.length === 15) id = to18(id)
    return map.get(id)
  }

  /** Validates and applies a create or update; returns the record id. */
  write(objName: string, body: Record<string, unknown>, existingId?: string, opts: { trusted?: boolean } = {}): string {
    const obj = this.objectDef(objName)
    if (!obj) throw sfErr(404, 'NOT_FOUND', 'The requested resource does not exist')
    const map = this.records[obj.name]
    const existing = existingId ? map.get(existingId) : undefined
    const values: SfRecord = {}
    const readonlyHit: string[] = []
    for (const [key, value] of Object.entries(body)) {
      if (key === 'attributes') continue
      const def = this.field(obj, key)
      if (!def) throw sfErr(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${obj.name}`)
      if (def.readonly && !opts.trusted) {
        if (def.name !== 'Id') readonlyHit.push(def.name)
        continue
      }
      values[def.name] = this.coerce(def, value)
    }
    if (readonlyHit.length) {
      throw sfErr(
        400,
        'INVALID_FIELD_FOR_INSERT_UPDATE',
        `Unable to create/update fields: ${readonlyHit.join(', ')}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
        readonlyHit
      )
    }
    const merged: SfRecord = { ...(existing ?? {}), ...values }
    if (!existing) for (const def of obj.fields) if (merged[def.name] === undefined && def.defaultValue !== undefined) merged[def.name] = def.defaultValue
    const missing = obj.fields.filter((d) => d.required && (merged[d.name] === undefined || merged[d.name] === null || merged[d.name] === '')).map((d) => d.name)
    if (missing.length) throw sfErr(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`, missing)
    for (const def of obj.fields.filter((d) => d.unique)) {
      const v = merged[def.name]
      if (v === undefined || v === null || v === '') continue
      for (const [id, r] of map) {
        if (id !== existingId && String(r[def.name]).toLowerCase() === String(v).toLowerCase()) {
          throw sfErr(400, 'DUPLICATE_VALUE', `duplicate value found: ${def.name} duplicates value on record with id: ${id}`, [])
        }
      }
    }
    const id = existingId ?? (opts.trusted && typeof body.Id === 'string' ? body.Id : this.newId(obj))
    const stamp = formatSfDateTime(this.now())
    merged.Id = id
    if (!existing || !opts.trusted || values.CreatedDate === undefined) merged.CreatedDate = existing?.CreatedDate ?? values.CreatedDate ?? stamp
    merged.LastModifiedDate = opts.trusted && values.LastModifiedDate ? values.LastModifiedDate : stamp
    merged.SystemModstamp = merged.LastModifiedDate
    merged.IsDeleted = false
    if (obj.name !== 'Opportunity') merged.Name = [merged.FirstName, merged.LastName].filter(Boolean).join(' ')
    if (obj.name === 'Opportunity') {
      merged.IsWon = merged.StageName === 'Closed Won'
      merged.IsClosed = merged.StageName === 'Closed Won' || merged.StageName === 'Closed Lost'
    }
    map.set(id, merged)
    return id
  }

  private coerce(def: FieldDef, value: unknown): unknown {
    if (value === null) return null
    const bad = (kind: string) =>
      sfErr(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${kind} from ${typeof value === 'string' ? 'VALUE_STRING' : 'VALUE_OTHER'} value ${JSON.stringify(value)} or request may be missing a required field`)
    switch (def.type) {
      case 'currency':
      case 'double':
        if (typeof value === 'number') return value
        if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value)
        throw bad(def.type)
      case 'boolean':
        if (typeof value === 'boolean') return value
        throw bad('boolean')
      case 'date':
        if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return value
        throw bad('date')
      case 'datetime':
        if (typeof value === 'string' && !Number.isNaN(parseSfDate(value))) return formatSfDateTime(parseSfDate(value))
        throw bad('datetime')
      case 'email':
        if (typeof value !== 'string') throw bad('email')
        if (value !== '' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
          throw sfErr(400, 'INVALID_EMAIL_ADDRESS', `${def.name}: invalid email address: ${value}`, [def.name])
        }
        return value
      case 'picklist':
        if (typeof value !== 'string') throw bad('picklist')
        if (def.picklist && !def.picklist.includes(value)) {
          throw sfErr(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${def.label}: bad value for restricted picklist field: ${value}`, [def.name])
        }
        return value
      default:
        if (typeof value !== 'string' && typeof value !== 'number') throw bad('string')
        return String(value)
    }
  }

  /** Inserts records as-is (system fields like LastModifiedDate, CreatedDate and Id allowed); returns their ids. */
  seed(objName: string, records: Array<Record<string, unknown>>): string[] {
    return records.map((r) => this.write(objName, r, undefined, { trusted: true }))
  }

  /** Issues a session token (what the OAuth endpoint does); handy for tests that skip OAuth. */
  issueToken(user = 'integration@example.com', ttlMs = 2 * 60 * 60 * 1000): string {
    const token = `${this.orgId.slice(0, 15)}!${randomBytes(24).toString('base64url')}`
    this.sessions.set(token, { expiresAt: this.now() + ttlMs, user })
    return token
  }

  /**
   * The connected app's certificate for the JWT bearer flow: generated on first use unless `jwtPublicKeyPem` was
   * given, so the default set-up checks signatures too. Tests sign assertions with `privateKeyPem`.
   */
  jwtKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
    if (!this.keys) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      this.keys = { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
    }
    return this.keys
  }

  expireAllSessions(): void {
    for (const s of this.sessions.values()) s.expiresAt = 0
  }

  clear(): void {
    for (const m of Object.values(this.records)) m.clear()
  }
}

/** Salesforce datetimes look like `2026-01-01T00:00:00.000+0000`; literals like `2026-01-01T00:00:00Z`. */
export function parseSfDate(s: string): number {
  return Date.parse(s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
}

export function formatSfDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000')
}
