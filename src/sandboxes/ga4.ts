import express, { type Router } from 'express'
import { FaultSwitch } from './faults.ts'

/**
 * Google Analytics 4 Measurement Protocol sandbox.
 *
 * - `POST /mp/collect?measurement_id=G-…&api_secret=…` (developers.google.com/analytics/devguides/collection/
 *   protocol/ga4/sending-events): JSON `{client_id, user_id?, timestamp_micros?, user_properties?, events: [{name,
 *   params}]}`. "The Measurement Protocol does not return HTTP error codes, even if an event is malformed or
 *   missing required parameters" (…/ga4/validating-events): it answers 204 whatever it got, and silently drops
 *   what is invalid; so does this sandbox (`state.dropped` counts what a real property would never show).
 * - `POST /debug/mp/collect`: the validation server. 200 with `{validationMessages: [{fieldPath, description,
 *   validationCode}]}`, empty when valid; codes VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED,
 *   VALUE_OUT_OF_BOUNDS, EXCEEDED_MAX_ENTITIES, NAME_DUPLICATED. Events sent there are not recorded. Like
 *   Google's, it does not check api_secret.
 *
 * Limits (support.google.com/analytics/answer/9267744 "Event collection limits", and the Measurement Protocol
 * reference): ≤ 25 events per request; names start with a letter, then letters, digits, `_`, ≤ 40 characters;
 * ≤ 25 params per event, names ≤ 40, string values ≤ 100; ≤ 25 user properties, names ≤ 24, values ≤ 36;
 * user_id ≤ 256; reserved event names and the prefixes `_`, `firebase_`, `ga_`, `google_`, `gtag.`.
 * `purchase` with a `value` needs `currency` (GA4 event reference, "purchase": "currency is required if you set
 * value"); the real validation server may not flag it, this one does, so a function is caught before GA drops
 * the revenue.
 */
export interface Ga4Event {
  measurementId: string
  clientId: string
  userId?: string
  timestampMicros?: number
  name: string
  params: Record<string, unknown>
  userProperties?: Record<string, unknown>
}

export interface Ga4ValidationMessage {
  fieldPath: string
  description: string
  validationCode: 'VALUE_INVALID' | 'VALUE_REQUIRED' | 'NAME_INVALID' | 'NAME_RESERVED' | 'VALUE_OUT_OF_BOUNDS' | 'EXCEEDED_MAX_ENTITIES' | 'NAME_DUPLICATED'
}

export interface Ga4SandboxState {
  events: Ga4Event[]
  /** Requests (or events) a real property would silently drop: invalid payload, no measurement_id / api_secret. */
  dropped: number
  requests: number
}

const RESERVED_EVENT_NAMES = new Set([
  'ad_activeview', 'ad_click', 'ad_exposure', 'ad_impression', 'ad_query', 'ad_reward', 'adunit_exposure', 'app_background',
  'app_clear_data', 'app_exception', 'app_remove', 'app_store_refund', 'app_store_subscription_cancel',
  'app_store_subscription_convert', 'app_store_subscription_renew', 'app_update', 'app_upgrade', 'dynamic_link_app_open',
  'dynamic_link_app_update', 'dynamic_link_first_open', 'error', 'firebase_campaign', 'firebase_in_app_message_action',
  'firebase_in_app_message_dismiss', 'firebase_in_app_message_impression', 'first_open', 'first_visit', 'in_app_purchase',
  'notification_dismiss', 'notification_foreground', 'notification_open', 'notification_receive', 'os_update',
  'session_start', 'session_start_with_rollout', 'user_engagement'
])
const RESERVED_PREFIXES = ['_', 'firebase_', 'ga_', 'google_', 'gtag.']
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/

/** The validation server's answer for one request body; [] = valid. */
export function validateGa4Payload(body: unknown): Ga4ValidationMessage[] {
  const out: Ga4ValidationMessage[] = []
  const msg = (fieldPath: string, validationCode: Ga4ValidationMessage['validationCode'], description: string) => out.push({ fieldPath, description, validationCode })
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    msg('', 'VALUE_INVALID', 'Unable to parse Measurement Protocol JSON payload. The request body must be a JSON object.')
    return out
  }
  const b = body as Record<string, unknown>
  if (typeof b.client_id !== 'string' || b.client_id === '') {
    if (typeof b.app_instance_id !== 'string') msg('client_id', 'VALUE_REQUIRED', 'Measurement requires a client_id.')
  }
  if (b.user_id !== undefined && (typeof b.user_id !== 'string' || b.user_id.length > 256)) {
    msg('user_id', 'VALUE_INVALID', 'user_id must be a string of at most 256 characters.')
  }
  if (b.timestamp_micros !== undefined && !(typeof b.timestamp_micros === 'number' || /^\d+$/.test(String(b.timestamp_micros)))) {
    msg('timestamp_micros', 'VALUE_INVALID', 'timestamp_micros must be an integer number of microseconds since the epoch.')
  }
  const props = b.user_properties as Record<string, unknown> | undefined
  if (props !== undefined) {
    const entries = typeof props === 'object' && props ? Object.entries(props) : []
    if (entries.length > 25) msg('user_properties', 'EXCEEDED_MAX_ENTITIES', `A maximum of 25 user properties can be specified, got ${entries.length}.`)
    for (const [name, p] of entries) {
      if (!NAME_RE.test(name) || name.length > 24) msg(`user_properties.${name}`, 'NAME_INVALID', `User property name [${name}] is invalid. Names must start with an alphabetic character, contain only alphanumeric characters and underscores, and be at most 24 characters.`)
      const value = (p as { value?: unknown })?.value
      if (typeof value === 'string' && value.length > 36) msg(`user_properties.${name}.value`, 'VALUE_OUT_OF_BOUNDS', `User property [${name}] value is longer than 36 characters.`)
    }
  }
  if (!Array.isArray(b.events) || b.events.length === 0) {
    msg('events', 'VALUE_REQUIRED', 'Measurement requires at least one event.')
    return out
  }
  if (b.events.length > 25) msg('events', 'EXCEEDED_MAX_ENTITIES', `A maximum of 25 events can be specified per request, got ${b.events.length}.`)
  b.events.forEach((e: unknown, i: number) => {
    const ev = (e ?? {}) as { name?: unknown; params?: unknown }
    const at = `events[${i}]`
    const name = typeof ev.name === 'string' ? ev.name : ''
    if (!name) msg(`${at}.name`, 'VALUE_REQUIRED', `Event at index: [${i}] has no name.`)
    else if (!/^[A-Za-z]/.test(name)) msg('events', 'NAME_INVALID', `Event at index: [${i}] has invalid name [${name}]. Names must start with an alphabetic character.`)
    else if (!NAME_RE.test(name)) msg('events', 'NAME_INVALID', `Event at index: [${i}] has invalid name [${name}]. Only alphanumeric characters and underscores are allowed.`)
    else if (name.length > 40) msg('events', 'NAME_INVALID', `Event at index: [${i}] has invalid name [${name}]. Names must be at most 40 characters.`)
    else if (RESERVED_EVENT_NAMES.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p))) msg('events', 'NAME_RESERVED', `Event at index: [${i}] has name [${name}] which is reserved.`)
    if (ev.params === undefined) return
    if (!ev.params || typeof ev.params !== 'object' || Array.isArray(ev.params)) {
      msg(`${at}.params`, 'VALUE_INVALID', `Event at index: [${i}] has params that are not an object.`)
      return
    }
    const params = Object.entries(ev.params as Record<string, unknown>)
    if (params.length > 25) msg(`${at}.params`, 'EXCEEDED_MAX_ENTITIES', `Event at index: [${i}] has ${params.length} params; a maximum of 25 can be specified.`)
    for (const [pname, value] of params) {
      if (!NAME_RE.test(pname) || pname.length > 40) msg(`${at}.params.${pname}`, 'NAME_INVALID', `Event param [${pname}] has invalid name. Names must start with an alphabetic character, contain only alphanumeric characters and underscores, and be at most 40 characters.`)
      else if (RESERVED_PREFIXES.some((p) => pname.startsWith(p))) msg(`${at}.params.${pname}`, 'NAME_RESERVED', `Event param [${pname}] has a reserved prefix.`)
      if (typeof value === 'string' && value.length > 100) msg(`${at}.params.${pname}`, 'VALUE_OUT_OF_BOUNDS', `Event param [${pname}] value is longer than 100 characters.`)
      if (value !== null && typeof value === 'object' && pname !== 'items') msg(`${at}.params.${pname}`, 'VALUE_INVALID', `Event param [${pname}] must be a string or a number.`)
    }
    const p = ev.params as Record<string, unknown>
    if (name === 'purchase' || name === 'refund') {
      if (p.value !== undefined && typeof p.value !== 'number') msg(`${at}.params.value`, 'VALUE_INVALID', 'value must be a number.')
      if (p.value !== undefined && (typeof p.currency !== 'string' || !/^[A-Z]{3}$/.test(p.currency))) msg(`${at}.params.currency`, 'VALUE_REQUIRED', 'currency (ISO 4217, 3 letters) is required when value is set.')
      if (name === 'purchase' && (typeof p.transaction_id !== 'string' || p.transaction_id === '')) msg(`${at}.params.transaction_id`, 'VALUE_REQUIRED', 'purchase requires a transaction_id.')
    }
  })
  return out
}

export function createGa4Sandbox() {
  const state: Ga4SandboxState = { events: [], dropped: 0, requests: 0 }
  const faults = new FaultSwitch()
  const router: Router = express.Router()
  router.use(faults.router())
  router.use(faults.middleware(() => ''))

  const parse = (raw: Buffer): unknown => {
    try {
      return JSON.parse(raw.toString('utf8'))
    } catch {
      return undefined
    }
  }

  router.post('/debug/mp/collect', express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
    res.status(200).json({ validationMessages: validateGa4Payload(parse(req.body as Buffer)) })
  })

  router.post('/mp/collect', express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
    state.requests++
    const body = parse(req.body as Buffer)
    const measurementId = String(req.query.measurement_id ?? '')
    const problems = validateGa4Payload(body)
    if (!measurementId || !req.query.api_secret || problems.length) {
      state.dropped++
    } else {
      const b = body as { client_id: string; user_id?: string; timestamp_micros?: number; user_properties?: Record<string, unknown>; events: Array<{ name: string; params?: Record<string, unknown> }> }
      for (const e of b.events) {
        state.events.push({
          measurementId,
          clientId: b.client_id,
          ...(b.user_id !== undefined ? { userId: b.user_id } : {}),
          ...(b.timestamp_micros !== undefined ? { timestampMicros: Number(b.timestamp_micros) } : {}),
          name: e.name,
          params: e.params ?? {},
          ...(b.user_properties ? { userProperties: b.user_properties } : {})
        })
      }
    }
    res.status(204).end()
  })

  router.get('/_sandbox/events', (_req, res) => {
    res.json({ requests: state.requests, dropped: state.dropped, events: state.events })
  })

  return { router, state, faults }
}
