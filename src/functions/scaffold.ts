import { mkdir, writeFile, stat } from 'node:fs/promises'
import path from 'node:path'

/**
 * `functions new <name>`: a new destination folder that builds, type-checks and runs under `functions test` as
 * is: index.ts (Segment's handler shape, only documented globals), function.json (settings + the bridge block,
 * with no sandbox, so the bridge delivers nowhere until the env vars are set) and an example event.
 */
const NAME_RE = /^[a-z][a-z0-9-_]*$/

export async function scaffoldFunction(name: string, functionsDir: string): Promise<string[]> {
  if (!NAME_RE.test(name)) throw new Error(`invalid name "${name}": lower-case letters, digits, - and _, starting with a letter`)
  const dir = path.join(functionsDir, name)
  if (await stat(dir).then(() => true, () => false)) throw new Error(`${dir} already exists`)
  const env = name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  const files: Record<string, string> = {
    'index.ts': `/**
 * ${name} destination function (Segment Functions runtime). Only Segment's documented globals, no imports:
 * see docs/adding-a-destination.md and destination-functions/globals.d.ts.
 */

async function onTrack(event: SegmentTrackEvent, settings: FunctionSettings): Promise<void> {
  const apiKey = typeof settings.apiKey === 'string' ? settings.apiKey : ''
  if (!apiKey) throw new ValidationError('apiKey setting is required')
  const base = String(settings.baseUrl || 'https://api.example.com').replace(/\\/+$/, '')
  const headers = new Headers({ 'Content-Type': 'application/json', Authorization: \`Bearer \${apiKey}\` })
  let res: Response
  try {
    res = await fetch(\`\${base}/events\`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: event.event, id: event.messageId, properties: event.properties ?? {} })
    })
  } catch (err) {
    // An uncaught network error is a discarded "Bad Request" in Segment: say RetryError to have it retried.
    throw new RetryError(\`network error: \${(err as Error).message}\`)
  }
  if (res.status === 429 || res.status >= 500) throw new RetryError(\`HTTP \${res.status}\`)
  if (res.status >= 400) throw new InvalidEventPayload(\`HTTP \${res.status}: \${(await res.text()).slice(0, 200)}\`)
}

// Makes this file a module for the type checker; the build removes it.
export {}
`,
    'function.json': JSON.stringify(
      {
        displayName: `Referral Bridge ${name}`,
        description: `Referral events to ${name} (referral-bridge).`,
        settings: [
          { name: 'apiKey', label: 'API key', description: `${name} API key.`, type: 'STRING', required: true, sensitive: true },
          { name: 'baseUrl', label: 'API base URL', description: 'Optional. Set only to reach a test double.', type: 'STRING', required: false, sensitive: false }
        ],
        bridge: {
          settings: { apiKey: { env: `${env}_API_KEY` }, baseUrl: { env: `${env}_BASE_URL` } },
          subscribe: 'type = "track"',
          target: 'https://api.example.com',
          policy: { concurrency: 2, batchSize: 1 }
        }
      },
      null,
      2
    ) + '\n',
    'events/track.json': JSON.stringify(
      {
        type: 'track',
        event: 'Referral Created',
        messageId: 'example-1',
        userId: 'friend-1',
        timestamp: '2026-01-01T00:00:00.000Z',
        context: {},
        properties: { referral_id: 'ref-1', referral_code: 'CODE1', advocate_id: 'adv-1' }
      },
      null,
      2
    ) + '\n',
    'README.md': `# ${name} destination function\n\nWhat it sends, its settings and the vendor docs behind each choice. See docs/adding-a-destination.md.\n`
  }
  const written: string[] = []
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(dir, file)
    await mkdir(path.dirname(target), { recursive: true })
    await writeFile(target, content)
    written.push(target)
  }
  return written
}
