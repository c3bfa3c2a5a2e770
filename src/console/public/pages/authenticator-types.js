// The parts of the authenticator form for the types that do not verify tokens with keys of
// their own: OAuth 2.0 token introspection, an HTTP authentication service, and client
// certificates (x509). authentication.js shows the section of the chosen type; the keys
// these forms do not show are kept when an entry is saved again.
import { h } from '../dom.js'
import { field } from '../ui.js'

/** @typedef {Record<string, any>} Authenticator */

/** Types whose CONNECT credential is a token read from `from` (they show "from" and the claims checks). */
export const TOKEN_TYPES = ['jwt', 'jwks', 'introspection']

/** @type {Array<[string, string]>} */
export const TYPE_OPTIONS = [
  ['jwt', 'JWT (a key you enter)'], ['jwks', 'JWKS (a key set)'], ['introspection', 'OAuth 2.0 introspection'],
  ['http', 'HTTP auth service'], ['x509', 'Client certificate (x509)'],
]

/** Certificate fields an x509 identity may name (src/auth/certificate.ts). @type {Array<[string, string]>} */
const CERT_FIELDS = [
  ['', 'as the client sent it'], ['cn', 'subject CN'], ['san.dns', 'first DNS SAN'], ['san.uri', 'first URI SAN'],
  ['san.email', 'first email SAN'], ['san.ip', 'first IP SAN'], ['fingerprint', 'SHA-256 fingerprint'], ['serial', 'serial number'],
]

/** Keys of each type that the form does not show, kept when the entry is saved again. */
const KEPT = {
  introspection: ['authMethod', 'ca', 'timeoutMs', 'maxResponseBytes', 'maxConnections', 'cacheSize', 'cacheMaxTtl', 'maxTokenBytes', 'disconnectOnExpiry', 'identity', 'clientIdMode'],
  http: ['body', 'ca', 'timeoutMs', 'maxConnections', 'maxPending', 'maxResponseBytes', 'cacheTtl', 'cacheSize', 'disconnectOnExpiry'],
  x509: ['clientIdMode', 'disconnectOnExpiry'],
}

/** The list's "Method" column for these types, or undefined for jwt / jwks. @param {Authenticator} a */
export function serviceKind(a) {
  if (a.type === 'introspection') return 'OAuth 2.0 introspection'
  if (a.type === 'http') return 'HTTP auth service'
  if (a.type === 'x509') return a.requireToken ? 'Client certificate + token' : 'Client certificate'
  return undefined
}

/** @param {Array<[string, string]>} options @param {string} value */
function select(options, value) {
  return h('select', null, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)))
}

/**
 * The three sections (one shows at a time: `form[data-type]`).
 * @param {Authenticator} a @param {boolean} editing
 */
export function serviceFieldsets(a, editing) {
  const same = (/** @type {string} */ type) => a.type === type
  const identity = same('x509') ? a.identity ?? {} : {}
  return [
    h('fieldset', { class: 'only-introspection' }, h('legend', null, 'OAuth 2.0 token introspection (RFC 7662)'),
      field('introspectionEndpoint', 'Introspection endpoint', h('input', { type: 'url', value: same('introspection') ? a.endpoint ?? '' : '', placeholder: 'https://id.example.com/oauth2/introspect', spellcheck: 'false' }),
        { hint: 'The full URL the broker POSTs each token to.' }),
      field('introspectionClientId', 'Client id (of the broker at the authorization server)', h('input', { type: 'text', value: same('introspection') ? a.clientId ?? '' : '', autocomplete: 'off', spellcheck: 'false' })),
      field('clientSecret', 'Client secret', h('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false' }),
        { hint: editing && same('introspection') && a.hasSecret ? 'A secret is set but never shown. Leave this empty to keep it, or enter a new one to replace it.' : 'Never shown again once saved.' }),
      field('clientAuth', 'Client authentication', select([['basic', 'HTTP Basic (client_secret_basic)'], ['post', 'In the form body (client_secret_post)']], same('introspection') ? a.clientAuth ?? 'basic' : 'basic'))),
    h('fieldset', { class: 'only-http' }, h('legend', null, 'HTTP authentication service'),
      field('httpUrl', 'Service URL', h('input', { type: 'url', value: same('http') ? a.url ?? '' : '', placeholder: 'https://auth.example.com/mqtt/auth', spellcheck: 'false' }),
        { hint: 'Each CONNECT is POSTed here; the answer {"result": "allow" | "deny" | "ignore"} decides.' }),
      field('httpFormat', 'Request body', select([['json', 'JSON'], ['form', 'Form (x-www-form-urlencoded)']], same('http') ? a.format ?? 'json' : 'json'),
        { hint: editing && same('http') && Array.isArray(a.headerNames) && a.headerNames.length > 0 ? `Headers ${a.headerNames.join(', ')} are kept (their values are never shown).` : 'Fields: clientid, username, password, peerhost (change them with the API).' })),
    h('fieldset', { class: 'only-x509' }, h('legend', null, 'Client certificate (x509)'),
      h('p', { class: 'muted small' }, 'Needs a tls or wss listener with requestCert and a ca (the configuration file): the listener verifies the certificate, this authenticator makes it the client\'s credential.'),
      field('x509Username', 'Username', select(CERT_FIELDS, identity.username ?? '')),
      field('x509ClientId', 'Client id', select(CERT_FIELDS, identity.clientId ?? ''),
        { hint: 'A client that sends another client id is refused.' }),
      field('requireToken', 'Also require a token (a later authenticator must accept it)', h('input', { type: 'checkbox', checked: same('x509') && a.requireToken === true }))),
  ]
}

/** What these sections hold, for validation and saving. @param {(name: string) => unknown} val */
export function serviceValues(val) {
  return {
    introspectionEndpoint: String(val('introspectionEndpoint')).trim(), introspectionClientId: String(val('introspectionClientId')).trim(),
    clientSecret: String(val('clientSecret')), clientAuth: val('clientAuth'),
    httpUrl: String(val('httpUrl')).trim(), httpFormat: val('httpFormat'),
    x509Username: val('x509Username'), x509ClientId: val('x509ClientId'), requireToken: Boolean(val('requireToken')),
  }
}

/**
 * The request body's type-specific keys (name, enabled, description, from and claims are the
 * caller's). Keys the form does not show are kept from the stored entry of the same type.
 * @param {Record<string, any>} v @param {Authenticator} a @param {boolean} editing
 */
export function serviceBody(v, a, editing) {
  /** @type {Record<string, any>} */
  const body = {}
  const kept = /** @type {Record<string, string[]>} */ (KEPT)[v.type] ?? []
  if (editing && a.type === v.type) for (const k of kept) if (a[k] !== undefined) body[k] = a[k]
  if (v.type === 'introspection') {
    body.endpoint = v.introspectionEndpoint
    body.clientId = v.introspectionClientId
    body.clientAuth = v.clientAuth
    // No secret typed while editing: send none, and the server keeps the stored one.
    if (v.clientSecret !== '') body.clientSecret = v.clientSecret
  } else if (v.type === 'http') {
    body.url = v.httpUrl
    body.format = v.httpFormat
  } else if (v.type === 'x509') {
    delete body.clientIdMode
    /** @type {Record<string, string>} */
    const identity = {}
    if (v.x509Username !== '') identity.username = String(v.x509Username)
    if (v.x509ClientId !== '') identity.clientId = String(v.x509ClientId)
    if (Object.keys(identity).length > 0) body.identity = identity
    if (identity.clientId !== undefined && a.type === 'x509' && a.clientIdMode !== undefined) body.clientIdMode = a.clientIdMode
    body.requireToken = v.requireToken
  }
  return body
}
