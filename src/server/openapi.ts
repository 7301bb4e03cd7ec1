import type { Source } from '../sources/types.ts'

const error = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string', description: 'Machine-readable reason' }, message: { type: 'string' } }
}
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })

/** OpenAPI 3.1 description of the bridge's own HTTP API, one webhook path per source with its payload schema. */
export function openApiDocument(sources: Map<string, Source>, version: string): Record<string, any> {
  const paths: Record<string, any> = {}
  for (const s of sources.values()) {
    paths[`/webhooks/${s.name}`] = {
      post: {
        tags: ['webhooks'],
        operationId: `webhook_${s.name.replace(/\W/g, '_')}`,
        summary: `Receive a ${s.name} webhook`,
        description: `Authentication: ${s.authScheme}${s.sharedSecretOnly ? ' (weaker than a signature: keep the URL secret).' : '.'} Secret from ${s.secretEnv.join(' or ')}. Answers exactly 200 once committed; a redelivery also gets 200 and creates no new work.`,
        requestBody: { required: true, content: Object.fromEntries(s.contentTypes.map((t) => [t, { schema: s.payloadSchema }])) },
        responses: {
          200: { description: 'Committed (or already committed)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
          400: errorResponse('Body is not valid JSON / form data'),
          401: errorResponse('Signature or shared secret missing or wrong'),
          413: errorResponse('Body larger than WEBHOOK_BODY_LIMIT'),
          415: errorResponse('Content type the platform does not send'),
          422: errorResponse('Payload does not match the platform schema; `errors[].pointer` names the fields'),
          501: errorResponse('A callback whose answer is a business decision; not routed'),
          503: errorResponse('Source secret not configured, or the store is unavailable; the platform should retry')
        }
      }
    }
  }
  /** Every admin operation: bearer BRIDGE_ADMIN_TOKEN, checked before the body is read. */
  const adminRefusals = {
    401: errorResponse('`unauthorized`: missing or wrong bearer token (with `WWW-Authenticate: Bearer`)'),
    503: errorResponse('`admin_disabled`: BRIDGE_ADMIN_TOKEN is not set, so the admin API is closed')
  }
  const admin = (summary: string, extra: { responses?: Record<string, unknown>; [k: string]: unknown } = {}) => ({
    tags: ['admin'],
    summary,
    security: [{ bearer: [] }],
    ...extra,
    responses: { ...(extra.responses ?? {}), ...adminRefusals }
  })
  const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } })
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
  const sinceParam = (description: string) => ({ name: 'since', in: 'query', required: false, description, schema: { type: 'string', examples: ['7d', '12h', '30m', '2026-11-01T00:00:00Z'] } })
  const filterParams = ['destination', 'source', 'event', 'since', 'error', 'limit'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } }))
  Object.assign(paths, {
    '/healthz': {
      get: {
        tags: ['operate'],
        summary: 'Ready for webhooks? (store reachable, not starting or stopping)',
        description: 'No credentials. `sandboxed` names the destinations without credentials, delivering to the loopback vendor sandboxes: it should be empty in production.',
        responses: {
          200: json(ref('Health'), 'ready'),
          503: errorResponse('`not_accepting`: starting or shutting down; `store_unreachable`: the store did not answer')
        }
      }
    },
    '/metrics': {
      get: {
        tags: ['operate'],
        summary: 'Prometheus metrics',
        description: 'Public unless METRICS_TOKEN is set; then `Authorization: Bearer <METRICS_TOKEN>` is required.',
        security: [{}, { metricsToken: [] }],
        responses: {
          200: { description: 'Prometheus text format (text/plain; version=0.0.4)', content: { 'text/plain': { schema: { type: 'string' } } } },
          401: errorResponse('`unauthorized`: METRICS_TOKEN is set and the bearer token is missing or wrong (with `WWW-Authenticate: Bearer`)')
        }
      }
    },
    '/openapi.json': { get: { tags: ['operate'], summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    '/admin/stats': { get: admin('Jobs per destination and status, age of the oldest waiting job, inbox counts', { responses: { 200: { description: 'queue statistics' } } }) },
    '/console/': { get: { tags: ['operate'], summary: 'The operator console (static page over the admin API; asks for the admin token)', responses: { 200: { description: 'text/html', content: { 'text/html': { schema: { type: 'string' } } } } } } },
    '/admin/dlq': { get: admin('List dead-lettered jobs', { parameters: filterParams, responses: { 200: { description: 'jobs' } } }) },
    '/admin/dlq/replay': {
      post: admin('Replay dead jobs by id or filter (original ids kept, so destinations dedupe)', {
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { ids: { type: 'array', items: { type: 'string' } }, filter: { type: 'object' } } } } } },
        responses: { 200: { description: '{matched, replayed}' }, 400: errorResponse('neither ids nor filter') }
      })
    },
    '/admin/events/{id}': {
      get: admin('A webhook with its raw body, normalized messages, jobs and every delivery attempt (any of inbox, message or job id)', {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'event detail' }, 404: errorResponse('unknown id') }
      })
    },
    '/admin/webhooks': {
      get: admin('Search the webhook history: by source, time window, an email the messages carry, or any id', {
        description:
          'Built from the messages stored in the window, newest webhook first: a webhook that produced no message (stored but ignored) is only found by its id. `id` (inbox, message or job id) ignores the other filters.',
        parameters: [
          { name: 'source', in: 'query', required: false, description: 'Source name, e.g. referralcandy (case-insensitive)', schema: { type: 'string' } },
          sinceParam('Window start: 7d, 12h, 30m ago or an ISO date (default 7d)'),
          { name: 'email', in: 'query', required: false, description: 'Part of an email address in the user id, properties or traits (case-insensitive)', schema: { type: 'string' } },
          { name: 'id', in: 'query', required: false, description: 'An inbox, message or job id: answers that one webhook (or none)', schema: { type: 'string' } },
          { name: 'limit', in: 'query', required: false, description: 'At most this many webhooks (1-500, default 50)', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } }
        ],
        responses: {
          200: json({ type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: ref('WebhookSummary') } } }, '{webhooks}, newest first'),
          400: errorResponse('`invalid_request`: since is not 7d, 12h, 30m or an ISO date')
        }
      })
    },
    '/admin/plan': {
      get: admin('The tracking plan catalogue: every event with its versions, producers, consumers and recent counts', {
        parameters: [sinceParam('Window the recent counts cover: 7d, 12h, 30m ago or an ISO date (default 7d)')],
        responses: {
          200: json(ref('PlanCatalogue'), 'the catalogue of the running plan'),
          400: errorResponse('`invalid_request`: since is not 7d, 12h, 30m or an ISO date')
        }
      })
    },
    '/admin/plan/preview': {
      post: admin('Check a proposed plan file: lint, diff against the running plan, preview over recently stored messages', {
        description:
          'The file takes the place of its namesake (from its `event:` / `identify:` name) in a temporary copy of the plan directory; nothing is written. With lint errors, `diff` and `preview` are left out. Body limit 256kb.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['yaml'],
                properties: {
                  yaml: { type: 'string', description: 'The content of one plan file (events/<name>.yaml or identify/<name>.yaml)' },
                  since: { type: 'string', description: 'Window the preview re-validates: 7d, 12h, 30m ago or an ISO date (default 7d)' }
                }
              }
            }
          }
        },
        responses: {
          200: json(ref('PlanProposal'), 'lint, diff and preview of the proposed file'),
          400: errorResponse('`invalid_request`: no non-empty `yaml` string, or a bad `since`'),
          413: errorResponse('`payload_too_large`: body over 256kb'),
          422: errorResponse('`not_a_plan_file`: the YAML names no event (`event: <Name>` or `identify: <Name>`)')
        }
      })
    },
    '/admin/plan/reload': {
      post: admin('Reload the tracking plan from its directory (as SIGHUP does); a plan that does not lint is not loaded', {
        responses: {
          200: json(
            {
              type: 'object',
              required: ['ok', 'changed', 'previous', 'running'],
              properties: {
                ok: { const: true },
                changed: { type: 'boolean', description: 'false: the files are unchanged' },
                previous: { type: 'string', description: 'Fingerprint before the reload' },
                running: { type: 'string', description: 'Fingerprint now running' }
              }
            },
            'reloaded (or unchanged)'
          ),
          422: json(
            {
              type: 'object',
              required: ['error', 'message', 'running', 'errors'],
              properties: {
                error: { const: 'invalid_plan' },
                message: { type: 'string' },
                running: { type: 'string', description: 'Fingerprint still running' },
                errors: { type: 'array', items: { type: 'string' }, description: '`file:line: message` lint errors' }
              }
            },
            '`invalid_plan`: the files do not lint; the running plan stays'
          )
        }
      })
    },
    '/admin/quarantine': { get: admin('Quarantined items and their reasons', { parameters: filterParams.slice(1, 3), responses: { 200: { description: 'items' } } }) },
    '/api/reports/advocates': {
      get: admin('Advocates ranked by closed-won Salesforce revenue: referrals, leads, opportunities, won, win rate, revenue per currency', {
        tags: ['reports'],
        parameters: [
          { name: 'since', in: 'query', description: '7d, 12h, 30m or an ISO date', schema: { type: 'string' } },
          { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'] } },
          { name: 'currency', in: 'query', description: 'ISO-4217 currency to rank by', schema: { type: 'string' } },
          { name: 'convert', in: 'query', description: 'use convertCurrency() where the org supports it', schema: { type: 'boolean' } }
        ],
        responses: {
          200: { description: 'report (JSON or CSV)' },
          400: errorResponse('bad since/format'),
          502: { description: '`salesforce_error`: Salesforce refused the query; `code` is its error code', content: { 'application/json': { schema: { allOf: [ref('Error')], properties: { code: { type: 'string' } } } } } }
        }
      })
    },
    '/api/advocates/{id}/notifications': {
      get: {
        tags: ['notifications'],
        summary: "An advocate's in-app notifications, newest first",
        security: [{ appKey: [] }],
        parameters: [
          { name: 'id', in: 'path', required: true, description: 'Advocate id (URL-encoded email)', schema: { type: 'string' } },
          { name: 'unread', in: 'query', schema: { type: 'string', enum: ['1'] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 200 } },
          { name: 'before', in: 'query', description: 'Cursor: a notification id', schema: { type: 'string' } }
        ],
        responses: { 200: { description: '{notifications, unread}' }, 401: errorResponse('missing/wrong app API key'), 503: errorResponse('BRIDGE_APP_API_KEY not set') }
      }
    },
    '/api/advocates/{id}/notifications/read': {
      post: {
        tags: ['notifications'],
        summary: 'Mark notifications read',
        security: [{ appKey: [] }],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { ids: { type: 'array', items: { type: 'string' } }, all: { type: 'boolean' } } } } } },
        responses: { 200: { description: '{updated}' }, 400: errorResponse('neither ids nor all') }
      }
    },
    '/api/advocates/{id}/notifications/stream': {
      get: {
        tags: ['notifications'],
        summary: 'Server-sent events: `event: notification` per new notification; resumes from Last-Event-ID',
        security: [{ appKey: [] }],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } }
      }
    },
    '/api/hooks': {
      post: {
        tags: ['hooks'],
        summary: 'REST Hook subscribe (Zapier / Make): POST the Segment message of each new `event` to `target_url`, signed with Standard Webhooks headers; a 410 answer unsubscribes',
        security: [{ hooksKey: [] }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['target_url', 'event'],
                properties: { target_url: { type: 'string', format: 'uri' }, event: { type: 'string', description: 'A track event of the tracking plan, e.g. Referral Created' } }
              }
            }
          }
        },
        responses: {
          201: { description: '{id, event, target_url, created_at}' },
          400: errorResponse('body, target_url or event malformed'),
          401: errorResponse('missing/wrong hooks API key'),
          422: errorResponse('event is not a track event of the tracking plan'),
          503: errorResponse('BRIDGE_HOOKS_API_KEY not set')
        }
      }
    },
    '/api/hooks/{id}': {
      delete: {
        tags: ['hooks'],
        summary: 'REST Hook unsubscribe',
        security: [{ hooksKey: [] }],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: '{id, deleted: true}' }, 401: errorResponse('missing/wrong hooks API key'), 404: errorResponse('no such subscription') }
      }
    },
    '/api/hooks/sample': {
      get: {
        tags: ['hooks'],
        summary: "Zapier's perform list: the most recent messages of `event`, newest first (the same shape deliveries have)",
        security: [{ hooksKey: [] }],
        parameters: [
          { name: 'event', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 } }
        ],
        responses: { 200: { description: 'array of Segment messages' }, 400: errorResponse('event or limit missing/malformed'), 422: errorResponse('event is not a track event of the tracking plan') }
      }
    },
    '/admin/quarantine/replay': { post: admin('Re-normalize quarantined items with the current plan and adapters', { responses: { 200: { description: 'summary' } } }) }
  })
  return {
    openapi: '3.1.0',
    info: {
      title: 'referral-bridge',
      version,
      description: 'Referral-program webhooks in; Segment Spec messages out, delivered to Segment and CRMs exactly once in effect.'
    },
    servers: [{ url: 'http://localhost:3000' }],
    tags: [{ name: 'webhooks' }, { name: 'admin' }, { name: 'reports' }, { name: 'notifications' }, { name: 'hooks' }, { name: 'operate' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'BRIDGE_ADMIN_TOKEN' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (only when set)' },
        appKey: { type: 'http', scheme: 'bearer', description: 'BRIDGE_APP_API_KEY (or the X-Api-Key header)' },
        hooksKey: { type: 'http', scheme: 'bearer', description: 'BRIDGE_HOOKS_API_KEY' }
      },
      schemas: {
        Error: error,
        Health: {
          type: 'object',
          required: ['status', 'store', 'sandboxed'],
          properties: {
            status: { const: 'ok' },
            store: { type: 'string', enum: ['sqlite', 'postgres'] },
            sandboxed: { type: 'array', items: { type: 'string' }, description: 'Destinations delivering to a vendor sandbox (no credentials set)' }
          }
        },
        WebhookSummary: {
          type: 'object',
          required: ['inboxId', 'source', 'eventType', 'receivedAt', 'status', 'messages', 'people'],
          properties: {
            inboxId: { type: 'string' },
            source: { type: 'string' },
            eventType: { type: 'string' },
            receivedAt: { type: 'integer', description: 'Unix milliseconds' },
            status: { type: 'string' },
            messages: {
              type: 'array',
              items: { type: 'object', required: ['messageId', 'event', 'status'], properties: { messageId: { type: 'string' }, event: { type: 'string', description: 'Track event name, or identify' }, status: { type: 'string' } } }
            },
            people: { type: 'array', items: { type: 'string' }, description: 'Email addresses the messages carry, lowercased' }
          }
        },
        PlanCatalogue: {
          type: 'object',
          required: ['fingerprint', 'since', 'examined', 'entries', 'unknownProducers', 'idleDestinations'],
          properties: {
            fingerprint: { type: 'string', description: 'Version of the running plan' },
            since: { type: 'integer', description: 'Window start, Unix milliseconds' },
            examined: { type: 'integer', description: 'Recent messages counted (at most 20000)' },
            entries: {
              type: 'array',
              items: {
                type: 'object',
                required: ['kind', 'name', 'description', 'file', 'versions', 'producers', 'consumers', 'recent', 'quarantinedBy'],
                properties: {
                  kind: { type: 'string', enum: ['track', 'identify'] },
                  name: { type: 'string' },
                  description: { type: 'string' },
                  owner: { type: 'string' },
                  file: { type: 'string' },
                  currentVersion: { type: 'integer' },
                  versions: { type: 'array', items: { type: 'object', properties: { version: { type: 'integer' }, status: { type: 'string' }, properties: { type: 'array', items: { type: 'object' } } } } },
                  producers: { type: 'array', items: { type: 'object' }, description: 'Sources that produce it' },
                  consumers: { type: 'array', items: { type: 'string' }, description: 'Destinations that accept it' },
                  recent: { type: 'object', properties: { routed: { type: 'integer' }, quarantined: { type: 'integer' }, other: { type: 'integer' } } },
                  quarantinedBy: { type: 'array', items: { type: 'object', properties: { reason: { type: 'string' }, count: { type: 'integer' } } } }
                }
              }
            },
            unknownProducers: { type: 'array', items: { type: 'string' } },
            idleDestinations: { type: 'array', items: { type: 'string' } }
          }
        },
        PlanProposal: {
          type: 'object',
          required: ['path', 'lint', 'errors'],
          properties: {
            path: { type: 'string', description: 'Where the file would go, e.g. events/referral-created.yaml' },
            lint: { type: 'array', items: { type: 'string' }, description: '`file:line: message` (errors and warnings)' },
            errors: { type: 'integer', description: 'Lint errors; with errors, diff and preview are absent' },
            diff: {
              type: 'object',
              description: 'plan diff against the running plan',
              properties: {
                ok: { type: 'boolean' },
                summary: { type: 'object', properties: { addition: { type: 'integer' }, revision: { type: 'integer' }, breaking: { type: 'integer' }, failures: { type: 'integer' } } },
                entries: { type: 'array', items: { type: 'object' } }
              }
            },
            preview: {
              type: 'object',
              description: 'plan preview: recently stored messages re-validated against the proposed plan',
              properties: {
                since: { type: 'integer' },
                examined: { type: 'integer' },
                newlyFailing: { type: 'integer' },
                nowPassing: { type: 'integer' },
                stillFailing: { type: 'integer' },
                truncated: { type: 'boolean' },
                events: { type: 'array', items: { type: 'object' } },
                newReasons: { type: 'array', items: { type: 'object' } },
                stillReasons: { type: 'array', items: { type: 'object' } }
              }
            }
          }
        },
        Accepted: {
          type: 'object',
          properties: { ok: { const: true }, stored: { type: 'integer' }, duplicates: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } } }
        }
      }
    }
  }
}
