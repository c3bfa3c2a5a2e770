// Topics: the filters clients are subscribed to (sessions per filter, shared groups apart) and
// the retained messages under a filter with a preview of each payload. Read-only; a page at a time.
import { api } from '../api.js'
import { formatBytes, formatTime, h, mount } from '../dom.js'
import { field, pill, showError, table } from '../ui.js'

/** @typedef {{ filter: string, subscribers: number, shared: Array<{ group: string, members: number }> }} SubscribedFilter */
/** @typedef {{ topic: string, qos: number, bytes: number, text?: string, base64?: string, truncated: boolean, contentType?: string, expiresAt?: string }} RetainedMessage */

const PAGE = 50

/**
 * @template T
 * @typedef {object} PagedTable
 * @property {string} id  names the list's elements: `<id>-list`, `<id>-next`, `<id>-previous`, `<id>-page`, `no-<id>`
 * @property {string} path  the API list it pages through
 * @property {keyof T & string} key  the field the list is ordered by: `after` takes the last row's, and each row carries it as `data-<key>`
 * @property {{ form: string, label: string, input: HTMLInputElement, query: (text: string) => Record<string, string> }} search
 *   the one-field form above the table; `query` turns its trimmed text into query parameters
 * @property {string} empty  shown instead of an empty table
 * @property {Array<[string, (item: T) => HTMLElement]>} columns  each column's header and cell
 */

/**
 * A paged table behind a one-field search form: GET `path` with the form's query, `limit` and
 * `after` (the key of the previous page's last row) answers one page; Next / Previous walk it.
 * @template T
 * @param {PagedTable<T>} o
 */
function pagedTable(o) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: `${o.id}-list` })
  /** @type {Array<string | undefined>} the `after` of each page shown so far */
  let pages = [undefined]
  /** @type {string | undefined} */
  let last
  const next = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: `${o.id}-next`, onclick: () => { pages.push(last); void load() } }, 'Next'))
  const previous = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: `${o.id}-previous`, onclick: () => { pages.pop(); void load() } }, 'Previous'))
  const position = h('span', { class: 'muted', id: `${o.id}-page` })
  const rows = (/** @type {T[]} */ items) => table(o.columns.map(([header]) => header),
    items.map((item) => h('tr', { [`data-${o.key}`]: item[o.key] }, o.columns.map(([, cell]) => cell(item)))))
  const load = async () => {
    try {
      const p = new URLSearchParams({ limit: String(PAGE), ...o.search.query(o.search.input.value.trim()) })
      const after = pages[pages.length - 1]
      if (after !== undefined) p.set('after', after)
      const items = /** @type {T[]} */ (await api.get(`${o.path}?${p}`))
      showError(slot)
      last = items.length > 0 ? String(items[items.length - 1][o.key]) : undefined
      next.disabled = items.length < PAGE
      previous.disabled = pages.length <= 1
      mount(position, `page ${pages.length}`)
      mount(list, items.length === 0 ? h('p', { class: 'muted', id: `no-${o.id}` }, o.empty) : rows(items))
    } catch (err) {
      showError(slot, err)
    }
  }
  const restart = () => { pages = [undefined]; void load() }
  const { form: formId, label, input } = o.search
  const form = h('form', { class: 'form wide', id: formId, novalidate: true, onsubmit: (/** @type {Event} */ ev) => { ev.preventDefault(); restart() } },
    h('div', { class: 'row2' }, field(input.name, label, input), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: `${formId}-go` }, 'Show'))))
  return { restart, nodes: [form, h('div', null, slot, list, h('div', { class: 'pager' }, previous, next, position))] }
}

/** @param {RetainedMessage} m */
function payloadCell(m) {
  const more = m.truncated ? h('span', { class: 'muted' }, ` … (first 1 KiB of ${formatBytes(m.bytes)})`) : null
  if (m.text !== undefined) return h('td', { class: 'payload-preview' }, h('code', null, m.text), more)
  return h('td', { class: 'payload-preview' }, pill('binary', 'off'), ' ', h('code', { class: 'small' }, m.base64 ?? ''), more)
}

/** @param {HTMLElement} root */
export function render(root) {
  /** @type {PagedTable<SubscribedFilter>} */
  const subscribedFilters = {
    id: 'filters',
    path: '/topics',
    key: 'filter',
    search: {
      form: 'filter-search',
      label: 'Filter contains',
      input: /** @type {HTMLInputElement} */ (h('input', { type: 'search', name: 'q', autocomplete: 'off', placeholder: 'contains' })),
      query: (text) => /** @type {Record<string, string>} */ (text === '' ? {} : { q: text }),
    },
    empty: 'No client is subscribed to a filter that matches.',
    columns: [
      ['Filter', (f) => h('td', null, h('code', null, f.filter))],
      ['Sessions', (f) => h('td', null, String(f.subscribers))],
      ['Shared groups', (f) => h('td', null, f.shared.length === 0 ? h('span', { class: 'muted' }, '—')
        : f.shared.map((g) => h('div', null, h('code', null, g.group), ` (${g.members} member${g.members === 1 ? '' : 's'})`)))],
    ],
  }
  /** @type {PagedTable<RetainedMessage>} */
  const retainedMessages = {
    id: 'retained',
    path: '/retained',
    key: 'topic',
    search: {
      form: 'retained-search',
      label: 'Topic filter',
      input: /** @type {HTMLInputElement} */ (h('input', { name: 'filter', autocomplete: 'off', value: '#', placeholder: '# or $SYS/#' })),
      query: (text) => ({ filter: text === '' ? '#' : text }),
    },
    empty: 'No retained message matches.',
    columns: [
      ['Topic', (m) => h('td', null, h('code', null, m.topic), m.contentType ? h('div', { class: 'muted small' }, m.contentType) : null)],
      ['QoS', (m) => h('td', null, String(m.qos))],
      ['Size', (m) => h('td', null, formatBytes(m.bytes))],
      ['Payload', payloadCell],
      ['Expires', (m) => h('td', null, m.expiresAt ? formatTime(m.expiresAt) : h('span', { class: 'muted' }, 'never'))],
    ],
  }
  const subscribed = pagedTable(subscribedFilters)
  const retained = pagedTable(retainedMessages)
  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Topics')),
    h('h3', null, 'Subscribed filters'),
    h('p', { class: 'muted' }, 'The filters connected clients and offline sessions are subscribed to, with how many sessions hold each; shared subscriptions ($share/<group>/<filter>) are counted per group.'),
    subscribed.nodes,
    h('h3', null, 'Retained messages'),
    h('p', { class: 'muted' }, 'Retained messages whose topic matches the filter (# leaves out the broker\'s own $SYS topics; $SYS/# shows them). Payloads are shown up to 1 KiB, as text when they are UTF-8.'),
    retained.nodes)
  subscribed.restart()
  retained.restart()
}
