import type { NotificationStore } from './store.ts'
import { SqliteNotificationStore } from './sqlite.ts'

/** Same DATABASE_URL as the queue (src/queue/open.ts), own connection: `sqlite:<path>` or `postgres://`. */
export async function openNotificationStore(databaseUrl: string, options: { schema?: string } = {}): Promise<NotificationStore> {
  let store: NotificationStore
  if (databaseUrl.startsWith('sqlite:')) {
    store = new SqliteNotificationStore(databaseUrl.slice('sqlite:'.length))
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { PostgresNotificationStore } = await import('./postgres.ts')
    store = new PostgresNotificationStore(databaseUrl, options)
  } else {
    throw new Error('DATABASE_URL must start with sqlite: or postgres://')
  }
  await store.init()
  return store
}
