/**
 * Salesforce Outbound Messaging (SOAP 1.1 `notifications()` call, developer.salesforce.com "Outbound Messaging
 * WSDL"): a small, strict reader for the one documented envelope shape, and a writer for the acknowledgement and for
 * tests. No XML dependency: the shape is fixed, so anything else is refused with a parse error.
 *
 * ```xml
 * <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 *  <soapenv:Body>
 *   <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
 *    <OrganizationId>00D…</OrganizationId> <ActionId>04k…</ActionId> <SessionId xsi:nil="true"/>
 *    <EnterpriseUrl>…</EnterpriseUrl> <PartnerUrl>…</PartnerUrl>
 *    <Notification>                                   (1..100)
 *     <Id>04l…</Id>                                   (notification id, stable across Salesforce's retries)
 *     <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
 *      <sf:Id>006…</sf:Id> <sf:Amount>1200.0</sf:Amount> …   (the fields chosen in the Outbound Message)
 *     </sObject>
 *    </Notification>
 *   </notifications>
 *  </soapenv:Body>
 * </soapenv:Envelope>
 * ```
 * The expected answer is `<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>`
 * in a SOAP envelope; anything else and Salesforce retries (with backoff, for up to 24 hours).
 */

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/'
export const OUTBOUND_NS = 'http://soap.sforce.com/2005/09/outbound'
export const SOBJECT_NS = 'urn:sobject.enterprise.soap.sforce.com'
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance'
const XML_NS = 'http://www.w3.org/XML/1998/namespace'

export class XmlError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'XmlError'
  }
}

export interface XmlElement {
  local: string
  ns: string | undefined
  /** Attributes by resolved name: `{ns}local` for prefixed ones, `local` otherwise (xmlns declarations excluded). */
  attrs: Record<string, string>
  children: XmlElement[]
  text: string
  /** Where the element's content (between its tags) sits in the parsed input; absent for `<x/>`. */
  content?: { start: number; end: number }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }
const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/

function decode(text: string, at: number): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new XmlError(`bare "&" at offset ${at}`)
    if (name in ENTITIES) return ENTITIES[name]!
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(name)
    if (num) {
      const cp = num[1]!.startsWith('x') ? parseInt(num[1]!.slice(1), 16) : parseInt(num[1]!, 10)
      if (cp > 0x10ffff || cp === 0) throw new XmlError(`invalid character reference &${name};`)
      return String.fromCodePoint(cp)
    }
    throw new XmlError(`unknown entity &${name}; (DTD entities are not accepted)`)
  })
}

/**
 * Parses a well-formed XML document into elements with resolved namespaces. Refuses DTDs (no entity expansion),
 * processing instructions other than the XML declaration, mismatched tags, mixed content and depth over 32.
 */
export function parseXml(input: string): XmlElement {
  const bom = input.startsWith('\uFEFF') ? 1 : 0
  let i = 0
  const s = bom ? input.slice(1) : input
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++
  }
  skipWs()
  if (s.startsWith('<?xml', i)) {
    const end = s.indexOf('?>', i)
    if (end < 0) throw new XmlError('unterminated XML declaration')
    i = end + 2
  }
  const skipMisc = () => {
    for (;;) {
      skipWs()
      if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i + 4)
        if (end < 0) throw new XmlError('unterminated comment')
        i = end + 3
        continue
      }
      if (s.startsWith('<!', i)) throw new XmlError('DTDs and declarations are not accepted')
      if (s.startsWith('<?', i)) throw new XmlError('processing instructions are not accepted')
      return
    }
  }
  skipMisc()
  if (s[i] !== '<') throw new XmlError('no root element')

  const readElement = (scopes: Array<Record<string, string>>, depth: number): XmlElement => {
    if (depth > 32) throw new XmlError('elements nested too deeply')
    const start = i
    i++ // <
    const nameMatch = NAME.exec(s.slice(i))
    if (!nameMatch) throw new XmlError(`invalid element name at offset ${start}`)
    const qname = nameMatch[0]
    i += qname.length
    const rawAttrs: Array<[string, string]> = []
    let selfClosing = false
    for (;;) {
      const before = i
      skipWs()
      if (s.startsWith('/>', i)) {
        i += 2
        selfClosing = true
        break
      }
      if (s[i] === '>') {
        i++
        break
      }
      if (i === before) throw new XmlError(`expected whitespace before attribute at offset ${i}`)
      const attr = NAME.exec(s.slice(i))
      if (!attr) throw new XmlError(`invalid attribute at offset ${i}`)
      i += attr[0].length
      skipWs()
      if (s[i] !== '=') throw new XmlError(`attribute ${attr[0]} has no value`)
      i++
      skipWs()
      const quote = s[i]
      if (quote !== '"' && quote !== "'") throw new XmlError(`attribute ${attr[0]} value is not quoted`)
      const end = s.indexOf(quote, i + 1)
      if (end < 0) throw new XmlError(`unterminated attribute ${attr[0]}`)
      const value = s.slice(i + 1, end)
      if (value.includes('<')) throw new XmlError(`"<" in attribute ${attr[0]}`)
      if (rawAttrs.some(([n]) => n === attr[0])) throw new XmlError(`duplicate attribute ${attr[0]}`)
      rawAttrs.push([attr[0], decode(value, i)])
      i = end + 1
    }
    const scope: Record<string, string> = {}
    for (const [n, v] of rawAttrs) {
      if (n === 'xmlns') scope[''] = v
      else if (n.startsWith('xmlns:')) scope[n.slice(6)] = v
    }
    const scopesHere = [...scopes, scope]
    const resolve = (prefix: string): string | undefined => {
      if (prefix === 'xml') return XML_NS
      for (let k = scopesHere.length - 1; k >= 0; k--) if (prefix in scopesHere[k]!) return scopesHere[k]![prefix] || undefined
      if (prefix === '') return undefined
      throw new XmlError(`undeclared namespace prefix "${prefix}"`)
    }
    const [prefix, local] = qname.includes(':') ? (qname.split(':') as [string, string]) : ['', qname]
    const attrs: Record<string, string> = {}
    for (const [n, v] of rawAttrs) {
      if (n === 'xmlns' || n.startsWith('xmlns:')) continue
      if (n.includes(':')) {
        const [p, l] = n.split(':') as [string, string]
        attrs[`{${resolve(p)}}${l}`] = v
      } else attrs[n] = v
    }
    const element: XmlElement = { local, ns: resolve(prefix), attrs, children: [], text: '' }
    if (selfClosing) return element
    let text = ''
    const contentStart = i
    for (;;) {
      if (i >= s.length) throw new XmlError(`element <${qname}> is not closed`)
      if (s.startsWith('</', i)) {
        element.content = { start: contentStart + bom, end: i + bom }
        const end = s.indexOf('>', i)
        if (end < 0) throw new XmlError(`unterminated end tag of <${qname}>`)
        const closing = s.slice(i + 2, end).trim()
        if (closing !== qname) throw new XmlError(`<${qname}> closed by </${closing}>`)
        i = end + 1
        break
      }
      if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i + 4)
        if (end < 0) throw new XmlError('unterminated comment')
        i = end + 3
        continue
      }
      if (s.startsWith('<![CDATA[', i)) {
        const end = s.indexOf(']]>', i)
        if (end < 0) throw new XmlError('unterminated CDATA section')
        text += s.slice(i + 9, end)
        i = end + 3
        continue
      }
      if (s.startsWith('<!', i) || s.startsWith('<?', i)) throw new XmlError('declarations and processing instructions are not accepted')
      if (s[i] === '<') {
        element.children.push(readElement(scopesHere, depth + 1))
        continue
      }
      const next = s.indexOf('<', i)
      const chunk = s.slice(i, next < 0 ? s.length : next)
      text += decode(chunk, i)
      i = next < 0 ? s.length : next
    }
    if (element.children.length && text.trim()) throw new XmlError(`mixed content in <${qname}>`)
    element.text = element.children.length ? '' : text
    return element
  }

  const root = readElement([], 0)
  skipMisc()
  if (i < s.length) throw new XmlError('content after the root element')
  return root
}

// ---- the notifications() envelope ----------------------------------------------------------------------------

export interface OutboundNotification {
  /** Notification id (04l…): Salesforce resends the same id until acknowledged. */
  id: string
  /** `Opportunity`, from `xsi:type="sf:Opportunity"`. */
  sObjectType: string
  /** The fields the Outbound Message was set up to send, as text (`xsi:nil` ⇒ null). */
  fields: Record<string, string | null>
}

export interface OutboundMessage {
  organizationId: string
  actionId: string
  /** Whether the message carried a session id (never kept: it is a live credential). */
  hasSessionId: boolean
  enterpriseUrl?: string
  partnerUrl?: string
  notifications: OutboundNotification[]
}

const isNil = (e: XmlElement) => e.attrs[`{${XSI_NS}}nil`] === 'true'

/** The documented envelope → a plain object. Throws XmlError for anything else. */
export function parseOutboundMessage(xml: string): OutboundMessage {
  const root = parseXml(xml)
  if (root.local !== 'Envelope' || root.ns !== SOAP_ENV_NS) throw new XmlError('not a SOAP 1.1 envelope (soapenv:Envelope)')
  const parts = root.children.filter((c) => c.ns === SOAP_ENV_NS)
  const body = parts.find((c) => c.local === 'Body')
  if (!body || root.children.some((c) => c.ns !== SOAP_ENV_NS || (c.local !== 'Body' && c.local !== 'Header'))) {
    throw new XmlError('the envelope must hold a soapenv:Body (and optionally a soapenv:Header)')
  }
  if (body.children.length !== 1 || body.children[0]!.local !== 'notifications' || body.children[0]!.ns !== OUTBOUND_NS) {
    throw new XmlError(`the SOAP body must hold exactly one <notifications xmlns="${OUTBOUND_NS}">`)
  }
  const n = body.children[0]!
  const one = (name: string, required: boolean): XmlElement | undefined => {
    const found = n.children.filter((c) => c.local === name)
    if (found.length > 1) throw new XmlError(`more than one <${name}>`)
    if (required && !found.length) throw new XmlError(`<notifications> has no <${name}>`)
    return found[0]
  }
  const known = new Set(['OrganizationId', 'ActionId', 'SessionId', 'EnterpriseUrl', 'PartnerUrl', 'Notification'])
  for (const c of n.children) {
    if (c.ns !== OUTBOUND_NS || !known.has(c.local)) throw new XmlError(`unexpected element <${c.local}> in <notifications>`)
  }
  const organizationId = one('OrganizationId', true)!.text.trim()
  const actionId = one('ActionId', true)!.text.trim()
  const session = one('SessionId', false)
  const notifications = n.children.filter((c) => c.local === 'Notification').map((note): OutboundNotification => {
    const id = note.children.find((c) => c.local === 'Id' && c.ns === OUTBOUND_NS)
    const sObject = note.children.find((c) => c.local === 'sObject' && c.ns === OUTBOUND_NS)
    if (!id || !sObject || note.children.length !== 2) throw new XmlError('each <Notification> holds exactly <Id> and <sObject>')
    const type = sObject.attrs[`{${XSI_NS}}type`]
    const m = type ? /^(?:[\w.-]+:)?([A-Za-z][\w]*)$/.exec(type) : null
    if (!m) throw new XmlError('<sObject> has no xsi:type (e.g. sf:Opportunity)')
    const fields: Record<string, string | null> = {}
    for (const f of sObject.children) {
      if (f.ns !== SOBJECT_NS) throw new XmlError(`sObject field <${f.local}> is not in ${SOBJECT_NS}`)
      if (f.children.length) throw new XmlError(`sObject field <${f.local}> is not a simple value`)
      if (f.local === 'fieldsToNull') continue
      if (f.local in fields) throw new XmlError(`sObject field <${f.local}> appears twice`)
      fields[f.local] = isNil(f) ? null : f.text
    }
    return { id: id.text.trim(), sObjectType: m[1]!, fields }
  })
  if (notifications.length < 1 || notifications.length > 100) throw new XmlError(`expected 1 to 100 <Notification>, got ${notifications.length}`)
  const text = (name: string) => one(name, false)?.text.trim() || undefined
  return {
    organizationId,
    actionId,
    hasSessionId: Boolean(session && !isNil(session) && session.text.trim()),
    ...(text('EnterpriseUrl') ? { enterpriseUrl: text('EnterpriseUrl') } : {}),
    ...(text('PartnerUrl') ? { partnerUrl: text('PartnerUrl') } : {}),
    notifications
  }
}

/**
 * The content of every `<SessionId>` element replaced, so a live session id never reaches the store or the logs.
 * Located by the parser, not by a pattern over the text: a session id in `<![CDATA[…]]>`, split by a comment or
 * written with character references is still one element's content. Every other byte is kept.
 */
export function redactSessionId(xml: string): string {
  let root: XmlElement
  try {
    root = parseXml(xml)
  } catch {
    return '[redacted: not a parsable Outbound Message]'
  }
  const spans: Array<{ start: number; end: number }> = []
  const todo = [root]
  while (todo.length) {
    const el = todo.pop()!
    if (el.local === 'SessionId' && el.content && el.content.end > el.content.start) spans.push(el.content)
    todo.push(...el.children)
  }
  let out = xml
  for (const span of spans.sort((a, b) => b.start - a.start)) out = out.slice(0, span.start) + '[redacted]' + out.slice(span.end)
  return out
}

/** The acknowledgement Salesforce waits for. */
export function ackEnvelope(ack = true): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<soapenv:Envelope xmlns:soapenv="${SOAP_ENV_NS}">` +
    `<soapenv:Body><notificationsResponse xmlns="${OUTBOUND_NS}"><Ack>${ack}</Ack></notificationsResponse></soapenv:Body>` +
    '</soapenv:Envelope>'
  )
}

const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** Writes a notifications() envelope like Salesforce sends (tests, docs, `curl` examples). */
export function buildOutboundMessage(msg: {
  organizationId: string
  actionId?: string
  sessionId?: string
  instanceUrl?: string
  notifications: Array<{ id: string; sObjectType?: string; fields: Record<string, string | number | boolean | null | undefined> }>
}): string {
  const base = msg.instanceUrl ?? 'https://example.my.salesforce.com'
  const notes = msg.notifications
    .map((n) => {
      const fields = Object.entries(n.fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => (v === null ? `<sf:${k} xsi:nil="true"/>` : `<sf:${k}>${esc(String(v))}</sf:${k}>`))
        .join('')
      return `<Notification><Id>${esc(n.id)}</Id><sObject xsi:type="sf:${n.sObjectType ?? 'Opportunity'}" xmlns:sf="${SOBJECT_NS}">${fields}</sObject></Notification>`
    })
    .join('')
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<soapenv:Envelope xmlns:soapenv="${SOAP_ENV_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="${XSI_NS}">` +
    `<soapenv:Body><notifications xmlns="${OUTBOUND_NS}">` +
    `<OrganizationId>${esc(msg.organizationId)}</OrganizationId>` +
    `<ActionId>${esc(msg.actionId ?? '04k000000000001AAA')}</ActionId>` +
    (msg.sessionId ? `<SessionId>${esc(msg.sessionId)}</SessionId>` : '<SessionId xsi:nil="true"/>') +
    `<EnterpriseUrl>${esc(`${base}/services/Soap/c/59.0/${msg.organizationId}`)}</EnterpriseUrl>` +
    `<PartnerUrl>${esc(`${base}/services/Soap/u/59.0/${msg.organizationId}`)}</PartnerUrl>` +
    notes +
    '</notifications></soapenv:Body></soapenv:Envelope>'
  )
}

// ---- ids -----------------------------------------------------------------------------------------------------

/** The 18-character, case-insensitive-safe form of a 15- or 18-character Salesforce id. */
export function sfId18(id: string): string {
  if (id.length === 18) return id
  if (!/^[a-zA-Z0-9]{15}$/.test(id)) return id
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'
  let suffix = ''
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0
    for (let k = 0; k < 5; k++) if (/[A-Z]/.test(id[chunk * 5 + k]!)) bits |= 1 << k
    suffix += alphabet[bits]
  }
  return id + suffix
}

/** Same org? 15-character ids are case-sensitive; the 18-character form adds a checksum suffix. */
export function sameSalesforceId(a: string, b: string): boolean {
  const x = a.trim()
  const y = b.trim()
  if (!/^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$/.test(x) || !/^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$/.test(y)) return false
  // The first 15 characters are the id (case-sensitive); the 18-character suffix only encodes their case.
  return x.slice(0, 15) === y.slice(0, 15)
}
