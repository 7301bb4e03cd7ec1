import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteHookStore } from '../../src/hooks/sqlite.ts'
import { SqliteStore } from '../../src/queue/sqlite.ts'
import { hookStoreContract } from './store.contract.ts'

hookStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-hooks-'))
  const path = join(dir, 'bridge.sqlite')
  const queue = new SqliteStore(path, { writerThread: false })
  await queue.init()
  const hooks = new SqliteHookStore(path)
  await hooks.init()
  return {
    hooks,
    queue,
    close: async () => {
      await hooks.close()
      await queue.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
})
