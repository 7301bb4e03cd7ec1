// The operator console: a static page over the admin API (same endpoints as the CLI and the OpenAPI document).
// The admin token stays in this tab's sessionStorage and goes out only as a bearer header to this origin.
'use strict'
const $ = (id) => document.getElementById(id)
let token = sessionStorage.getItem('rb-admin-token')

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined
  })
  const json = await res.json().catch(() => ({}))
  if (res.status === 401 || res.status === 503) {
    forget()
    throw new Error(json.message || `admin API answered ${res.status}`)
  }
  if (!res.ok) throw new Error(json.message || `admin API answered ${res.status}`)
  return json
}

function cell(text, className) {
  const td = document.createElement('td')
  td.textContent = text
  if (className) td.className = className
  return td
}

function button(label, onClick) {
  const td = document.createElement('td')
  const b = document.createElement('button')
  b.textContent = label
  b.addEventListener('click', onClick)
  td.append(b)
  return td
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector('tbody')
  body.replaceChildren(...rows)
  if (!rows.length) {
    const tr = document.createElement('tr')
    const td = cell('nothing here')
    td.colSpan = 7
    tr.append(td)
    body.append(tr)
  }
}

function when(ms) {
  return new Date(ms).toLocaleString()
}

function say(text) {
  $('status').textContent = text
  setTimeout(() => ($('status').textContent = ''), 5000)
}

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
    const tr = document.createElement('tr')
    tr.append(cell(destination))
    for (const s of ['pending', 'leased', 'delivered', 'ignored', 'dead']) tr.append(cell(String(counts[s] ?? 0)))
    tr.append(cell(oldest.has(destination) ? `${Math.round(oldest.get(destination) / 1000)} s` : '—'))
    return tr
  }))
}

function dlqFilter() {
  const form = new FormData($('dlq-filter'))
  const q = new URLSearchParams()
  for (const [k, v] of form) if (v) q.set(k, String(v))
  return q
}

let shownDead = []
async function loadDlq() {
  const { jobs } = await api('GET', `/admin/dlq?${dlqFilter()}`)
  shownDead = jobs.map((j) => j.id)
  fill('dlq', jobs.map((j) => {
    const tr = document.createElement('tr')
    tr.append(cell(when(j.updatedAt)), cell(j.destination), cell(j.event), cell(String(j.attempts)), cell(j.lastError ?? '', 'error'))
    const actions = button('Replay', async () => {
      const r = await api('POST', '/admin/dlq/replay', { ids: [j.id] })
      say(`replayed ${r.replayed}`)
      await refresh()
    })
    const more = document.createElement('button')
    more.textContent = 'Details'
    more.addEventListener('click', () => showEvent(j.inboxId))
    actions.append(' ', more)
    tr.append(actions)
    return tr
  }))
}

async function loadQuarantine() {
  const { items } = await api('GET', '/admin/quarantine')
  fill('quarantine', items.map((q) => {
    const tr = document.createElement('tr')
    tr.append(cell(when(q.receivedAt)), cell(q.source), cell(q.event ?? q.eventType), cell(q.reasons.join('; '), 'error'))
    tr.append(button('Details', () => showEvent(q.inboxId)))
    return tr
  }))
}

async function showEvent(id) {
  const detail = await api('GET', `/admin/events/${encodeURIComponent(id)}`)
  $('detail-id').textContent = id
  $('detail-body').textContent = JSON.stringify(detail, null, 2)
  $('detail').hidden = false
  $('detail').scrollIntoView()
}

async function refresh() {
  try {
    await Promise.all([loadQueue(), loadDlq(), loadQuarantine()])
  } catch (err) {
    say(err.message)
  }
}

function open() {
  $('login').hidden = true
  $('logout').hidden = false
  $('app').hidden = false
  refresh()
}

function forget() {
  token = null
  sessionStorage.removeItem('rb-admin-token')
  $('login').hidden = false
  $('logout').hidden = true
  $('app').hidden = true
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault()
  token = $('token').value
  sessionStorage.setItem('rb-admin-token', token)
  $('token').value = ''
  open()
})
$('logout').addEventListener('click', forget)
$('dlq-filter').addEventListener('submit', (e) => {
  e.preventDefault()
  loadDlq().catch((err) => say(err.message))
})
$('replay-all').addEventListener('click', async () => {
  if (!shownDead.length) return say('nothing to replay')
  if (!confirm(`Replay ${shownDead.length} failed deliveries?`)) return
  const r = await api('POST', '/admin/dlq/replay', { ids: shownDead })
  say(`replayed ${r.replayed} of ${r.matched}`)
  await refresh()
})
$('requeue').addEventListener('click', async () => {
  const r = await api('POST', '/admin/quarantine/replay', {})
  say(`${r.routed} now sent, ${r.stillQuarantined} still held back`)
  await refresh()
})
$('detail-close').addEventListener('click', () => ($('detail').hidden = true))

if (token) open()
setInterval(() => token && refresh(), 10_000)
