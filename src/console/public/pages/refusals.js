// Refusals: why was this client refused? The broker's record of recently refused CONNECTs, filtered (never the token).
import { api } from '../api.js'
import { formatTime, h, mount } from '../dom.js'
import { field, pill, showError, table } from '../ui.js'

/** @typedef {{ time: string, clientId: string, address: string, listener: string, protocolVersion: number, authenticator?: string, code: string, reasonCode: number, reason: string, token?: { sub?: string, iss?: string, kid?: string, exp?: number }, count?: number, lastTime?: string }} Refusal */

const hex = (/** @type {number} */ n) => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`

/** @param {Refusal['token']} t */
function tokenCell(t) {
  if (t === undefined) return h('span', { class: 'muted' }, 'no JWT')
  const parts = []
  if (t.sub !== undefined) parts.push(h('div', null, 'sub ', h('code', null, t.sub)))
  if (t.iss !== undefined) parts.push(h('div', null, 'iss ', h('code', null, t.iss)))
  if (t.kid !== undefined) parts.push(h('div', null, 'kid ', h('code', null, t.kid)))
  if (t.exp !== undefined) parts.push(h('div', null, `exp ${formatTime(t.exp * 1000)}`))
  return h('div', { class: 'token-claims' }, ...parts)
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('section', { id: 'refusal-list' })
  const input = (/** @type {string} */ name, /** @type {string} */ placeholder, type = 'text') =>
    /** @type {HTMLInputElement} */ (h('input', { type, name, autocomplete: 'off', placeholder }))
  const clientId = input('clientId', 'contains')
  const address = input('address', 'contains')
  const reason = input('reason', 'ERR_JWT_EXPIRED or 0x86')
  const since = input('since', '', 'datetime-local')

  const load = async () => {
    const q = new URLSearchParams()
    if (clientId.value.trim() !== '') q.set('clientId', clientId.value.trim())
    if (address.value.trim() !== '') q.set('address', address.value.trim())
    if (reason.value.trim() !== '') q.set('reason', reason.value.trim())
    if (since.value !== '') q.set('since', new Date(since.value).toISOString())
    try {
      const items = /** @type {Refusal[]} */ (await api.get(`/refusals${q.size > 0 ? `?${q}` : ''}`))
      showError(slot)
      mount(list, items.length === 0
        ? h('p', { class: 'muted', id: 'no-refusals' }, 'No refusal matches.')
        : table(['Time', 'Client', 'Address', 'Listener', 'Authenticator', 'Reason', 'Token'], items.map((r) => h('tr', { 'data-refusal': r.clientId },
          h('td', null, formatTime(r.time), r.count !== undefined ? h('div', { class: 'muted refusal-count' }, `×${r.count}, last ${formatTime(r.lastTime ?? r.time)}`) : null),
          h('td', null, h('code', null, r.clientId), h('div', { class: 'muted' }, `MQTT ${r.protocolVersion === 5 ? '5' : '3.1.1'}`)),
          h('td', null, r.address),
          h('td', null, r.listener),
          h('td', null, r.authenticator ?? h('span', { class: 'muted' }, '—')),
          h('td', { class: 'refusal-reason' }, pill(`${hex(r.reasonCode)} ${r.code}`, 'bad'), h('div', null, r.reason)),
          h('td', null, tokenCell(r.token))))))
    } catch (err) {
      showError(slot, err)
    }
  }

  const form = h('form', {
    class: 'form wide', id: 'refusal-filter', novalidate: true,
    onsubmit: (/** @type {Event} */ ev) => { ev.preventDefault(); void load() },
  },
  h('div', { class: 'row2' }, field('clientId', 'Client id', clientId), field('address', 'Address', address)),
  h('div', { class: 'row2' }, field('reason', 'Reason', reason), field('since', 'Since', since)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'filter-refusals' }, 'Filter')))

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Refusals')),
    h('p', { class: 'muted' }, 'The last 1,000 refused connections — for authentication or authorization, or before it (protocol errors, connection rate) — newest first; a refusal repeated within 10 s is counted on one row. Token fields are as the token states them (unverified); the token itself is never kept.'),
    form, slot, list)
  void load()
}
