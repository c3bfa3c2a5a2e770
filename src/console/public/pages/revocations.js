// Revocations: revoke a token by jti, a subject's tokens (all, or those issued before a time), and withdraw entries.
import { api } from '../api.js'
import { formatTime, h, mount } from '../dom.js'
import { confirmDialog, field, pill, requiredTextForm, showError, table, toast } from '../ui.js'

/** @typedef {{ id: string, kind: string, value: string, issuedBefore?: number, expires: string | null, reason?: string, createdAt: number }} Revocation */

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('section', { id: 'revocation-list' })
  const kind = /** @type {HTMLSelectElement} */ (h('select', { name: 'kind' },
    h('option', { value: 'jti' }, 'one token (jti)'),
    h('option', { value: 'sub' }, 'every token of a subject (sub)'),
    h('option', { value: 'issuedBefore' }, 'a subject\'s tokens issued before a time')))
  const value = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'value', autocomplete: 'off', placeholder: 'jti or subject' }))
  const before = /** @type {HTMLInputElement} */ (h('input', { type: 'datetime-local', name: 'issuedBefore' }))
  const reason = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'reason', maxlength: 1024, placeholder: 'optional, shown in refusals' }))
  const beforeField = field('issuedBefore', 'Issued before (empty: now)', before)
  const sync = () => { beforeField.hidden = kind.value !== 'issuedBefore' }
  kind.addEventListener('change', sync)
  sync()

  const load = async () => {
    try {
      const items = /** @type {Revocation[]} */ (await api.get('/revocations'))
      showError(slot)
      mount(list, items.length === 0
        ? h('p', { class: 'muted', id: 'no-revocations' }, 'No revocation in force.')
        : table(['What', 'Value', 'Reason', 'Made', 'Expires', ''], items.map((r) => h('tr', { 'data-revocation': r.id },
          h('td', null, pill(r.kind === 'issuedBefore' ? `issued before ${formatTime((r.issuedBefore ?? 0))}` : r.kind, 'bad')),
          h('td', null, h('code', null, r.value)),
          h('td', null, r.reason ?? ''),
          h('td', null, formatTime(r.createdAt)),
          h('td', null, r.expires === null ? 'until deleted' : formatTime(r.expires)),
          h('td', null, h('button', { type: 'button', class: 'secondary', 'data-action': 'withdraw', onclick: async () => {
            if (!(await confirmDialog('Withdraw revocation', `Tokens it covers (${r.kind} ${r.value}) will be accepted again.`, 'Withdraw'))) return
            try {
              await api.del(`/revocations/${encodeURIComponent(r.id)}`)
              toast('Revocation withdrawn')
              await load()
            } catch (err) {
              showError(slot, err)
            }
          } }, 'Withdraw'))))))
    } catch (err) {
      showError(slot, err)
    }
  }

  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'danger', id: 'revoke' }, 'Revoke'))
  const form = requiredTextForm({ class: 'form wide', id: 'revoke-form' }, {
    input: value, missing: 'Give the jti or the subject.', slot, button,
    send: async (v) => {
      /** @type {Record<string, unknown>} */
      const body = kind.value === 'jti' ? { jti: v } : { sub: v }
      if (kind.value === 'issuedBefore') body.issuedBefore = before.value === '' ? 'now' : new Date(before.value).toISOString()
      if (reason.value.trim() !== '') body.reason = reason.value.trim()
      const r = /** @type {{ disconnected: number }} */ (await api.post('/revocations', body))
      showError(slot)
      toast(`Revoked; ${r.disconnected} connected client(s) disconnected`)
      value.value = ''
      reason.value = ''
      await load()
    },
    failed: (err) => showError(slot, err),
  },
  h('div', { class: 'row2' }, field('kind', 'Revoke', kind), field('value', 'jti or subject', value)),
  beforeField,
  field('reason', 'Reason', reason),
  h('div', { class: 'actions' }, button))

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Revocations')),
    h('p', { class: 'muted' }, 'A revoked token is refused at once; connected clients using it are disconnected.'),
    form, slot, list)
  void load()
}
