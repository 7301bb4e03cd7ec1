import { InvalidPayloadError } from './errors.ts'

/**
 * Money and time arrive in every format (see ../shared/reference/referral-webhooks.md §0.6): integer cents,
 * decimal strings, floats, Unix seconds, milliseconds, offsets. Everything leaves as integer minor units +
 * ISO-4217 upper-case currency, and UTC ISO-8601.
 */

// ISO-4217 currencies whose minor unit is not 2 digits (the rest use 2).
const MINOR_DIGITS: Record<string, number> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0, VND: 0,
  VUV: 0, XAF: 0, XOF: 0, XPF: 0, BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3
}

export function minorDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2
}

export function currencyCode(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z]{3}$/.test(value.trim())) {
    throw new InvalidPayloadError(`${field} must be a 3-letter ISO-4217 currency code, got ${JSON.stringify(value)}`)
  }
  return value.trim().toUpperCase()
}

/** A decimal amount given as a string ("403.00") or number (35.03) → integer minor units, without float error. */
export function decimalToMinor(value: unknown, currency: string, field: string): number {
  const text = typeof value === 'number' ? value.toString() : typeof value === 'string' ? value.trim() : ''
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text)
  if (!match) throw new InvalidPayloadError(`${field} must be a decimal amount, got ${JSON.stringify(value)}`)
  const digits = minorDigits(currency)
  const [, sign, whole, frac = ''] = match
  const padded = (frac + '0'.repeat(digits)).slice(0, digits)
  // Round half up on the first dropped digit, as accounting systems do.
  const roundUp = frac.length > digits && Number(frac[digits]) >= 5 ? 1 : 0
  const minor = Number(whole) * 10 ** digits + Number(padded || '0') + roundUp
  if (!Number.isSafeInteger(minor)) throw new InvalidPayloadError(`${field} is out of range`)
  return sign ? -minor : minor
}

export function integerMinor(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidPayloadError(`${field} must be an integer amount in minor units, got ${JSON.stringify(value)}`)
  }
  return value
}

/** Minor units back to the decimal number Segment Spec `revenue` expects (Segment: "revenue: 25.00"). */
export function minorToDecimal(minor: number, currency: string): number {
  return minor / 10 ** minorDigits(currency)
}

export function fromUnixSeconds(value: unknown, field: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidPayloadError(`${field} must be Unix seconds, got ${JSON.stringify(value)}`)
  }
  return isoOrThrow(new Date(value * 1000), field)
}

export function fromUnixMillis(value: unknown, field: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidPayloadError(`${field} must be Unix milliseconds, got ${JSON.stringify(value)}`)
  }
  return isoOrThrow(new Date(value), field)
}

/** ISO-8601 with any offset ("2021-04-23T19:08:17.000-08:00") → UTC ISO-8601. */
export function fromIsoString(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new InvalidPayloadError(`${field} must be an ISO-8601 date-time, got ${JSON.stringify(value)}`)
  }
  return isoOrThrow(new Date(value), field)
}

function isoOrThrow(date: Date, field: string): string {
  if (Number.isNaN(date.getTime())) throw new InvalidPayloadError(`${field} is not a valid time`)
  return date.toISOString()
}

export function normalizeEmail(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim().toLowerCase() : undefined
}

/** A reward value as the tracking plan carries it: decimal for readers, exact minor units, ISO-4217 currency. */
export interface RewardMoney {
  reward_amount: number
  reward_amount_minor: number
  currency: string
}

export function rewardMoney(minor: number, currency: string): RewardMoney {
  return { reward_amount: minorToDecimal(minor, currency), reward_amount_minor: minor, currency }
}

/** A decimal reward amount ("20.00", 35.03) with its currency field → RewardMoney. */
export function rewardFromDecimal(amount: unknown, currencyValue: unknown, amountField: string, currencyField: string): RewardMoney {
  const currency = currencyCode(currencyValue, currencyField)
  return rewardMoney(decimalToMinor(amount, currency, amountField), currency)
}
