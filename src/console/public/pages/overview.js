// Overview: live numbers from polling GET /stats; charts over time from the broker's own
// history (GET /stats/history: a point every 10 s for an hour), so a reloaded page shows it at once.
import { api, listOf, seg } from '../api.js'
import { barChart, timeChart } from '../charts.js'
import { formatBytes, formatDuration, formatNumber, h, mount } from '../dom.js'
import { showError } from '../ui.js'

export const POLL_MS = 3000

/** The ranges the charts show (GET /stats/history?range=). */
const RANGES = [{ id: '5m', label: '5 min' }, { id: '15m', label: '15 min' }, { id: '1h', label: '1 h' }]
const RANGE_KEY = 'portcullis.overview.range'

/** @typedef {{ at: string, connections: number, connectsPerSecond: number, messagesInPerSecond: number, messagesOutPerSecond: number,
 *   bytesInPerSecond: number, bytesOutPerSecond: number, authFailuresPerSecond: number, dropsPerSecond: number }} StatsPoint */
/** @typedef {{ range: string, intervalSeconds: number, from: string, to: string, points: StatsPoint[] }} StatsHistory */

/** The range chosen last (kept in this browser), else 15 minutes. */
function savedRange() {
  const r = localStorage.getItem(RANGE_KEY)
  return RANGES.some((x) => x.id === r) ? /** @type {string} */ (r) : '15m'
}

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

/** @param {string} label @param {string} value @param {string} [sub] */
function tile(label, value, sub) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), sub ? h('div', { class: 'tile-sub' }, sub) : null)
}

/**
 * The charts of a history answer: the x axis runs from the range's start (or the first point's
 * interval, when the broker has run for less) to now.
 * @param {StatsHistory} hist
 */
function historyCharts(hist) {
  const p = hist.points
  const times = p.map((x) => Date.parse(x.at))
  const to = Date.parse(hist.to)
  const first = times[0]
  const from = Math.max(Date.parse(hist.from), first === undefined ? to - hist.intervalSeconds * 1000 : first - hist.intervalSeconds * 1000)
  const chart = (/** @type {string} */ id, /** @type {string} */ title, /** @type {string} */ unit, /** @type {Array<[string, keyof StatsPoint]>} */ series) =>
    timeChart({ id, title, unit, times, from, to, series: series.map(([name, key]) => ({ name, values: p.map((x) => Number(x[key] ?? 0)) })) })
  return [
    chart('connections', 'Connections', '', [['connected', 'connections']]),
    chart('messages', 'Messages per second', '/s', [['in', 'messagesInPerSecond'], ['out', 'messagesOutPerSecond']]),
    chart('events', 'Connects, auth failures, drops per second', '/s',
      [['connects', 'connectsPerSecond'], ['auth failures', 'authFailuresPerSecond'], ['dropped', 'dropsPerSecond']]),
    chart('bytes', 'Traffic (bytes per second)', 'B/s', [['in', 'bytesInPerSecond'], ['out', 'bytesOutPerSecond']]),
  ]
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const tiles = h('section', { class: 'tiles', id: 'stat-tiles' })
  const charts = h('section', { class: 'charts', id: 'charts' })
  const bars = h('section', { class: 'charts', id: 'bars' })
  let range = savedRange()
  const rangeButtons = RANGES.map((r) => h('button', {
    type: 'button', class: 'secondary', 'data-range': r.id, 'aria-pressed': String(r.id === range),
    onclick: () => {
      range = r.id
      localStorage.setItem(RANGE_KEY, range)
      for (const b of rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === range))
      void loadHistory()
    },
  }, r.label))
  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'),
      h('div', { class: 'head-tools' },
        h('span', { class: 'muted' }, `updated every ${POLL_MS / 1000} s`),
        h('div', { class: 'segmented', id: 'history-range', role: 'group', 'aria-label': 'Time range of the charts' }, ...rangeButtons))),
    slot, tiles, charts, bars)

  /** @type {{ s: Record<string, any>, failures: Record<string, number> } | undefined} */
  let last
  const drawStats = () => {
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
    mount(bars,
      barChart({ title: 'Authentication outcomes', items, empty: 'No authentication attempts yet.' }),
      s.authzDenied ? barChart({ title: 'Authorization denials', items: Object.entries(s.authzDenied).filter(([, v]) => typeof v === 'number').map(([label, value]) => ({ label, value: Number(value), tone: /** @type {'bad'} */ ('bad') })), empty: 'None.' }) : null,
      s.limitsHit ? barChart({ title: 'Limits hit', items: Object.entries(s.limitsHit).filter(([, v]) => typeof v === 'number' && v > 0).map(([label, value]) => ({ label, value: Number(value), tone: /** @type {'bad'} */ ('bad') })), empty: 'None.' }) : null)
  }

  let stopped = false
  let timer = 0
  /** When the history was last fetched, and how often it gains a point (ms). */
  let historyAt = 0
  let historyEvery = 10_000
  /** The answer of the newest request wins (a range clicked while one was on its way). */
  let historyRequest = 0
  const loadHistory = async () => {
    const mine = ++historyRequest
    historyAt = Date.now()
    const wanted = range
    const hist = /** @type {StatsHistory} */ (await api.get(`/stats/history?range=${wanted}`))
    if (stopped || mine !== historyRequest) return
    historyEvery = Math.max(1000, hist.intervalSeconds * 1000)
    charts.dataset.range = hist.range
    charts.dataset.points = String(hist.points.length)
    mount(charts, ...historyCharts(hist))
  }
  const poll = async () => {
    try {
      const raw = (await api.get('/stats')) ?? {}
      const s = normalizeStats(raw)
      if (s.authSuccesses === undefined) s.authSuccesses = await authSuccesses().catch(() => undefined)
      if (stopped) return
      last = { s, failures: failuresByReason(raw) }
      drawStats()
      if (Date.now() - historyAt >= historyEvery) await loadHistory()
      showError(slot)
    } catch (err) {
      if (!stopped) showError(slot, err)
    }
    if (!stopped) timer = window.setTimeout(poll, POLL_MS)
  }
  void poll()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
