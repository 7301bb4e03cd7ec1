// Baseline for the ack benchmark: the least an Express webhook handler can do — read the body, parse the JSON,
// answer 200. Same framework, same body parser, same machine; no verification, no storage.
import express from 'express'

const app = express()
app.post('/webhooks/:source', express.raw({ type: () => true, limit: '512kb' }), (req, res) => {
  JSON.parse((req.body as Buffer).toString('utf8'))
  res.status(200).json({ ok: true })
})
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
