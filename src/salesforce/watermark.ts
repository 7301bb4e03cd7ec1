import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/**
 * Where the reconciliation remembers how far it got (the largest `LastModifiedDate` it committed).
 *
 * - SQLite deployments (`DATABASE_URL=sqlite:<path>`): a JSON file next to the database,
 *   `<dir>/salesforce-reconcile.json` (`./data/salesforce-reconcile.json` by default), written atomically
 *   (write + rename). One bridge host, one file.
 * - PostgreSQL deployments: a row in `referral_bridge_kv` (created IF NOT EXISTS), so any instance can run the
 *   reconciliation and they share the watermark.
 *
 * Losing the watermark is harmless: the next run starts from the beginning (or `--since`) and the store dedupes
 * every opportunity it already has.
 */
export interface Watermark {
  readonly describe: string
  get(): Promise<number | undefined>
  set(ms: number): Promise<void>
  close(): Promise<void>
}

export const WATERMARK_KEY = 'salesforce.reconcile.watermark'

export function fileWatermark(file: string): Watermark {
  const read = (): Record<string, unknown> => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    } catch {
      return {}
    }
  }
  return {
    describe: file,
    async get() {
      const v = read().lastModifiedDate
      const ms = typeof v === 'string' ? Date.parse(v) : NaN
      return Number.isFinite(ms) ? ms : undefined
    },
    async set(ms) {
      mkdirSync(dirname(file), { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify({ lastModifiedDate: new Date(ms).toISOString(), updatedAt: new Date().toISOString() }, null, 2) + '\n')
      renameSync(tmp, file)
    },
    async close() {}
  }
}

export async function postgresWatermark(databaseUrl: string, key = WATERMARK_KEY): Promise<Watermark> {
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  await pool.query('CREATE TABLE IF NOT EXISTS referral_bridge_kv (key text PRIMARY KEY, value text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())')
  return {
    describe: `postgres table referral_bridge_kv, key ${key}`,
    async get() {
      const { rows } = await pool.query<{ value: string }>('SELECT value FROM referral_bridge_kv WHERE key = $1', [key])
      const ms = rows[0] ? Date.parse(rows[0].value) : NaN
      return Number.isFinite(ms) ? ms : undefined
    },
    async set(ms) {
      // Never moves backwards, even with two reconciliations racing.
      await pool.query(
        `INSERT INTO referral_bridge_kv (key, value, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now() WHERE referral_bridge_kv.value < EXCLUDED.value`,
        [key, new Date(ms).toISOString()]
      )
    },
    close: () => pool.end()
  }
}

/** The watermark that goes with DATABASE_URL. */
export async function watermarkFor(databaseUrl: string): Promise<Watermark> {
  if (databaseUrl.startsWith('sqlite:')) return fileWatermark(join(dirname(resolve(databaseUrl.slice('sqlite:'.length))), 'salesforce-reconcile.json'))
  return postgresWatermark(databaseUrl)
}
