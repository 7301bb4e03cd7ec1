/**
 * Generates docs/referral-bridge.postman_collection.json (Postman Collection v2.1) from the bridge's OpenAPI
 * document (methods, paths, auth, content types, descriptions) and the hand-kept workflow in
 * scripts/postman-workflow.ts (order, example bodies, signing pre-request scripts, tests). `npm run docs:postman`;
 * `--check` fails when the file is stale, when an API operation has no request in the workflow, or when a request
 * uses a variable that neither the environment (docs/referral-bridge.postman_environment.json), the collection
 * nor a script defines.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { loadSources } from '../src/sources/registry.ts'
import { openApiDocument } from '../src/server/openapi.ts'
import { collectionPrerequest, folders, type Step } from './postman-workflow.ts'

const OUT = 'docs/referral-bridge.postman_collection.json'
const ENVIRONMENT = 'docs/referral-bridge.postman_environment.json'

/** Security scheme of the OpenAPI document → the environment variable holding its bearer token. */
const AUTH: Record<string, string> = { bearer: 'BRIDGE_ADMIN_TOKEN', appKey: 'BRIDGE_APP_API_KEY', metricsToken: 'METRICS_TOKEN', hooksKey: 'BRIDGE_HOOKS_API_KEY' }

const event = (listen: 'prerequest' | 'test', code: string) => ({ listen, script: { type: 'text/javascript', exec: code.split('\n') } })

/** The run stops before requests kept out of the runner (the SSE stream never ends by design). */
const STOP_RUN = [
  '',
  '// The rest of the collection is kept out of the runner (an event stream stays open by design): the run ends here.',
  'pm.execution.setNextRequest(null);'
].join('\n')

export async function postmanCollection(): Promise<object> {
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version
  const sources = await loadSources()
  const doc = openApiDocument(sources, version)
  const operations = new Map<string, any>()
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) operations.set(`${method.toUpperCase()} ${path}`, op)
  }

  const steps = folders.flatMap((f) => f.steps)
  const problems: string[] = []
  const uncovered = [...operations.keys()].filter((key) => !steps.some((s) => s.operation === key))
  if (uncovered.length) problems.push(`no request in scripts/postman-workflow.ts for ${uncovered.join(', ')}`)
  const lastRunnerStep = steps.map((s) => s.runner !== false).lastIndexOf(true)
  if (steps.slice(0, lastRunnerStep).some((s) => s.runner === false)) problems.push('requests kept out of the runner must come last')

  const names = new Set<string>()
  const item = (step: Step, index: number) => {
    const op = step.operation ? operations.get(step.operation) : undefined
    if (step.operation && !op) problems.push(`${step.operation} is not in the OpenAPI document`)
    const [method, path] = step.operation ? step.operation.split(' ') : [step.sandbox!.method, step.sandbox!.path]
    const name = step.name ?? op?.summary ?? `${method} ${path}`
    if (names.has(name)) problems.push(`two requests are named "${name}"`)
    names.add(name)
    if (!/pm\.test\(/.test(step.test)) problems.push(`"${name}" has no pm.test`)
    const segments = path!.replace(/^\//, '').split('/').map((s) => s.replace(/^\{(.+)\}$/, ':$1'))
    const variables = segments.filter((s) => s.startsWith(':')).map((s) => s.slice(1))
    for (const v of variables) if (!step.pathVariables?.[v]) problems.push(`"${name}" leaves :${v} unfilled`)
    const host = step.operation ? '{{baseUrl}}' : '{{sandboxUrl}}'
    const contentType = op?.requestBody ? Object.keys(op.requestBody.content)[0] : step.body ? 'application/json' : undefined
    // The first scheme the operation names (`[{}, {metricsToken: []}]`: optional auth, sent all the same).
    const scheme = ((op?.security ?? []) as Array<Record<string, unknown>>).flatMap((r) => Object.keys(r))[0]
    if (scheme && !AUTH[scheme]) problems.push(`"${name}": no environment variable for the security scheme ${scheme}`)
    const headers = [
      ...(contentType ? [{ key: 'Content-Type', value: contentType }] : []),
      ...(scheme && AUTH[scheme] && step.auth !== false ? [{ key: 'Authorization', value: `Bearer {{${AUTH[scheme]}}}` }] : []),
      ...(step.headers ?? [])
    ]
    const query = step.query ?? []
    const raw = `${host}/${segments.join('/')}${query.length ? `?${query.map((q) => `${q.key}=${q.value}`).join('&')}` : ''}`
    const body = !step.body
      ? undefined
      : 'raw' in step.body
        ? { mode: 'raw', raw: step.body.raw, options: { raw: { language: step.body.language ?? 'json' } } }
        : { mode: 'urlencoded', urlencoded: step.body.urlencoded.map((f) => ({ ...f, type: 'text' })) }
    const test = index === lastRunnerStep && steps.some((s) => s.runner === false) ? step.test + STOP_RUN : step.test
    return {
      name,
      event: [...(step.prerequest ? [event('prerequest', step.prerequest)] : []), event('test', test)],
      request: {
        method,
        header: headers,
        ...(body ? { body } : {}),
        url: {
          raw,
          host: [host],
          path: segments,
          ...(query.length ? { query } : {}),
          ...(variables.length ? { variable: variables.map((key) => ({ key, value: step.pathVariables![key] })) } : {})
        },
        description: [step.description, op?.description ?? op?.summary].filter(Boolean).join('\n\n')
      }
    }
  }
  let index = 0
  const items = folders.map((f) => ({ name: f.name, description: f.description, item: f.steps.map((s) => item(s, index++)) }))

  // Chained values (a response id feeding a later request) live in collection variables, declared empty.
  const scripts = [collectionPrerequest, ...steps.flatMap((s) => [s.prerequest ?? '', s.test])].join('\n')
  const chained = [...new Set([...scripts.matchAll(/pm\.collectionVariables\.set\('(\w+)'/g)].map((m) => m[1]!))].sort()
  const local = new Set([...scripts.matchAll(/pm\.variables\.set\('(\w+)'/g)].map((m) => m[1]!))
  const environment = new Set((JSON.parse(readFileSync(ENVIRONMENT, 'utf8')) as { values: Array<{ key: string }> }).values.map((v) => v.key))
  for (const secret of [...Object.values(AUTH), ...[...sources.values()].map((s) => s.secretEnv[0]!)]) {
    if (!environment.has(secret)) problems.push(`${ENVIRONMENT} has no ${secret}`)
  }
  const collection = {
    info: {
      name: 'referral-bridge',
      description: [
        doc.info.description,
        'A workflow: run it top to bottom (newman, or the Collection Runner) against `npm run demo`, with the environment docs/referral-bridge.postman_environment.json (the same values the demo starts the bridge with). Webhooks are signed by their pre-request scripts with the secrets from the environment, named like the bridge\'s env vars; later requests use ids from earlier answers (collection variables). `sandboxUrl` points at the vendor sandboxes the demo delivers to.',
        'Generated by scripts/postman.ts from GET /openapi.json and scripts/postman-workflow.ts: edit those, then `npm run docs:postman`.'
      ].join('\n\n'),
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json'
    },
    event: [event('prerequest', collectionPrerequest)],
    variable: chained.map((key) => ({ key, value: '' })),
    item: items
  }
  const text = JSON.stringify(collection)
  const known = new Set([...environment, ...chained, ...local])
  const unknown = [...new Set([...text.matchAll(/\{\{([^}]+)\}\}/g)].map((m) => m[1]!))].filter((v) => !known.has(v))
  if (unknown.length) problems.push(`variables defined nowhere: ${unknown.join(', ')}`)
  if (problems.length) throw new Error(`the Postman collection cannot be generated:\n- ${problems.join('\n- ')}`)
  return collection
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
