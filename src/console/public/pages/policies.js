// Authorization policies: ordered by priority (smaller first); the first matching rule decides.
import { api, listOf, seg } from '../api.js'
import { h, lines, mount } from '../dom.js'
import { authorizationTabs, confirmDialog, field, modal, pageAction, pageLoader, pill, showError, showFieldMessages, showServerError, submitWhenValid, table, toast, whileBusy } from '../ui.js'
import { DESCRIPTION_MAX, validatePolicy } from '../validate.js'

/** @typedef {Record<string, any>} Policy */
const ACTIONS = ['connect', 'publish', 'subscribe']

/** @param {unknown} v */
const asList = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v])

/** @param {Policy} p */
function conditions(p) {
  const parts = []
  if (p.clientId) parts.push(h('div', null, 'client id ~ ', h('code', null, p.clientId)))
  if (p.username) parts.push(h('div', null, 'username = ', h('code', null, p.username)))
  if (p.ip) parts.push(h('div', null, 'ip ', asList(p.ip).map((x) => h('code', null, String(x)))))
  if (p.qos) parts.push(h('div', null, `qos ${asList(p.qos).join(',')}`))
  if (p.retain !== undefined && p.retain !== 'any') parts.push(h('div', null, `retain ${p.retain}`))
  return parts.length > 0 ? parts : h('span', { class: 'muted' }, 'any client')
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: 'policies' }, h('p', { class: 'muted' }, 'Loading…'))
  /** @type {Policy[]} */
  let items = []
  const { load, stop } = pageLoader(slot,
    async () => /** @type {Policy[]} */ (listOf(await api.get('/policies'), 'policies')).slice().sort((a, b) => a.priority - b.priority),
    (next) => { items = next; draw() })
  const act = pageAction(slot, load)

  const setPriority = (/** @type {Policy} */ p, /** @type {number} */ priority) =>
    act(() => api.patch(`/policies/${seg(p.name)}/priority`, { priority }), `${p.name}: priority ${priority}.`)

  const draw = () => {
    if (items.length === 0) {
      mount(list, h('div', { class: 'empty card' }, h('p', null, 'No policies. Publish and subscribe are decided by token ACL claims, then by noMatch (see Settings).')))
      return
    }
    mount(list, table(['Priority', 'Name', 'Effect', 'Actions', 'Topics', 'Conditions', 'Description', ''], items.map((p) => {
      const prio = /** @type {HTMLInputElement} */ (h('input', { type: 'number', class: 'prio', value: p.priority, step: 1, 'aria-label': `Priority of ${p.name}` }))
      prio.addEventListener('change', () => {
        const n = Number(prio.value)
        if (Number.isSafeInteger(n) && n !== p.priority) void setPriority(p, n)
        else prio.value = String(p.priority)
      })
      return h('tr', { 'data-name': p.name },
        h('td', null, prio),
        h('td', null, h('strong', null, p.name)),
        h('td', null, pill(p.effect, p.effect === 'allow' ? 'ok' : 'bad')),
        h('td', null, asList(p.actions).join(', ')),
        h('td', null, asList(p.topics).map((t) => h('code', { class: 'topic' }, String(t)))),
        h('td', { class: 'small' }, conditions(p)),
        h('td', { class: 'desc' }, p.description ?? ''),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', 'data-action': 'edit', onclick: () => openForm(p, items, load) }, 'Edit'),
          h('button', {
            type: 'button', class: 'danger', 'data-action': 'delete',
            onclick: async () => {
              if (!(await confirmDialog(`Delete policy ${p.name}?`, 'It stops applying to new checks at once.', 'Delete'))) return
              await act(() => api.del(`/policies/${seg(p.name)}`), `${p.name} deleted.`)
            },
          }, 'Delete')))
    }), { class: 'list', id: 'policy-table' }))
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Authorization policies'),
      h('button', { type: 'button', class: 'primary', id: 'add-policy', onclick: () => openForm(undefined, items, load) }, 'Add policy')),
    authorizationTabs('policies'),
    h('p', { class: 'muted' }, 'Evaluated by priority, smallest first; the first matching rule decides. Placeholders: ${clientid}, ${username}, ${claims.NAME}.'),
    slot, list)
  void load()
  return stop
}

/** @param {HTMLElement} form @param {string} name */
function input(form, name) {
  return /** @type {HTMLInputElement} */ (form.querySelector(`[name="${name}"]`))
}

/**
 * @param {Policy | undefined} existing @param {Policy[]} all @param {() => Promise<void>} done
 */
function openForm(existing, all, done) {
  const editing = existing !== undefined
  const nextPriority = all.reduce((m, p) => Math.max(m, Number(p.priority) || 0), 0) + 10
  const p = existing ?? { name: '', priority: nextPriority, effect: 'allow', actions: ['publish', 'subscribe'], topics: [], retain: 'any' }
  const errorSlot = h('div', { class: 'slot' })
  const touched = new Set()
  const checks = (/** @type {string} */ name, /** @type {Array<string|number>} */ options, /** @type {unknown[]} */ selected) =>
    h('div', { class: 'checks', id: `f-${name}` }, options.map((o) =>
      h('label', null, h('input', { type: 'checkbox', 'data-group': name, value: String(o), checked: selected.map(String).includes(String(o)) }), ` ${o}`)))
  const groupField = (/** @type {string} */ name, /** @type {string} */ label, /** @type {HTMLElement} */ group, /** @type {any} */ o = {}) => {
    const f = field(name, label, group, o)
    group.removeAttribute('name')
    return f
  }

  const form = h('form', { class: 'form', id: 'policy-form', novalidate: true },
    field('name', 'Name', h('input', { type: 'text', value: p.name, disabled: editing, placeholder: 'sensors-own-topics', autocomplete: 'off' }), { hint: '3..64 characters, unique.' }),
    field('priority', 'Priority', h('input', { type: 'number', step: 1, value: p.priority }), { hint: 'Smaller is evaluated first; unique.' }),
    field('effect', 'Effect', h('select', null, h('option', { value: 'allow', selected: p.effect === 'allow' }, 'allow'), h('option', { value: 'deny', selected: p.effect === 'deny' }, 'deny'))),
    groupField('actions', 'Actions', checks('actions', ACTIONS, asList(p.actions).map((a) => (a === 'pub' ? 'publish' : a === 'sub' ? 'subscribe' : a)))),
    field('topics', 'Topics (one filter per line)', h('textarea', { rows: 3, spellcheck: 'false', placeholder: 'sensors/${clientid}/#' }, asList(p.topics).join('\n'))),
    h('details', { open: Boolean(p.clientId || p.username || p.ip || p.qos || (p.retain !== undefined && p.retain !== 'any')) },
      h('summary', null, 'Conditions (optional)'),
      field('clientId', 'Client id (regular expression)', h('input', { type: 'text', value: p.clientId ?? '', placeholder: '^sensor-', spellcheck: 'false' })),
      field('username', 'Username (exact)', h('input', { type: 'text', value: p.username ?? '' })),
      field('ip', 'IP address or CIDR (comma-separated)', h('input', { type: 'text', value: asList(p.ip).join(', '), placeholder: '10.0.0.0/8' })),
      groupField('qos', 'QoS', checks('qos', [0, 1, 2], asList(p.qos)), { hint: 'None checked: every QoS.' }),
      field('retain', 'Retain flag (publish)', h('select', null, ['any', 'true', 'false'].map((r) => h('option', { value: r, selected: String(p.retain ?? 'any') === r }, r))))),
    field('description', 'Description', h('textarea', { rows: 2 }, p.description ?? ''), { counter: DESCRIPTION_MAX }),
    errorSlot,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary', id: 'save-policy' }, editing ? 'Save' : 'Create')))

  const group = (/** @type {string} */ name) => [...form.querySelectorAll(`input[data-group="${name}"]:checked`)].map((e) => /** @type {HTMLInputElement} */ (e).value)
  const values = () => ({
    name: editing ? p.name : input(form, 'name').value,
    priority: input(form, 'priority').value,
    effect: /** @type {HTMLSelectElement} */ (form.querySelector('[name="effect"]')).value,
    actions: group('actions'),
    topics: lines(/** @type {HTMLTextAreaElement} */ (form.querySelector('[name="topics"]')).value).filter((t) => t !== ''),
    clientId: input(form, 'clientId').value.trim(),
    username: input(form, 'username').value.trim(),
    ip: lines(input(form, 'ip').value),
    qos: group('qos').map(Number),
    retain: /** @type {HTMLSelectElement} */ (form.querySelector('[name="retain"]')).value,
    description: /** @type {HTMLTextAreaElement} */ (form.querySelector('[name="description"]')).value,
  })
  const sync = (all = false) => showFieldMessages(form, validatePolicy(values()).errors, {}, all ? undefined : touched)
  submitWhenValid(form, touched, sync, async () => {
    const v = values()
    /** @type {Record<string, any>} */
    const body = { name: v.name, priority: Number(v.priority), effect: v.effect, actions: v.actions }
    if (v.actions.includes('publish') || v.actions.includes('subscribe')) body.topics = v.topics
    if (v.clientId) body.clientId = v.clientId
    if (v.username) body.username = v.username
    if (v.ip.length === 1) body.ip = v.ip[0]
    else if (v.ip.length > 1) body.ip = v.ip
    if (v.qos.length > 0) body.qos = v.qos
    if (v.retain !== 'any') body.retain = v.retain === 'true'
    if (v.description !== '') body.description = v.description
    const button = /** @type {HTMLButtonElement} */ (form.querySelector('#save-policy'))
    await whileBusy(button, async () => {
      if (editing) await api.put(`/policies/${seg(p.name)}`, body)
      else await api.post('/policies', body)
      dialog.close()
      toast(`Policy ${v.name} ${editing ? 'saved' : 'created'}.`)
      await done()
    }, (err) => showServerError(form, errorSlot, err))
  })
  const dialog = modal(editing ? `Edit policy ${p.name}` : 'Add policy', form)
  sync()
}
