/**
 * Generates docs/referral-bridge.postman_collection.json (Postman Collection v2.1) from the bridge's OpenAPI
 * document, so the collection never drifts from the API. `npm run docs:postman`; `--check` fails when stale.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { loadSources } from '../src/sources/registry.ts'
import { openApiDocument } from '../src/server/openapi.ts'

const OUT = 'docs/referral-bridge.postman_collection.json'

export async function postmanCollection(): Promise<object> {
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version
  const doc = openApiDocument(await loadSources(), version)
  const folders = new Map<string, any[]>()
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      const tag = op.tags?.[0] ?? 'other'
      const segments = path.replace(/^\//, '').split('/').map((s) => s.replace(/^\{(.+)\}$/, ':$1'))
      const contentType = op.requestBody ? Object.keys(op.requestBody.content)[0] : undefined
      const headers = [
        ...(contentType ? [{ key: 'Content-Type', value: contentType }] : []),
        ...(op.security ? [{ key: 'Authorization', value: op.security[0].appKey ? 'Bearer {{appApiKey}}' : 'Bearer {{adminToken}}' }] : [])
      ]
      const item = {
        name: op.summary,
        request: {
          method: method.toUpperCase(),
          header: headers,
          url: { raw: `{{baseUrl}}/${segments.join('/')}`, host: ['{{baseUrl}}'], path: segments },
          description: op.description ?? op.summary,
          ...(op.requestBody ? { body: { mode: 'raw', raw: '{}', options: { raw: { language: 'json' } } } } : {})
        }
      }
      folders.set(tag, [...(folders.get(tag) ?? []), item])
    }
  }
  return {
    info: {
      name: 'referral-bridge',
      description: `${doc.info.description}\n\nGenerated from GET /openapi.json by scripts/postman.ts. Webhook requests need the platform's signature header (see each request's description).`,
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json'
    },
    variable: [
      { key: 'baseUrl', value: 'http://localhost:3000' },
      { key: 'adminToken', value: '' },
      { key: 'appApiKey', value: '' }
    ],
    item: [...folders.entries()].map(([name, item]) => ({ name, item }))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = JSON.stringify(await postmanCollection(), null, 2) + '\n'
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(OUT, 'utf8')
    } catch {}
    if (current !== text) {
      console.error(`${OUT} is stale: run npm run docs:postman`)
      process.exit(1)
    }
    console.log(`${OUT} is current`)
  } else {
    writeFileSync(OUT, text)
    console.log(`wrote ${OUT}`)
  }
}
