import type Database from 'better-sqlite3'
import type { AcceptResult, NewMessage, WebhookToAccept } from './store.ts'

/** What the group commit answers for one webhook of a batch: its result, or why that webhook alone failed. */
export type AcceptOutcome = { ok: true; result: AcceptResult } | { ok: false; message: string; code?: string }

export function acceptWebhook(db: Database.Database, webhook: WebhookToAccept): AcceptResult
export function insertMessages(db: Database.Database, inboxId: string, source: string, messages: NewMessage[], now: number): void
export function commitAccepts(db: Database.Database, webhooks: WebhookToAccept[]): AcceptOutcome[]
