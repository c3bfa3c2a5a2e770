// Connected clients: list (refreshed every few seconds), inspect, disconnect.
import { api, listOf, seg } from '../api.js'
import { formatRelative, formatTime, h, mount } from '../dom.js'
import { confirmDialog, modal, pill, showError, table, toast } from '../ui.js'

export const POLL_MS = 3000
/** @typedef {Record<string, any>} Client */

const PROTOCOL = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' }
/** @param {unknown} v */
const protocol = (v) => /** @type {Record<string, string>} */ (PROTOCOL)[String(v)] ?? (v === undefined ? '—' : String(v))

/** @param {Client} c */
const expiresAt = (c) => c.token?.expiresAt ?? c.tokenExpiresAt
/** @param {Client} c */
const subject = (c) => c.token?.subject ?? c.tokenSubject

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: 'clients' }, h('p', { class: 'muted' }, 'Loading…'))
  const filter = /** @type {HTMLInputElement} */ (h('input', { type: 'search', id: 'client-filter', placeholder: 'Filter by client id, username or address', 'aria-label': 'Filter clients' }))
  /** @type {Client[]} */
  let items = []
  let stopped = false
  let timer = 0

  const disconnect = async (/** @type {Client} */ c) => {
    if (!(await confirmDialog(`Disconnect ${c.clientId}?`, 'The broker closes its connection (MQTT 5 clients receive DISCONNECT 0x98, administrative action). It may reconnect if its credentials are still valid.', 'Disconnect'))) return
    try {
      await api.del(`/clients/${seg(c.clientId)}`)
      toast(`${c.clientId} disconnected.`)
    } catch (err) {
      showError(slot, err)
    }
    await load()
  }

  const draw = () => {
    const q = filter.value.trim().toLowerCase()
    const shown = q === '' ? items : items.filter((c) => [c.clientId, c.username, c.address].some((x) => typeof x === 'string' && x.toLowerCase().includes(q)))
    if (shown.length === 0) {
      mount(list, h('div', { class: 'empty card' }, h('p', null, items.length === 0 ? 'No client is connected.' : 'No client matches the filter.')))
      return
    }
    mount(list, table(['Client id', 'Username', 'Address', 'Protocol', 'Listener', 'Connected', 'Authenticated by', 'Token expires', ''], shown.map((c) =>
      h('tr', { 'data-client-id': c.clientId },
        h('td', null, h('strong', null, c.clientId)),
        h('td', null, c.usernameIsToken ? h('span', { class: 'muted' }, '(token)') : c.username ?? h('span', { class: 'muted' }, '—')),
        h('td', null, h('code', null, c.address ?? '')),
        h('td', null, protocol(c.protocolVersion)),
        h('td', null, c.listener ?? ''),
        h('td', { title: formatTime(c.connectedAt) }, formatRelative(c.connectedAt)),
        h('td', null, c.anonymous ? pill('anonymous', 'warn') : c.authenticator ? pill(c.authenticator, 'ok') : '—'),
        h('td', { title: formatTime(expiresAt(c)) }, expiresAt(c) ? formatRelative(expiresAt(c)) : '—'),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', 'data-action': 'inspect', onclick: () => inspect(c.clientId) }, 'Inspect'),
          h('button', { type: 'button', class: 'danger', 'data-action': 'disconnect', onclick: () => disconnect(c) }, 'Disconnect')))), { class: 'list', id: 'client-table' }))
  }

  const load = async () => {
    clearTimeout(timer)
    try {
      items = /** @type {Client[]} */ (listOf(await api.get('/clients'), 'clients'))
      if (stopped) return
      showError(slot)
      draw()
    } catch (err) {
      if (!stopped) showError(slot, err)
    }
    if (!stopped) timer = window.setTimeout(load, POLL_MS)
  }

  filter.addEventListener('input', draw)
  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Clients'),
      h('div', { class: 'row' }, filter, h('button', { type: 'button', class: 'secondary', id: 'refresh-clients', onclick: () => load() }, 'Refresh'))),
    slot, list)
  void load()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}

/** A client's details, subscriptions and effective permissions. @param {string} id */
async function inspect(id) {
  const body = h('div', { id: 'client-detail' }, h('p', { class: 'muted' }, 'Loading…'))
  modal(`Client ${id}`, body)
  try {
    const c = /** @type {Client} */ (await api.get(`/clients/${seg(id)}`))
    const subs = Array.isArray(c.subscriptionList) ? c.subscriptionList : Array.isArray(c.subscriptions) ? c.subscriptions : []
    const row = (/** @type {string} */ k, /** @type {unknown} */ v) => [h('dt', null, k), h('dd', null, v === undefined || v === null || v === '' ? '—' : /** @type {any} */ (v))]
    mount(body,
      h('dl', { class: 'status' },
        row('Client id', c.clientId), row('Username', c.usernameIsToken ? '(the token)' : c.username), row('Address', c.address), row('Protocol', protocol(c.protocolVersion)),
        row('Listener', c.listener), row('Connected', c.connectedAt ? `${formatTime(c.connectedAt)} (${formatRelative(c.connectedAt)})` : undefined),
        row('Keep alive', c.keepAlive !== undefined ? `${c.keepAlive} s` : undefined),
        row('Authenticated by', c.anonymous ? 'anonymous' : c.authenticator), row('Token subject', subject(c)), row('Token issuer', c.token?.issuer),
        row('Token expires', expiresAt(c) ? `${formatTime(expiresAt(c))} (${formatRelative(expiresAt(c))})` : undefined),
        row('In flight / queued', c.inflight !== undefined ? `${c.inflight} / ${c.queued ?? 0}` : undefined)),
      h('h4', null, `Subscriptions (${subs.length})`),
      subs.length === 0 ? h('p', { class: 'muted' }, 'None.') : table(['Filter', 'QoS', 'Options'], subs.map((s) => {
        const filterText = typeof s === 'string' ? s : s.topic ?? s.filter ?? ''
        const { topic, filter, qos, ...rest } = typeof s === 'string' ? { topic: s, filter: undefined, qos: undefined } : s
        void topic; void filter
        return h('tr', null, h('td', null, h('code', null, filterText)), h('td', null, qos ?? '—'), h('td', { class: 'small' }, Object.keys(rest).length > 0 ? JSON.stringify(rest) : ''))
      })),
      h('h4', null, 'Permissions'),
      c.acl === undefined ? h('p', { class: 'muted' }, 'Not reported.')
        : typeof c.acl.tokenRules === 'number' ? h('p', null, c.acl.superuser ? pill('superuser: authorization bypassed', 'warn') : `${c.acl.tokenRules} rule(s) from the token's ACL claim, then the policies.`)
          : h('pre', { class: 'json' }, JSON.stringify(c.acl, null, 2)))
  } catch (err) {
    mount(body, h('div', { class: 'alert error' }, /** @type {Error} */ (err).message))
  }
}
