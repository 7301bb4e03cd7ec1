import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNotificationParts } from '../../src/notifications/wiring.ts'

const dir = mkdtempSync(join(tmpdir(), 'rb-notif-wiring-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const databaseUrl = `sqlite:${join(dir, 'bridge.sqlite')}`

describe('createNotificationParts', () => {
  it('sandboxes app_webhook at <sandboxBase>/app when APP_WEBHOOK_URL is unset, with env policy overrides', async () => {
    const parts = await createNotificationParts({
      env: { IN_APP_CONCURRENCY: '3', APP_WEBHOOK_MAX_ATTEMPTS: '20', NOTIFICATION_DEADLINE_MS: '60000' },
      databaseUrl,
      sandboxBase: 'http://127.0.0.1:9/sandbox/'
    })
    try {
      expect(parts.sandbox?.vendor).toBe('app')
      const [inApp, app] = parts.destinations
      expect(inApp.policy.concurrency).toBe(3)
      expect(app.policy.maxAttempts).toBe(20)
      expect(app.target).toBe('http://127.0.0.1:9/sandbox/app/webhooks/referral-bridge')
      expect(app.priorityOf!({} as never, 1000)).toEqual({ priority: 5, deadlineAt: 61_000 })
    } finally {
      await parts.close()
      await parts.close() // idempotent
    }
  })

  it('honours DESTINATIONS and leaves app_webhook out when sandboxes are off and no URL is set', async () => {
    const only = await createNotificationParts({ env: { DESTINATIONS: 'segment,in_app' }, databaseUrl, sandboxBase: 'http://x' })
    expect(only.destinations.map((d) => d.name)).toEqual(['in_app'])
    await only.close()
    const noSandbox = await createNotificationParts({ env: {}, databaseUrl, sandboxBase: 'http://x', sandboxes: false })
    expect(noSandbox.destinations.map((d) => d.name)).toEqual(['in_app'])
    expect(noSandbox.sandbox).toBeUndefined()
    await noSandbox.close()
  })

  it('fails startup on a real URL without a secret, a bad URL, a bad secret or a bad number', async () => {
    await expect(createNotificationParts({ env: { APP_WEBHOOK_URL: 'https://app.example.com/h' }, databaseUrl, sandboxBase: 'x' })).rejects.toThrow(/APP_WEBHOOK_SECRET/)
    await expect(createNotificationParts({ env: { APP_WEBHOOK_URL: 'not a url', APP_WEBHOOK_SECRET: 'whsec_AAAA' }, databaseUrl, sandboxBase: 'x' })).rejects.toThrow(/APP_WEBHOOK_URL/)
    await expect(createNotificationParts({ env: { APP_WEBHOOK_URL: 'https://a.example.com', APP_WEBHOOK_SECRET: 'whsec_' }, databaseUrl, sandboxBase: 'x' })).rejects.toThrow(/APP_WEBHOOK_SECRET is not a valid/)
    await expect(createNotificationParts({ env: { NOTIFICATION_DEADLINE_MS: '-1' }, databaseUrl, sandboxBase: 'x' })).rejects.toThrow(/NOTIFICATION_DEADLINE_MS/)
    await expect(createNotificationParts({ env: { APP_WEBHOOK_LATE_POLICY: 'drop' }, databaseUrl, sandboxBase: 'x' })).rejects.toThrow(/APP_WEBHOOK_LATE_POLICY/)
  })
})
