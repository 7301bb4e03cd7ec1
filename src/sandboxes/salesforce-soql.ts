import { parseSfDate, type FieldDef, type ObjectDef, type SalesforceOrg, type SfRecord } from './salesforce-org.ts'

/**
 * SOQL for the Salesforce sandbox: a parser (grammar below) and an executor over a {@link SalesforceOrg}. Errors are
 * Salesforce's: MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE with the `ERROR at Row:1:Column:n` pointer
 * (developer.salesforce.com "SOQL and SOSL Reference"; "Status Codes and Error Responses").
 */

// ---- SOQL execution ----

export function pointerMessage(soql: string, pos: number, text: string): string {
  return `\n${soql}\n${' '.repeat(pos)}^\nERROR at Row:1:Column:${pos + 1}\n${text}`
}

export function executeSoql(org: SalesforceOrg, soql: string, versionPath: string, _all: boolean): { records: SfRecord[]; totalSize: number; aggregate: boolean; countOnly: boolean } {
  const q = parseSoql(soql)
  const obj = org.objectDef(q.from)
  if (!obj) {
    throw new SoqlError(
      'INVALID_TYPE',
      pointerMessage(soql, q.fromPos, `sObject type '${q.from}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`)
    )
  }
  const resolve = (name: string, pos: number): FieldDef => {
    const def = name.includes('.') ? undefined : org.field(obj, name)
    if (!def) {
      throw new SoqlError(
        'INVALID_FIELD',
        pointerMessage(soql, pos, `No such column '${name}' on entity '${obj.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)
      )
    }
    return def
  }
  const resolveItem = (item: SelectItem): SelectItem => {
    if (item.kind === 'field') return { ...item, field: resolve(item.field, item.pos).name }
    return { ...item, field: item.field ? resolve(item.field, item.pos).name : undefined }
  }
  const select = q.select.map(resolveItem)
  const groupBy = q.groupBy.map((g) => resolve(g.field, g.pos).name)
  const where = q.where ? resolveCond(q.where, resolve) : undefined
  const having = q.having ? resolveCond(q.having, resolve) : undefined
  const orderBy = q.orderBy.map((o) => ({ ...o, item: resolveItem(o.item) }))

  let rows = [...org.records[obj.name].values()].filter((r) => !where || matches(obj, org, where, r))
  const aggregate = select.some((s) => s.kind === 'agg') || groupBy.length > 0 || having !== undefined

  if (!aggregate) {
    rows = sortRows(rows, orderBy.map((o) => ({ key: (r: SfRecord) => r[(o.item as { field: string }).field], def: org.field(obj, (o.item as { field: string }).field), desc: o.desc, nullsLast: o.nullsLast })))
    const totalSize = rows.length
    rows = rows.slice(q.offset ?? 0, q.limit !== undefined ? (q.offset ?? 0) + q.limit : undefined)
    const records = rows.map((r) => {
      const out: SfRecord = { attributes: { type: obj.name, url: `${versionPath}/sobjects/${obj.name}/${r.Id}` } }
      for (const s of select) out[(s as { field: string }).field] = r[(s as { field: string }).field] ?? null
      return out
    })
    return { records, totalSize: q.limit !== undefined || q.offset !== undefined ? records.length : totalSize, aggregate: false, countOnly: false }
  }

  // COUNT() alone: the answer is totalSize, no records.
  if (select.length === 1 && select[0].kind === 'agg' && select[0].fn === 'COUNT' && !select[0].field && groupBy.length === 0) {
    return { records: [], totalSize: rows.length, aggregate: true, countOnly: true }
  }
  for (const s of select) {
    if (s.kind === 'field' && !groupBy.includes(s.field)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, s.pos, `Field must be grouped or aggregated: ${s.field}`))
    if (s.kind === 'agg' && !s.field) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, s.pos, 'COUNT() must be the only element in the SELECT list'))
  }
  const groups = new Map<string, SfRecord[]>()
  for (const r of rows) {
    const key = JSON.stringify(groupBy.map((g) => r[g] ?? null))
    const list = groups.get(key) ?? []
    list.push(r)
    groups.set(key, list)
  }
  if (groupBy.length === 0 && groups.size === 0) groups.set('[]', [])
  const aliases: string[] = []
  let exprN = 0
  for (const s of select) aliases.push(s.kind === 'agg' ? (s.alias ?? `expr${exprN++}`) : s.field)
  const computeAgg = (fn: string, field: string, list: SfRecord[]): unknown => {
    const values = list.map((r) => r[field]).filter((v) => v !== undefined && v !== null)
    switch (fn) {
      case 'COUNT':
        return values.length
      case 'COUNT_DISTINCT':
        return new Set(values.map((v) => (typeof v === 'string' ? v.toLowerCase() : v))).size
      case 'SUM':
        return values.length ? (values as number[]).reduce((a, b) => a + Number(b), 0) : null
      case 'AVG':
        return values.length ? (values as number[]).reduce((a, b) => a + Number(b), 0) / values.length : null
      case 'MIN':
        return values.length ? values.reduce((a, b) => (compareValues(a, b) <= 0 ? a : b)) : null
      case 'MAX':
        return values.length ? values.reduce((a, b) => (compareValues(a, b) >= 0 ? a : b)) : null
    }
    return null
  }
  // HAVING: each aggregate comparison is evaluated on the group (COUNT(Id) > 1); a plain field must be grouped.
  const havingKeys = (c: Cond, out: Array<Extract<Cond, { kind: 'cmp' }>>): typeof out => {
    if (c.kind === 'and' || c.kind === 'or') c.items.forEach((i) => havingKeys(i, out))
    else if (c.kind === 'not') havingKeys(c.item, out)
    else if (c.kind === 'cmp' && c.fn) out.push(c)
    else if (!groupBy.includes((c as { field: string }).field)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, (c as { pos: number }).pos, `Field must be grouped or aggregated: ${(c as { field: string }).field}`))
    return out
  }
  const aggConds = having ? havingKeys(having, []) : []
  const aggKey = (c: { fn?: string; field: string }) => `${c.fn}(${c.field})`
  const havingCond = having ? rewriteAggs(having, aggKey) : undefined
  const kept = [...groups.values()].filter((list) => {
    if (!havingCond) return true
    const row: SfRecord = { ...(list[0] ?? {}) }
    for (const c of aggConds) row[aggKey(c)] = computeAgg(c.fn!, c.field, list)
    return matches(obj, org, havingCond, row)
  })
  let results = kept.map((list) => {
    const out: SfRecord = { attributes: { type: 'AggregateResult' } }
    select.forEach((s, i) => {
      out[aliases[i]] = s.kind === 'agg' ? computeAgg(s.fn, s.field!, list) : (list[0]?.[s.field] ?? null)
    })
    return out
  })
  const keyFor = (item: SelectItem): string => {
    if (item.kind === 'field') {
      if (!groupBy.includes(item.field)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, item.pos, `Ordered field must be grouped or aggregated: ${item.field}`))
      return select.findIndex((s) => s.kind === 'field' && s.field === item.field) >= 0 ? item.field : item.field
    }
    const i = select.findIndex((s) => s.kind === 'agg' && s.fn === item.fn && s.field === item.field)
    if (i < 0) throw new SoqlError('MALFORMED_QUERY', pointerMessage(soql, item.pos, 'Ordered aggregate must appear in the SELECT list in this sandbox'))
    return aliases[i]
  }
  results = sortRows(results, orderBy.map((o) => {
    const k = keyFor(o.item)
    return { key: (r: SfRecord) => r[k], def: undefined, desc: o.desc, nullsLast: o.nullsLast }
  }))
  results = results.slice(q.offset ?? 0, q.limit !== undefined ? (q.offset ?? 0) + q.limit : undefined)
  return { records: results, totalSize: results.length, aggregate: true, countOnly: false }
}

/** HAVING conditions over aggregates, rewritten to compare a synthetic `FN(field)` column of the group row. */
function rewriteAggs(c: Cond, key: (c: { fn?: string; field: string }) => string): Cond {
  if (c.kind === 'and' || c.kind === 'or') return { kind: c.kind, items: c.items.map((i) => rewriteAggs(i, key)) }
  if (c.kind === 'not') return { kind: 'not', item: rewriteAggs(c.item, key) }
  if (c.kind === 'cmp' && c.fn) return { kind: 'cmp', field: key(c), pos: c.pos, op: c.op, value: c.value }
  return c
}

function resolveCond(c: Cond, resolve: (name: string, pos: number) => FieldDef): Cond {
  switch (c.kind) {
    case 'and':
    case 'or':
      return { kind: c.kind, items: c.items.map((i) => resolveCond(i, resolve)) }
    case 'not':
      return { kind: 'not', item: resolveCond(c.item, resolve) }
    default:
      return { ...c, field: resolve(c.field, c.pos).name }
  }
}

/** A record value and a literal, made comparable for the field's type. */
function normalize(def: FieldDef | undefined, v: unknown): unknown {
  if (v === undefined || v === null) return null
  if (typeof v === 'object' && v !== null && 'datetime' in v) return def?.type === 'date' ? new Date((v as { datetime: number }).datetime).toISOString().slice(0, 10) : (v as { datetime: number }).datetime
  if (typeof v === 'object' && v !== null && 'date' in v) return def?.type === 'datetime' ? Date.parse(`${(v as { date: string }).date}T00:00:00Z`) : (v as { date: string }).date
  if (def?.type === 'datetime' && typeof v === 'string') return parseSfDate(v)
  if (typeof v === 'string') return v.toLowerCase()
  return v
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  const sa = String(a).toLowerCase()
  const sb = String(b).toLowerCase()
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

function matches(obj: ObjectDef, org: SalesforceOrg, c: Cond, r: SfRecord): boolean {
  switch (c.kind) {
    case 'and':
      return c.items.every((i) => matches(obj, org, i, r))
    case 'or':
      return c.items.some((i) => matches(obj, org, i, r))
    case 'not':
      return !matches(obj, org, c.item, r)
    case 'in': {
      const def = org.field(obj, c.field)
      const v = normalize(def, r[c.field])
      const hit = v !== null && c.values.some((x) => compareValues(v, normalize(def, x)) === 0)
      return c.negate ? !hit && v !== null : hit
    }
    case 'like': {
      const v = r[c.field]
      if (v === undefined || v === null) return false
      const re = new RegExp('^' + c.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', 'is')
      return re.test(String(v))
    }
    case 'cmp': {
      const def = org.field(obj, c.field)
      const v = normalize(def, r[c.field])
      const lit = normalize(def, c.value)
      if (lit === null) return c.op === '=' ? v === null : c.op === '!=' ? v !== null : false
      if (v === null) return c.op === '!='
      const d = compareValues(v, lit)
      switch (c.op) {
        case '=':
          return d === 0
        case '!=':
          return d !== 0
        case '<':
          return d < 0
        case '<=':
          return d <= 0
        case '>':
          return d > 0
        case '>=':
          return d >= 0
      }
      return false
    }
  }
}

function sortRows(rows: SfRecord[], keys: Array<{ key: (r: SfRecord) => unknown; def?: FieldDef; desc: boolean; nullsLast: boolean }>): SfRecord[] {
  if (keys.length === 0) return rows
  return [...rows].sort((a, b) => {
    for (const k of keys) {
      const va = normalize(k.def, k.key(a))
      const vb = normalize(k.def, k.key(b))
      if (va === null && vb === null) continue
      if (va === null) return k.nullsLast ? 1 : -1
      if (vb === null) return k.nullsLast ? -1 : 1
      const d = compareValues(va, vb)
      if (d !== 0) return k.desc ? -d : d
    }
    return 0
  })
}

// ---- SOQL parser ----
// A small SOQL parser, enough for the bridge and its tests:
// `SELECT f, AGG(f) [alias] FROM Object [WHERE cond] [GROUP BY f, ...] [ORDER BY f|AGG(f) [ASC|DESC] [NULLS FIRST|LAST], ...]
// [HAVING cond over AGG(f) and grouped fields] [LIMIT n] [OFFSET n]`. Conditions: `=, !=, <>, <, <=, >, >=, [NOT] IN (...), LIKE, AND, OR, NOT, ( )`; values: strings,
// numbers, true/false/null, date (2026-01-01) and datetime (2026-01-01T00:00:00Z) literals, TODAY, YESTERDAY,
// LAST_N_DAYS:n. Aggregates: COUNT(), COUNT(f), COUNT_DISTINCT(f), SUM, AVG, MIN, MAX. Not modelled: relationship
// paths (Owner.Name), subqueries, TYPEOF, date functions, FOR UPDATE. String comparisons are case-insensitive.

export class SoqlError extends Error {
  constructor(
    readonly errorCode: 'MALFORMED_QUERY' | 'INVALID_FIELD' | 'INVALID_TYPE',
    message: string
  ) {
    super(message)
  }
}

type Tok = { kind: 'word' | 'string' | 'number' | 'op' | 'punct'; value: string; pos: number }

export type Value = string | number | boolean | null | { date: string } | { datetime: number }

export type Cond =
  | { kind: 'and' | 'or'; items: Cond[] }
  | { kind: 'not'; item: Cond }
  | { kind: 'cmp'; field: string; pos: number; op: string; value: Value; fn?: string }
  | { kind: 'in'; field: string; pos: number; negate: boolean; values: Value[] }
  | { kind: 'like'; field: string; pos: number; pattern: string }

export type SelectItem =
  | { kind: 'field'; field: string; pos: number }
  | { kind: 'agg'; fn: string; field?: string; pos: number; alias?: string }

export interface OrderItem {
  item: SelectItem
  desc: boolean
  nullsLast: boolean
}

export interface SoqlQuery {
  select: SelectItem[]
  from: string
  fromPos: number
  where?: Cond
  having?: Cond
  groupBy: Array<{ field: string; pos: number }>
  orderBy: OrderItem[]
  limit?: number
  offset?: number
}

const AGGS = new Set(['COUNT', 'COUNT_DISTINCT', 'SUM', 'AVG', 'MIN', 'MAX'])
const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'GROUP', 'BY', 'ORDER', 'LIMIT', 'OFFSET', 'AND', 'OR', 'NOT', 'IN', 'LIKE', 'ASC', 'DESC', 'NULLS', 'FIRST', 'LAST', 'HAVING'])

function tokenize(q: string): Tok[] {
  const toks: Tok[] = []
  let i = 0
  while (i < q.length) {
    const c = q[i]
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === "'") {
      let j = i + 1
      let s = ''
      while (j < q.length && q[j] !== "'") {
        if (q[j] === '\\' && j + 1 < q.length) {
          const n = q[j + 1]
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n
          j += 2
        } else s += q[j++]
      }
      if (j >= q.length) throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, i, `line 1:${i} mismatched character '<EOF>' expecting '''`))
      toks.push({ kind: 'string', value: s, pos: i })
      i = j + 1
      continue
    }
    const dt = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2}))?/.exec(q.slice(i))
    if (dt) {
      toks.push({ kind: 'word', value: dt[0], pos: i })
      i += dt[0].length
      continue
    }
    const num = /^-?\d+(\.\d+)?/.exec(q.slice(i))
    if (num) {
      toks.push({ kind: 'number', value: num[0], pos: i })
      i += num[0].length
      continue
    }
    const op = /^(!=|<>|<=|>=|=|<|>)/.exec(q.slice(i))
    if (op) {
      toks.push({ kind: 'op', value: op[0], pos: i })
      i += op[0].length
      continue
    }
    if (c === '(' || c === ')' || c === ',') {
      toks.push({ kind: 'punct', value: c, pos: i })
      i++
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*(:\d+)?/.exec(q.slice(i))
    if (word) {
      toks.push({ kind: 'word', value: word[0], pos: i })
      i += word[0].length
      continue
    }
    throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, i, `line 1:${i} no viable alternative at character '${c}'`))
  }
  return toks
}

export function parseSoql(q: string): SoqlQuery {
  const toks = tokenize(q)
  let p = 0
  const peek = () => toks[p]
  const isKw = (kw: string, t = peek()) => !!t && t.kind === 'word' && t.value.toUpperCase() === kw
  const unexpected = (t = peek()): never => {
    throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, t ? t.pos : q.length, t ? `unexpected token: '${t.value}'` : 'unexpected token: <EOF>'))
  }
  const expectKw = (kw: string) => {
    if (!isKw(kw)) unexpected()
    p++
  }
  const expectPunct = (v: string) => {
    const t = peek()
    if (!t || t.kind !== 'punct' || t.value !== v) unexpected()
    p++
  }
  const ident = (): Tok => {
    const t = peek()
    if (!t || t.kind !== 'word' || KEYWORDS.has(t.value.toUpperCase())) unexpected()
    p++
    return t
  }

  const selectItem = (allowAlias: boolean): SelectItem => {
    const t = ident()
    const next = peek()
    if (next && next.kind === 'punct' && next.value === '(') {
      const fn = t.value.toUpperCase()
      if (!AGGS.has(fn)) throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, t.pos, `unknown function: ${t.value}`))
      p++
      let field: string | undefined
      const inner = peek()
      if (inner && !(inner.kind === 'punct' && inner.value === ')')) field = ident().value
      expectPunct(')')
      if (!field && fn !== 'COUNT') throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, t.pos, `${fn}() requires a field`))
      let alias: string | undefined
      const a = peek()
      if (allowAlias && a && a.kind === 'word' && !KEYWORDS.has(a.value.toUpperCase())) {
        alias = a.value
        p++
      }
      return { kind: 'agg', fn, field, pos: t.pos, alias }
    }
    return { kind: 'field', field: t.value, pos: t.pos }
  }

  const value = (): Value => {
    const t = peek()
    if (!t) unexpected()
    p++
    if (t.kind === 'string') return t.value
    if (t.kind === 'number') return Number(t.value)
    if (t.kind === 'word') {
      const u = t.value.toUpperCase()
      if (u === 'NULL') return null
      if (u === 'TRUE') return true
      if (u === 'FALSE') return false
      if (/^\d{4}-\d{2}-\d{2}$/.test(t.value)) return { date: t.value }
      if (/^\d{4}-\d{2}-\d{2}T/.test(t.value)) return { datetime: parseSfDate(t.value) }
      const day = 86_400_000
      const today = Math.floor(Date.now() / day) * day
      if (u === 'TODAY') return { datetime: today }
      if (u === 'YESTERDAY') return { datetime: today - day }
      const n = /^LAST_N_DAYS:(\d+)$/.exec(u)
      if (n) return { datetime: today - Number(n[1]) * day }
    }
    return unexpected(t)
  }

  const comparison = (): Cond => {
    const next = toks[p + 1]
    if (next && next.kind === 'punct' && next.value === '(') {
      const agg = selectItem(false) as Extract<SelectItem, { kind: 'agg' }>
      if (!inHaving) throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, agg.pos, 'Aggregate functions are not allowed in the WHERE clause: use HAVING'))
      const op = peek()
      if (!op || op.kind !== 'op') unexpected()
      p++
      return { kind: 'cmp', field: agg.field ?? 'Id', pos: agg.pos, op: op.value === '<>' ? '!=' : op.value, value: value(), fn: agg.fn }
    }
    const f = ident()
    if (isKw('NOT') && isKw('IN', toks[p + 1])) {
      p += 2
      return { kind: 'in', field: f.value, pos: f.pos, negate: true, values: list() }
    }
    if (isKw('IN')) {
      p++
      return { kind: 'in', field: f.value, pos: f.pos, negate: false, values: list() }
    }
    if (isKw('LIKE')) {
      p++
      const v = value()
      if (typeof v !== 'string') throw new SoqlError('MALFORMED_QUERY', pointerMessage(q, f.pos, 'LIKE requires a string'))
      return { kind: 'like', field: f.value, pos: f.pos, pattern: v }
    }
    const op = peek()
    if (!op || op.kind !== 'op') unexpected()
    p++
    return { kind: 'cmp', field: f.value, pos: f.pos, op: op.value === '<>' ? '!=' : op.value, value: value() }
  }
  const list = (): Value[] => {
    expectPunct('(')
    const values = [value()]
    while (peek()?.kind === 'punct' && peek().value === ',') {
      p++
      values.push(value())
    }
    expectPunct(')')
    return values
  }
  const unary = (): Cond => {
    if (isKw('NOT')) {
      p++
      return { kind: 'not', item: unary() }
    }
    const t = peek()
    if (t && t.kind === 'punct' && t.value === '(') {
      p++
      const c = orExpr()
      expectPunct(')')
      return c
    }
    return comparison()
  }
  const andExpr = (): Cond => {
    const items = [unary()]
    while (isKw('AND')) {
      p++
      items.push(unary())
    }
    return items.length === 1 ? items[0] : { kind: 'and', items }
  }
  const orExpr = (): Cond => {
    const items = [andExpr()]
    while (isKw('OR')) {
      p++
      items.push(andExpr())
    }
    return items.length === 1 ? items[0] : { kind: 'or', items }
  }

  let inHaving = false
  expectKw('SELECT')
  const select = [selectItem(true)]
  while (peek()?.kind === 'punct' && peek().value === ',') {
    p++
    select.push(selectItem(true))
  }
  expectKw('FROM')
  const from = ident()
  const query: SoqlQuery = { select, from: from.value, fromPos: from.pos, groupBy: [], orderBy: [] }
  if (isKw('WHERE')) {
    p++
    query.where = orExpr()
  }
  if (isKw('GROUP')) {
    p++
    expectKw('BY')
    do {
      if (peek()?.kind === 'punct') p++
      const f = ident()
      query.groupBy.push({ field: f.value, pos: f.pos })
    } while (peek()?.kind === 'punct' && peek().value === ',')
  }
  if (isKw('HAVING')) {
    p++
    inHaving = true
    query.having = orExpr()
    inHaving = false
  }
  if (isKw('ORDER')) {
    p++
    expectKw('BY')
    do {
      if (peek()?.kind === 'punct') p++
      const item = selectItem(false)
      let desc = false
      if (isKw('ASC')) p++
      else if (isKw('DESC')) {
        desc = true
        p++
      }
      let nullsLast = desc // SOQL default: NULLS FIRST ascending, NULLS LAST descending
      if (isKw('NULLS')) {
        p++
        if (isKw('FIRST')) nullsLast = false
        else if (isKw('LAST')) nullsLast = true
        else unexpected()
        p++
      }
      query.orderBy.push({ item, desc, nullsLast })
    } while (peek()?.kind === 'punct' && peek().value === ',')
  }
  if (isKw('LIMIT')) {
    p++
    const t = peek()
    if (!t || t.kind !== 'number') unexpected()
    query.limit = Number(t.value)
    p++
  }
  if (isKw('OFFSET')) {
    p++
    const t = peek()
    if (!t || t.kind !== 'number') unexpected()
    query.offset = Number(t.value)
    p++
  }
  if (p < toks.length) unexpected()
  return query
}

