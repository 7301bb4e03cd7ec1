import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** Constant-time comparison of two strings; unequal lengths are rejected without leaking where they differ. */
export function safeEqual(expected: string, received: string | undefined): boolean {
  if (received === undefined) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(received)
  if (a.length !== b.length) {
    timingSafeEqual(a, a)
    return false
  }
  return timingSafeEqual(a, b)
}

export function hmacSha256(secret: string | Buffer, content: string | Buffer, encoding: 'hex' | 'base64'): string {
  return createHmac('sha256', secret).update(content).digest(encoding)
}

export function md5Hex(content: string | Buffer): string {
  return createHash('md5').update(content).digest('hex')
}

/** A stable key from the fields that identify an event, for platforms that send no event id. */
export function fieldsKey(...parts: Array<string | number | boolean | undefined | null>): string {
  return createHash('sha256')
    .update(parts.map((p) => (p === undefined || p === null ? '' : String(p))).join('\u0000'))
    .digest('hex')
}
