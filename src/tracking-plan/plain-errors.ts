import type { YAMLError } from 'yaml'

/**
 * Plain-sentence wording for the mistakes people make when they edit plan files by hand (issue 17: a comma or a
 * colon in a one-line description, a typo in a keyword, `type: int`, an enum value that is not allowed). The YAML
 * library and ajv word these for programmers; marketing ops get a sentence that says what to change.
 */

/** Closest candidate within a small edit distance ("requried" → "required"), or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase()
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = distance(lower, c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  // Up to a third of the word may differ: catches swapped or dropped letters, not unrelated words.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two letters counts as one edit. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** Names people write for JSON types, from other languages and spreadsheets. */
const TYPE_ALIASES: Record<string, string> = {
  int: 'integer',
  integer32: 'integer',
  long: 'integer',
  float: 'number',
  double: 'number',
  decimal: 'number',
  numeric: 'number',
  bool: 'boolean',
  str: 'string',
  text: 'string',
  list: 'array',
  dict: 'object',
  map: 'object',
  hash: 'object'
}

export const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'] as const

/** `unknown type "int": did you mean "integer"? ...` */
export function unknownTypeMessage(property: string, type: string): string {
  const lower = type.toLowerCase()
  if (['date', 'datetime', 'date-time', 'timestamp', 'time'].includes(lower)) {
    return `property "${property}": "${type}" is not a type; dates are written as type: string with format: date-time`
  }
  const guess = TYPE_ALIASES[lower] ?? didYouMean(type, JSON_TYPES)
  return `property "${property}": unknown type "${type}"${guess ? `, did you mean "${guess}"?` : ''} (the types are ${JSON_TYPES.join(', ')})`
}

/** `unknown key "requried" in property "status": did you mean "required"?` */
export function unknownKeyMessage(where: string, key: string, known: Iterable<string>): string {
  const guess = didYouMean(key, known)
  return guess
    ? `unknown key "${key}" in ${where}: did you mean "${guess}"?`
    : `unknown key "${key}" in ${where} (allowed: ${[...known].join(', ')})`
}

/**
 * A key with no value inside a one-line `{ ... }` is almost always the rest of a description after a comma:
 * `description: Id, as shown in the platform.` reads as `description: Id` plus a key "as shown in the platform.".
 */
export function commaInFlowMessage(property: string, key: string): string {
  return `property "${property}": "${key}" is not a keyword: in a one-line { ... } definition a comma ends the value, so the description stopped before it. Put the description in quotes (description: "...") or write the property in block style (referral-bridge plan fmt does it)`
}

/** The YAML parser's error, as a sentence that says what to change. */
export function yamlErrorMessage(error: YAMLError): string {
  // The position is already in the file:line prefix.
  const raw = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
  switch (error.code) {
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'a colon followed by a space in an unquoted value starts a new key: put the text that contains the colon in quotes (description: "Note: ...")'
    case 'BLOCK_IN_FLOW':
      return 'a colon followed by a space inside a one-line { ... } definition starts a new key: put the text that contains the colon in quotes (description: "Note: ...") or write the property in block style'
    case 'TAB_AS_INDENT':
      return 'this line is indented with a tab: YAML only accepts spaces for indentation'
    case 'DUPLICATE_KEY':
      return 'this key appears twice in the same block: keep only one of them'
    case 'BAD_INDENT':
      return /flow (map|sequence)/i.test(error.message)
        ? 'a { or [ opened here is not closed: check that every { has its } and every [ its ] on the same definition, and that text containing [ ] { } is in quotes'
        : 'this line is not indented like the lines around it: keys of the same block must start in the same column (use spaces)'
    case 'MISSING_CHAR':
      return `a closing character is missing here (${raw}): check for an unclosed quote, { or [`
    case 'MULTILINE_IMPLICIT_KEY':
    case 'UNEXPECTED_TOKEN':
      return `this line is not valid YAML (${raw}): text containing ": ", " #", "[", "{" or a quote must be in double quotes`
    default:
      return `this line is not valid YAML: ${raw}`
  }
}
