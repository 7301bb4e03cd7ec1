import type { HookStore } from './store.ts'
import { SqliteHookStore } from './sqlite.ts'

/** Same DATABASE_URL as the queue (src/queue/open.ts), own connection: `sqlite:<path>` or `postgres://`. */
export async function openHookStore(databaseUrl: string, options: { schema?: string } = {}): Promise<HookStore> {
  let store: HookStore
  if (databaseUrl.startsWith('sqlite:')) {
    store = new SqliteHookStore(databaseUrl.slice('sqlite:'.length))
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { PostgresHookStore } = await import('./postgres.ts')
    store = new PostgresHookStore(databaseUrl, options)
  } else {
    throw new Error('DATABASE_URL must start with sqlite: or postgres://')
  }
  await store.init()
  return store
}
