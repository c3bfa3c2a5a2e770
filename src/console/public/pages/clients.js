// Clients: connected clients and offline persistent sessions, a page at a time from the API
// (the page shown refreshed every few seconds), searched by client id, sorted by client id,
// connected since or address, filtered by state; inspect; disconnect a client or end an offline session.
import { api, listOf, seg } from '../api.js'
import { formatRelative, formatTime, h, mount } from '../dom.js'
import { confirmDialog, modal, pill, showError, table, toast } from '../ui.js'
import { permissionsSection } from '../permissions.js'

export const POLL_MS = 3000
/** Clients a page shows. */
export const PAGE = 50
/** The orders the API lists in (GET /clients?sort&order): value = `sort:order`. */
const SORTS = [
  ['clientId:asc', 'Client id A→Z'], ['clientId:desc', 'Client id Z→A'],
  ['connectedAt:desc', 'Connected: newest first'], ['connectedAt:asc', 'Connected: oldest first'],
  ['address:asc', 'Address ↑'], ['address:desc', 'Address ↓'],
]
/** @typedef {Record<string, any>} Client */

const PROTOCOL = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' }
/** @param {unknown} v */
const protocol = (v) => /** @type {Record<string, string>} */ (PROTOCOL)[String(v)] ?? (v === undefined ? '—' : String(v))

/** @param {Client} c */
const expiresAt = (c) => c.token?.expiresAt ?? c.tokenExpiresAt
/** @param {Client} c */
const subject = (c) => c.token?.subject ?? c.tokenSubject
/** Entries from before offline sessions were listed have no `connected`: they are connected. @param {Client} c */
const isOnline = (c) => c.connected !== false

const NEVER = 0xffffffff
/** How long an offline session is kept. @param {Client} c */
function sessionEnds(c) {
  const s = c.session ?? {}
  if (s.expiresAt) return `ends ${formatRelative(s.expiresAt)}`
  return s.expiryInterval === NEVER ? 'never expires' : '—'
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: 'clients' }, h('p', { class: 'muted' }, 'Loading…'))
  const filter = /** @type {HTMLInputElement} */ (h('input', { type: 'search', id: 'client-filter', placeholder: 'Search client ids', 'aria-label': 'Search client ids' }))
  const sortSelect = /** @type {HTMLSelectElement} */ (h('select', { id: 'client-sort', 'aria-label': 'Sort by' }, ...SORTS.map(([value, label]) => h('option', { value }, label))))
  const stateSelect = /** @type {HTMLSelectElement} */ (h('select', { id: 'client-state', 'aria-label': 'Show' },
    h('option', { value: 'all' }, 'Connected and offline'), h('option', { value: 'connected' }, 'Connected only'), h('option', { value: 'offline' }, 'Offline sessions only')))
  /** @type {Client[]} */
  let items = []
  /** @type {Array<{ after: string, afterKey: string } | undefined>} where each page shown so far starts (undefined: the first) */
  let pages = [undefined]
  let hasNext = false
  const previous = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary', id: 'clients-previous', onclick: () => { pages.pop(); void load() } }, 'Previous'))
  const next = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary', id: 'clients-next', onclick: () => { pages.push(cursorAfter(items[items.length - 1])); void load() } }, 'Next'))
  const position = h('span', { class: 'muted', id: 'clients-position' })
  /** The cursor of the page after the one ending with `c`: its id and its sort key. @param {Client | undefined} c */
  const cursorAfter = (c) => {
    if (c === undefined) return undefined
    const sort = sortSelect.value.split(':')[0]
    const key = sort === 'connectedAt' ? (isOnline(c) ? c.connectedAt : undefined) : sort === 'address' ? c.address : undefined
    return { after: String(c.clientId), afterKey: typeof key === 'string' ? key : '' }
  }
  /** Back to the first page (a new search, order or state). */
  const restart = () => { pages = [undefined]; void load() }
  let stopped = false
  let timer = 0

  const disconnect = async (/** @type {Client} */ c) => {
    const online = isOnline(c)
    const confirmed = online
      ? await confirmDialog(`Disconnect ${c.clientId}?`, 'The broker closes its connection (MQTT 5 clients receive DISCONNECT 0x98, administrative action). It may reconnect if its credentials are still valid.', 'Disconnect')
      : await confirmDialog(`End the session of ${c.clientId}?`, 'Its subscriptions and queued messages are dropped and a delayed will is published. When the client returns it starts a new session.', 'End session')
    if (!confirmed) return
    try {
      await api.del(`/clients/${seg(c.clientId)}`)
      toast(online ? `${c.clientId} disconnected.` : `Session of ${c.clientId} ended.`)
    } catch (err) {
      showError(slot, err)
    }
    await load()
  }

  const draw = () => {
    const shown = items
    previous.disabled = pages.length <= 1
    next.disabled = !hasNext
    const first = (pages.length - 1) * PAGE
    mount(position, shown.length === 0 ? '' : `${first + 1}–${first + shown.length}`)
    if (shown.length === 0) {
      const none = { all: 'No client is connected and no offline session is kept.', connected: 'No client is connected.', offline: 'No offline session is kept.' }
      mount(list, h('div', { class: 'empty card' }, h('p', null, filter.value.trim() === '' ? /** @type {Record<string, string>} */ (none)[stateSelect.value] ?? none.all : 'No client id contains the search text.')))
      return
    }
    // In a cluster every entry names the node that holds it: a Node column.
    const clustered = shown.some((c) => typeof c.node === 'string')
    mount(list, table(['Client id', 'State', ...(clustered ? ['Node'] : []), 'Username', 'Address', 'Protocol', 'Listener', 'Connected', 'Authenticated by', 'Token expires', 'Subs / queued', ''], shown.map((c) => {
      const online = isOnline(c)
      return h('tr', { 'data-client-id': c.clientId, 'data-state': online ? 'connected' : 'offline' },
        h('td', null, h('strong', null, c.clientId)),
        h('td', null, online ? pill('connected', 'ok') : pill('offline', 'off')),
        clustered ? h('td', { 'data-field': 'node' }, c.node ?? '—') : null,
        h('td', null, c.usernameIsToken ? h('span', { class: 'muted' }, '(token)') : c.username ?? h('span', { class: 'muted' }, '—')),
        h('td', null, c.address !== undefined ? h('code', online ? null : { class: 'muted', title: 'last connection' }, c.address) : h('span', { class: 'muted' }, '—')),
        h('td', null, protocol(c.protocolVersion)),
        h('td', null, c.listener ?? ''),
        online
          ? h('td', { title: formatTime(c.connectedAt) }, formatRelative(c.connectedAt))
          : h('td', { class: 'muted', title: [c.disconnectedAt ? `left ${formatTime(c.disconnectedAt)}` : '', c.session?.expiresAt ? `ends ${formatTime(c.session.expiresAt)}` : ''].filter(Boolean).join('; ') },
            c.disconnectedAt ? `left ${formatRelative(c.disconnectedAt)}, ${sessionEnds(c)}` : sessionEnds(c)),
        h('td', null, !online ? '—' : c.anonymous ? pill('anonymous', 'warn') : c.authenticator ? pill(c.authenticator, 'ok') : '—'),
        h('td', { title: formatTime(expiresAt(c)) }, expiresAt(c) ? formatRelative(expiresAt(c)) : '—'),
        h('td', null, `${c.subscriptions ?? 0} / ${c.queued ?? 0}`),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', 'data-action': 'inspect', onclick: () => inspect(c.clientId) }, 'Inspect'),
          online
            ? h('button', { type: 'button', class: 'danger', 'data-action': 'disconnect', onclick: () => disconnect(c) }, 'Disconnect')
            : h('button', { type: 'button', class: 'danger', 'data-action': 'end-session', onclick: () => disconnect(c) }, 'End session')))
    }), { class: 'list', id: 'client-table' }))
  }

  /** Only the newest request's answer is shown (a click while the refresh was on its way). */
  let request = 0
  const load = async () => {
    clearTimeout(timer)
    const mine = ++request
    const [sort, order] = sortSelect.value.split(':')
    const start = pages[pages.length - 1]
    const q = filter.value.trim()
    const params = new URLSearchParams({ state: stateSelect.value, sort: sort ?? 'clientId', order: order ?? 'asc', limit: String(PAGE + 1) })
    if (q !== '') params.set('q', q)
    if (start !== undefined) {
      params.set('after', start.after)
      if (start.afterKey !== '') params.set('afterKey', start.afterKey)
    }
    try {
      const page = /** @type {Client[]} */ (listOf(await api.get(`/clients?${params}`), 'clients'))
      if (stopped || mine !== request) return
      // One more than a page asked for: whether there is a next page
      hasNext = page.length > PAGE
      items = page.slice(0, PAGE)
      // The page emptied (its clients left): back one page
      if (items.length === 0 && pages.length > 1) {
        pages.pop()
        void load()
        return
      }
      showError(slot)
      draw()
    } catch (err) {
      if (stopped || mine !== request) return
      showError(slot, err)
    }
    if (!stopped) timer = window.setTimeout(load, POLL_MS)
  }

  let typing = 0
  filter.addEventListener('input', () => { clearTimeout(typing); typing = window.setTimeout(restart, 250) })
  stateSelect.addEventListener('change', restart)
  sortSelect.addEventListener('change', restart)
  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Clients'),
      h('div', { class: 'row' }, stateSelect, sortSelect, filter, h('button', { type: 'button', class: 'secondary', id: 'refresh-clients', onclick: () => load() }, 'Refresh'))),
    h('p', { class: 'muted' }, 'Offline sessions are kept for clients that asked for a persistent session (MQTT 3.1.1 clean session 0, MQTT 5 session expiry above 0): they keep their subscriptions and queue QoS 1 and 2 messages until the client returns or the session expires.'),
    slot, list,
    h('div', { class: 'actions pager' }, previous, position, next))
  void load()
  return () => {
    stopped = true
    clearTimeout(timer)
    clearTimeout(typing)
  }
}

/** A client's details, subscriptions and effective permissions. @param {string} id */
async function inspect(id) {
  const body = h('div', { id: 'client-detail' }, h('p', { class: 'muted' }, 'Loading…'))
  modal(`Client ${id}`, body)
  try {
    const c = /** @type {Client} */ (await api.get(`/clients/${seg(id)}`))
    const row = (/** @type {string} */ k, /** @type {unknown} */ v) => [h('dt', null, k), h('dd', null, v === undefined || v === null || v === '' ? '—' : /** @type {any} */ (v))]
    if (!isOnline(c)) {
      mount(body,
        h('dl', { class: 'status' },
          row('Client id', c.clientId), row('State', pill('offline', 'off')), ...(c.node ? row('Node', c.node) : []),
          row('Last username', c.usernameIsToken ? '(the token)' : c.username), row('Last address', c.address), row('Protocol', c.protocolVersion !== undefined ? protocol(c.protocolVersion) : undefined),
          row('Disconnected', c.disconnectedAt ? `${formatTime(c.disconnectedAt)} (${formatRelative(c.disconnectedAt)})` : undefined),
          row('Session expiry', c.session?.expiryInterval === NEVER ? 'never' : c.session?.expiryInterval !== undefined ? `${c.session.expiryInterval} s` : undefined),
          row('Session ends', c.session?.expiresAt ? `${formatTime(c.session.expiresAt)} (${formatRelative(c.session.expiresAt)})` : c.session?.expiryInterval === NEVER ? 'never' : undefined),
          row('In flight / queued', `${c.inflight ?? 0} / ${c.queued ?? 0}`)),
        subscriptionTable(c))
      return
    }
    mount(body,
      h('dl', { class: 'status' },
        row('Client id', c.clientId), ...(c.node ? row('Node', c.node) : []), row('Username', c.usernameIsToken ? '(the token)' : c.username), row('Address', c.address), row('Protocol', protocol(c.protocolVersion)),
        row('Listener', c.listener), row('Connected', c.connectedAt ? `${formatTime(c.connectedAt)} (${formatRelative(c.connectedAt)})` : undefined),
        row('Keep alive', c.keepAlive !== undefined ? `${c.keepAlive} s` : undefined),
        row('Authenticated by', c.anonymous ? 'anonymous' : c.authenticator), row('Token subject', subject(c)), row('Token issuer', c.token?.issuer),
        row('Token expires', expiresAt(c) ? `${formatTime(expiresAt(c))} (${formatRelative(expiresAt(c))})` : undefined),
        ...(c.vouchedBy ? row('Certificate accepted by', c.vouchedBy) : []),
        ...(c.certificate ? certificateRows(c.certificate, row) : []),
        row('In flight / queued', c.inflight !== undefined ? `${c.inflight} / ${c.queued ?? 0}` : undefined),
        row('Session expiry', c.session?.expiryInterval === NEVER ? 'never' : c.session?.expiryInterval !== undefined ? `${c.session.expiryInterval} s after disconnecting` : undefined)),
      subscriptionTable(c),
      ...permissionsSection(c.clientId))
  } catch (err) {
    mount(body, h('div', { class: 'alert error' }, /** @type {Error} */ (err).message))
  }
}

/**
 * The client certificate it connected with (tls/wss listeners with requestCert).
 * @param {Record<string, any>} cert @param {(k: string, v: unknown) => HTMLElement[]} row
 */
function certificateRows(cert, row) {
  return [
    ...row('Certificate subject', cert.cn ? `CN=${cert.cn}` : undefined),
    ...row('Certificate SANs', Array.isArray(cert.san) && cert.san.length > 0 ? cert.san.join(', ') : undefined),
    ...row('Certificate fingerprint (SHA-256)', h('code', { class: 'small', 'data-cert': 'fingerprint' }, cert.fingerprint256)),
    ...row('Certificate serial / issuer', `${cert.serialNumber} / ${cert.issuer}`),
    ...row('Certificate expires', h('span', { 'data-cert': 'validTo' }, `${formatTime(cert.validTo)} (${formatRelative(cert.validTo)})`)),
  ]
}

/** The subscriptions of a client or session, as a heading and a table. @param {Client} c */
function subscriptionTable(c) {
  const subs = Array.isArray(c.subscriptionList) ? c.subscriptionList : Array.isArray(c.subscriptions) ? c.subscriptions : []
  return [
    h('h4', null, `Subscriptions (${subs.length})`),
    subs.length === 0 ? h('p', { class: 'muted' }, 'None.') : table(['Filter', 'QoS', 'Options'], subs.map((s) => {
      const filterText = typeof s === 'string' ? s : s.topic ?? s.filter ?? ''
      const { topic, filter, qos, ...rest } = typeof s === 'string' ? { topic: s, filter: undefined, qos: undefined } : s
      void topic; void filter
      return h('tr', null, h('td', null, h('code', null, filterText)), h('td', null, qos ?? '—'), h('td', { class: 'small' }, Object.keys(rest).length > 0 ? JSON.stringify(rest) : ''))
    })),
  ]
}
