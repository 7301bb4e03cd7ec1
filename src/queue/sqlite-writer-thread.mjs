// The SQLite writer thread (started by sqlite-writer.ts): its own connection to the file the HTTP thread opened
// (schema already in place, same pragmas), committing each batch of webhooks it is sent in one transaction and
// answering only after that commit returned. Plain JavaScript so the thread starts without a TypeScript loader.
import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'
import { commitAccepts } from './sqlite-accept.mjs'

const db = new Database(workerData.path)
db.pragma('journal_mode = WAL')
db.pragma(`synchronous = ${workerData.synchronous}`)
db.pragma('busy_timeout = 5000')

parentPort.on('message', (msg) => {
  if (msg.close) {
    db.close()
    parentPort.close()
    return
  }
  parentPort.postMessage({ outcomes: commitAccepts(db, msg.webhooks) })
})
parentPort.postMessage({ ready: true })
