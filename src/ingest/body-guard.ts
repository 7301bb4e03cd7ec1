/**
 * Checks on a webhook body made before anything recursive touches it (JSON.parse's result goes through ajv,
 * normalizers and the store, all recursive): a body nested 10⁵ levels deep overflowed the stack and was answered
 * 503, so the platform retried it forever. Each refusal names the problem and becomes a JSON 400.
 */
export class BodyRefused extends Error {
  constructor(
    readonly code: 'invalid_utf8' | 'too_deep' | 'duplicate_key' | 'forbidden_key',
    message: string
  ) {
    super(message)
    this.name = 'BodyRefused'
  }
}

/**
 * Keys that reach object prototypes in JavaScript consumers downstream (Segment, Mixpanel and Klaviyo SDKs,
 * lodash merges in destination functions); no referral platform documents such a field.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The body as text, refusing invalid UTF-8: decoding it lossily (U+FFFD) would store bytes that no longer match
 * the signature the platform computed over them.
 */
export function decodeUtf8(raw: Buffer): string {
  try {
    return utf8.decode(raw)
  } catch {
    const at = firstInvalidUtf8(raw)
    throw new BodyRefused('invalid_utf8', `body is not valid UTF-8 (first invalid byte at offset ${at})`)
  }
}

/** Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF). */
function firstInvalidUtf8(raw: Buffer): number {
  let i = 0
  while (i < raw.length) {
    const b = raw[i]!
    const [n, min, max] = b < 0x80 ? [0, 0, 0] : b >= 0xc2 && b <= 0xdf ? [1, 0x80, 0xbf] : b === 0xe0 ? [2, 0xa0, 0xbf] : b === 0xed ? [2, 0x80, 0x9f] : b >= 0xe1 && b <= 0xef ? [2, 0x80, 0xbf] : b === 0xf0 ? [3, 0x90, 0xbf] : b >= 0xf1 && b <= 0xf3 ? [3, 0x80, 0xbf] : b === 0xf4 ? [3, 0x80, 0x8f] : [-1, 0, 0]
    if (n < 0) return i
    for (let k = 1; k <= n; k++) {
      const c = raw[i + k]
      if (c === undefined || c < (k === 1 ? min : 0x80) || c > (k === 1 ? max : 0xbf)) return i
    }
    i += n + 1
  }
  return raw.length
}

/**
 * One pass over JSON text without building anything: nesting depth, and per object its keys (decoded, so
 * `"__pro\u0074o__"` counts) for duplicates and prototype keys. Syntax errors are left to JSON.parse.
 */
export function checkJsonText(text: string, maxDepth: number): void {
  const stack: Array<Set<string> | null> = [] // a Set per open object (its keys), null per open array
  let expectKey = false
  let path: string[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push(c === 0x7b ? new Set() : null)
      if (stack.length > maxDepth) throw new BodyRefused('too_deep', `JSON nested deeper than ${maxDepth} levels (WEBHOOK_MAX_DEPTH)`)
      expectKey = c === 0x7b
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      path = path.slice(0, stack.length)
      expectKey = false
    } else if (c === 0x2c /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null
    } else if (c === 0x22 /* " */) {
      const start = i
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === 0x5c /* \ */) i++
        else if (d === 0x22) break
      }
      if (!expectKey) continue
      expectKey = false
      const keys = stack[stack.length - 1]!
      let key: string
      try {
        key = JSON.parse(text.slice(start, i + 1)) as string
      } catch {
        return // malformed: JSON.parse reports it with its own message
      }
      path[stack.length - 1] = key
      const where = path.slice(0, stack.length - 1).map((k) => `/${k}`).join('')
      if (FORBIDDEN_KEYS.has(key)) throw new BodyRefused('forbidden_key', `key "${key}" is not accepted (at ${where || '/'})`)
      if (keys.has(key)) throw new BodyRefused('duplicate_key', `duplicate key "${key}" (at ${where || '/'})`)
      keys.add(key)
    }
  }
}

/** The same limits on an already parsed value (form and XML bodies, JSON embedded in form fields), iteratively. */
export function checkParsed(value: unknown, maxDepth: number): void {
  const todo: Array<[unknown, number, string]> = [[value, 0, '']]
  while (todo.length) {
    const [v, depth, where] = todo.pop()!
    if (!v || typeof v !== 'object') continue
    if (depth >= maxDepth) throw new BodyRefused('too_deep', `body nested deeper than ${maxDepth} levels (WEBHOOK_MAX_DEPTH)`)
    if (Array.isArray(v)) {
      v.forEach((x, i) => todo.push([x, depth + 1, `${where}/${i}`]))
      continue
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) throw new BodyRefused('forbidden_key', `key "${key}" is not accepted (at ${where || '/'})`)
      todo.push([(v as Record<string, unknown>)[key], depth + 1, `${where}/${key}`])
    }
  }
}
