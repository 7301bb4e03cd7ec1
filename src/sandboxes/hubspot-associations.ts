import type { HubspotObjectType } from './hubspot-properties.ts'
import { OBJECT_TYPE_IDS } from './hubspot-properties.ts'

/**
 * HubSpot associations v4 as a pure model: HUBSPOT_DEFINED type ids per direction, from developers.hubspot.com
 * "CRM API | Associations v4" ("Association type ID values"): contact→company 279 (primary 1), company→contact 280
 * (primary 2), deal→contact 3, contact→deal 4, deal→company 341 (primary 5), company→deal 342 (primary 6).
 * An association is stored once per pair and read from either side, with the type id of that direction.
 */
export interface AssociationType {
  category: 'HUBSPOT_DEFINED' | 'USER_DEFINED'
  typeId: number
  label: string | null
}

const DEFAULT_TYPES: Record<string, number> = {
  'contacts>companies': 279,
  'companies>contacts': 280,
  'deals>contacts': 3,
  'contacts>deals': 4,
  'deals>companies': 341,
  'companies>deals': 342
}
const PRIMARY_TYPES: Record<string, number> = { 'contacts>companies': 1, 'companies>contacts': 2, 'deals>companies': 5, 'companies>deals': 6 }

export function defaultTypeId(from: HubspotObjectType, to: HubspotObjectType): number | undefined {
  return DEFAULT_TYPES[`${from}>${to}`]
}

/** Type ids HubSpot accepts for a direction (default and primary); anything else is refused. */
export function validTypeIds(from: HubspotObjectType, to: HubspotObjectType): number[] {
  const d = DEFAULT_TYPES[`${from}>${to}`]
  const p = PRIMARY_TYPES[`${from}>${to}`]
  return [d, p].filter((x): x is number => x !== undefined)
}

/** The same association seen from the other side: 279 (contact→company) ⇄ 280 (company→contact), etc. */
function reverseTypeId(from: HubspotObjectType, to: HubspotObjectType, typeId: number): number {
  const key = `${from}>${to}`
  const back = `${to}>${from}`
  if (DEFAULT_TYPES[key] === typeId) return DEFAULT_TYPES[back] ?? typeId
  if (PRIMARY_TYPES[key] === typeId) return PRIMARY_TYPES[back] ?? DEFAULT_TYPES[back] ?? typeId
  return typeId
}

export function objectTypeFrom(value: string): HubspotObjectType | undefined {
  const v = value.toLowerCase()
  const byName: Record<string, HubspotObjectType> = { contacts: 'contacts', contact: 'contacts', companies: 'companies', company: 'companies', deals: 'deals', deal: 'deals' }
  if (byName[v]) return byName[v]
  return (Object.entries(OBJECT_TYPE_IDS).find(([, id]) => id === v)?.[0] as HubspotObjectType | undefined) ?? undefined
}

export class AssociationStore {
  /** `from|fromId|to|toId` → type ids in that direction. */
  private readonly links = new Map<string, Set<number>>()

  private key(from: HubspotObjectType, fromId: string, to: HubspotObjectType, toId: string) {
    return `${from}|${fromId}|${to}|${toId}`
  }

  add(from: HubspotObjectType, fromId: string, to: HubspotObjectType, toId: string, typeId: number): void {
    const k = this.key(from, fromId, to, toId)
    const back = this.key(to, toId, from, fromId)
    if (!this.links.has(k)) this.links.set(k, new Set())
    if (!this.links.has(back)) this.links.set(back, new Set())
    this.links.get(k)!.add(typeId)
    this.links.get(back)!.add(reverseTypeId(from, to, typeId))
    // A primary association implies the default one, as HubSpot reports both.
    const d = defaultTypeId(from, to)
    if (d !== undefined && d !== typeId) {
      this.links.get(k)!.add(d)
      this.links.get(back)!.add(reverseTypeId(from, to, d))
    }
  }

  remove(from: HubspotObjectType, fromId: string, to: HubspotObjectType, toId: string): void {
    this.links.delete(this.key(from, fromId, to, toId))
    this.links.delete(this.key(to, toId, from, fromId))
  }

  /** Drops every association of an archived record. */
  forget(type: HubspotObjectType, id: string): void {
    for (const k of [...this.links.keys()]) {
      const [f, fi, t, ti] = k.split('|')
      if ((f === type && fi === id) || (t === type && ti === id)) this.links.delete(k)
    }
  }

  list(from: HubspotObjectType, fromId: string, to: HubspotObjectType): Array<{ toObjectId: string; associationTypes: AssociationType[] }> {
    const out: Array<{ toObjectId: string; associationTypes: AssociationType[] }> = []
    for (const [k, types] of this.links) {
      const [f, fi, t, ti] = k.split('|')
      if (f !== from || fi !== fromId || t !== to) continue
      out.push({ toObjectId: ti!, associationTypes: [...types].sort((a, b) => a - b).map((typeId) => ({ category: 'HUBSPOT_DEFINED', typeId, label: PRIMARY_TYPES[`${from}>${to}`] === typeId ? 'Primary' : null })) })
    }
    return out.sort((a, b) => Number(a.toObjectId) - Number(b.toObjectId))
  }
}
