// A connected client's effective permissions (the client dialog): the rules that apply to it,
// in the order the broker asks them, and a check — "may this client publish to a/b?" — that
// names the rule that decides, worked out by the broker itself. The rules table and a check's
// answer are also the token checker's, for the client an accepted token admits.
import { api, seg } from './api.js'
import { h, mount } from './dom.js'
import { field, pill, showError, table } from './ui.js'

/** @typedef {{ source: string, origin: string, effect: 'allow' | 'deny', actions: string[], topics: string[], qos?: number[], retain?: boolean, note?: string }} Rule */
/** @typedef {{ allowed: boolean, decidedBy?: Rule, because: string }} Check */
/** @typedef {{ clientId: string, rules: Rule[], noMatch: 'allow' | 'deny', expiresAt?: string, check?: Check }} Permissions */

const SOURCES = /** @type {Record<string, string>} */ ({
  broker: 'built in', superuser: 'superuser claim', 'token-acl': 'token ACL', policies: 'policy', 'dollar-topics': 'built in',
})

/** @param {Rule} r */
const conditions = (r) => [r.qos !== undefined ? `QoS ${r.qos.join(', ')}` : '', r.retain !== undefined ? (r.retain ? 'retained only' : 'not retained') : ''].filter((t) => t !== '').join('; ')

/** @param {Rule} a @param {Rule} b */
const same = (a, b) => a.source === b.source && a.origin === b.origin

/**
 * The rules that apply, in the order the broker asks them, then noMatch: one row each
 * (`data-rule` its index, or `noMatch`; `data-origin` its name). Shared by a connected
 * client's dialog and the token checker, which show the same answer of the API.
 * @param {{ rules: Rule[], noMatch: 'allow' | 'deny' }} p
 * @returns {HTMLTableElement}
 */
export function rulesTable(p) {
  const rows = p.rules.map((r, i) => h('tr', { 'data-rule': String(i), 'data-origin': r.origin },
    h('td', null, String(i + 1)),
    h('td', null, pill(r.effect, r.effect === 'allow' ? 'ok' : 'bad')),
    h('td', null, r.actions.join(', ')),
    h('td', null, ...r.topics.map((t) => h('div', null, h('code', null, t)))),
    h('td', { class: 'small' }, conditions(r) || '—'),
    h('td', null, h('div', null, r.origin), h('div', { class: 'muted small' }, SOURCES[r.source] ?? r.source), r.note ? h('div', { class: 'muted small' }, r.note) : null)))
  rows.push(h('tr', { 'data-rule': 'noMatch' },
    h('td', null, '—'), h('td', null, pill(p.noMatch, p.noMatch === 'allow' ? 'ok' : 'bad')), h('td', null, 'publish, subscribe'),
    h('td', { class: 'muted' }, 'anything no rule matched'), h('td', null, '—'), h('td', null, h('div', null, 'noMatch'), h('div', { class: 'muted small' }, 'authorization settings'))))
  return /** @type {HTMLTableElement} */ (table(['#', 'Effect', 'Actions', 'Topics', 'Conditions', 'From'], rows, { class: 'permission-rules' }))
}

/** The line above the rules table. @param {{ expiresAt?: string }} p */
export function rulesNote(p) {
  return h('p', { class: 'muted' }, 'The first rule that matches decides.', p.expiresAt ? ` They end with the token, at ${new Date(p.expiresAt).toLocaleString()}.` : '')
}

/**
 * Marks (class `decides`) the row of the rule that decided `check` in a `rulesTable` body:
 * noMatch when no rule matched a publish or subscribe; none when none matched a connect
 * (an authenticated client may connect, noMatch does not apply).
 * @param {Element} body @param {Rule[]} rules @param {Check} check @param {string} action
 */
export function markDeciding(body, rules, check, action) {
  for (const tr of body.querySelectorAll('tr')) tr.classList.remove('decides')
  const decidedBy = check.decidedBy
  const index = decidedBy === undefined ? -1 : rules.findIndex((r) => same(r, decidedBy))
  if (index === -1 && action === 'connect') return
  body.querySelector(`tr[data-rule="${index === -1 ? 'noMatch' : String(index)}"]`)?.classList.add('decides')
}

/** A check's answer: allowed or refused, and why (the rule that decided, or noMatch). @param {Check} check */
export function checkAnswer(check) {
  const word = check.allowed ? 'allowed' : 'refused'
  // "allowed by policies rule …" after the pill that already says "allowed": the word once.
  const because = check.because.startsWith(`${word} by `) ? check.because.slice(word.length + 1) : check.because
  return [pill(word, check.allowed ? 'ok' : 'bad'), ' ', h('span', { class: 'check-because' }, because)]
}

/**
 * The permissions section of a connected client's dialog.
 * @param {string} clientId
 * @returns {HTMLElement[]}
 */
export function permissionsSection(clientId) {
  const slot = h('div', { class: 'slot' })
  const rulesBox = h('div', { id: 'client-permissions' }, h('p', { class: 'muted' }, 'Loading…'))
  const result = h('div', { id: 'permission-check-result', 'aria-live': 'polite' })
  const path = `/clients/${seg(clientId)}/permissions`
  /** @type {HTMLTableSectionElement | null} */
  let body = null
  /** @type {Rule[]} */
  let rules = []

  /** @param {Permissions} p */
  const show = (p) => {
    rules = p.rules
    const t = rulesTable(p)
    body = t.querySelector('tbody')
    mount(rulesBox, rulesNote(p), t)
  }

  const action = /** @type {HTMLSelectElement} */ (h('select', { name: 'action' }, ['publish', 'subscribe', 'connect'].map((a) => h('option', { value: a }, a))))
  const topic = /** @type {HTMLInputElement} */ (h('input', { name: 'topic', autocomplete: 'off', placeholder: 'a/topic or a/filter/#' }))
  const qos = /** @type {HTMLSelectElement} */ (h('select', { name: 'qos' }, [0, 1, 2].map((q) => h('option', { value: String(q) }, `QoS ${q}`))))
  const retain = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'retain' }))
  const form = h('form', {
    class: 'form wide', id: 'permission-check', novalidate: true,
    onsubmit: async (/** @type {Event} */ ev) => {
      ev.preventDefault()
      const q = new URLSearchParams({ action: action.value, qos: qos.value, retain: String(retain.checked) })
      if (action.value !== 'connect') q.set('topic', topic.value)
      try {
        const p = /** @type {Permissions} */ (await api.get(`${path}?${q}`))
        showError(slot)
        const check = p.check
        if (check === undefined) return
        if (body !== null) markDeciding(body, rules, check, action.value)
        mount(result, ...checkAnswer(check))
      } catch (err) {
        mount(result)
        showError(slot, err)
      }
    },
  },
  h('div', { class: 'row2' }, field('action', 'Action', action), field('topic', 'Topic or filter', topic)),
  h('div', { class: 'row2' }, field('qos', 'QoS', qos), field('retain', 'Retained', retain)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary', id: 'check-permission' }, 'Check')))

  void api.get(path).then((p) => show(/** @type {Permissions} */ (p)), (err) => { mount(rulesBox); showError(slot, err) })
  return [h('h4', null, 'Permissions'), slot, rulesBox, h('h4', null, 'Check a topic'), form, result]
}
