// Topics: the filters clients are subscribed to (sessions per filter, shared groups apart) and
// the retained messages under a filter with a preview of each payload. Read-only; a page at a time.
import { api } from '../api.js'
import { formatBytes, formatTime, h, mount } from '../dom.js'
import { field, pill, showError, table } from '../ui.js'

/** @typedef {{ filter: string, subscribers: number, shared: Array<{ group: string, members: number }> }} SubscribedFilter */
/** @typedef {{ topic: string, qos: number, bytes: number, text?: string, base64?: string, truncated: boolean, contentType?: string, expiresAt?: string }} RetainedMessage */

const PAGE = 50

/**
 * A paged list behind a form: GET `path` with the form's `query()`, `limit` and `after` (the
 * key of the previous page's last item) answers one page; Next / Previous walk it.
 * @template T
 * @param {{ id: string, empty: string, path: string, query: () => Record<string, string>, key: (item: T) => string, rows: (items: T[]) => HTMLElement }} o
 */
function pagedList(o) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: `${o.id}-list` })
  /** @type {Array<string | undefined>} the `after` of each page shown so far */
  let pages = [undefined]
  /** @type {string | undefined} */
  let last
  const next = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: `${o.id}-next`, onclick: () => { pages.push(last); void load() } }, 'Next'))
  const previous = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: `${o.id}-previous`, onclick: () => { pages.pop(); void load() } }, 'Previous'))
  const position = h('span', { class: 'muted', id: `${o.id}-page` })
  const load = async () => {
    try {
      const p = new URLSearchParams({ limit: String(PAGE), ...o.query() })
      const after = pages[pages.length - 1]
      if (after !== undefined) p.set('after', after)
      const items = /** @type {T[]} */ (await api.get(`${o.path}?${p}`))
      showError(slot)
      last = items.length > 0 ? o.key(items[items.length - 1]) : undefined
      next.disabled = items.length < PAGE
      previous.disabled = pages.length <= 1
      mount(position, `page ${pages.length}`)
      mount(list, items.length === 0 ? h('p', { class: 'muted', id: `no-${o.id}` }, o.empty) : o.rows(items))
    } catch (err) {
      showError(slot, err)
    }
  }
  const restart = () => { pages = [undefined]; void load() }
  return { restart, element: h('div', null, slot, list, h('div', { class: 'pager' }, previous, next, position)) }
}

/** @param {RetainedMessage} m */
function payloadCell(m) {
  const more = m.truncated ? h('span', { class: 'muted' }, ` … (first 1 KiB of ${formatBytes(m.bytes)})`) : null
  if (m.text !== undefined) return h('td', { class: 'payload-preview' }, h('code', null, m.text), more)
  return h('td', { class: 'payload-preview' }, pill('binary', 'off'), ' ', h('code', { class: 'small' }, m.base64 ?? ''), more)
}

/** @param {HTMLElement} root */
export function render(root) {
  const q = /** @type {HTMLInputElement} */ (h('input', { type: 'search', name: 'q', autocomplete: 'off', placeholder: 'contains' }))
  const subscribed = pagedList({
    id: 'filters',
    empty: 'No client is subscribed to a filter that matches.',
    key: (/** @type {SubscribedFilter} */ f) => f.filter,
    path: '/topics',
    query: () => /** @type {Record<string, string>} */ (q.value.trim() === '' ? {} : { q: q.value.trim() }),
    rows: (items) => table(['Filter', 'Sessions', 'Shared groups'], items.map((f) => h('tr', { 'data-filter': f.filter },
      h('td', null, h('code', null, f.filter)),
      h('td', null, String(f.subscribers)),
      h('td', null, f.shared.length === 0 ? h('span', { class: 'muted' }, '—') : f.shared.map((g) => h('div', null, h('code', null, g.group), ` (${g.members} member${g.members === 1 ? '' : 's'})`)))))),
  })

  const filter = /** @type {HTMLInputElement} */ (h('input', { name: 'filter', autocomplete: 'off', value: '#', placeholder: '# or $SYS/#' }))
  const retained = pagedList({
    id: 'retained',
    empty: 'No retained message matches.',
    key: (/** @type {RetainedMessage} */ m) => m.topic,
    path: '/retained',
    query: () => ({ filter: filter.value.trim() === '' ? '#' : filter.value.trim() }),
    rows: (items) => table(['Topic', 'QoS', 'Size', 'Payload', 'Expires'], items.map((m) => h('tr', { 'data-topic': m.topic },
      h('td', null, h('code', null, m.topic), m.contentType ? h('div', { class: 'muted small' }, m.contentType) : null),
      h('td', null, String(m.qos)),
      h('td', null, formatBytes(m.bytes)),
      payloadCell(m),
      h('td', null, m.expiresAt ? formatTime(m.expiresAt) : h('span', { class: 'muted' }, 'never'))))),
  })

  const form = (/** @type {string} */ id, /** @type {HTMLElement} */ fieldEl, /** @type {() => void} */ go) => h('form', {
    class: 'form wide', id, novalidate: true, onsubmit: (/** @type {Event} */ ev) => { ev.preventDefault(); go() },
  }, h('div', { class: 'row2' }, fieldEl, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: `${id}-go` }, 'Show'))))

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Topics')),
    h('h3', null, 'Subscribed filters'),
    h('p', { class: 'muted' }, 'The filters connected clients and offline sessions are subscribed to, with how many sessions hold each; shared subscriptions ($share/<group>/<filter>) are counted per group.'),
    form('filter-search', field('q', 'Filter contains', q), subscribed.restart),
    subscribed.element,
    h('h3', null, 'Retained messages'),
    h('p', { class: 'muted' }, 'Retained messages whose topic matches the filter (# leaves out the broker\'s own $SYS topics; $SYS/# shows them). Payloads are shown up to 1 KiB, as text when they are UTF-8.'),
    form('retained-search', field('filter', 'Topic filter', filter), retained.restart),
    retained.element)
  subscribed.restart()
  retained.restart()
}
