import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { parse as parseYaml } from 'yaml'

/**
 * Vendor OpenAPI documents, read at test time from the `shared/openapi/` folder that sits next to the repository
 * (never copied into it). The nearest `shared/` among the repository root's ancestors wins, so a git worktree one
 * level deeper finds the same folder. Absent: `loadSpec` returns undefined and the suite skips with a message.
 */
// ajv-formats is CommonJS with a default export the ESM types do not see (as in src/tracking-plan/plan.ts).
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

export function openapiDir(): string | undefined {
  for (let dir = path.dirname(repoRoot), i = 0; i < 3; dir = path.dirname(dir), i++) {
    const candidate = path.resolve(dir, 'shared/openapi')
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

export interface Spec {
  doc: Record<string, unknown>
  /** Validates a JSON body against the documented response schema of (path, method, status, media type). */
  response(apiPath: string, method: string, status: number | string, mediaType?: string): ValidateFunction
  /** Validates a JSON body against the documented request body schema. */
  request(apiPath: string, method: string, mediaType?: string): ValidateFunction
}

export function loadSpec(relative: string): Spec | undefined {
  const dir = openapiDir()
  if (!dir) return undefined
  const file = path.join(dir, relative)
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8')
  const doc = toJsonSchema(file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>
  // OpenAPI 3.0 schemas carry `example`, `nullable`, `x-*`: not strict JSON Schema, so strict mode is off.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  ajv.addSchema(doc, 'spec')
  const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')
  const deref = (pointer: string): { pointer: string; value: Record<string, unknown> } => {
    let value: unknown = doc
    for (const part of pointer.split('/').slice(1)) value = (value as Record<string, unknown>)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
    const ref = (value as { $ref?: string } | undefined)?.$ref
    if (ref && ref.startsWith('#/')) return deref(ref.slice(1))
    if (!value) throw new Error(`${relative}: nothing at ${pointer}`)
    return { pointer, value: value as Record<string, unknown> }
  }
  const compile = (pointer: string) => ajv.compile({ $ref: `spec#${pointer}` })
  const pathKey = (apiPath: string) => {
    const paths = doc.paths as Record<string, unknown>
    const key = Object.keys(paths).find((k) => k.split('#')[0].replace(/\/$/, '') === apiPath.replace(/\/$/, ''))
    if (!key) throw new Error(`${relative}: no path ${apiPath}`)
    return key
  }
  return {
    doc,
    response(apiPath, method, status, mediaType = 'application/json') {
      const res = deref(`/paths/${escape(pathKey(apiPath))}/${method.toLowerCase()}/responses/${status}`)
      const content = res.value.content as Record<string, unknown>
      const type = Object.keys(content).find((t) => t === mediaType) ?? Object.keys(content).find((t) => t.includes('json'))!
      return compile(`${res.pointer}/content/${escape(type)}/schema`)
    },
    request(apiPath, method, mediaType = 'application/json') {
      const body = deref(`/paths/${escape(pathKey(apiPath))}/${method.toLowerCase()}/requestBody`)
      const content = body.value.content as Record<string, unknown>
      const type = Object.keys(content).find((t) => t === mediaType) ?? Object.keys(content).find((t) => t.includes('json'))!
      return compile(`${body.pointer}/content/${escape(type)}/schema`)
    }
  }
}

/** OpenAPI 3.0's `nullable: true` as JSON Schema: a `null` type next to the declared one (or beside a $ref/oneOf). */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema)
  if (!node || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) out[k] = toJsonSchema(v)
  if (out.nullable !== true) return out
  delete out.nullable
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'], ...(Array.isArray(out.enum) ? { enum: [...out.enum, null] } : {}) }
  return { anyOf: [out, { type: 'null' }] }
}

/** Asserts a body against a compiled schema, with ajv's errors in the failure message. */
export function conforms(validate: ValidateFunction, body: unknown): true {
  if (!validate(body)) throw new Error(`does not match the vendor's OpenAPI schema: ${JSON.stringify(validate.errors, null, 1)}\nbody: ${JSON.stringify(body).slice(0, 500)}`)
  return true
}
