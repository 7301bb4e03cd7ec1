import winston from 'winston'
import { scrubDeep, type Scrub } from './scrub.ts'

/**
 * JSON logs. Anything that looks like a secret is redacted before it is written, whatever the caller passed:
 * signature headers, authorization, tokens, keys, passwords, and credentials inside URLs.
 */
const SECRET_KEY = /(authorization|signature|secret|token|password|api[-_]?key|write[-_]?key|cookie|hmac|x-ambassador-secret)/i

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[depth]'
  if (typeof value === 'string') return value.replace(/\/\/([^:/@\s]+):([^@/\s]+)@/g, '//$1:[REDACTED]@')
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  if (value && typeof value === 'object') {
    if (value instanceof Error) return { name: value.name, message: redact(value.message) }
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[REDACTED]' : redact(v, depth + 1)])
    )
  }
  return value
}

/** The secret-value scrubber of each logger (set by the bridge once the configuration is read). */
const scrubbers = new WeakMap<object, { scrub?: Scrub }>()

const redactFormat = winston.format((info, opts: unknown) => {
  const scrub = (opts as { holder?: { scrub?: Scrub } }).holder?.scrub
  const clean = (v: unknown): unknown => {
    const r = redact(v)
    return scrub ? scrubDeep(r, scrub) : r
  }
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue
    ;(info as Record<string, unknown>)[key] = SECRET_KEY.test(key) ? '[REDACTED]' : clean(info[key])
  }
  info.message = clean(info.message) as string
  return info
})

/** From now on, `logger` also removes every configured secret value (see src/scrub.ts) from what it writes. */
export function useScrubber(logger: Logger, scrub: Scrub): void {
  const holder = scrubbers.get(logger)
  if (holder) holder.scrub = scrub
}

export type Logger = winston.Logger

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', stream?: NodeJS.WritableStream): Logger {
  const holder: { scrub?: Scrub } = {}
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(redactFormat({ holder }), winston.format.timestamp(), winston.format.json()),
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console()]
  })
  scrubbers.set(logger, holder)
  return logger
}
