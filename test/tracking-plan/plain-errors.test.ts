import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { PlanRepo } from './support.ts'

/**
 * Each hand-editing mistake marketing ops made (issue 17) is reported at its file:line in a plain sentence that
 * says what to change, not in the YAML parser's or ajv's words.
 */
const FILE = 'events/referral-created.yaml'
const SHOWN = `tracking-plan/${FILE}`

/** Referral Created v1 with one property line replaced by `line` (line 7 of the file). */
function eventWith(line: string): string {
  return [
    'event: Referral Created',
    'description: "A friend was referred by an advocate."',
    'owner: marketing-ops',
    'versions:',
    '  - version: 1',
    '    properties:',
    line,
    '      referral_id: { type: string, required: true, description: "Platform referral id.", examples: [r1] }',
    '      advocate_id: { type: string, required: true, description: "Advocate id.", examples: [a@example.com] }',
    '      friend_id: { type: string, required: true, description: "Friend id.", examples: [f@example.com] }',
    '      status: { type: string, enum: [created, converted], required: true, description: "State.", examples: [created] }',
    '      source_platform: { type: string, required: true, description: "Platform.", examples: [referralcandy] }',
    ''
  ].join('\n')
}

describe('plan lint: mistakes in plain words at file:line', () => {
  let repo: PlanRepo
  beforeEach(() => {
    repo = new PlanRepo({ commit: false })
  })
  afterEach(() => repo.cleanup())

  async function lintWith(line: string) {
    repo.write(FILE, eventWith(line))
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    return r.out
  }

  it('a comma in an unquoted one-line description', async () => {
    const out = await lintWith('      campaign_id: { type: string, description: Campaign id, as shown in the platform., examples: [c1] }')
    expect(out).toContain(`${SHOWN}:7: property "campaign_id": "as shown in the platform." is not a keyword: in a one-line { ... } definition a comma ends the value`)
    expect(out).toContain('Put the description in quotes')
    expect(out).not.toContain('strict mode')
  })

  it('a colon in an unquoted one-line description', async () => {
    const out = await lintWith('      campaign_id: { type: string, description: Note: the platform id., examples: [c1] }')
    expect(out).toMatch(new RegExp(`${SHOWN}:7: a colon followed by a space inside a one-line \\{ \\.\\.\\. \\} definition starts a new key: put the text that contains the colon in quotes`))
    expect(out).not.toContain('Block collections')
  })

  it('a colon in an unquoted block-style description', async () => {
    repo.write(FILE, eventWith('      campaign_id:\n        type: string\n        description: Note: the platform id.\n        examples: [c1]'))
    const r = await repo.run(['lint'])
    expect(r.code).toBe(1)
    expect(r.out).toContain(`${SHOWN}:9: a colon followed by a space in an unquoted value starts a new key: put the text that contains the colon in quotes`)
  })

  it('a typo in a keyword gets a suggestion', async () => {
    const out = await lintWith('      campaign_id: { type: string, requried: true, description: "Campaign id.", examples: [c1] }')
    expect(out).toContain(`${SHOWN}:7: unknown key "requried" in property "campaign_id": did you mean "required"?`)
    expect(out).not.toContain('strict mode')
  })

  it('type: int is answered with the JSON type, and nothing from ajv', async () => {
    const out = await lintWith('      campaign_id: { type: int, description: "Campaign id.", examples: [1] }')
    expect(out).toContain(`${SHOWN}:7: property "campaign_id": unknown type "int", did you mean "integer"? (the types are string, number, integer, boolean, object, array, null)`)
    expect(out).not.toMatch(/schema is invalid|must be equal to one of/)
    expect(out).toMatch(/^1 error\(s\)/m)
  })

  it('an example outside an enum lists the allowed values', async () => {
    const out = await lintWith('      channel: { type: string, enum: [email, sms], description: "Channel.", examples: [whatsapp] }')
    expect(out).toContain(`${SHOWN}:7: property "channel": example "whatsapp" is invalid: must be one of "email", "sms"`)
  })

  it('an unknown status lists the allowed values with a suggestion', async () => {
    repo.write(FILE, eventWith('      campaign_id: { type: string, description: "Campaign id.", examples: [c1] }').replace('  - version: 1\n', '  - version: 1\n    status: activ\n'))
    const r = await repo.run(['lint'])
    expect(r.out).toContain(`${SHOWN}:6: status "activ" is not allowed, did you mean "active"? (allowed: active, deprecated, retired)`)
  })

  it('an unknown format suggests the right one', async () => {
    const out = await lintWith('      sent_at: { type: string, format: datetime, description: "When.", examples: ["2026-01-01T00:00:00Z"] }')
    expect(out).toContain(`${SHOWN}:7: property "sent_at": unknown format "datetime", did you mean "date-time"?`)
  })

  it('an unclosed bracket and a tab are syntax errors in plain words', async () => {
    const out = await lintWith('      campaign_id: { type: string, description: "Campaign id.", examples: [c1 }')
    expect(out).toMatch(new RegExp(`${SHOWN}:\\d+: a \\{ or \\[ opened here is not closed`))
    const tab = await lintWith('\tcampaign_id: { type: string, description: "Campaign id.", examples: [c1] }')
    expect(tab).toContain(`${SHOWN}:7: this line is indented with a tab`)
  })
})
