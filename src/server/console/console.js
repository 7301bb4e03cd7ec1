// The operator console: a static page over the admin API (same endpoints as the CLI and the OpenAPI document).
// The admin token stays in this tab's sessionStorage and goes out only as a bearer header to this origin.
'use strict'
const $ = (id) => document.getElementById(id)
let token = sessionStorage.getItem('rb-admin-token')

/** Refused by the bridge (wrong or unset token): the console goes back to the login form with the bridge's reason. */
class LoginRefused extends Error {}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined
  })
  const json = await res.json().catch(() => ({}))
  if (res.status === 401 || res.status === 503) {
    const message = res.status === 401
      ? 'The admin token was not accepted. Check it against BRIDGE_ADMIN_TOKEN in the bridge configuration and try again.'
      : `The admin API is switched off: ${json.message || 'set BRIDGE_ADMIN_TOKEN on the bridge and restart it'}.`
    forget(message)
    throw new LoginRefused(message)
  }
  if (!res.ok) {
    const err = new Error(json.message || `admin API answered ${res.status}`)
    err.body = json
    throw err
  }
  return json
}

function el(tag, text, className) {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = text
  if (className) node.className = className
  return node
}

function cell(text, className) {
  return el('td', text, className)
}

function button(label, onClick) {
  const b = el('button', label)
  b.type = 'button'
  b.addEventListener('click', onClick)
  return b
}

function buttonCell(label, onClick) {
  const td = el('td')
  td.append(button(label, onClick))
  return td
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector('tbody')
  body.replaceChildren(...rows)
  if (!rows.length) {
    const tr = el('tr')
    const td = cell('nothing here')
    td.colSpan = 7
    tr.append(td)
    body.append(tr)
  }
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
/** "5 minutes ago · 1 Dec 2026, 23:10" : how long ago first, the local date and time for the record. */
function when(ms) {
  if (ms === null || ms === undefined) return '—'
  const seconds = Math.round((ms - Date.now()) / 1000)
  const units = [['year', 31_536_000], ['month', 2_592_000], ['day', 86_400], ['hour', 3_600], ['minute', 60], ['second', 1]]
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) ?? ['second', 1]
  const date = new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
  return `${relative.format(Math.round(seconds / size), unit)} · ${date}`
}

function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  return `${(ms / 3_600_000).toFixed(1)} h`
}

let statusTimer
function say(text) {
  clearTimeout(statusTimer)
  $('status').textContent = text
  statusTimer = setTimeout(() => ($('status').textContent = ''), 5000)
}

/** Errors of background work: a refused token is already shown at the login form, anything else as a toast. */
function report(err) {
  if (!(err instanceof LoginRefused)) say(err.message)
}

// ---- Operations -------------------------------------------------------------------------------------------------

async function loadQueue() {
  const stats = await api('GET', '/admin/stats')
  const byDestination = new Map()
  for (const j of stats.jobs) {
    const row = byDestination.get(j.destination) ?? {}
    row[j.status] = j.count
    byDestination.set(j.destination, row)
  }
  const oldest = new Map(stats.oldestPendingAgeMs.map((o) => [o.destination, o.ageMs]))
  fill('queue', [...byDestination].map(([destination, counts]) => {
    const tr = el('tr')
    tr.append(cell(destination))
    for (const s of ['pending', 'leased', 'delivered', 'ignored', 'dead']) tr.append(cell(String(counts[s] ?? 0)))
    tr.append(cell(oldest.has(destination) ? duration(oldest.get(destination)) : '—'))
    return tr
  }))
}

function formQuery(formId) {
  const q = new URLSearchParams()
  for (const [k, v] of new FormData($(formId))) if (v) q.set(k, String(v))
  return q
}

let shownDead = []
async function loadDlq() {
  const { jobs } = await api('GET', `/admin/dlq?${formQuery('dlq-filter')}`)
  shownDead = jobs.map((j) => j.id)
  fill('dlq', jobs.map((j) => {
    const tr = el('tr')
    tr.append(cell(when(j.updatedAt)), cell(j.destination), cell(j.event), cell(String(j.attempts)), cell(j.lastError ?? '', 'error'))
    const actions = buttonCell('Replay', async () => {
      const r = await api('POST', '/admin/dlq/replay', { ids: [j.id] })
      say(`replayed ${r.replayed}`)
      await refresh()
    })
    actions.append(' ', button('Details', () => showEvent(j.inboxId).catch(report)))
    tr.append(actions)
    return tr
  }))
}

async function loadQuarantine() {
  const { items } = await api('GET', '/admin/quarantine')
  fill('quarantine', items.map((q) => {
    const tr = el('tr')
    tr.append(cell(when(q.receivedAt)), cell(q.source), cell(q.event ?? q.eventType), cell(q.reasons.join('; '), 'error'))
    tr.append(buttonCell('Details', () => showEvent(q.inboxId).catch(report)))
    return tr
  }))
}

// ---- Webhook details and history ----------------------------------------------------------------------------

function table(headers, rows) {
  const t = el('table')
  const head = el('tr')
  for (const h of headers) head.append(el('th', h))
  t.append(el('thead'), el('tbody'))
  t.tHead.append(head)
  for (const r of rows) {
    const tr = el('tr')
    for (const v of r) tr.append(cell(v === undefined || v === null ? '' : String(v)))
    t.tBodies[0].append(tr)
  }
  return t
}

async function showEvent(id) {
  const d = await api('GET', `/admin/events/${encodeURIComponent(id)}`)
  $('detail-id').textContent = d.inbox.id
  const summary = [
    el('p', `${d.inbox.source} · ${d.inbox.eventType} · received ${when(d.inbox.receivedAt)} · ${d.inbox.status}${d.inbox.reason ? ` (${d.inbox.reason})` : ''}`),
    el('h3', 'Messages'),
    table(['event', 'status', 'person', 'why held back'], d.messages.map((m) => [m.message.type === 'track' ? m.message.event : 'identify', m.status, m.message.userId ?? '', m.violations.join('; ')])),
    el('h3', 'Deliveries'),
    table(['destination', 'event', 'status', 'attempts', 'last change', 'last error'], d.jobs.map((j) => [j.destination, j.event, j.status, j.attempts, when(j.updatedAt), j.lastError ?? ''])),
    el('h3', 'Attempts'),
    table(['started', 'took', 'outcome', 'HTTP status', 'error'], d.attempts.map((a) => [when(a.startedAt), duration(a.finishedAt - a.startedAt), a.outcome, a.statusCode ?? '', a.error ?? '']))
  ]
  $('detail-summary').replaceChildren(...summary)
  $('detail-body').textContent = JSON.stringify(d, null, 2)
  $('detail').hidden = false
  $('detail').scrollIntoView()
}

async function loadWebhooks() {
  const { webhooks } = await api('GET', `/admin/webhooks?${formQuery('webhook-filter')}`)
  fill('webhooks', webhooks.map((w) => {
    const tr = el('tr')
    tr.append(cell(when(w.receivedAt)), cell(w.source), cell(w.eventType), cell(w.messages.map((m) => `${m.event} (${m.status})`).join(', ')), cell(w.people.join(', ')))
    tr.append(buttonCell('Details', () => showEvent(w.inboxId).catch(report)))
    return tr
  }))
}

// ---- Tracking plan ----------------------------------------------------------------------------------------------

let catalogue
async function loadPlan() {
  catalogue = await api('GET', '/admin/plan')
  $('plan-version').textContent = catalogue.fingerprint
  $('plan-idle').textContent = `No event of the plan reaches: ${catalogue.idleDestinations.join(', ')} (check their subscriptions).`
  $('plan-idle').hidden = !catalogue.idleDestinations.length
  fill('plan', catalogue.entries.map((e) => {
    const tr = el('tr')
    const name = el('td')
    name.append(button(e.kind === 'track' ? e.name : `${e.name} (identify)`, () => showEntry(e)))
    name.append(el('div', e.description, 'help'))
    tr.append(name)
    tr.append(cell(e.versions.map((v) => `v${v.version} ${v.status}`).join(', ')))
    const producers = e.producers.map((p) => `${p.source} (${p.eventTypes.join(', ')})`)
    const unsampled = catalogue.unknownProducers.length ? ` (sources without samples, not checked: ${catalogue.unknownProducers.join(', ')})` : ''
    tr.append(cell(producers.length ? producers.join('; ') : `no source in the samples${unsampled}`, producers.length ? 'producers' : 'producers warn'))
    tr.append(cell(e.consumers.length ? e.consumers.join(', ') : 'no destination', 'consumers'))
    tr.append(cell(`${e.recent.routed} sent, ${e.recent.quarantined} held back`))
    tr.append(cell(e.quarantinedBy.map((q) => `${q.count} × ${q.reason}`).join('; '), 'error'))
    return tr
  }))
}

function showEntry(e) {
  $('plan-detail-title').textContent = `${e.name} — ${e.file}`
  $('plan-detail-description').textContent = `${e.description}${e.owner ? ` Owner: ${e.owner}.` : ''}`
  $('plan-detail-versions').replaceChildren(...e.versions.flatMap((v) => [
    el('h4', `version ${v.version} (${v.status}${v.version === e.currentVersion ? ', stamped on new messages' : ''})`),
    table(['property', 'type', 'required', 'filled by', 'description'], v.properties.map((p) => [
      p.name,
      p.enum ? `${p.type}: ${p.enum.join(' | ')}` : p.type,
      p.required ? 'required' : 'optional',
      p.filledBy.length ? p.filledBy.join(', ') : 'no source in the samples',
      p.description
    ]))
  ]))
  $('plan-detail').hidden = false
  $('plan-detail').scrollIntoView()
}

function diffLines(diff) {
  const lines = []
  for (const e of diff.entries) {
    for (const c of e.changes) lines.push(`${e.name}: ${c.kind}: ${c.message}`)
    for (const v of e.versions) for (const c of v.changes) lines.push(`${e.name} version ${v.version}: ${c.kind}: ${c.message}`)
    for (const f of e.failures) lines.push(`${e.name}: NOT OK: ${f}`)
    for (const w of e.warnings) lines.push(`${e.name}: note: ${w}`)
  }
  return lines
}

function list(title, lines, className) {
  const box = el('div')
  if (!lines.length) return box
  box.append(el('h3', title))
  const ul = el('ul', undefined, className)
  for (const l of lines) ul.append(el('li', l))
  box.append(ul)
  return box
}

async function previewChange(yaml) {
  const r = await api('POST', '/admin/plan/preview', { yaml })
  $('preview-result').hidden = false
  $('preview-lint').replaceChildren(list(r.errors ? 'Problems to fix first (plan lint)' : 'Warnings (plan lint)', r.lint, 'error'))
  if (r.errors) {
    $('preview-headline').textContent = `${r.errors} problem(s) in ${r.path}: fix them before anything can be checked.`
    $('preview-diff').replaceChildren()
    fill('preview-events', [])
    $('preview-reasons').replaceChildren()
    return
  }
  const p = r.preview
  $('preview-headline').textContent =
    `${p.newlyFailing} of ${p.examined} recent message(s) would be quarantined by this change` +
    (p.nowPassing ? `; ${p.nowPassing} held back now would pass` : '') +
    `. plan diff: ${r.diff.ok ? 'OK' : 'NOT OK'} (${r.diff.summary.breaking} breaking, ${r.diff.summary.addition} addition(s), ${r.diff.summary.revision} revision(s)).`
  $('preview-diff').replaceChildren(list('Changes against the running plan (plan diff)', diffLines(r.diff)))
  fill('preview-events', p.events.map((e) => {
    const tr = el('tr')
    for (const v of [e.event, e.version ?? '—', e.examined, e.newlyFailing, e.nowPassing, e.stillFailing]) tr.append(cell(String(v)))
    return tr
  }))
  $('preview-reasons').replaceChildren(...p.newReasons.map((g) => el('li', `${g.count} × ${g.event}: ${g.reason}`)))
}

// ---- Navigation and login ---------------------------------------------------------------------------------------

let view = 'ops'
function show(name) {
  view = name
  for (const v of ['ops', 'plan', 'webhooks']) $(`view-${v}`).hidden = v !== name
  for (const b of $('nav').querySelectorAll('button')) b.toggleAttribute('aria-current', b.dataset.view === name)
  refresh()
}

async function refresh() {
  try {
    if (view === 'ops') await Promise.all([loadQueue(), loadDlq(), loadQuarantine()])
    else if (view === 'plan') await loadPlan()
    else await loadWebhooks()
  } catch (err) {
    report(err)
  }
}

function open() {
  $('login').hidden = true
  $('login-message').hidden = true
  $('status').textContent = ''
  $('logout').hidden = false
  $('nav').hidden = false
  $('app').hidden = false
  refresh()
}

function forget(message) {
  token = null
  sessionStorage.removeItem('rb-admin-token')
  $('login').hidden = false
  $('logout').hidden = true
  $('nav').hidden = true
  $('app').hidden = true
  $('login-message').textContent = message ?? ''
  $('login-message').hidden = !message
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault()
  token = $('token').value
  sessionStorage.setItem('rb-admin-token', token)
  $('token').value = ''
  open()
})
$('logout').addEventListener('click', () => forget())
for (const b of $('nav').querySelectorAll('button')) b.addEventListener('click', () => show(b.dataset.view))
$('dlq-filter').addEventListener('submit', (e) => {
  e.preventDefault()
  loadDlq().catch(report)
})
$('webhook-filter').addEventListener('submit', (e) => {
  e.preventDefault()
  loadWebhooks().catch(report)
})
$('replay-all').addEventListener('click', async () => {
  if (!shownDead.length) return say('nothing to replay')
  if (!confirm(`Replay ${shownDead.length} failed deliveries?`)) return
  const r = await api('POST', '/admin/dlq/replay', { ids: shownDead }).catch(report)
  if (!r) return
  say(`replayed ${r.replayed} of ${r.matched}`)
  await refresh()
})
$('requeue').addEventListener('click', async () => {
  const r = await api('POST', '/admin/quarantine/replay', {}).catch(report)
  if (!r) return
  say(`${r.routed} now sent, ${r.stillQuarantined} still held back`)
  await refresh()
})
$('plan-reload').addEventListener('click', async () => {
  try {
    const r = await api('POST', '/admin/plan/reload')
    say(r.changed ? `plan ${r.running} is now running (was ${r.previous}); "Re-check all" in Operations sends what now passes` : `the files hold the running plan ${r.running}: nothing changed`)
    await loadPlan()
  } catch (err) {
    if (err instanceof LoginRefused) return
    say(`${err.message}${err.body?.errors ? `: ${err.body.errors.join(' · ')}` : ''}`)
  }
})
$('proposal-file').addEventListener('change', async () => {
  const file = $('proposal-file').files[0]
  if (file) $('proposal').value = await file.text()
})
$('preview-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const yaml = $('proposal').value
  if (!yaml.trim()) return say('paste a plan file first')
  previewChange(yaml).catch((err) => {
    if (err instanceof LoginRefused) return
    // Not a plan file at all (422): say so where the answer is expected, not only in a toast.
    $('preview-result').hidden = false
    $('preview-headline').textContent = err.message
    for (const id of ['preview-lint', 'preview-diff', 'preview-reasons']) $(id).replaceChildren()
    fill('preview-events', [])
  })
})
$('detail-close').addEventListener('click', () => ($('detail').hidden = true))

if (token) open()
setInterval(() => token && view !== 'plan' && refresh(), 10_000)
