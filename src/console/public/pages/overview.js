// Overview: live numbers and charts from polling GET /stats.
import { api, listOf, seg } from '../api.js'
import { barChart, lineChart } from '../charts.js'
import { formatBytes, formatDuration, formatNumber, h, mount } from '../dom.js'
import { showError } from '../ui.js'

export const POLL_MS = 3000
const CAPACITY = 60 // samples kept: 3 minutes at the default poll

/** @typedef {{ t: number, s: Record<string, any>, failures: Record<string, number> }} Sample */
/** @type {Sample[]} history kept across visits to the page */
const history = []

/** Authentication failures as { reason: count }, whatever shape the API sends. @param {any} s */
export function failuresByReason(s) {
  const f = s.authFailures ?? s.authentication?.failures
  if (typeof f === 'number') return f > 0 ? { failed: f } : {}
  if (f && typeof f === 'object') {
    const by = f.byReason ?? f.reasons ?? f
    /** @type {Record<string, number>} */
    const out = {}
    for (const [k, v] of Object.entries(by)) if (typeof v === 'number' && k !== 'total') out[k] = v
    return out
  }
  return {}
}

/**
 * The stats answer in one flat shape (the API nests: connections.current, messages.received,
 * bytes.in …; flat names are accepted too).
 * @param {any} s
 */
export function normalizeStats(s) {
  /** @param {...unknown} vs */
  const num = (...vs) => { for (const v of vs) if (typeof v === 'number') return v; return undefined }
  return {
    connections: num(s.connections, s.connections?.current),
    connectionsTotal: num(s.connections?.total, s.connectionsTotal),
    sessions: num(s.sessions, s.sessions?.current),
    retained: num(s.retained, s.retained?.count),
    uptimeSeconds: num(s.uptimeSeconds),
    messagesReceived: num(s.messagesReceived, s.messages?.received),
    messagesSent: num(s.messagesSent, s.messages?.sent),
    messagesDropped: num(s.messagesDropped, s.messages?.dropped),
    bytesIn: num(s.bytesIn, s.bytes?.in),
    bytesOut: num(s.bytesOut, s.bytes?.out),
    authSuccesses: num(s.authSuccesses, s.authentication?.successes),
    authzDenied: s.authzDenied && typeof s.authzDenied === 'object' ? s.authzDenied : undefined,
    limitsHit: s.limitsHit && typeof s.limitsHit === 'object' ? s.limitsHit : undefined,
  }
}

/**
 * Authentication successes: the stats' own count, else the sum of every authenticator's
 * accepted tokens (GET /authenticators/:name/status → stats.allow).
 */
async function authSuccesses() {
  const list = listOf(await api.get('/authenticators'), 'authenticators')
  const statuses = await Promise.all(list.map((a) => api.get(`/authenticators/${seg(String(/** @type {any} */ (a).name))}/status`).catch(() => undefined)))
  let total = 0
  for (const st of statuses) if (st && st.stats && typeof st.stats.allow === 'number') total += st.stats.allow
  return total
}

/** Per-second rate of a counter between consecutive samples. @param {string} key */
function rates(key) {
  const out = []
  for (let i = 1; i < history.length; i++) {
    const a = /** @type {Sample} */ (history[i - 1]), b = /** @type {Sample} */ (history[i])
    const dv = Number(b.s[key] ?? 0) - Number(a.s[key] ?? 0)
    const dt = (b.t - a.t) / 1000
    out.push(dt > 0 && dv >= 0 ? dv / dt : 0)
  }
  return out
}

/** @param {string} label @param {string} value @param {string} [sub] */
function tile(label, value, sub) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), sub ? h('div', { class: 'tile-sub' }, sub) : null)
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const tiles = h('section', { class: 'tiles', id: 'stat-tiles' })
  const charts = h('section', { class: 'charts', id: 'charts' })
  mount(root, h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('span', { class: 'muted' }, `updated every ${POLL_MS / 1000} s`)), slot, tiles, charts)

  const draw = () => {
    const last = history[history.length - 1]
    if (last === undefined) return
    const s = last.s
    const ok = s.authSuccesses
    const failures = last.failures
    const failed = Object.values(failures).reduce((a, b) => a + b, 0)
    mount(tiles,
      tile('Connections', formatNumber(s.connections), `${formatNumber(s.sessions)} ${s.sessions === 1 ? 'session' : 'sessions'}${s.connectionsTotal !== undefined ? `, ${formatNumber(s.connectionsTotal)} since start` : ''}`),
      tile('Messages in', formatNumber(s.messagesReceived), formatBytes(s.bytesIn)),
      tile('Messages out', formatNumber(s.messagesSent), formatBytes(s.bytesOut)),
      tile('Dropped', formatNumber(s.messagesDropped)),
      tile('Auth failures', formatNumber(failed), ok !== undefined ? `${formatNumber(ok)} successes` : undefined),
      tile('Retained', formatNumber(s.retained)),
      tile('Uptime', formatDuration(s.uptimeSeconds)))
    const items = Object.entries(failures).map(([label, value]) => ({ label, value, tone: /** @type {'bad'} */ ('bad') }))
    if (ok !== undefined) items.push({ label: 'success', value: ok, tone: /** @type {any} */ ('ok') })
    charts.dataset.samples = String(history.length)
    mount(charts,
      lineChart({ title: 'Connections', series: [{ name: 'connected', values: history.map((x) => Number(x.s.connections ?? 0)) }], capacity: Math.max(10, history.length) }),
      lineChart({ title: 'Messages per second', unit: '/s', series: [{ name: 'in', values: rates('messagesReceived') }, { name: 'out', values: rates('messagesSent') }], capacity: Math.max(9, history.length - 1) }),
      barChart({ title: 'Authentication outcomes', items, empty: 'No authentication attempts yet.' }),
      s.authzDenied ? barChart({ title: 'Authorization denials', items: Object.entries(s.authzDenied).filter(([, v]) => typeof v === 'number').map(([label, value]) => ({ label, value: Number(value), tone: /** @type {'bad'} */ ('bad') })), empty: 'None.' }) : null,
      s.limitsHit ? barChart({ title: 'Limits hit', items: Object.entries(s.limitsHit).filter(([, v]) => typeof v === 'number' && v > 0).map(([label, value]) => ({ label, value: Number(value), tone: /** @type {'bad'} */ ('bad') })), empty: 'None.' }) : null,
      lineChart({ title: 'Traffic (bytes per second)', unit: 'B/s', series: [{ name: 'in', values: rates('bytesIn') }, { name: 'out', values: rates('bytesOut') }], capacity: Math.max(9, history.length - 1) }))
  }

  let stopped = false
  let timer = 0
  const poll = async () => {
    try {
      const raw = (await api.get('/stats')) ?? {}
      const s = normalizeStats(raw)
      if (s.authSuccesses === undefined) s.authSuccesses = await authSuccesses().catch(() => undefined)
      if (stopped) return
      history.push({ t: Date.now(), s, failures: failuresByReason(raw) })
      if (history.length > CAPACITY) history.splice(0, history.length - CAPACITY)
      showError(slot)
      draw()
    } catch (err) {
      if (!stopped) showError(slot, err)
    }
    if (!stopped) timer = window.setTimeout(poll, POLL_MS)
  }
  draw()
  void poll()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
