import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../../src/queue/sqlite.ts'
import { storeContract } from './store.contract.ts'
import { groupCommitContract } from './group-commit.contract.ts'

storeContract(
  'sqlite',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-sqlite-'))
    const store = new SqliteStore(join(dir, 'bridge.sqlite'))
    await store.init()
    ;(store as any).dir = dir
    return store
  },
  async (store) => {
    await store.close()
    rmSync((store as any).dir, { recursive: true, force: true })
  },
  async (store) => {
    const peer = new SqliteStore(join((store as any).dir, 'bridge.sqlite'))
    await peer.init()
    return peer
  }
)

for (const writer of ['thread', 'inline'] as const) {
  groupCommitContract(
    `sqlite (${writer} writer)`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rb-sqlite-'))
      const store = new SqliteStore(join(dir, 'bridge.sqlite'), { writerThread: writer === 'thread' })
      await store.init()
      ;(store as any).dir = dir
      return store
    },
    async (store) => {
      await store.close()
      rmSync((store as any).dir, { recursive: true, force: true })
    }
  )
}
