/**
 * Segment's subscription syntax, as Destination Actions write it in a preset or a mapping's "trigger"
 * (segmentio/action-destinations: `defaultSubscription: 'type = "track" and event = "Order Completed"'`, parsed by
 * their destination-subscriptions package; the grammar is FQL's, segment-docs src/config-api/fql.md):
 *
 *   expr       := or
 *   or         := and ("or" and)*
 *   and        := unary ("and" unary)*
 *   unary      := "not" unary | "!" unary | "(" expr ")" | condition
 *   condition  := path ("=" | "!=" | "<" | "<=" | ">" | ">=") literal
 *               | path "contains" string | path "not contains" string
 *               | path "exists" | path "not exists"
 *               | "contains(" path "," string ")"
 *   path       := name ("." name)*          e.g. type, event, userId, properties.value, traits.email, context.traits.email
 *   literal    := "string" | 'string' | number | true | false | null
 *
 * Comparison follows FQL: `=`/`!=` compare the value as is (strings case-sensitive), `<`… compare numbers only
 * (anything else is false), `contains` is a substring test on strings and a membership test on arrays, `exists`
 * is "present and not null". A missing field is never equal to anything (`!=` is then true).
 *
 * A syntax error names the position and what was expected, so a bad function.json fails at start, not at delivery.
 */

export type Subscription = (message: unknown) => boolean

export class SubscriptionSyntaxError extends Error {
  constructor(source: string, at: number, expected: string) {
    super(`subscribe: expected ${expected} at position ${at + 1} of ${JSON.stringify(source)}`)
    this.name = 'SubscriptionSyntaxError'
  }
}

type Token =
  | { kind: 'name'; value: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'op'; value: string; at: number }
  | { kind: 'end'; at: number }

type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; inner: Node }
  | { kind: 'compare'; path: string[]; op: string; value: unknown }
  | { kind: 'contains'; path: string[]; value: string }
  | { kind: 'exists'; path: string[] }

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    const at = i
    if (c === '"' || c === "'") {
      let value = ''
      i++
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\' && i + 1 < source.length) i++
        value += source[i++]
      }
      if (i >= source.length) throw new SubscriptionSyntaxError(source, at, `a closing ${c}`)
      i++
      tokens.push({ kind: 'string', value, at })
      continue
    }
    const two = source.slice(i, i + 2)
    if (two === '!=' || two === '<=' || two === '>=') {
      tokens.push({ kind: 'op', value: two, at })
      i += 2
      continue
    }
    if ('=<>()!,'.includes(c)) {
      tokens.push({ kind: 'op', value: c, at })
      i++
      continue
    }
    const num = /^-?\d+(\.\d+)?/.exec(source.slice(i))
    if (num) {
      tokens.push({ kind: 'number', value: Number(num[0]), at })
      i += num[0].length
      continue
    }
    const name = /^[A-Za-z_$][\w$-]*(\.[A-Za-z_$0-9][\w$-]*)*/.exec(source.slice(i))
    if (name) {
      tokens.push({ kind: 'name', value: name[0], at })
      i += name[0].length
      continue
    }
    throw new SubscriptionSyntaxError(source, at, 'a field, a value or an operator')
  }
  tokens.push({ kind: 'end', at: source.length })
  return tokens
}

export function parseSubscription(source: string): Node {
  const tokens = tokenize(source)
  let pos = 0
  const peek = () => tokens[pos]!
  const next = () => tokens[pos++]!
  const isWord = (t: Token, w: string) => t.kind === 'name' && t.value.toLowerCase() === w
  const isOp = (t: Token, o: string) => t.kind === 'op' && t.value === o
  const fail = (expected: string): never => {
    throw new SubscriptionSyntaxError(source, peek().at, expected)
  }
  const path = (): string[] => {
    const t = next()
    if (t.kind !== 'name' || ['and', 'or', 'not'].includes(t.value.toLowerCase())) {
      pos--
      return fail('a field such as type, event, properties.x or traits.x')
    }
    return t.value.split('.')
  }
  const literal = (): unknown => {
    const t = next()
    if (t.kind === 'string' || t.kind === 'number') return t.value
    if (t.kind === 'name' && ['true', 'false', 'null'].includes(t.value)) return JSON.parse(t.value)
    pos--
    return fail('a value ("text", a number, true, false or null)')
  }
  const string = (): string => {
    const t = next()
    if (t.kind === 'string') return t.value
    pos--
    return fail('a quoted string')
  }

  const or = (): Node => {
    let left = and()
    while (isWord(peek(), 'or')) {
      next()
      left = { kind: 'or', left, right: and() }
    }
    return left
  }
  const and = (): Node => {
    let left = unary()
    while (isWord(peek(), 'and')) {
      next()
      left = { kind: 'and', left, right: unary() }
    }
    return left
  }
  const unary = (): Node => {
    const t = peek()
    if (isWord(t, 'not') || isOp(t, '!')) {
      next()
      return { kind: 'not', inner: unary() }
    }
    if (isOp(t, '(')) {
      next()
      const inner = or()
      if (!isOp(next(), ')')) {
        pos--
        fail('")"')
      }
      return inner
    }
    if (isWord(t, 'contains') && isOp(tokens[pos + 1]!, '(')) {
      next()
      next()
      const p = path()
      if (!isOp(next(), ',')) {
        pos--
        fail('","')
      }
      const value = string()
      if (!isOp(next(), ')')) {
        pos--
        fail('")"')
      }
      return { kind: 'contains', path: p, value }
    }
    return condition()
  }
  const condition = (): Node => {
    const p = path()
    const t = next()
    if (t.kind === 'op' && ['=', '!=', '<', '<=', '>', '>='].includes(t.value)) return { kind: 'compare', path: p, op: t.value, value: literal() }
    if (isWord(t, 'contains')) return { kind: 'contains', path: p, value: string() }
    if (isWord(t, 'exists')) return { kind: 'exists', path: p }
    if (isWord(t, 'not')) {
      const u = next()
      if (isWord(u, 'contains')) return { kind: 'not', inner: { kind: 'contains', path: p, value: string() } }
      if (isWord(u, 'exists')) return { kind: 'not', inner: { kind: 'exists', path: p } }
      pos--
    } else pos--
    return fail('=, !=, <, <=, >, >=, contains, not contains, exists or not exists')
  }

  if (peek().kind === 'end') fail('a condition (the subscription is empty)')
  const tree = or()
  if (peek().kind !== 'end') fail('"and", "or" or the end')
  return tree
}

function lookup(message: unknown, path: string[]): unknown {
  let v: unknown = message
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

function evaluate(node: Node, message: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, message) && evaluate(node.right, message)
    case 'or':
      return evaluate(node.left, message) || evaluate(node.right, message)
    case 'not':
      return !evaluate(node.inner, message)
    case 'exists': {
      const v = lookup(message, node.path)
      return v !== undefined && v !== null
    }
    case 'contains': {
      const v = lookup(message, node.path)
      if (typeof v === 'string') return v.includes(node.value)
      if (Array.isArray(v)) return v.includes(node.value)
      return false
    }
    case 'compare': {
      const v = lookup(message, node.path)
      switch (node.op) {
        case '=':
          return v !== undefined && v === node.value
        case '!=':
          return v === undefined || v !== node.value
        default: {
          if (typeof v !== 'number' || typeof node.value !== 'number') return false
          if (node.op === '<') return v < node.value
          if (node.op === '<=') return v <= node.value
          if (node.op === '>') return v > node.value
          return v >= node.value
        }
      }
    }
  }
}

/** Parses once; the returned predicate is what the registry calls for every message. */
export function compileSubscription(source: string): Subscription {
  const tree = parseSubscription(source)
  return (message) => evaluate(tree, message)
}
