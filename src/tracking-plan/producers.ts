import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { PlanEntry } from './plan.ts'

/**
 * Which source emits which plan event, and which properties it fills: derived by running every source's own
 * `items()` + `normalize()` over its recorded vendor samples (test/fixtures/<source>/*.json, the documented
 * payloads the source tests use). The result is checked in (src/generated/producers.json) and kept current by
 * `referral-bridge plan producers --check` (and a test), so the console and `plan lint` read it without the
 * fixtures being deployed. A source without samples is listed with `samples: 0`: its producers are unknown, not
 * absent.
 *
 * Only the shape of a source is needed here (structural type), so the tracking plan does not import the sources.
 */
export interface ProducingSource {
  name: string
  parse?(request: SampleRequest): unknown
  items(payload: any, request: SampleRequest): Array<{ key: string; eventType: string; payload: unknown }>
  normalize(item: { key: string; eventType: string; payload: unknown }): Array<{ type: string; event?: string; properties?: object; traits?: object }>
}

export interface SampleRequest {
  rawBody: Buffer
  headers: Record<string, string | undefined>
  query: Record<string, string | undefined>
  receivedAt: Date
}

export interface Producer {
  source: string
  /** Platform event names (the mapping) that yield this plan event. */
  eventTypes: string[]
  /** Properties (traits for identify) this source filled in at least one sample. */
  properties: string[]
}

export interface ProducerMap {
  generatedBy: string
  /** Per source: how many samples were run, and the ones that could not be (with the reason). */
  sources: Record<string, { samples: number; failed: string[] }>
  /** Keyed by event name; identify calls under "identify". */
  events: Record<string, Producer[]>
}

/** Fixture folder names that differ from the source name. */
const FIXTURE_DIRS: Record<string, string> = { standard: 'standard-webhooks' }

/**
 * Requests as the platform sends them, for sources whose samples are only the JSON payload: Shopify names the topic
 * in a header (shopify.dev/docs/apps/build/webhooks, "X-Shopify-Topic"); Talkable's legacy webhooks post a form whose
 * `payload` field carries the JSON and `type` the hook name (talkable-docs source/web_hooks, test/fixtures/talkable/README.md).
 */
const SAMPLE_REQUESTS: Record<string, (file: string, body: Buffer) => Pick<SampleRequest, 'rawBody' | 'headers'>> = {
  shopify: (file, body) => ({ rawBody: body, headers: { 'content-type': 'application/json', 'x-shopify-topic': file.startsWith('customers-') ? 'customers/create' : 'orders/create' } }),
  talkable: (file, body) => ({
    rawBody: Buffer.from(new URLSearchParams({ site: 'example', type: `${file.replace(/\.json$/, '').replace(/-/g, '_')}_web_hook`, extras: '{}', payload: body.toString() }).toString()),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
}

export function collectProducers(sources: Iterable<ProducingSource>, fixturesDir: string): ProducerMap {
  const map: ProducerMap = { generatedBy: 'referral-bridge plan producers (from test/fixtures)', sources: {}, events: {} }
  const found = new Map<string, Map<string, { eventTypes: Set<string>; properties: Set<string> }>>()
  for (const source of [...sources].sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(fixturesDir, FIXTURE_DIRS[source.name] ?? source.name)
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []
    const info = { samples: 0, failed: [] as string[] }
    map.sources[source.name] = info
    for (const file of files) {
      const body = readFileSync(join(dir, file))
      const shaped = SAMPLE_REQUESTS[source.name]?.(file, body) ?? { rawBody: body, headers: { 'content-type': 'application/json' } }
      const request: SampleRequest = { ...shaped, query: {}, receivedAt: new Date('2026-01-01T00:00:00Z') }
      try {
        const payload = source.parse ? source.parse(request) : JSON.parse(body.toString())
        for (const item of source.items(payload, request)) {
          for (const draft of source.normalize(item)) {
            const event = draft.type === 'track' ? String(draft.event) : 'identify'
            const bySource = found.get(event) ?? new Map()
            found.set(event, bySource)
            const entry = bySource.get(source.name) ?? { eventTypes: new Set<string>(), properties: new Set<string>() }
            bySource.set(source.name, entry)
            entry.eventTypes.add(item.eventType)
            for (const key of Object.keys((draft.type === 'track' ? draft.properties : draft.traits) ?? {})) entry.properties.add(key)
          }
        }
        info.samples++
      } catch (err) {
        info.failed.push(`${file}: ${(err as Error).message.split('\n')[0]}`)
      }
    }
  }
  for (const event of [...found.keys()].sort()) {
    map.events[event] = [...found.get(event)!].map(([source, e]) => ({ source, eventTypes: [...e.eventTypes].sort(), properties: [...e.properties].sort() }))
  }
  return map
}

export const PRODUCERS_PATH = 'src/generated/producers.json'

export function readProducers(path = new URL('../generated/producers.json', import.meta.url)): ProducerMap | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ProducerMap
  } catch {
    return undefined
  }
}

export function producersOf(map: ProducerMap | undefined, entry: Pick<PlanEntry, 'kind' | 'name'>): Producer[] {
  return map?.events[entry.kind === 'track' ? entry.name : 'identify'] ?? []
}

export interface CoverageIssue {
  file: string
  name: string
  message: string
}

/**
 * `plan lint` coverage warnings: an event no source emits, and a property of the current version that no source
 * fills. Sources without samples cannot be judged, so they are named in the message instead of assumed silent.
 */
export function coverageIssues(entries: PlanEntry[], map: ProducerMap): CoverageIssue[] {
  const issues: CoverageIssue[] = []
  const unknown = Object.entries(map.sources).filter(([, s]) => !s.samples).map(([name]) => name)
  const caveat = unknown.length ? ` (sources without samples, not checked: ${unknown.join(', ')})` : ''
  for (const entry of entries) {
    const producers = producersOf(map, entry)
    if (!producers.length) {
      issues.push({ file: entry.file, name: entry.name, message: `no source emits "${entry.name}" in any sample${caveat}` })
      continue
    }
    const live = entry.versions.filter((v) => v.status !== 'retired').at(-1)
    const props = (entry.kind === 'track' ? live?.properties : live?.traits) ?? {}
    const filled = new Set(producers.flatMap((p) => p.properties))
    for (const name of Object.keys(props)) {
      if (!filled.has(name)) issues.push({ file: entry.file, name: entry.name, message: `no source fills "${entry.name}" property "${name}" in any sample (producers: ${producers.map((p) => p.source).join(', ')})${caveat}` })
    }
  }
  return issues
}
