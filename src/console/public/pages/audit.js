// Audit: who changed what, when and from where — every change made through the admin API or this console, newest first.
import { api } from '../api.js'
import { formatTime, h, mount } from '../dom.js'
import { showError, table } from '../ui.js'

/** @typedef {{ path: string, before?: unknown, after?: unknown }} AuditChange */
/** @typedef {{ id: number, at: string, who: string, address: string, operation: string, summary: string, changes: AuditChange[], request?: unknown, node?: string }} AuditEntry */

const PAGE = 25

/** A value as short text (objects as JSON). @param {unknown} v */
const shown = (v) => (typeof v === 'string' ? v : JSON.stringify(v))

/** @param {AuditChange} c */
function changeLine(c) {
  const what = c.before === undefined ? 'added' : c.after === undefined ? 'removed' : 'changed'
  return h('li', { class: `audit-change ${what}` },
    h('code', null, c.path), ' ',
    c.before !== undefined ? h('span', { class: 'before' }, shown(c.before)) : null,
    c.before !== undefined && c.after !== undefined ? ' → ' : null,
    c.after !== undefined ? h('span', { class: 'after' }, shown(c.after)) : null,
    c.before === undefined ? h('span', { class: 'muted' }, ' (added)') : c.after === undefined ? h('span', { class: 'muted' }, ' (removed)') : null)
}

/** @param {AuditEntry} e */
function whatCell(e) {
  if (e.changes.length > 0) return h('ul', { class: 'audit-changes' }, ...e.changes.map(changeLine))
  if (e.request !== undefined) return h('code', { class: 'audit-request' }, shown(e.request))
  return h('span', { class: 'muted' }, 'no configuration change')
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('section', { id: 'audit-list' })
  /** @type {Array<number | undefined>} the `before` of each page shown so far (undefined: the newest) */
  const pages = [undefined]
  /** @type {number | null} */
  let next = null

  const older = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: 'audit-older', onclick: () => { pages.push(next ?? undefined); void load() } }, 'Older'))
  const newer = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: 'audit-newer', onclick: () => { pages.pop(); void load() } }, 'Newer'))
  const position = h('span', { class: 'muted', id: 'audit-page' })

  const load = async () => {
    const before = pages[pages.length - 1]
    try {
      const page = /** @type {{ entries: AuditEntry[], next: number | null }} */ (await api.get(`/audit?limit=${PAGE}${before !== undefined ? `&before=${before}` : ''}`))
      showError(slot)
      next = page.next
      older.disabled = next === null
      newer.disabled = pages.length <= 1
      mount(position, `page ${pages.length}`)
      mount(list, page.entries.length === 0
        ? h('p', { class: 'muted', id: 'no-audit' }, 'No change has been made through the admin API yet.')
        : table(['Time', 'Who', 'Address', 'Operation', 'What changed'], page.entries.map((e) => h('tr', { 'data-audit': String(e.id) },
          h('td', null, formatTime(e.at)),
          h('td', null, h('code', null, e.who)),
          // In a cluster every entry names the node whose API made the change.
          h('td', null, e.address, e.node !== undefined ? h('div', { class: 'muted', 'data-field': 'node' }, `on ${e.node}`) : null),
          h('td', null, h('code', null, e.operation), h('div', { class: 'muted' }, e.summary)),
          h('td', { class: 'audit-what' }, whatCell(e))))))
    } catch (err) {
      showError(slot, err)
    }
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Audit')),
    h('p', { class: 'muted' }, 'Every change made through the admin API or this console, newest first: when, which API key, from which address, and what changed. Secrets are never shown.'),
    slot, list,
    h('div', { class: 'actions pager' }, newer, position, older))
  void load()
}
