import { describe, it, expect, afterAll } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { testBridge, sign, referralCandyPayload, until, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { defaultPolicy, type Destination, type DeliveryResult } from '../../src/destinations/types.ts'

/**
 * The operator console in a real browser (Debian's Chromium driven by playwright-core): a marketing-ops user opens
 * it with the admin token, sees the failed delivery and why, replays it, and it is delivered.
 */
const ROOT = resolve(import.meta.dirname, '../..')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`no Chromium at ${CHROMIUM} (apt-get install chromium): skipping the console browser test`)

describe.skipIf(!available)('operator console', () => {
  let browser: Browser | undefined
  let bridge: TestBridge | undefined
  afterAll(async () => {
    await browser?.close()
    await bridge?.close()
  })

  it('shows a failed delivery with its reason and replays it', async () => {
    let healthy = false
    const crm: Destination = {
      name: 'crm',
      sandboxed: true,
      target: 'memory',
      policy: { ...defaultPolicy, concurrency: 1 },
      accepts: (m) => m.type === 'track' && m.event === 'Referral Created',
      async deliver(messages): Promise<DeliveryResult[]> {
        return messages.map(() => (healthy ? { status: 'delivered' } : { status: 'permanent', error: 'VALIDATION_ERROR: Property values were not valid', statusCode: 400 }))
      }
    }
    bridge = await testBridge({ destinations: [crm] })
    const raw = JSON.stringify(referralCandyPayload(500))
    expect((await bridge.post('referralcandy', raw, sign.referralcandy(raw))).status).toBe(200)
    await until(async () => (await bridge!.store.listJobs('dead', {})).length === 1)

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    await page.goto(`${bridge.url}/console/`)
    await page.fill('#token', SECRETS.BRIDGE_ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#dlq tbody td.error')
    expect(await page.textContent('#dlq tbody')).toContain('VALIDATION_ERROR: Property values were not valid')
    expect(await page.textContent('#queue tbody')).toMatch(/crm\s*0\s*0\s*0\s*0\s*1/)

    healthy = true
    await page.click('#dlq tbody button:has-text("Replay")')
    await until(async () => (await bridge!.store.listJobs('delivered', {})).length === 1, 5_000, 'replayed job delivered')
    await page.waitForFunction(() => document.querySelector('#dlq tbody')?.textContent?.includes('nothing here'))
    expect(errors).toEqual([])
  }, 60_000)

  it('a wrong token shows a visible, specific message; the right one then opens without a stale error', async () => {
    const page = await browser!.newPage()
    await page.goto(`${bridge!.url}/console/`)
    await page.fill('#token', 'wrong')
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#login-message', { state: 'visible' })
    expect(await page.textContent('#login-message')).toContain('The admin token was not accepted. Check it against BRIDGE_ADMIN_TOKEN')
    expect(await page.isVisible('#login')).toBe(true)
    expect(await page.isVisible('#app')).toBe(false)

    await page.fill('#token', SECRETS.BRIDGE_ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#queue tbody tr')
    expect(await page.isVisible('#login')).toBe(false) // the form used to stay on screen (form{display:flex} beat [hidden])
    expect(await page.isVisible('#login-message')).toBe(false)
    expect(await page.textContent('#status')).toBe('')
  }, 30_000)

  it('the plan page lists Referral Created with who sends it and who receives it', async () => {
    const page = await browser!.newPage()
    await page.goto(`${bridge!.url}/console/`)
    await page.fill('#token', SECRETS.BRIDGE_ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.click('#nav button:has-text("Tracking plan")')
    const row = page.locator('#plan tbody tr', { hasText: 'Referral Created' })
    await row.waitFor()
    expect(await row.locator('td.producers').textContent()).toContain('referralcandy (referred_purchase)')
    expect(await row.locator('td.consumers').textContent()).toBe('crm')
    expect(await row.textContent()).toContain('v1 active')
    expect(await row.textContent()).toMatch(/1 sent, 0 held back/)
    await row.locator('button').first().click()
    await page.waitForSelector('#plan-detail:not([hidden])')
    expect(await page.textContent('#plan-detail-versions')).toMatch(/friend_idstringrequired[a-z, ]*referralcandy/)
  }, 30_000)

  it('pasting a plan that renames a required property shows how many recent messages would be quarantined', async () => {
    const routed = (await bridge!.store.recentMessages(0, 1000)).filter((m) => m.status === 'routed' && m.message.type === 'track' && m.message.event === 'Referral Created').length
    expect(routed).toBe(1)
    const page = await browser!.newPage()
    await page.goto(`${bridge!.url}/console/`)
    await page.fill('#token', SECRETS.BRIDGE_ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.click('#nav button:has-text("Tracking plan")')
    const original = readFileSync(join(ROOT, 'tracking-plan/events/referral-created.yaml'), 'utf8')
    const renamed = original.replace(/\n( +)friend_id:/, '\n$1referred_friend_id:')
    expect(renamed).not.toBe(original)
    await page.fill('#proposal', renamed)
    await page.click('#preview-form button[type=submit]')
    await page.waitForSelector('#preview-result:not([hidden])')
    const examined = (await bridge!.store.recentMessages(Date.now() - 7 * 86_400_000, 1000)).length
    expect(await page.textContent('#preview-headline')).toContain(`${routed} of ${examined} recent message(s) would be quarantined by this change`)
    expect(await page.textContent('#preview-headline')).toContain('plan diff: NOT OK')
    expect(await page.textContent('#preview-reasons')).toContain('Referral Created: properties.referred_friend_id is required but missing')

    await page.fill('#proposal', original.replace('type: string', 'type: int'))
    await page.click('#preview-form button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#preview-headline')?.textContent?.includes('problem(s)'))
    expect(await page.textContent('#preview-lint')).toMatch(/referral-created\.yaml:\d+: property "[a-z_]+": unknown type "int", did you mean "integer"\?/)
  }, 30_000)

  it('webhook history is searchable by email and shows human times', async () => {
    const page = await browser!.newPage()
    await page.goto(`${bridge!.url}/console/`)
    await page.fill('#token', SECRETS.BRIDGE_ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.click('#nav button:has-text("Webhook history")')
    await page.fill('#webhook-filter input[name=email]', 'nobody@example.com')
    await page.click('#webhook-filter button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#webhooks tbody')?.textContent?.includes('nothing here'))
    await page.fill('#webhook-filter input[name=email]', 'friend500@example.com')
    await page.click('#webhook-filter button[type=submit]')
    const row = page.locator('#webhooks tbody tr', { hasText: 'referralcandy' })
    await row.waitFor()
    expect(await row.textContent()).toMatch(/(ago|now)/)
    expect(await row.textContent()).not.toMatch(/\d{13}/)
    await row.locator('button:has-text("Details")').click()
    await page.waitForSelector('#detail:not([hidden])')
    expect(await page.textContent('#detail-summary')).toMatch(/referralcandy · referred_purchase · received .*(ago|now)/)
  }, 30_000)
})

describe.skipIf(!available)('operator console without BRIDGE_ADMIN_TOKEN', () => {
  let browser: Browser | undefined
  let bridge: TestBridge | undefined
  afterAll(async () => {
    await browser?.close()
    await bridge?.close()
  })

  it('says that the admin API is off and how to turn it on', async () => {
    bridge = await testBridge({ env: { BRIDGE_ADMIN_TOKEN: '' } })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] })
    const page = await browser.newPage()
    await page.goto(`${bridge.url}/console/`)
    await page.fill('#token', 'anything')
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#login-message', { state: 'visible' })
    expect(await page.textContent('#login-message')).toContain('The admin API is switched off: set BRIDGE_ADMIN_TOKEN')
  }, 30_000)
})
