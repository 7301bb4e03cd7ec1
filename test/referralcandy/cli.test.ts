import { describe, it, expect, afterAll } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createReferralCandySandbox } from '../../src/sandboxes/referralcandy.ts'
import { serveSandbox } from '../../src/sandboxes/serve.ts'
import { main } from '../../src/cli/index.ts'

describe('referral-bridge referralcandy poll', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-rc-cli-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('polls, prints a summary and saves the watermark next to the database', async () => {
    const sandbox = createReferralCandySandbox({ accessId: 'cli-acc', secret: 'cli-sec' })
    sandbox.state.referrals.push({ referral_email: 'f@example.com', referring_email: 'a@example.com', referral_timestamp: Math.floor(Date.now() / 1000) - 3600 })
    const server = await serveSandbox(sandbox.router)
    const saved = { ...process.env }
    Object.assign(process.env, {
      DATABASE_URL: `sqlite:${join(dir, 'bridge.sqlite')}`,
      REFERRALCANDY_ACCESS_ID: 'cli-acc',
      REFERRALCANDY_API_SECRET: 'cli-sec',
      REFERRALCANDY_API_BASE_URL: `${server.url}/api/v2`
    })
    let text = ''
    const out = new Writable({ write: (c, _e, cb) => void ((text += String(c)), cb()) })
    try {
      expect(await main(['referralcandy', 'poll', '--since', '1d'], out)).toBe(0)
      expect(text).toMatch(/1 referral\(s\) from .*: 1 new \(missed by the webhook\), 0 already known/)
      expect(await main(['referralcandy', 'poll'], out)).toBe(0)
      expect(text).toMatch(/0 new \(missed by the webhook\), 1 already known/)
    } finally {
      process.env = saved
      await server.close()
    }
    expect(JSON.parse(readFileSync(join(dir, 'referralcandy-poll.json'), 'utf8'))).toHaveProperty('lastModifiedDate')
  })
})
