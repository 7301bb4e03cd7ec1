import { describe, it, expect } from 'vitest'
import { decimalToMinor, fromIsoString, fromUnixMillis, fromUnixSeconds, currencyCode, minorToDecimal } from '../../src/normalize/units.ts'
import { deriveMessageId } from '../../src/messages.ts'
import { md5Hex, safeEqual } from '../../src/sources/signatures.ts'
import { redact } from '../../src/log.ts'

describe('money', () => {
  it('turns decimal strings and floats into exact minor units', () => {
    expect(decimalToMinor('403.00', 'USD', 'x')).toBe(40300)
    expect(decimalToMinor(35.03, 'USD', 'x')).toBe(3503)
    expect(decimalToMinor('0.1', 'EUR', 'x')).toBe(10)
    expect(decimalToMinor('19.995', 'USD', 'x')).toBe(2000)
    expect(decimalToMinor('1500', 'JPY', 'x')).toBe(1500)
    expect(decimalToMinor('1.234', 'KWD', 'x')).toBe(1234)
    expect(decimalToMinor('-5.00', 'USD', 'x')).toBe(-500)
    expect(() => decimalToMinor('$5', 'USD', 'amount')).toThrow(/amount must be a decimal amount/)
    expect(minorToDecimal(40300, 'USD')).toBe(403)
  })
  it('accepts ISO-4217 codes in any case and refuses others', () => {
    expect(currencyCode('usd', 'c')).toBe('USD')
    expect(() => currencyCode('US$', 'c')).toThrow(/3-letter ISO-4217/)
  })
})

describe('time', () => {
  it('normalizes seconds, milliseconds and offsets to UTC ISO-8601', () => {
    expect(fromUnixSeconds(1434439382, 't')).toBe('2015-06-16T07:23:02.000Z')
    expect(fromUnixMillis(1558345202613, 't')).toBe('2019-05-20T09:40:02.613Z')
    expect(fromIsoString('2021-04-23T19:08:17.000-08:00', 't')).toBe('2021-04-24T03:08:17.000Z')
    expect(() => fromIsoString('yesterday', 'created_at')).toThrow(/created_at must be an ISO-8601/)
  })
})

describe('ids and signatures', () => {
  it('derives stable messageIds within Segment\u2019s 100 characters', () => {
    const a = deriveMessageId('referralcandy', 'k1', 'identify-advocate')
    expect(a).toBe(deriveMessageId('referralcandy', 'k1', 'identify-advocate'))
    expect(a).not.toBe(deriveMessageId('referralcandy', 'k2', 'identify-advocate'))
    expect(a).not.toBe(deriveMessageId('rewardful', 'k1', 'identify-advocate'))
    expect(deriveMessageId('x'.repeat(80), 'k', 'role-'.repeat(10)).length).toBeLessThanOrEqual(100)
  })
  it('computes ReferralCandy\u2019s documented MD5 test vector', () => {
    // referralcandy.com/api: MD5("APISECRETKEY" + sorted params) documented value.
    expect(md5Hex('APISECRETKEYaccessID=acihijaklscjname=johntimestamp=1296664909')).toBe('04535fe455e9f77a90c06e81d7888569')
  })
  it('compares in constant time and rejects different lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abd')).toBe(false)
    expect(safeEqual('abc', 'abcd')).toBe(false)
    expect(safeEqual('abc', undefined)).toBe(false)
  })
})

describe('log redaction', () => {
  it('hides secrets by key and credentials inside URLs', () => {
    expect(redact({ headers: { 'x-referral-candy-signature': 'abc', authorization: 'Bearer t', host: 'h' } })).toEqual({
      headers: { 'x-referral-candy-signature': '[REDACTED]', authorization: '[REDACTED]', host: 'h' }
    })
    expect(redact('postgres://user:hunter2@db:5432/x')).toBe('postgres://user:[REDACTED]@db:5432/x')
    expect(redact({ accessToken: 'secret', nested: { apiKey: 'k', ok: 1 } })).toEqual({ accessToken: '[REDACTED]', nested: { apiKey: '[REDACTED]', ok: 1 } })
  })
})
