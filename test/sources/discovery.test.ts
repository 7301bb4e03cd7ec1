import { describe, expect, it } from 'vitest'
import { loadSources } from '../../src/sources/registry.ts'

// Adding a platform is adding a file: these sources must be found by the registry, under these URL names.
const ADDED = {
  friendbuy: ['FRIENDBUY_WEBHOOK_SECRET'],
  growsurf: ['GROWSURF_WEBHOOK_SECRET'],
  shopify: ['SHOPIFY_WEBHOOK_SECRET', 'SHOPIFY_WEBHOOK_SECRET_PREVIOUS'],
  standard: ['STANDARD_WEBHOOK_SECRET'],
  talkable: ['TALKABLE_WEBHOOK_SECRET'],
  firstpromoter: ['FIRSTPROMOTER_WEBHOOK_SECRET'],
  extole: ['EXTOLE_WEBHOOK_SECRET'],
  saasquatch: ['SAASQUATCH_WEBHOOK_SECRET']
}

describe('source discovery', () => {
  it('registers every added source with its secret env var, content types and payload schema', async () => {
    const sources = await loadSources()
    for (const [name, secretEnv] of Object.entries(ADDED)) {
      const source = sources.get(name)
      expect(source, name).toBeDefined()
      expect(source!.secretEnv).toEqual(secretEnv)
      expect(source!.contentTypes.length).toBeGreaterThan(0)
      expect(typeof source!.payloadSchema).toBe('object')
      expect(source!.authScheme.length).toBeGreaterThan(10)
    }
    expect(sources.get('talkable')!.contentTypes).toEqual(['application/x-www-form-urlencoded'])
    expect(typeof sources.get('talkable')!.parse).toBe('function')
  })
})
