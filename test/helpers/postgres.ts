import pg from 'pg'

/** The PostgreSQL the suites run against: DATABASE_URL when it is one, else TEST_DATABASE_URL, else the local server. */
export const postgresUrl = process.env.DATABASE_URL?.startsWith('postgres')
  ? process.env.DATABASE_URL
  : process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'

/** host:port only: messages must never show the user or password of the URL. */
export function postgresAddress(connectionString = postgresUrl): string {
  try {
    const u = new URL(connectionString)
    return `${u.searchParams.get('host') || u.hostname || 'localhost'}:${u.port || '5432'}`
  } catch {
    return 'the configured address'
  }
}

/**
 * Skips only when nothing answers. A server that answers but refuses us (auth, missing database) is a broken
 * setup, not an absent one: the suite then runs and fails with the server's error.
 */
export async function probePostgres(connectionString = postgresUrl): Promise<{ reachable: true } | { reachable: false; reason: string }> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return { reachable: true }
  } catch (err) {
    if (err instanceof pg.DatabaseError) return { reachable: true }
    return { reachable: false, reason: (err as { code?: string }).code ?? 'no answer' }
  } finally {
    await client.end().catch(() => {})
  }
}
