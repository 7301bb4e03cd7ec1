import type { Message } from '../messages.ts'
import type { MessageRow } from '../queue/store.ts'
import type { PlanEntry, PlanProperty } from './plan.ts'
import { exampleMessage } from './examples.ts'
import { producersOf, type Producer, type ProducerMap } from './producers.ts'

/**
 * The tracking plan as the console shows it: every event and trait set with all its versions (deprecated and
 * retired ones too), who produces it (sources, from the producer map), who consumes it (destinations whose
 * `accepts()` takes the example message of the current version), and what recent traffic did with it.
 */
export interface CatalogueProperty {
  name: string
  type: string
  required: boolean
  description: string
  enum?: unknown[]
  /** Sources that filled this property in their samples. */
  filledBy: string[]
}

export interface CatalogueEntry {
  kind: 'track' | 'identify'
  name: string
  description: string
  owner?: string
  file: string
  currentVersion?: number
  versions: Array<{ version: number; status: string; properties: CatalogueProperty[] }>
  producers: Producer[]
  consumers: string[]
  recent: { routed: number; quarantined: number; other: number }
  /** Quarantined recent messages per reason (the rule that held them back). */
  quarantinedBy: Array<{ reason: string; count: number }>
}

export interface Catalogue {
  fingerprint: string
  since: number
  /** Recent messages examined for the counts (capped). */
  examined: number
  entries: CatalogueEntry[]
  /** Sources whose producers are unknown (no samples). */
  unknownProducers: string[]
  /** Destinations whose subscription matches no event of the plan (a typo in a filter, or a removed event). */
  idleDestinations: string[]
}

export interface Consumer {
  name: string
  accepts(message: Message): boolean
}

export function buildCatalogue(input: {
  entries: PlanEntry[]
  fingerprint: string
  producers: ProducerMap | undefined
  destinations: Consumer[]
  recent: MessageRow[]
  since: number
}): Catalogue {
  const byLabel = new Map<string, MessageRow[]>()
  for (const row of input.recent) {
    const label = row.message.type === 'track' ? row.message.event : 'identify'
    byLabel.set(label, [...(byLabel.get(label) ?? []), row])
  }
  const entries = input.entries.map((entry): CatalogueEntry => {
    const producers = producersOf(input.producers, entry)
    const live = entry.versions.filter((v) => v.status !== 'retired')
    const current = live.length ? live.reduce((a, b) => (b.version > a.version ? b : a)) : undefined
    const example = current ? exampleMessage(entry, current) : undefined
    const rows = byLabel.get(entry.kind === 'track' ? entry.name : 'identify') ?? []
    const reasons = new Map<string, number>()
    for (const row of rows.filter((r) => r.status === 'quarantined')) {
      for (const v of row.violations) {
        const reason = v.replace(/ \(got .*\)$/s, '')
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
      }
    }
    return {
      kind: entry.kind,
      name: entry.name,
      description: entry.description,
      owner: entry.owner,
      file: entry.file,
      currentVersion: current?.version,
      versions: [...entry.versions]
        .sort((a, b) => b.version - a.version)
        .map((v) => ({
          version: v.version,
          status: v.status ?? 'active',
          properties: Object.entries((entry.kind === 'track' ? v.properties : v.traits) ?? {}).map(([name, p]) => property(name, p, producers))
        })),
      producers,
      consumers: example ? input.destinations.filter((d) => safeAccepts(d, example)).map((d) => d.name) : [],
      recent: {
        routed: rows.filter((r) => r.status === 'routed').length,
        quarantined: rows.filter((r) => r.status === 'quarantined').length,
        other: rows.filter((r) => r.status !== 'routed' && r.status !== 'quarantined').length
      },
      quarantinedBy: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count)
    }
  })
  return {
    fingerprint: input.fingerprint,
    since: input.since,
    examined: input.recent.length,
    entries,
    idleDestinations: input.destinations.map((d) => d.name).filter((name) => !entries.some((e) => e.consumers.includes(name))),
    unknownProducers: Object.entries(input.producers?.sources ?? {}).filter(([, s]) => !s.samples).map(([name]) => name)
  }
}

function property(name: string, p: PlanProperty, producers: Producer[]): CatalogueProperty {
  return {
    name,
    type: Array.isArray(p.type) ? p.type.join(' | ') : String(p.type),
    required: p.required === true,
    description: p.description ?? '',
    ...(Array.isArray(p.enum) ? { enum: p.enum } : {}),
    filledBy: producers.filter((s) => s.properties.includes(name)).map((s) => s.source)
  }
}

/** A destination whose filter throws on an example must not break the catalogue: it simply does not match. */
function safeAccepts(d: Consumer, message: Message): boolean {
  try {
    return d.accepts(message)
  } catch {
    return false
  }
}
