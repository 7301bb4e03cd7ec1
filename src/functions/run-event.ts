import dc from 'node:diagnostics_channel'
import type { ClientRequest, IncomingMessage } from 'node:http'
import express from 'express'
import type { Message } from '../messages.ts'
import type { DeliveryResult } from '../destinations/types.ts'
import { functionDestination } from '../runtime/function-destination.ts'
import { readFunctionFolder, resolveSettings } from '../runtime/function-folder.ts'
import { createSandboxes } from '../sandboxes/index.ts'
import { serveSandbox } from '../sandboxes/serve.ts'
import { buildFunction } from './build.ts'
import path from 'node:path'

/**
 * `functions test <name> --event <file.json>`: what the "Run" button of Segment's function editor does, locally.
 * Builds the artifact, loads it in the same runtime the bridge uses, calls the handler with the event (an array
 * of events goes through onBatch, like the editor's manual mode), records every HTTP call the function makes
 * (node's http client diagnostics channel: fetch, jsforce, the HubSpot client alike) and reports Segment's
 * outcome: ok, retry (RetryError / timeout), or discarded (any other error, or no handler).
 *
 * Settings: `--settings k=v` first, then the folder's env vars (function.json `bridge.settings`); with no
 * credentials the folder's sandbox is started on a loopback port and used, as the bridge would.
 * Secrets never reach the output: query values named like secrets are masked, and headers are not printed.
 */
export interface RecordedCall {
  method: string
  url: string
  status?: number
  error?: string
}

export interface RunEventResult {
  outcome: 'ok' | 'retry' | 'discarded'
  results: DeliveryResult[]
  calls: RecordedCall[]
  sandboxed: boolean
}

const SECRET_PARAM = /secret|key|token|password|signature|auth/i

export function maskUrl(raw: string): string {
  try {
    const u = new URL(raw)
    for (const k of [...u.searchParams.keys()]) if (SECRET_PARAM.test(k)) u.searchParams.set(k, '***')
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return raw
  }
}

function record(calls: RecordedCall[]): () => void {
  const byRequest = new Map<ClientRequest, RecordedCall>()
  const start = (msg: unknown) => {
    const { request } = msg as { request: ClientRequest }
    const call = { method: request.method, url: maskUrl(`${request.protocol}//${request.host}${portOf(request)}${request.path}`) }
    byRequest.set(request, call)
    calls.push(call)
  }
  const finish = (msg: unknown) => {
    const { request, response } = msg as { request: ClientRequest; response: IncomingMessage }
    const call = byRequest.get(request)
    if (call) call.status = response.statusCode
  }
  const error = (msg: unknown) => {
    const { request, error: err } = msg as { request: ClientRequest; error: Error }
    const call = byRequest.get(request)
    if (call) call.error = (err as NodeJS.ErrnoException).code ?? err.message
  }
  dc.subscribe('http.client.request.start', start)
  dc.subscribe('http.client.response.finish', finish)
  dc.subscribe('http.client.request.error', error)
  return () => {
    dc.unsubscribe('http.client.request.start', start)
    dc.unsubscribe('http.client.response.finish', finish)
    dc.unsubscribe('http.client.request.error', error)
  }
}

function portOf(request: ClientRequest): string {
  const port = (request as unknown as { socket?: { remotePort?: number } }).socket?.remotePort
  const header = request.getHeader('host')
  if (typeof header === 'string' && header.includes(':')) return `:${header.split(':').pop()}`
  return port ? `:${port}` : ''
}

export function outcomeOf(results: DeliveryResult[]): RunEventResult['outcome'] {
  if (results.some((r) => r.status === 'retry')) return 'retry'
  if (results.some((r) => r.status === 'permanent' || r.status === 'ignored')) return 'discarded'
  return 'ok'
}

export async function runEvent(opts: {
  name: string
  events: unknown
  settings?: Record<string, string>
  env?: NodeJS.ProcessEnv
  functionsDir: string
  root: string
  timeoutMs?: number
}): Promise<RunEventResult> {
  const folder = readFunctionFolder(path.join(opts.functionsDir, opts.name))
  const env = opts.env ?? process.env
  const given = opts.settings ?? {}
  let closeSandbox: (() => Promise<void>) | undefined
  let sandboxBase = 'http://127.0.0.1:1/sandbox'
  // Credentials given on the command line count as configured: the sandbox is only for a folder left unconfigured.
  const credentialGiven = folder.settings.some((s) => (s.required || s.sensitive) && given[s.name] !== undefined)
  const probe = resolveSettings(folder, env, sandboxBase)
  if (probe.sandboxed && !credentialGiven && folder.bridge?.sandbox) {
    const sandbox = createSandboxes().find((s) => s.vendor === folder.bridge!.sandbox)
    if (sandbox) {
      const router = express.Router()
      router.use(`/${sandbox.vendor}`, sandbox.router)
      const served = await serveSandbox(router)
      sandboxBase = served.url
      closeSandbox = served.close
    }
  }
  const resolved = resolveSettings(folder, env, sandboxBase)
  const settings = { ...(credentialGiven ? {} : resolved.settings), ...given }
  const built = await buildFunction(opts.name, { root: opts.root, functionsDir: opts.functionsDir })
  const destination = functionDestination({ name: opts.name, code: built.code, settings, sandboxed: !!closeSandbox, target: resolved.target, timeoutMs: opts.timeoutMs })
  const messages = (Array.isArray(opts.events) ? opts.events : [opts.events]) as Message[]
  const calls: RecordedCall[] = []
  const stop = record(calls)
  try {
    const results = await destination.deliver(messages)
    return { outcome: outcomeOf(results), results, calls, sandboxed: !!closeSandbox }
  } finally {
    stop()
    await closeSandbox?.()
  }
}
