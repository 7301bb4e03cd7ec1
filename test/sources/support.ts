import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import type { Source, WebhookItem, WebhookRequest } from '../../src/sources/types.ts'
import type { DraftMessage, Message } from '../../src/messages.ts'
import { loadTrackingPlan, newAjv } from '../../src/tracking-plan/plan.ts'

/** Shared by the source tests: fixtures as raw bytes, requests, the real tracking plan. */

export function fixtureBytes(platform: string, file: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../fixtures/${platform}/${file}`, import.meta.url)))
}

export function fixtureJson<T = any>(platform: string, file: string): T {
  return JSON.parse(fixtureBytes(platform, file).toString('utf8')) as T
}

export function webhookRequest(
  rawBody: Buffer | string,
  headers: Record<string, string | undefined> = {},
  options: { query?: Record<string, string | undefined>; receivedAt?: Date } = {}
): WebhookRequest {
  return {
    rawBody: Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    query: options.query ?? {},
    receivedAt: options.receivedAt ?? new Date()
  }
}

export const trackingPlan = loadTrackingPlan(fileURLToPath(new URL('../../tracking-plan', import.meta.url)))

/** Every draft, completed the way the normalizer completes it, must pass the real tracking plan. */
export function expectPlanOk(drafts: DraftMessage[]): void {
  expect(drafts.length).toBeGreaterThan(0)
  for (const draft of drafts) {
    const { role, ...rest } = draft
    expect(typeof role).toBe('string')
    const message = { ...rest, messageId: 'x', context: {} } as Message
    const result = trackingPlan.check(message)
    expect(result, `${role} (${draft.type === 'track' ? draft.event : 'identify'}): ${JSON.stringify(result)}`).toMatchObject({ ok: true })
  }
}

/** Roles must be unique inside one item: they become part of the deterministic messageId. */
export function expectDistinctRoles(drafts: DraftMessage[]): void {
  const roles = drafts.map((d) => d.role)
  expect(new Set(roles).size).toBe(roles.length)
}

export function compileSchema(source: Source) {
  return newAjv().compile(source.payloadSchema)
}

export function normalizeAll(source: Source, items: WebhookItem[]): DraftMessage[] {
  return items.flatMap((item) => source.normalize(item))
}

export function byRole(drafts: DraftMessage[], role: string): any {
  const found = drafts.find((d) => d.role === role)
  expect(found, `no draft with role ${role}`).toBeDefined()
  return found
}
