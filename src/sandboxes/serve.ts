import express, { type Router } from 'express'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

/** Runs one sandbox router on its own loopback port (tests and benchmarks); `npm start` mounts them instead. */
export async function serveSandbox(router: Router, port = 0): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const app = express()
  app.use(router)
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s))
  })
  const { port: actual } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${actual}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
