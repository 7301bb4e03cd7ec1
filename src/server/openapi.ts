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
  const admin = (summary: string, extra: object = {}) => ({ tags: ['admin'], summary, security: [{ bearer: [] }], ...extra })
  const filterParams = ['destination', 'source', 'event', 'since', 'error', 'limit'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } }))
  Object.assign(paths, {
    '/healthz': { get: { tags: ['operate'], summary: 'Store reachable?', responses: { 200: { description: 'ok' }, 503: errorResponse('store unreachable') } } },
    '/metrics': { get: { tags: ['operate'], summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { tags: ['operate'], summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    '/admin/stats': { get: admin('Jobs per destination and status, age of the oldest waiting job, inbox counts', { responses: { 200: { description: 'queue statistics' }, 401: errorResponse('missing/wrong bearer token') } }) },
    '/console/': { get: { tags: ['operate'], summary: 'The operator console (static page over the admin API; asks for the admin token)', responses: { 200: { description: 'text/html', content: { 'text/html': { schema: { type: 'string' } } } } } } },
    '/admin/dlq': { get: admin('List dead-lettered jobs', { parameters: filterParams, responses: { 200: { description: 'jobs' }, 401: errorResponse('missing/wrong bearer token') } }) },
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
        responses: { 200: { description: 'report (JSON or CSV)' }, 400: errorResponse('bad since/format'), 401: errorResponse('missing/wrong bearer token') }
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
        appKey: { type: 'http', scheme: 'bearer', description: 'BRIDGE_APP_API_KEY (or the X-Api-Key header)' },
        hooksKey: { type: 'http', scheme: 'bearer', description: 'BRIDGE_HOOKS_API_KEY' }
      },
      schemas: {
        Error: error,
        Accepted: {
          type: 'object',
          properties: { ok: { const: true }, stored: { type: 'integer' }, duplicates: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } } }
        }
      }
    }
  }
}
