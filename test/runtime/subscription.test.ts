import { describe, it, expect } from 'vitest'
import { compileSubscription, SubscriptionSyntaxError } from '../../src/runtime/subscription.ts'

const track = (event: string, properties: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ type: 'track', event, properties, ...extra })
const identify = (traits: Record<string, unknown>) => ({ type: 'identify', traits })

describe('subscription syntax (Destination Actions / FQL)', () => {
  it('matches type and event, as the issue writes it', () => {
    const s = compileSubscription('type = "track" and event = "Referral Created"')
    expect(s(track('Referral Created'))).toBe(true)
    expect(s(track('Referral Approved'))).toBe(false)
    expect(s(identify({ email: 'a@b.c' }))).toBe(false)
  })

  it('and binds tighter than or; parentheses override', () => {
    const loose = compileSubscription('type = "identify" or type = "track" and event = "A"')
    expect(loose(identify({}))).toBe(true)
    expect(loose(track('B'))).toBe(false)
    const grouped = compileSubscription('(type = "identify" or type = "track") and event = "A"')
    expect(grouped(identify({}))).toBe(false)
    expect(grouped(track('A'))).toBe(true)
  })

  it('!=, not, numbers, booleans, null', () => {
    expect(compileSubscription('event != "A"')(track('B'))).toBe(true)
    expect(compileSubscription('event != "A"')(identify({}))).toBe(true)
    expect(compileSubscription('not event = "A"')(track('A'))).toBe(false)
    expect(compileSubscription('properties.value >= 10')(track('O', { value: 10 }))).toBe(true)
    expect(compileSubscription('properties.value > 10')(track('O', { value: '11' }))).toBe(false)
    expect(compileSubscription('properties.value < 10.5')(track('O', { value: 3 }))).toBe(true)
    expect(compileSubscription('properties.paid = true')(track('O', { paid: true }))).toBe(true)
    expect(compileSubscription('properties.paid = true')(track('O', { paid: 'true' }))).toBe(false)
    expect(compileSubscription("properties.code = 'x'")(track('O', { code: 'x' }))).toBe(true)
  })

  it('contains (strings and arrays, both spellings), exists, not exists, nested paths', () => {
    expect(compileSubscription('traits.email contains "@"')(identify({ email: 'a@b.c' }))).toBe(true)
    expect(compileSubscription('traits.email contains "@"')(identify({ email: 42 }))).toBe(false)
    expect(compileSubscription('contains(properties.tags, "vip")')(track('A', { tags: ['vip'] }))).toBe(true)
    expect(compileSubscription('!contains(event, "Referral")')(track('Referral Created'))).toBe(false)
    expect(compileSubscription('properties.friend_email not contains "@example.com"')(track('A', { friend_email: 'x@example.com' }))).toBe(false)
    expect(compileSubscription('traits.email exists')(identify({ email: null }))).toBe(false)
    expect(compileSubscription('traits.email exists')(identify({ email: '' }))).toBe(true)
    expect(compileSubscription('traits.email not exists')(identify({}))).toBe(true)
    expect(compileSubscription('context.traits.email exists')(track('A', {}, { context: { traits: { email: 'e' } } }))).toBe(true)
    expect(compileSubscription('userId contains "@"')(track('A', {}, { userId: 'u@x' }))).toBe(true)
  })

  it('a missing field equals nothing and a non-object on the path is missing', () => {
    const s = compileSubscription('properties.a.b = "x"')
    expect(s(track('A', { a: 'string' }))).toBe(false)
    expect(s({ type: 'track' })).toBe(false)
    expect(s(null)).toBe(false)
  })

  it.each([
    ['', 'a condition'],
    ['type =', 'a value'],
    ['type = "track" and', 'a field'],
    ['type "track"', '=, !=, <'],
    ['(type = "track"', '")"'],
    ['type = "track', 'a closing "'],
    ['type = "track" event = "A"', '"and", "or" or the end'],
    ['properties.x contains 3', 'a quoted string'],
    ['type = #', 'a field, a value or an operator']
  ])('syntax error in %j names what was expected (%s)', (source, expected) => {
    expect(() => compileSubscription(source)).toThrow(SubscriptionSyntaxError)
    expect(() => compileSubscription(source)).toThrow(expected)
  })
})
