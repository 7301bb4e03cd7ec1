/**
 * `npm run demo`: the bridge with exactly the values of docs/referral-bridge.postman_environment.json, so
 * "import the collection and the environment into Postman, press Send" works against it. The environment file is
 * the one source of truth: its UPPER_CASE variables are the bridge's env vars (secrets, tokens, the Salesforce
 * org id), `baseUrl` gives HOST/PORT and `sandboxUrl` gives SANDBOX_PORT (the sandboxes' own loopback listener).
 *
 * Overrides, for CI and for a second demo next to the first: PORT, SANDBOX_PORT and DATABASE_URL from the calling
 * environment win (default store: data/demo.sqlite). Prints the URLs to put in the Postman environment when they
 * differ from the file's.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const ENVIRONMENT_FILE = 'docs/referral-bridge.postman_environment.json'

interface PostmanEnvironment {
  values: Array<{ key: string; value: string; enabled?: boolean }>
}

/** The Postman environment as the bridge's env: UPPER_CASE keys are bridge variables, the rest Postman-only. */
export function demoEnv(file = ENVIRONMENT_FILE, overrides: NodeJS.ProcessEnv = {}): Record<string, string> {
  const values = new Map((JSON.parse(readFileSync(file, 'utf8')) as PostmanEnvironment).values.filter((v) => v.enabled !== false).map((v) => [v.key, v.value]))
  const base = new URL(required(values, 'baseUrl'))
  const sandbox = new URL(required(values, 'sandboxUrl'))
  const env: Record<string, string> = {}
  for (const [key, value] of values) if (/^[A-Z][A-Z0-9_]*$/.test(key)) env[key] = value
  return {
    ...env,
    HOST: base.hostname,
    PORT: overrides.PORT || base.port || '80',
    SANDBOX_PORT: overrides.SANDBOX_PORT || sandbox.port || '3001',
    DATABASE_URL: overrides.DATABASE_URL || `sqlite:${resolve('data/demo.sqlite')}`
  }
}

function required(values: Map<string, string>, key: string): string {
  const value = values.get(key)
  if (!value) throw new Error(`${ENVIRONMENT_FILE} has no ${key} value`)
  return value
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = demoEnv(ENVIRONMENT_FILE, process.env)
  const baseUrl = `http://${env.HOST}:${env.PORT}`
  console.log(`referral-bridge demo: ${baseUrl} (sandboxes on 127.0.0.1:${env.SANDBOX_PORT}), store ${env.DATABASE_URL}`)
  console.log(`Postman: import docs/referral-bridge.postman_collection.json and ${ENVIRONMENT_FILE}, select the environment, press Send.`)
  const child = spawn(process.execPath, ['bin/referral-bridge.js', 'serve'], { env: { ...process.env, ...env }, stdio: 'inherit' })
  // Ctrl-C / SIGTERM reach the bridge, which shuts down gracefully; the demo exits with its code.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
  void announceSandboxes(baseUrl, Number(env.SANDBOX_PORT))
}

/**
 * Once ready, says where the sandboxes answer: on their own loopback listener (SANDBOX_PORT), or, on a bridge that
 * predates it, under <baseUrl>/sandbox — then the Postman environment's `sandboxUrl` must say so.
 */
async function announceSandboxes(baseUrl: string, sandboxPort: number): Promise<void> {
  const answers = (url: string) => fetch(url).then((r) => r.ok, () => false)
  for (let i = 0; i < 240 && !(await answers(`${baseUrl}/healthz`)); i++) await new Promise((r) => setTimeout(r, 250))
  const own = `http://127.0.0.1:${sandboxPort}/sandbox`
  if (await answers(`${own}/app/_sandbox/webhooks`)) return console.log(`referral-bridge demo: ready; sandboxUrl = ${own}`)
  if (await answers(`${baseUrl}/sandbox/app/_sandbox/webhooks`)) {
    console.log(`referral-bridge demo: ready; this bridge serves the sandboxes at ${baseUrl}/sandbox: set sandboxUrl to that in the Postman environment`)
  }
}
