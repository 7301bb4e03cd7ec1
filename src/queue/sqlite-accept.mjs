// The SQLite accept path: inbox + messages + jobs rows for one webhook, on a given connection. Plain JavaScript
// (typed by sqlite-accept.d.mts) because it also runs on the writer thread (sqlite-writer-thread.mjs), which
// starts in ~0.1 s as plain JS and in ~0.8 s with tsx's loader registered in it. SqliteStore uses the same
// functions on the HTTP thread (':memory:', SQLITE_WRITER=inline, requeue), so there is one accept path.

/** @type {WeakMap<object, Map<string, any>>} */
const cache = new WeakMap()
/** Prepared once per connection and SQL text: the hot path never re-parses SQL. */
function stmt(db, sql) {
  let byText = cache.get(db)
  if (!byText) cache.set(db, (byText = new Map()))
  let s = byText.get(sql)
  if (!s) byText.set(sql, (s = db.prepare(sql)))
  return s
}

const INSERT_INBOX = `INSERT INTO inbox (id, source, event_type, request_id, received_at, status, reason, payload, raw_body, headers)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
const INSERT_MESSAGE = `INSERT INTO messages (message_id, inbox_id, status, event, violations, body, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, violations = excluded.violations, body = excluded.body
  WHERE messages.status = 'quarantined'`
const INSERT_JOB = `INSERT INTO jobs (id, message_id, inbox_id, source, event, destination, status, attempts, priority,
                   next_attempt_at, created_at, updated_at, deadline_at)
  VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`

export function acceptWebhook(db, w) {
  const insertInbox = stmt(db, INSERT_INBOX)
  const result = { stored: [], duplicates: [] }
  // Every item of a webhook shares these; serialize them once, not per item.
  const headers = JSON.stringify(w.headers)
  for (const item of w.items) {
    const info = insertInbox.run(
      item.id, w.source, item.eventType, w.requestId, w.receivedAt, item.status, item.reason ?? null,
      JSON.stringify(item.payload), w.rawBody, headers
    )
    if (info.changes === 0) {
      result.duplicates.push(item.id)
      continue
    }
    result.stored.push(item.id)
    insertMessages(db, item.id, w.source, item.messages, w.receivedAt)
  }
  return result
}

export function insertMessages(db, inboxId, source, messages, now) {
  const insertMessage = stmt(db, INSERT_MESSAGE)
  const insertJob = stmt(db, INSERT_JOB)
  for (const m of messages) {
    const quarantined = !!m.violations?.length
    const event = m.message.type === 'track' ? m.message.event : m.message.type
    const info = insertMessage.run(
      m.message.messageId, inboxId, quarantined ? 'quarantined' : 'routed', event,
      JSON.stringify(m.violations ?? []), JSON.stringify(m.message), now
    )
    if (quarantined || info.changes === 0) continue
    for (const t of m.destinations) {
      insertJob.run(
        // The job id is jobIdOf(messageId, destination) from rows.ts: stable, so a redelivery is a no-op.
        `${m.message.messageId}:${t.destination}`, m.message.messageId, inboxId, source, event, t.destination,
        t.priority ?? 0, now, now, now, t.deadlineAt ?? null
      )
    }
  }
}

/**
 * Group commit: every webhook of the batch in one transaction (one fsync); if that fails, each on its own, so
 * one bad webhook fails alone. Returns once committed, one outcome per webhook.
 */
export function commitAccepts(db, webhooks) {
  try {
    const results = db.transaction(() => webhooks.map((w) => acceptWebhook(db, w))).immediate()
    return results.map((result) => ({ ok: true, result }))
  } catch {
    return webhooks.map((w) => {
      try {
        return { ok: true, result: db.transaction(() => acceptWebhook(db, w)).immediate() }
      } catch (err) {
        return { ok: false, message: err.message, code: err.code }
      }
    })
  }
}
