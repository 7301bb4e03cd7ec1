/**
 * One scrubber for every string the bridge stores or logs that came from a vendor or a platform: vendor error
 * bodies that quote the request's token (jobs.last_error, attempts.error), webhook bodies and headers, logs and
 * admin API answers. It removes the *values* of every configured secret, whatever field or key they sit in, in the
 * forms they travel in: as is, URL-encoded (query strings, form bodies), JSON-escaped, and base64 (Basic auth
 * headers, JWT-ish blobs), including base64 of the secret inside a longer encoded string at any byte alignment.
 */
export type Scrub = (text: string) => string

export const REDACTED = '[REDACTED]'

/** Env var names that hold a secret or a token (the README "Configuration" table marks them). */
const SECRET_NAME = /(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|WRITE_KEY|PRIVATE_KEY|ACCESS_KEY|ACCESS_ID|CLIENT_ID|_KEY$|^KEY$)/i

/** Shorter values would redact ordinary words and ids; no real credential is this short. */
const MIN_SECRET_LENGTH = 6

export function secretValuesFromEnv(env: NodeJS.ProcessEnv): string[] {
  const values: string[] = []
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue
    if (SECRET_NAME.test(name)) values.push(value)
    // A password inside a database URL is a secret too.
    if (/_URL$/.test(name) && /^[a-z][\w+.-]*:\/\//i.test(value)) {
      try {
        const u = new URL(value)
        if (u.password) values.push(decodeURIComponent(u.password))
      } catch {}
    }
  }
  return values
}

function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8')
  const out: string[] = []
  for (let shift = 0; shift < 3; shift++) {
    // With `shift` bytes before it, the secret's bytes start in the middle of a base64 quantum; the characters of
    // the quanta made only of the secret's bytes are the same whatever precedes or follows it.
    const padded = Buffer.concat([Buffer.alloc(shift), bytes])
    const whole = Math.floor(padded.length / 3) * 4
    const encoded = padded.toString('base64')
    const start = shift === 0 ? 0 : 4
    const stable = encoded.slice(start, whole)
    if (stable.length >= 8) out.push(stable, stable.replace(/\+/g, '-').replace(/\//g, '_'))
  }
  // The full encodings (with padding) for the common case of the secret encoded alone.
  out.push(bytes.toString('base64'), bytes.toString('base64url'))
  return out
}

function formsOf(secret: string): string[] {
  const uri = encodeURIComponent(secret)
  return [
    secret,
    uri,
    uri.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    uri.replace(/%20/g, '+'),
    JSON.stringify(secret).slice(1, -1)
  ]
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const BASE64_CHAR = /[A-Za-z0-9+/_-]/

export function createScrubber(secrets: Iterable<string>): Scrub {
  const forms = new Set<string>()
  const encoded = new Set<string>()
  for (const s of secrets) {
    if (!s || s.length < MIN_SECRET_LENGTH) continue
    for (const f of formsOf(s)) if (f.length >= MIN_SECRET_LENGTH) forms.add(f)
    for (const f of base64Forms(s)) (forms.add(f), encoded.add(f))
  }
  if (!forms.size) return (text) => text
  // Longest first, so a secret's encoded form is not half-replaced by a shorter secret it contains. Plain
  // alternatives only: a leading `[A-Za-z0-9]*` would backtrack quadratically over long base64 runs.
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g')
  return (text) => {
    if (typeof text !== 'string') return text
    let out = ''
    let last = 0
    for (const m of text.matchAll(pattern)) {
      let start = m.index
      let end = start + m[0].length
      if (start < last) continue
      if (encoded.has(m[0])) {
        // A base64 form takes the whole base64 word around it: the quanta at its edges still hold bits of the secret.
        while (start > last && BASE64_CHAR.test(text[start - 1]!)) start--
        while (end < text.length && BASE64_CHAR.test(text[end]!)) end++
        while (end < text.length && text[end] === '=') end++
      }
      out += text.slice(last, start) + REDACTED
      last = end
    }
    return last === 0 ? text : out + text.slice(last)
  }
}

/** Every string inside a JSON-like value scrubbed (keys too); other values are returned as they are. */
export function scrubDeep<T>(value: T, scrub: Scrub): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v)
    if (Array.isArray(v)) return v.map(walk)
    if (v && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k), walk(x)]))
    }
    return v
  }
  return walk(value) as T
}
