import { describe, it, expect, afterAll } from 'vitest'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { testBridge, sign, referralCandyPayload, until, SECRETS, type TestBridge } from '../helpers/bridge.ts'
import { defaultPolicy, type Destination, type DeliveryResult } from '../../src/destinations/types.ts'

/**
 * The operator console in a real browser (Debian's Chromium driven by playwright-core): a marketing-ops user opens
 * it with the admin token, sees the failed delivery and why, replays it, and it is delivered.
 */
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
      accepts: (m) => m.type === 'track',
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

  it('refuses a wrong token and asks again', async () => {
    const page = await browser!.newPage()
    await page.goto(`${bridge!.url}/console/`)
    await page.fill('#token', 'wrong')
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#login:not([hidden])')
    expect(await page.textContent('#status')).toContain('BRIDGE_ADMIN_TOKEN')
  }, 30_000)
})
