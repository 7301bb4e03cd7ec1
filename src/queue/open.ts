import type { Store } from './store.ts'
import { SqliteStore } from './sqlite.ts'

/** DATABASE_URL picks the backend: `sqlite:<path>` (embedded default) or `postgres://` (several instances). */
export async function openStore(databaseUrl: string): Promise<Store> {
  let store: Store
  if (databaseUrl.startsWith('sqlite:')) {
    store = new SqliteStore(databaseUrl.slice('sqlite:'.length))
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { PostgresStore } = await import('./postgres.ts')
    store = new PostgresStore(databaseUrl)
  } else {
    throw new Error('DATABASE_URL must start with sqlite: or postgres://')
  }
  await store.init()
  return store
}
