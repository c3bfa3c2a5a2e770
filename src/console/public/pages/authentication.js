// Authentication: the authenticator chain (JWT with an HMAC secret or a public key; JWKS
// from an issuer address or pasted; token introspection, an HTTP service, client
// certificates — authenticator-types.js), its order, enable/disable, and JWKS key-set status.
import { api, listOf, seg } from '../api.js'
import { formatRelative, formatTime, h, lines, mount } from '../dom.js'
import { confirmDialog, field, modal, pageAction, pageLoader, pill, showError, showFieldMessages, showServerError, submitWhenValid, table, toast, whileBusy } from '../ui.js'
import { TOKEN_TYPES, TYPE_OPTIONS, serviceBody, serviceFieldsets, serviceKind, serviceValues } from './authenticator-types.js'
import { DESCRIPTION_MAX, REFRESH_DEFAULT, REFRESH_MAX, REFRESH_MIN, WELL_KNOWN, claimsMatchProblems, validateAuthenticator } from '../validate.js'

/** @typedef {Record<string, any>} Authenticator */

const STATE_TONE = { ok: 'ok', stale: 'warn', unavailable: 'bad', disabled: 'off' }

/** @param {Authenticator} a */
function kind(a) {
  const service = serviceKind(a)
  if (service !== undefined) return service
  if (a.type === 'jwks') return a.text !== undefined && a.endpoint === undefined ? 'JWKS (pasted JSON)' : 'JWKS (server)'
  return a.algorithm === 'public-key' ? 'JWT (public key)' : 'JWT (HMAC)'
}

/** @param {Authenticator} a */
function statePill(a) {
  if (a.enabled === false) return pill('disabled', 'off')
  const state = typeof a.status === 'string' ? a.status : a.status?.state
  if (typeof state !== 'string') return pill('enabled', 'ok')
  return pill(state, /** @type {Record<string, string>} */ (STATE_TONE)[state] ?? 'off')
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const list = h('div', { id: 'authenticators' }, h('p', { class: 'muted' }, 'Loading…'))
  /** @type {Authenticator[]} */
  let items = []
  const { load, stop } = pageLoader(slot, async () => /** @type {Authenticator[]} */ (listOf(await api.get('/authenticators'), 'authenticators')),
    (next) => { items = next; draw() })
  const act = pageAction(slot, load)

  const move = async (/** @type {number} */ i, /** @type {number} */ d) => {
    const names = items.map((a) => a.name)
    const j = i + d
    if (j < 0 || j >= names.length) return
    ;[names[i], names[j]] = [/** @type {string} */ (names[j]), /** @type {string} */ (names[i])]
    await act(() => api.put('/authenticators-order', { names }), 'Order saved: authenticators are tried top to bottom.')
  }

  const draw = () => {
    if (items.length === 0) {
      mount(list, h('div', { class: 'empty card' },
        h('p', null, 'No authenticator is configured, so only anonymous clients (if allowed) can connect.'),
        h('button', { type: 'button', class: 'primary', onclick: () => openForm(undefined, load) }, 'Enable JWT authentication')))
      return
    }
    mount(list, table(['Order', 'Name', 'Kind', 'Token in', 'Status', 'Enabled', 'Description', ''], items.map((a, i) =>
      h('tr', { 'data-name': a.name },
        h('td', { class: 'order' },
          h('button', { type: 'button', class: 'icon', title: 'Move up', 'aria-label': `Move ${a.name} up`, disabled: i === 0, onclick: () => move(i, -1) }, '↑'),
          h('button', { type: 'button', class: 'icon', title: 'Move down', 'aria-label': `Move ${a.name} down`, disabled: i === items.length - 1, onclick: () => move(i, 1) }, '↓')),
        h('td', null, h('strong', null, a.name)),
        h('td', null, kind(a), a.type === 'jwks' && a.endpoint ? h('div', { class: 'muted small' }, a.endpoint) : null),
        h('td', null, a.from),
        h('td', { class: 'state' }, statePill(a)),
        h('td', null, h('label', { class: 'switch' },
          h('input', {
            type: 'checkbox', role: 'switch', checked: a.enabled !== false, 'aria-label': `Enable ${a.name}`,
            onchange: async (/** @type {Event} */ ev) => {
              const on = /** @type {HTMLInputElement} */ (ev.target).checked
              await act(() => api.post(`/authenticators/${seg(a.name)}/${on ? 'enable' : 'disable'}`), `${a.name} ${on ? 'enabled' : 'disabled'}.`)
            },
          }), h('span', { class: 'slider' }))),
        h('td', { class: 'desc' }, a.description ?? ''),
        h('td', { class: 'actions' },
          a.type === 'jwks' ? h('button', { type: 'button', class: 'secondary', 'data-action': 'status', onclick: () => openStatus(a, load) }, 'Key set') : null,
          h('button', { type: 'button', class: 'secondary', 'data-action': 'edit', onclick: () => openForm(a, load) }, 'Edit'),
          h('button', {
            type: 'button', class: 'danger', 'data-action': 'delete',
            onclick: async () => {
              if (!(await confirmDialog(`Delete ${a.name}?`, 'Clients that authenticate with it will be refused from their next connection.', 'Delete'))) return
              await act(() => api.del(`/authenticators/${seg(a.name)}`), `${a.name} deleted.`)
            },
          }, 'Delete')))), { class: 'list', id: 'authenticator-table' }))
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Authentication'),
      h('button', { type: 'button', class: 'primary', id: 'add-authenticator', onclick: () => openForm(undefined, load) }, 'Add authenticator')),
    h('p', { class: 'muted' }, 'Authenticators are tried in order. A token whose signature does not verify passes to the next one; a verified token whose claims fail is refused at once.'),
    slot, list)
  void load()
  return stop
}

/** @param {HTMLElement} form @param {string} name */
function val(form, name) {
  const el = /** @type {HTMLInputElement | null} */ (form.querySelector(`[name="${name}"]`))
  if (el === null) return ''
  if (el.type === 'checkbox') return el.checked
  if (el.type === 'radio') {
    const checked = /** @type {HTMLInputElement | null} */ (form.querySelector(`[name="${name}"]:checked`))
    return checked ? checked.value : ''
  }
  return el.value
}

/** Radio buttons as one field. @param {string} name @param {Array<[string, string]>} options @param {string} value */
function radios(name, options, value) {
  return h('div', { class: 'radios', role: 'radiogroup', id: `f-${name}` }, options.map(([v, label]) =>
    h('label', null, h('input', { type: 'radio', name, value: v, checked: v === value, id: `f-${name}-${v}` }), ` ${label}`)))
}

/** A radio group inside a field wrapper (field() names the group's container). */
function radioField(/** @type {string} */ name, /** @type {string} */ label, /** @type {Array<[string, string]>} */ options, /** @type {string} */ value, /** @type {any} */ o = {}) {
  const group = radios(name, options, value)
  const wrap = field(name, label, group, o)
  group.removeAttribute('name')
  return wrap
}

/**
 * The create / edit form, in a dialog.
 * @param {Authenticator | undefined} existing @param {() => Promise<void>} done
 */
function openForm(existing, done) {
  const a = existing ?? { type: 'jwks', from: 'password', algorithm: 'hmac-based', enabled: true, claims: {} }
  const editing = existing !== undefined
  const claims = a.claims ?? {}
  const source = a.type === 'jwks' && a.text !== undefined && a.endpoint === undefined ? 'text' : 'endpoint'
  const errorSlot = h('div', { class: 'slot' })
  const touched = new Set()

  // claims.match: one row per claim that must equal a template.
  const matchRows = h('div', { class: 'match-rows', id: 'match-rows' })
  const addMatchRow = (/** @type {string} */ claim = '', /** @type {string} */ template = '') => {
    const row = h('div', { class: 'match-row' },
      h('input', { type: 'text', class: 'match-claim', 'data-group': 'match', value: claim, placeholder: 'sub', 'aria-label': 'Claim name', autocomplete: 'off', spellcheck: 'false' }),
      h('span', { class: 'muted', 'aria-hidden': 'true' }, '='),
      h('input', { type: 'text', class: 'match-template', 'data-group': 'match', value: template, placeholder: '${clientid}', 'aria-label': 'Template', autocomplete: 'off', spellcheck: 'false' }),
      h('button', {
        type: 'button', class: 'icon', 'data-action': 'remove-match', 'aria-label': 'Remove this claim match',
        onclick: () => { row.remove(); touched.add('match'); sync() },
      }, '×'))
    matchRows.appendChild(row)
    return row
  }
  for (const [claim, template] of Object.entries(claims.match ?? {})) addMatchRow(claim, String(template))
  const matchEditor = h('div', { class: 'match-editor' }, matchRows,
    h('button', {
      type: 'button', class: 'secondary', id: 'add-match',
      onclick: () => { /** @type {HTMLInputElement} */ (addMatchRow().querySelector('.match-claim')).focus(); sync() },
    }, 'Add claim match'))

  const form = h('form', { class: 'form', id: 'authenticator-form', novalidate: true },
    field('name', 'Name', h('input', { type: 'text', value: a.name ?? '', placeholder: 'corp-sso', disabled: editing, autocomplete: 'off', spellcheck: 'false' }),
      { hint: 'Shown in logs, metrics and the API. Letters, digits and _ . : -' }),
    radioField('type', 'Method', TYPE_OPTIONS, a.type),
    h('div', { class: 'only-token' },
      radioField('from', 'Authentication field', [['username', 'Username'], ['password', 'Password']], a.from ?? 'username',
        { hint: 'Where the client puts the token in its CONNECT packet.' })),
    h('fieldset', { class: 'only-jwt' }, h('legend', null, 'JWT'),
      radioField('algorithm', 'Signature method', [['hmac-based', 'HMAC-based (HS256/384/512)'], ['public-key', 'Public key (RS, PS, ES, EdDSA)']], a.algorithm ?? 'hmac-based'),
      h('div', { class: 'only-hmac' },
        field('secret', 'Key (HMAC secret)', h('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false', placeholder: 'at least 32 bytes' }),
          { hint: editing && a.hasSecret ? 'A secret is set but never shown. Leave this empty to keep it, or enter a new one to replace it.' : 'At least 32 bytes for HS256, 48 for HS384, 64 for HS512.' }),
        field('secretBase64', 'The secret is base64-encoded', h('input', { type: 'checkbox', checked: a.secretBase64 === true }))),
      h('div', { class: 'only-pk' },
        field('publicKey', 'Key (public key, PEM)', h('textarea', { rows: 6, spellcheck: 'false', placeholder: '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----' }, a.publicKey ?? ''),
          { hint: 'SPKI (BEGIN PUBLIC KEY), PKCS#1 (BEGIN RSA PUBLIC KEY) or an X.509 certificate.' }))),
    h('fieldset', { class: 'only-jwks' }, h('legend', null, 'JWKS'),
      radioField('source', 'Source of keys', [['endpoint', 'JWKS server'], ['text', 'Pasted JSON']], source),
      h('div', { class: 'only-endpoint' },
        field('endpoint', 'Server address', h('input', { type: 'url', value: a.endpoint ?? '', placeholder: 'https://id.example.com', spellcheck: 'false' }),
          { hint: `The issuer address, without ${WELL_KNOWN} (it is appended).` }),
        field('refreshInterval', 'Refresh interval (seconds)', h('input', { type: 'number', min: REFRESH_MIN, max: REFRESH_MAX, step: 1, value: a.refreshInterval ?? REFRESH_DEFAULT }),
          { hint: `${REFRESH_MIN}..${REFRESH_MAX}, default ${REFRESH_DEFAULT}. An unknown kid triggers an early refetch.` })),
      h('div', { class: 'only-text' },
        field('text', 'Key set (jwks.json content)', h('textarea', { rows: 7, spellcheck: 'false', placeholder: '{"keys":[…]}' }, a.text ?? '')))),
    ...serviceFieldsets(a, editing),
    h('details', { class: 'claims only-token', open: Boolean(claims.issuer || claims.audience || claims.maxAge || Object.keys(claims.match ?? {}).length > 0) },
      h('summary', null, 'Claims checks (optional)'),
      field('issuer', 'Trusted issuers (iss)', h('input', { type: 'text', value: (claims.issuer ?? []).join(', '), placeholder: 'https://id.example.com' }), { hint: 'Any of these; comma-separated.' }),
      field('audience', 'Accepted audiences (aud)', h('input', { type: 'text', value: (claims.audience ?? []).join(', '), placeholder: 'mqtt' })),
      field('leeway', 'Clock leeway (seconds)', h('input', { type: 'number', min: 0, max: 300, value: claims.leeway ?? 5 })),
      field('maxAge', 'Maximum token age (seconds, iat)', h('input', { type: 'number', min: 1, value: claims.maxAge ?? '' }), { hint: 'Tokens issued longer ago are "issued too early".' }),
      field('requireExp', 'Require exp (tokens must expire)', h('input', { type: 'checkbox', checked: (claims.required ?? []).includes('exp') })),
      field('match', 'Claims that must match (claims.match)', matchEditor,
        { hint: 'Each claim must equal its template, filled in from the connection: ${clientid}, ${username} (not with the token in the username), ${claims.NAME} (another claim of the token). Example: sub = ${username}.' })),
    field('description', 'Description', h('textarea', { rows: 2, maxlength: 512 }, a.description ?? ''), { counter: DESCRIPTION_MAX }),
    field('enabled', 'Enabled', h('input', { type: 'checkbox', checked: a.enabled !== false })),
    errorSlot,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary', id: 'save-authenticator' }, editing ? 'Save' : 'Create')))

  const values = () => ({
    name: editing ? a.name : String(val(form, 'name')).trim(),
    type: val(form, 'type'), from: val(form, 'from'), algorithm: val(form, 'algorithm'),
    secret: val(form, 'secret'), secretBase64: val(form, 'secretBase64'), publicKey: val(form, 'publicKey'),
    source: val(form, 'source'), endpoint: String(val(form, 'endpoint')).trim(), refreshInterval: val(form, 'refreshInterval'), text: val(form, 'text'),
    description: val(form, 'description'), leeway: val(form, 'leeway'), maxAge: val(form, 'maxAge'),
    editing, hasSecret: a.hasSecret === true, storedSecretBase64: a.secretBase64 === true, storedType: a.type,
    ...serviceValues((name) => val(form, name)),
    match: [...matchRows.querySelectorAll('.match-row')].map((r) => ({
      claim: /** @type {HTMLInputElement} */ (r.querySelector('.match-claim')).value,
      template: /** @type {HTMLInputElement} */ (r.querySelector('.match-template')).value,
    })),
  })

  const sync = (all = false) => {
    // After a submit every field counts as touched: moving the focus to the first invalid
    // field re-validates (focusout), which must not hide the errors of fields never typed in.
    if (all) for (const el of form.querySelectorAll('.field')) touched.add(/** @type {HTMLElement} */ (el).dataset.field ?? '')
    if (all) touched.add('match')
    const v = values()
    form.dataset.type = String(v.type)
    form.dataset.algorithm = String(v.algorithm)
    form.dataset.source = String(v.source)
    const { errors, warnings } = validateAuthenticator(v)
    // Hidden sections do not count.
    const ok = showFieldMessages(form, errors, warnings, all ? undefined : touched)
    // The claims.match row at fault, if any, is marked on its own inputs.
    const bad = errors.match && (all || touched.has('match')) ? claimsMatchProblems(v.match, String(v.from)).row : -1
    matchRows.querySelectorAll('.match-row').forEach((r, i) => {
      for (const input of r.querySelectorAll('input')) input.setAttribute('aria-invalid', i === bad ? 'true' : 'false')
    })
    return ok
  }
  submitWhenValid(form, touched, sync, async () => {
    const v = values()
    /** @type {Record<string, any>} */
    const body = { name: v.name, type: v.type, enabled: Boolean(val(form, 'enabled')) }
    const tokenType = TOKEN_TYPES.includes(String(v.type))
    if (tokenType) body.from = v.from
    // Saving replaces the whole configuration: keep the settings this form does not show.
    if (v.type === 'introspection' || v.type === 'http' || v.type === 'x509') {
      Object.assign(body, serviceBody(v, a, editing))
    } else if (editing && v.type === a.type) {
      for (const k of ['maxTokenBytes', 'disconnectOnExpiry', 'verifiedTokenCache']) if (a[k] !== undefined) body[k] = a[k]
      if (a.algorithms !== undefined && (v.type === 'jwks' || v.algorithm === a.algorithm)) body.algorithms = a.algorithms
      if (v.type === 'jwks') {
        for (const k of ['timeoutMs', 'maxResponseBytes', 'gracePeriod', 'kidRefetchCooldown']) if (a[k] !== undefined) body[k] = a[k]
        if (a.ca !== undefined && v.source === 'endpoint' && String(v.endpoint).startsWith('https:')) body.ca = a.ca
      }
    }
    if (String(v.description) !== '') body.description = v.description
    if (!tokenType || v.type === 'introspection') {
      // the service section above said it all
    } else if (v.type === 'jwt') {
      body.algorithm = v.algorithm
      if (v.algorithm === 'hmac-based') {
        // No secret typed while editing: send none, and the server keeps the stored one.
        if (v.secret !== '') {
          body.secret = v.secret
          if (v.secretBase64) body.secretBase64 = true
        }
      } else body.publicKey = v.publicKey
    } else if (v.source === 'text') {
      body.text = String(v.text).trim()
    } else {
      body.endpoint = v.endpoint
      if (v.refreshInterval !== '') body.refreshInterval = Number(v.refreshInterval)
    }
    /** @type {Record<string, any>} */
    const c = {}
    if (v.match.length > 0) c.match = Object.fromEntries(v.match.map((r) => [r.claim.trim(), r.template]))
    const issuer = lines(String(val(form, 'issuer')))
    const audience = lines(String(val(form, 'audience')))
    if (issuer.length > 0) c.issuer = issuer
    if (audience.length > 0) c.audience = audience
    if (v.leeway !== '') c.leeway = Number(v.leeway)
    if (v.maxAge !== '') c.maxAge = Number(v.maxAge)
    const required = (claims.required ?? []).filter((/** @type {string} */ r) => r !== 'exp')
    if (val(form, 'requireExp')) required.push('exp')
    if (required.length > 0) c.required = required
    if (Object.keys(c).length > 0 && tokenType) body.claims = c
    const button = /** @type {HTMLButtonElement} */ (form.querySelector('#save-authenticator'))
    await whileBusy(button, async () => {
      if (editing) await api.put(`/authenticators/${seg(String(v.name))}`, body)
      else await api.post('/authenticators', body)
      dialog.close()
      toast(`${v.name} ${editing ? 'saved' : 'created'}.`)
      await done()
    }, (err) => showServerError(form, errorSlot, err))
  }, '.match-row input[aria-invalid="true"], .field.invalid input, .field.invalid textarea')

  const dialog = modal(editing ? `Edit ${a.name}` : 'Add authenticator', form)
  sync()
}

/**
 * The key set's status, polled while open, with "Refresh now".
 * @param {Authenticator} a @param {() => Promise<void>} done
 */
function openStatus(a, done) {
  const slot = h('div', { class: 'slot' })
  const body = h('dl', { class: 'status', id: 'jwks-status' }, h('dt', null, 'State'), h('dd', null, 'Loading…'))
  let timer = 0
  let open = true
  const load = async () => {
    clearTimeout(timer)
    try {
      const s = /** @type {Record<string, any>} */ (await api.get(`/authenticators/${seg(a.name)}/status`))
      if (!open) return
      showError(slot)
      const state = String(s.state ?? 'unknown')
      const kids = Array.isArray(s.kids) ? s.kids : []
      mount(body,
        h('dt', null, 'State'), h('dd', { 'data-state': state }, pill(state, /** @type {Record<string, string>} */ (STATE_TONE)[state] ?? 'off')),
        h('dt', null, 'Key set address'), h('dd', null, h('code', null, s.url ?? a.url ?? (a.endpoint ? a.endpoint.replace(/\/+$/, '') + WELL_KNOWN : '(pasted)'))),
        h('dt', null, 'Keys'), h('dd', { 'data-keycount': String(s.keyCount ?? kids.length) }, String(s.keyCount ?? kids.length)),
        h('dt', null, 'Key ids (kid)'), h('dd', null, kids.length > 0 ? kids.map((k) => h('code', { class: 'kid' }, String(k))) : '—'),
        h('dt', null, 'Last success'), h('dd', null, `${formatTime(s.lastSuccessAt)} ${formatRelative(s.lastSuccessAt)}`),
        h('dt', null, 'Next refresh'), h('dd', null, `${formatTime(s.nextRefreshAt)} ${formatRelative(s.nextRefreshAt)}`),
        h('dt', null, 'Consecutive failures'), h('dd', null, String(s.consecutiveFailures ?? 0)),
        s.fetches ? [h('dt', null, 'Fetches'), h('dd', { id: 'jwks-fetches' },
          `${s.fetches.ok} ok, ${s.fetches.error} failed, ${s.fetches.rejected} refused`,
          typeof s.fetches.lastDurationMs === 'number' ? h('span', { class: 'muted' }, ` · last took ${Math.round(s.fetches.lastDurationMs)} ms`) : null)] : null,
        h('dt', null, 'Last error'), h('dd', { class: s.lastError ? 'bad-text' : '' }, s.lastError ? String(typeof s.lastError === 'object' ? s.lastError.message ?? JSON.stringify(s.lastError) : s.lastError) : '—'))
    } catch (err) {
      if (open) showError(slot, err)
    }
    if (open) timer = window.setTimeout(load, 2000)
  }
  const refresh = /** @type {HTMLButtonElement} */ (h('button', {
    type: 'button', class: 'primary', id: 'refresh-now',
    onclick: async () => {
      refresh.disabled = true
      try {
        await api.post(`/authenticators/${seg(a.name)}/refresh`)
        toast('Key set fetched.')
      } catch (err) {
        showError(slot, err)
      } finally {
        refresh.disabled = false
      }
      await load()
    },
  }, 'Refresh now'))
  const dialog = modal(`Key set of ${a.name}`, h('div', null, body, slot, h('div', { class: 'actions' }, refresh)))
  dialog.addEventListener('close', () => {
    open = false
    clearTimeout(timer)
    void done()
  })
  void load()
}
