import { parseDocument, visit, isScalar, isPair, Scalar, type YAMLMap } from 'yaml'

/**
 * `plan fmt`: the canonical style of a plan file. Block style for every mapping, one keyword per line, so copying
 * a neighbouring property cannot carry a comma or a colon into the wrong place; descriptions always in double
 * quotes (a comma, a colon or a `#` in them is then just text); short lists of plain values (`enum`, `examples`,
 * a `type` list) stay on one line. Keys in a fixed order: name, description, owner, versions; in a version:
 * version, status, properties; in a property: type, the other schema keywords, required, description, examples.
 * Comments are kept. Returns undefined when the text is not valid YAML (lint says why).
 */
export function formatPlanFile(text: string): string | undefined {
  const doc = parseDocument(text)
  if (doc.errors.length) return undefined
  visit(doc, {
    Map(_, node) {
      node.flow = false
      const keys = node.items.map((p) => (isPair(p) && isScalar(p.key) ? String(p.key.value) : ''))
      const order = keys.includes('event') || keys.includes('identify') ? TOP : keys.includes('version') ? VERSION : keys.includes('type') ? PROPERTY : undefined
      if (order) sortPairs(node, order)
    },
    Seq(_, node) {
      node.flow = node.items.length > 0 && node.items.every((i) => isScalar(i))
    },
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'description' && isScalar(pair.value) && typeof pair.value.value === 'string') {
        pair.value.type = Scalar.QUOTE_DOUBLE
      }
    }
  })
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false })
}

const TOP = ['event', 'identify', 'description', 'owner', 'versions']
const VERSION = ['version', 'status', 'description', 'properties', 'traits']
/** `*` stands for every keyword not named, in the order written. */
const PROPERTY = ['type', '*', 'required', 'description', 'examples']

function sortPairs(node: YAMLMap, order: string[]) {
  const rank = (p: unknown) => {
    const key = isPair(p) && isScalar(p.key) ? String(p.key.value) : ''
    const i = order.indexOf(key)
    return i >= 0 ? i : order.indexOf('*') >= 0 ? order.indexOf('*') : order.length
  }
  // A comment above the first key heads the whole block (often the file): it stays on top, whatever key comes first.
  const firstKey = node.items[0]?.key as { commentBefore?: string | null } | undefined
  const heading = firstKey?.commentBefore
  if (firstKey && heading) firstKey.commentBefore = undefined
  // Array.prototype.sort is stable: keys of equal rank keep their written order.
  node.items.sort((a, b) => rank(a) - rank(b))
  const newFirst = node.items[0]?.key as { commentBefore?: string | null } | undefined
  if (heading && newFirst) newFirst.commentBefore = [heading, newFirst.commentBefore].filter(Boolean).join('\n')
}
