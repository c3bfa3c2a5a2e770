// Devices: the device registry of `type: devices` authenticators — list (paged, by id prefix and state),
// add a device with a public key (PEM or JWK), enable/disable, remove a key, delete, and bulk import.
// Secrets (HMAC keys) are write-only: the API never returns them and this page never shows them.
import { api, request, seg } from '../api.js'
import { formatTime, h, mount } from '../dom.js'
import { confirmDialog, field, modal, pill, requiredTextForm, showError, showFieldMessages, showServerError, submitWhenValid, table, toast, whileBusy } from '../ui.js'

/** @typedef {{ id: string, format: string, description?: string, fingerprint?: string, expires: string | null, expired: boolean }} DeviceKey */
/** @typedef {{ id: string, enabled: boolean, description?: string, keys: DeviceKey[] }} Device */
/** @typedef {{ row: number, line?: number, id?: string, path: string, message: string }} RowError */

const PAGE = 25

/**
 * A key as the API takes it: a pasted JWK (it starts with "{") or PEM, an optional id and expiry.
 * @param {string} material @param {string} id @param {string} expires  a datetime-local value or ''
 */
function keyBody(material, id, expires) {
  /** @type {Record<string, unknown>} */
  const k = material.startsWith('{') ? { jwk: material } : { pem: material }
  if (id.trim() !== '') k['id'] = id.trim()
  if (expires !== '') k['expiresAt'] = new Date(expires).toISOString()
  return k
}

/**
 * The "Add a key" dialog (rotation: add the new key, move the device over, remove the old one).
 * @param {string} deviceId @param {() => Promise<void>} added
 */
function addKeyDialog(deviceId, added) {
  const material = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'new-key', rows: 5, spellcheck: 'false', placeholder: '-----BEGIN PUBLIC KEY-----… or {"kty":"EC",…}' }))
  const keyId = /** @type {HTMLInputElement} */ (h('input', { type: 'text', id: 'new-key-id', autocomplete: 'off', placeholder: 'optional' }))
  const expires = /** @type {HTMLInputElement} */ (h('input', { type: 'datetime-local', id: 'new-key-expires' }))
  const slot = h('div', { class: 'slot' })
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary', id: 'add-key' }, 'Add key'))
  const form = h('form', {
    class: 'form', novalidate: true,
    onsubmit: async (/** @type {Event} */ ev) => {
      ev.preventDefault()
      if (material.value.trim() === '') {
        showError(slot, { message: 'Paste the new public key.' })
        return
      }
      await whileBusy(button, async () => {
        await api.post(`/devices/${seg(deviceId)}/keys`, keyBody(material.value.trim(), keyId.value, expires.value))
        dialog.close()
        toast(`Key added to ${deviceId}`)
        await added()
      }, (err) => showServerError(form, slot, err))
    },
  },
  field('pem', 'Public key (PEM or JWK)', material, { hint: 'A device holds at most 3 keys.' }),
  h('div', { class: 'row2' }, field('id', 'Key id', keyId), field('expiresAt', 'Key expires (empty: never)', expires)),
  slot, h('div', { class: 'actions' }, button))
  const dialog = modal(`Add a key to ${deviceId}`, form)
}

/** @param {DeviceKey} k @param {() => void} remove */
function keyLine(k, remove) {
  return h('li', { 'data-key': k.id },
    h('code', null, k.id), ' ', h('span', { class: 'muted' }, k.format === 'secret' ? 'HMAC secret (not shown)' : (k.description ?? k.format)),
    k.fingerprint ? h('div', { class: 'muted' }, h('code', { class: 'fingerprint', title: 'SHA-256 of the public key' }, k.fingerprint)) : null,
    k.expires !== null ? h('div', null, k.expired ? pill('expired', 'bad') : 'expires ', k.expired ? null : formatTime(k.expires)) : null,
    h('button', { type: 'button', class: 'secondary small', 'data-action': 'remove-key', onclick: remove }, 'Remove key'))
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('section', { id: 'device-list' })
  /** @type {Array<string | undefined>} the `after` of each page shown so far (undefined: the first) */
  const pages = [undefined]
  /** @type {string | null} */
  let next = null

  const prefix = /** @type {HTMLInputElement} */ (h('input', { type: 'search', id: 'device-prefix', autocomplete: 'off', placeholder: 'id starts with…' }))
  const state = /** @type {HTMLSelectElement} */ (h('select', { id: 'device-state' },
    h('option', { value: '' }, 'all'), h('option', { value: 'true' }, 'enabled'), h('option', { value: 'false' }, 'disabled')))
  const restart = () => { pages.length = 1; void load() }
  prefix.addEventListener('input', restart)
  state.addEventListener('change', restart)
  const later = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: 'devices-next', onclick: () => { pages.push(next ?? undefined); void load() } }, 'Next'))
  const earlier = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', id: 'devices-previous', onclick: () => { pages.pop(); void load() } }, 'Previous'))
  const position = h('span', { class: 'muted', id: 'devices-page' })

  /** Runs a change, reports it, reloads the page. @param {() => Promise<unknown>} change @param {string} done */
  const act = async (change, done) => {
    try {
      const r = /** @type {{ disconnected?: number } | undefined} */ (await change())
      showError(slot)
      toast(r?.disconnected ? `${done}; ${r.disconnected} connected client(s) disconnected` : done)
      await load()
    } catch (err) {
      showError(slot, err)
    }
  }

  /** @param {Device} d */
  const row = (d) => h('tr', { 'data-device': d.id },
    h('td', null, h('code', null, d.id), d.description ? h('div', { class: 'muted' }, d.description) : null),
    h('td', null, d.enabled ? pill('enabled', 'ok') : pill('disabled', 'off')),
    h('td', null, d.keys.length === 0 ? h('span', { class: 'muted' }, 'no key') : h('ul', { class: 'device-keys' }, d.keys.map((k) => keyLine(k, async () => {
      if (!(await confirmDialog('Remove key', `Key ${k.id} of ${d.id} will no longer verify; clients connected with it are disconnected.`, 'Remove'))) return
      await act(() => api.del(`/devices/${seg(d.id)}/keys/${seg(k.id)}`), `Key ${k.id} removed`)
    })))),
    h('td', null,
      h('button', { type: 'button', class: 'secondary', 'data-action': 'add-key', onclick: () => addKeyDialog(d.id, load) }, 'Add key'),
      ' ',
      h('button', { type: 'button', class: 'secondary', 'data-action': d.enabled ? 'disable' : 'enable', onclick: () => act(() => api.post(`/devices/${seg(d.id)}/${d.enabled ? 'disable' : 'enable'}`), `${d.id} ${d.enabled ? 'disabled' : 'enabled'}`) }, d.enabled ? 'Disable' : 'Enable'),
      ' ',
      h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: async () => {
        if (!(await confirmDialog('Delete device', `${d.id} and its keys are deleted; its connected clients are disconnected.`, 'Delete'))) return
        await act(() => api.del(`/devices/${seg(d.id)}`), `${d.id} deleted`)
      } }, 'Delete')))

  const load = async () => {
    const after = pages[pages.length - 1]
    const q = new URLSearchParams({ limit: String(PAGE) })
    if (prefix.value !== '') q.set('prefix', prefix.value)
    if (state.value !== '') q.set('enabled', state.value)
    if (after !== undefined) q.set('after', after)
    try {
      const page = /** @type {{ devices: Device[], total: number, next: string | null }} */ (await api.get(`/devices?${q}`))
      showError(slot)
      next = page.next
      later.disabled = next === null
      earlier.disabled = pages.length <= 1
      mount(position, `page ${pages.length} · ${page.total} device(s) registered`)
      mount(list, page.devices.length === 0
        ? h('p', { class: 'muted', id: 'no-devices' }, prefix.value === '' && state.value === '' ? 'No device registered.' : 'No device matches.')
        : table(['Device', 'State', 'Keys', ''], page.devices.map(row)))
    } catch (err) {
      showError(slot, err)
    }
  }

  // Add a device: id, optional description, one public key (PEM or JWK) with an optional expiry.
  const id = /** @type {HTMLInputElement} */ (h('input', { type: 'text', autocomplete: 'off', maxlength: 256 }))
  const description = /** @type {HTMLInputElement} */ (h('input', { type: 'text', autocomplete: 'off' }))
  const keyId = /** @type {HTMLInputElement} */ (h('input', { type: 'text', autocomplete: 'off', placeholder: 'optional (JWK kid, else made up)' }))
  const key = /** @type {HTMLTextAreaElement} */ (h('textarea', { rows: 5, spellcheck: 'false', placeholder: '-----BEGIN PUBLIC KEY-----… or {"kty":"EC",…}' }))
  const expires = /** @type {HTMLInputElement} */ (h('input', { type: 'datetime-local' }))
  const addButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary', id: 'add-device' }, 'Add device'))
  const addSlot = h('div', { class: 'slot' })
  const form = h('form', { class: 'form wide', id: 'device-form', novalidate: true },
    h('div', { class: 'row2' }, field('id', 'Device id', id), field('description', 'Description', description)),
    field('pem', 'Public key (PEM or JWK)', key, { hint: 'A public key only; the device signs its tokens with the private key it keeps.' }),
    h('div', { class: 'row2' }, field('keyId', 'Key id', keyId), field('expiresAt', 'Key expires (empty: never)', expires)),
    addSlot, h('div', { class: 'actions' }, addButton))
  /** @type {Set<string>} */
  const touched = new Set()
  const sync = (all = false) => {
    // After a submit every field counts as touched, so moving the focus to the first invalid
    // field (a focusout re-validates) does not hide the errors of fields never typed in.
    if (all) for (const el of form.querySelectorAll('.field')) touched.add(/** @type {HTMLElement} */ (el).dataset.field ?? '')
    /** @type {Record<string, string>} */
    const errors = {}
    if (id.value.trim() === '') errors['id'] = 'Give the device id (the client id or claim its tokens are matched by).'
    if (key.value.trim() === '') errors['pem'] = 'Paste the device\'s public key.'
    return showFieldMessages(form, errors, {}, all ? undefined : touched)
  }
  submitWhenValid(form, touched, sync, async () => {
    const material = key.value.trim()
    const k = keyBody(material, keyId.value, expires.value)
    const body = { id: id.value.trim(), ...(description.value.trim() !== '' ? { description: description.value.trim() } : {}), keys: [k] }
    await whileBusy(addButton, async () => {
      await api.post('/devices', body)
      showError(addSlot)
      toast(`${body.id} added`)
      for (const c of [id, description, keyId, key, expires]) c.value = ''
      touched.clear()
      await load()
    }, (err) => showServerError(form, addSlot, err))
  }, '[aria-invalid=true]')

  // Bulk import: JSON (a list of devices) or CSV (id,enabled,description,key_id,pem,jwk,secret,expires_at).
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'import-text', rows: 6, spellcheck: 'false', placeholder: '[{"id":"meter-1","keys":[{"pem":"…"}]}] or CSV with a header row' }))
  const partial = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'import-partial' }))
  const replace = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'import-replace' }))
  const importButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary', id: 'import-devices' }, 'Import'))
  const importSlot = h('div', { class: 'slot', id: 'import-result' })
  /** @param {RowError[]} errors */
  const rowErrors = (errors) => errors.length === 0 ? null : table(['Row', 'Line', 'Device', 'Field', 'Error'], errors.map((e) => h('tr', { 'data-row': String(e.row) },
    h('td', null, String(e.row)), h('td', null, e.line === undefined ? '' : String(e.line)), h('td', null, e.id === undefined ? '' : h('code', null, e.id)),
    h('td', null, h('code', null, e.path)), h('td', null, e.message))), { id: 'import-errors' })
  const importForm = requiredTextForm({ class: 'form wide', id: 'device-import' }, {
    input: text, missing: 'Paste a JSON list of devices or CSV with a header row.', slot: importSlot, button: importButton,
    send: async (body) => {
      const json = body.startsWith('[') || body.startsWith('{')
      const q = new URLSearchParams({ partial: String(partial.checked), replace: String(replace.checked) })
      const r = /** @type {{ created: number, replaced: number, errors: RowError[], disconnected: number }} */ (
        await request('POST', `/devices/import?${q}`, body, { contentType: json ? 'application/json' : 'text/csv' }))
      mount(importSlot, h('div', { class: 'alert ok', role: 'status' }, `${r.created} created, ${r.replaced} replaced, ${r.errors.length} row(s) not imported, ${r.disconnected} client(s) disconnected.`), rowErrors(r.errors))
      if (r.errors.length === 0) text.value = ''
      await load()
    },
    failed: (err) => {
      showError(importSlot, err)
      importSlot.append(rowErrors(/** @type {{ errors?: RowError[] }} */ (err).errors ?? []) ?? '')
    },
  },
  field('import', 'JSON or CSV', text, { hint: 'CSV columns: id, enabled, description, key_id, pem, jwk, secret, expires_at (one row per key). Nothing is imported while a row is wrong, unless "import the good rows" is ticked.' }),
  h('div', { class: 'row2' }, field('partial', 'Import the good rows, list the others', partial), field('replace', 'Replace devices already registered', replace)),
  importSlot, h('div', { class: 'actions' }, importButton))

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Devices')),
    h('p', { class: 'muted' }, 'Devices of the "devices" authenticators: each signs its tokens with its own key. A disabled or deleted device is refused at once and its clients are disconnected. Secrets are never shown.'),
    h('details', { class: 'device-section', id: 'add-section' }, h('summary', null, 'Add a device'), form),
    h('details', { class: 'device-section', id: 'import-section' }, h('summary', null, 'Import devices (JSON or CSV)'), importForm),
    h('div', { class: 'row2 filters' }, field('prefix', 'Search by id', prefix), field('state', 'State', state)),
    slot, list,
    h('div', { class: 'actions pager' }, earlier, position, later))
  void load()
}
