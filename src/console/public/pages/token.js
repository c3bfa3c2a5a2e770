// Token checker: paste a token and see how every authenticator would judge it, check by check,
// and, when one accepts it, what the client it admits may do (the rules, connect, one check).
import { api } from '../api.js'
import { formatTime, h, mount } from '../dom.js'
import { checkAnswer, markDeciding, rulesNote, rulesTable } from '../permissions.js'
import { field, pill, requiredTextForm, showError, showFieldMessages, showServerError } from '../ui.js'

const OUTCOME_TONE = { allow: 'ok', accepted: 'ok', ok: 'ok', deny: 'bad', denied: 'bad', refused: 'bad', ignore: 'off', skipped: 'off', unavailable: 'warn', disabled: 'off' }
/** @param {unknown} o */
const tone = (o) => /** @type {Record<string, string>} */ (OUTCOME_TONE)[String(o)] ?? 'off'

/** Shows time claims as dates too. @param {Record<string, unknown>} payload */
function annotate(payload) {
  const notes = []
  for (const k of ['iat', 'nbf', 'exp']) {
    const v = payload[k]
    if (typeof v === 'number') notes.push(h('div', null, h('code', null, k), ` ${formatTime(v)}`))
  }
  return notes
}

/**
 * What the client an accepted token admits may do (the answer's `permissions`): who it is, the
 * connect answer, the one check asked and the rules that decide. The API never answers a
 * username that is the token, and neither does this: it says "the token".
 * @param {Record<string, any>} p
 */
function permissionsView(p) {
  if (typeof p.refused === 'string') {
    return h('div', { id: 'token-permissions' }, h('h3', null, 'Permissions'),
      h('div', { class: 'alert error', id: 'permissions-refused' }, h('strong', null, 'Not worked out: '), p.refused))
  }
  const rules = Array.isArray(p.rules) ? p.rules : []
  const t = rulesTable({ rules, noMatch: p.noMatch === 'allow' ? 'allow' : 'deny' })
  const body = t.querySelector('tbody')
  const check = p.check
  if (check && body !== null) markDeciding(body, rules, check, String(check.action))
  const username = p.usernameIsToken === true ? h('em', null, 'the token')
    : p.username !== undefined ? h('code', null, String(p.username)) : h('span', { class: 'muted' }, 'none')
  const retained = check?.action === 'publish' ? (check.retain ? ', retained' : ', not retained') : ''
  const asked = check ? [check.action, ' ', check.topic !== undefined ? h('code', null, String(check.topic)) : null,
    check.action !== 'connect' ? h('span', { class: 'muted small' }, ` QoS ${check.qos}${retained}`) : null] : null
  return h('div', { id: 'token-permissions' },
    h('h3', null, 'Permissions'),
    h('p', { class: 'muted', id: 'permissions-client' }, 'For client id ', p.clientId ? h('code', null, String(p.clientId)) : h('span', null, 'none'),
      ', username ', username, ', from ', h('code', null, String(p.ip ?? ''))),
    h('div', { class: 'card', id: 'permissions-connect', 'data-allowed': String(Boolean(p.connect?.allowed)) },
      h('strong', null, 'Connect: '), ...(p.connect ? checkAnswer(p.connect) : [])),
    check ? h('div', { class: 'card', id: 'permissions-check', 'data-allowed': String(Boolean(check.allowed)) },
      h('strong', null, 'Check: '), ...(asked ?? []), ' — ', ...checkAnswer(check)) : null,
    p.aclProblem ? h('div', { class: 'alert error', id: 'permissions-acl-problem' }, h('strong', null, 'ACL claim unusable: '), String(p.aclProblem)) : null,
    rulesNote(p), t)
}

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const result = h('section', { id: 'token-result' })
  const tokenInput = /** @type {HTMLTextAreaElement} */ (h('textarea', { rows: 5, spellcheck: 'false', placeholder: 'eyJhbGciOi…', autocomplete: 'off' }))
  const clientId = /** @type {HTMLInputElement} */ (h('input', { type: 'text', placeholder: 'optional, for ${clientid} templates' }))
  const username = /** @type {HTMLInputElement} */ (h('input', { type: 'text', placeholder: 'optional, for ${username} templates' }))
  const ip = /** @type {HTMLInputElement} */ (h('input', { type: 'text', placeholder: '127.0.0.1, for policies with an ip condition', autocomplete: 'off' }))
  const action = /** @type {HTMLSelectElement} */ (h('select', null, h('option', { value: '' }, 'no check'),
    ['publish', 'subscribe', 'connect'].map((a) => h('option', { value: a }, a))))
  const topic = /** @type {HTMLInputElement} */ (h('input', { type: 'text', autocomplete: 'off', placeholder: 'a/topic or a/filter/#' }))
  const qos = /** @type {HTMLSelectElement} */ (h('select', null, [0, 1, 2].map((q) => h('option', { value: String(q) }, `QoS ${q}`))))
  const retain = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox' }))
  // The topic, QoS and retain belong to a publish or subscribe check: off otherwise, so nothing typed is silently ignored.
  const checkKind = () => {
    for (const c of [topic, qos, retain]) c.disabled = action.value === '' || action.value === 'connect'
  }
  action.addEventListener('change', checkKind)
  checkKind()
  const size = h('span', { class: 'muted small', id: 'token-size' })
  tokenInput.addEventListener('input', () => {
    const n = new TextEncoder().encode(tokenInput.value.trim()).length
    size.textContent = n > 0 ? `${n} bytes, ${tokenInput.value.trim().split('.').length} parts` : ''
  })
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary', id: 'check-token' }, 'Check'))
  const form = requiredTextForm({ class: 'form wide', id: 'token-form' }, {
    input: tokenInput, missing: 'Paste a token first.', slot, button,
    send: async (token) => {
      /** @type {Record<string, unknown>} */
      const body = { token }
      if (clientId.value.trim() !== '') body.clientId = clientId.value.trim()
      if (username.value.trim() !== '') body.username = username.value.trim()
      if (ip.value.trim() !== '') body.ip = ip.value.trim()
      if (action.value !== '') {
        body.check = { action: action.value, ...(action.value !== 'connect' ? { topic: topic.value } : {}), qos: Number(qos.value), retain: retain.checked }
      }
      showFieldMessages(form, {})
      const r = await api.post('/token/check', body)
      showError(slot)
      show(r ?? {})
    },
    // A 400 names the key it is about (ip, check.topic …): shown on that field too.
    failed: (err) => {
      showServerError(form, slot, err)
      mount(result)
    },
  },
  field('token', 'Token', tokenInput, { hint: size }),
  h('div', { class: 'row2' }, field('clientId', 'Client id', clientId), field('username', 'Username', username)),
  h('div', { class: 'row2' }, field('ip', 'IP address', ip), field('action', 'Check', action)),
  h('div', { class: 'row2' }, field('topic', 'Topic or filter', topic), h('div', { class: 'row2' }, field('qos', 'QoS', qos), field('retain', 'Retained', retain))),
  h('div', { class: 'actions' }, button))

  /** @param {Record<string, any>} r */
  const show = (r) => {
    const verdict = r.verdict ?? {}
    const auths = Array.isArray(r.authenticators) ? r.authenticators : []
    mount(result,
      h('div', { class: `verdict card ${tone(verdict.outcome)}`, id: 'verdict', 'data-outcome': String(verdict.outcome ?? '') },
        h('strong', null, 'Verdict: '), pill(String(verdict.outcome ?? 'unknown'), tone(verdict.outcome)),
        verdict.authenticator ? [verdict.outcome === 'ignore' ? ' — reason from ' : ' by ', h('strong', null, verdict.authenticator)] : null,
        verdict.code ? [' — ', h('code', null, verdict.code)] : null,
        typeof r.sizeBytes === 'number' ? h('span', { class: 'muted small' }, ` (${r.sizeBytes} bytes)`) : null,
        verdict.outcome === 'ignore' && verdict.message ? h('div', { class: 'muted small', id: 'verdict-reason' }, String(verdict.message)) : null),
      r.decodeError ? h('div', { class: 'alert error' }, h('strong', null, 'Cannot decode: '), String(r.decodeError)) : null,
      r.header || r.payload ? h('div', { class: 'decoded' },
        h('figure', null, h('figcaption', null, 'Header'), h('pre', { class: 'json' }, JSON.stringify(r.header ?? null, null, 2))),
        h('figure', null, h('figcaption', null, 'Payload'), h('pre', { class: 'json' }, JSON.stringify(r.payload ?? null, null, 2)), r.payload ? annotate(r.payload) : null)) : null,
      h('h3', null, 'Authenticators, in order'),
      auths.length === 0 ? h('p', { class: 'muted' }, 'No authenticator is configured.') : auths.map((a) =>
        h('div', { class: 'card check', 'data-authenticator': a.name },
          h('div', { class: 'check-head' }, h('strong', null, a.name), h('span', { class: 'muted' }, ` ${a.type ?? ''}`),
            a.enabled === false ? pill('disabled', 'off') : null, ' ', pill(String(a.outcome ?? ''), tone(a.outcome)),
            a.code ? h('code', null, a.code) : null, a.key ? h('span', { class: 'muted small' }, ` verified with ${typeof a.key === 'string' ? a.key : [a.key.description, a.key.kid ? `kid ${a.key.kid}` : '', a.key.alg].filter(Boolean).join(', ')}`) : null),
          a.message ? h('div', { class: 'muted small' }, a.message) : null,
          h('ol', { class: 'steps' }, (Array.isArray(a.steps) ? a.steps : []).map((/** @type {any} */ s) =>
            h('li', { class: s.ok ? 'pass' : 'fail', 'data-check': s.check },
              h('span', { class: 'mark', 'aria-label': s.ok ? 'passed' : 'failed' }, s.ok ? '✓' : '✗'),
              h('span', { class: 'check-name' }, s.check), s.detail ? h('span', { class: 'muted' }, ` — ${s.detail}`) : null, s.code && !s.ok ? h('code', { class: 'small' }, ` ${s.code}`) : null))))),
      r.permissions ? permissionsView(r.permissions) : null)
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Token checker')),
    h('p', { class: 'muted' }, 'The token is sent to this broker only, checked against the configured authenticators, and not stored or logged.'),
    form, slot, result)
}
