/**
 * The REST API, version 1: one table of routes that the admin listener registers under
 * /api/v1 and the OpenAPI document is built from. Handlers only call BrokerAdmin (its authn, authz and clients parts).
 */
import type { BrokerAdmin } from './broker-admin.js'
import { CLIENT_STATES } from './clients.js'
import { CLIENT_ORDERS, CLIENT_SORTS } from './client-order.js'
import { HISTORY_RANGE_NAMES } from './stats-history.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface ApiRequest {
  readonly params: Readonly<Record<string, string>>
  /** The query string, as parsed (a repeated key gives a list). */
  readonly query: Readonly<Record<string, unknown>>
  readonly body: unknown
  /** The If-Match header (entity-tag.ts), undefined when absent. */
  readonly ifMatch?: string
}

/** A query parameter, for the OpenAPI document (the handler validates it). */
export interface ApiQueryParameter {
  readonly name: string
  readonly description: string
  readonly enum?: readonly string[]
  readonly default?: string
}

export interface ApiRoute {
  readonly method: HttpMethod
  /** Relative to /api/v1, fastify style (`:name`). */
  readonly url: string
  readonly summary: string
  /** Longer text for the OpenAPI document (CommonMark). */
  readonly description?: string
  readonly tag: string
  readonly query?: readonly ApiQueryParameter[]
  /** Component schema of the request body. */
  readonly body?: string
  /** The body is a JSON merge patch (RFC 7396): application/merge-patch+json, or application/json. */
  readonly mergePatch?: true
  /** Success status (200 unless given); 204 answers no body. */
  readonly status?: 200 | 201 | 204
  /** Component schema of the success body; `Name[]` for a list. */
  readonly response?: string
  /** Largest request body accepted (bytes; default 1 MiB). */
  readonly bodyLimit?: number
  /** The body may also be CSV (text/csv), handed to the handler as a string. */
  readonly csv?: true
  /** false: not a change, not in the audit trail (a POST that only reads, e.g. the token check). */
  readonly audit?: false
  /** Error statuses this route can answer besides 401 (and 412 with `ifMatch`). */
  readonly errors: readonly (400 | 404 | 409)[]
  /** The thing's entity tag now (the ETag header of the answer; entity-tag.ts), undefined when it is gone. */
  readonly etag?: (admin: BrokerAdmin, params: Readonly<Record<string, string>>) => string | undefined
  /** The route honours If-Match (412 when it names another version). */
  readonly ifMatch?: true
  readonly handler: (admin: BrokerAdmin, request: ApiRequest) => unknown
}

export const API_PREFIX = '/api/v1'

/** What `codeUnitList` builds a route from. */
interface CodeUnitList {
  readonly url: string
  readonly tag: string
  readonly summary: string
  readonly description: string
  /** The one query parameter that narrows the list, ahead of the paging ones. */
  readonly narrow: ApiQueryParameter
  /** What a page holds (plural) and the key they are ordered by, for the paging parameters' text. */
  readonly items: string
  readonly key: string
  /** Component schema of one item. */
  readonly item: string
  readonly list: (admin: BrokerAdmin, query: ApiRequest['query']) => unknown
}

/**
 * GET `url`: a list in code-unit order of `key`, narrowed by one parameter, in pages of `limit`
 * (default 100) items `after` the last key of the previous page. The handler validates the query.
 */
function codeUnitList(o: CodeUnitList): ApiRoute {
  const paging: ApiQueryParameter[] = [
    { name: 'limit', default: '100', description: `one page of at most this many ${o.items} (1..1000). A page shorter than limit is the last` },
    { name: 'after', description: `only ${o.key}s after this one (code-unit order): the last ${o.key} of the previous page` },
  ]
  return { method: 'GET', url: o.url, tag: o.tag, summary: o.summary, description: o.description, query: [o.narrow, ...paging],
    response: `${o.item}[]`, errors: [400], handler: (a, r) => o.list(a, r.query) }
}

/** What the three rows of `switchRows` say and do. */
interface SwitchRows {
  /** The thing's URL; its last `:param` names it (`/devices/:id`). */
  readonly url: string
  readonly tag: string
  /** Component schema of the enable / disable answer. */
  readonly response: string
  /** The DELETE, enable and disable rows' summaries. */
  readonly summaries: readonly [string, string, string]
  readonly remove: (admin: BrokerAdmin, key: string, ifMatch: string | undefined) => unknown
  readonly setEnabled: (admin: BrokerAdmin, key: string, enabled: boolean, ifMatch: string | undefined) => unknown
}

/** DELETE `url`, POST `url`/enable and POST `url`/disable: the rows of a thing that can be switched off without deleting it. */
function switchRows(o: SwitchRows): ApiRoute[] {
  const param = o.url.slice(o.url.lastIndexOf(':') + 1)
  const [removed, enabled, disabled] = o.summaries
  const toggle = (on: boolean, summary: string): ApiRoute => ({ method: 'POST', url: `${o.url}/${on ? 'enable' : 'disable'}`, tag: o.tag, summary,
    response: o.response, errors: [404], ifMatch: true, handler: (a, r) => o.setEnabled(a, r.params[param], on, r.ifMatch) })
  return [
    { method: 'DELETE', url: o.url, tag: o.tag, summary: removed, status: 204, errors: [404], ifMatch: true, handler: (a, r) => o.remove(a, r.params[param], r.ifMatch) },
    toggle(true, enabled),
    toggle(false, disabled),
  ]
}

/** The entity tags (entity-tag.ts) of the things GET, PUT and PATCH answer one of. */
const authenticatorTag: ApiRoute['etag'] = (a, p) => a.authn.authenticatorTag(p['name'] ?? '')
const policyTag: ApiRoute['etag'] = (a, p) => a.authz.policyTag(p['name'] ?? '')
const deviceTag: ApiRoute['etag'] = (a, p) => a.devices.deviceTag(p['id'] ?? '')

export const API_ROUTES: readonly ApiRoute[] = [
  // authenticators
  { method: 'GET', url: '/authenticators', tag: 'authenticators', summary: 'List authenticators in chain order (secrets are never returned)',
    response: 'Authenticator[]', errors: [], handler: (a) => a.authn.listAuthenticators() },
  { method: 'POST', url: '/authenticators', tag: 'authenticators', summary: 'Create an authenticator (appended to the chain)',
    body: 'AuthenticatorInput', status: 201, response: 'Authenticator', errors: [400, 409], handler: (a, r) => a.authn.createAuthenticator(r.body) },
  { method: 'PUT', url: '/authenticators-order', tag: 'authenticators', summary: 'Reorder the chain (every name, once)',
    body: 'AuthenticatorOrder', response: 'Authenticator[]', errors: [400], handler: (a, r) => a.authn.reorderAuthenticators(r.body) },
  { method: 'GET', url: '/authenticators/:name', tag: 'authenticators', summary: 'One authenticator',
    response: 'Authenticator', errors: [404], etag: authenticatorTag, handler: (a, r) => a.authn.getAuthenticator(r.params['name']) },
  { method: 'PUT', url: '/authenticators/:name', tag: 'authenticators', summary: 'Replace an authenticator\'s whole configuration',
    description: 'Keys left out take their defaults, except the write-only HMAC secret: when both the stored and the new entry are ' +
      '`algorithm: hmac-based`, a body without `secret` keeps the stored secret (and its `secretBase64`), since GET never returns it. ' +
      'A body with `secret` replaces it; changing `secretBase64` needs the secret too. Claims checks left out are removed: the answer ' +
      'lists in `warnings` the issuer, audience and required-claims checks the replacement dropped. To change a few keys, use PATCH.',
    body: 'AuthenticatorInput', response: 'Authenticator', errors: [400, 404], etag: authenticatorTag, ifMatch: true,
    handler: (a, r) => a.authn.replaceAuthenticator(r.params['name'], r.body, r.ifMatch) },
  { method: 'PATCH', url: '/authenticators/:name', tag: 'authenticators', summary: 'Change only the keys sent (JSON merge patch, RFC 7396)',
    description: 'The body is merged into the stored entry: a key sent replaces the stored one, `null` removes a key (it takes its default), ' +
      '`claims` merges key by key (`{"claims": {"audience": null}}` removes only the audience check). The write-only HMAC secret stays ' +
      'unless the body sends `secret`; changing `secretBase64` needs the secret too. The answer lists in `warnings` the claims checks ' +
      '(issuer, audience, required claims) the change removed.',
    body: 'AuthenticatorPatch', mergePatch: true, response: 'Authenticator', errors: [400, 404], etag: authenticatorTag, ifMatch: true,
    handler: (a, r) => a.authn.patchAuthenticator(r.params['name'], r.body, r.ifMatch) },
  ...switchRows({ url: '/authenticators/:name', tag: 'authenticators', response: 'Authenticator',
    summaries: ['Delete an authenticator', 'Enable (Status open)', 'Disable (Status close)'],
    remove: (a, name, ifMatch) => a.authn.deleteAuthenticator(name, ifMatch),
    setEnabled: (a, name, on, ifMatch) => a.authn.setAuthenticatorEnabled(name, on, ifMatch) }),
  { method: 'GET', url: '/authenticators/:name/status', tag: 'authenticators', summary: 'Key status (JWKS: last fetch, kids, failures, state) and counters',
    response: 'AuthenticatorStatus', errors: [404], handler: (a, r) => a.authn.authenticatorStatus(r.params['name']) },
  { method: 'POST', url: '/authenticators/:name/refresh', tag: 'authenticators', summary: 'Load the keys again now (JWKS: fetch the key set)',
    response: 'AuthenticatorStatus', errors: [404], handler: (a, r) => a.authn.refreshAuthenticator(r.params['name']) },
  // authorization
  { method: 'GET', url: '/policies', tag: 'authorization', summary: 'List policies by priority (evaluation order)',
    response: 'Policy[]', errors: [], handler: (a) => a.authz.listPolicies() },
  { method: 'POST', url: '/policies', tag: 'authorization', summary: 'Create a policy',
    body: 'Policy', status: 201, response: 'Policy', errors: [400, 409], handler: (a, r) => a.authz.createPolicy(r.body) },
  { method: 'GET', url: '/policies/:name', tag: 'authorization', summary: 'One policy',
    response: 'Policy', errors: [404], etag: policyTag, handler: (a, r) => a.authz.getPolicy(r.params['name']) },
  { method: 'PUT', url: '/policies/:name', tag: 'authorization', summary: 'Replace a policy',
    body: 'Policy', response: 'Policy', errors: [400, 404, 409], etag: policyTag, ifMatch: true, handler: (a, r) => a.authz.replacePolicy(r.params['name'], r.body, r.ifMatch) },
  { method: 'PATCH', url: '/policies/:name', tag: 'authorization', summary: 'Change only the keys sent (JSON merge patch, RFC 7396)',
    description: 'The body is merged into the stored policy: a key sent replaces the stored one (lists whole), `null` removes an optional key ' +
      '(`{"ip": null}` drops the address condition). A policy cannot be renamed.',
    body: 'PolicyPatch', mergePatch: true, response: 'Policy', errors: [400, 404, 409], etag: policyTag, ifMatch: true,
    handler: (a, r) => a.authz.patchPolicy(r.params['name'], r.body, r.ifMatch) },
  { method: 'DELETE', url: '/policies/:name', tag: 'authorization', summary: 'Delete a policy',
    status: 204, errors: [404], ifMatch: true, handler: (a, r) => a.authz.deletePolicy(r.params['name'], r.ifMatch) },
  { method: 'PATCH', url: '/policies/:name/priority', tag: 'authorization', summary: 'Change a policy\'s priority (409 when another holds it)',
    body: 'PolicyPriority', response: 'Policy', errors: [400, 404, 409], etag: policyTag, ifMatch: true,
    handler: (a, r) => a.authz.setPolicyPriority(r.params['name'], r.body, r.ifMatch) },
  { method: 'GET', url: '/authorization/settings', tag: 'authorization', summary: 'noMatch, aclClaim, superuserClaim',
    response: 'AuthorizationSettings', errors: [], handler: (a) => a.authz.getAuthorizationSettings() },
  { method: 'PUT', url: '/authorization/settings', tag: 'authorization', summary: 'Replace noMatch, aclClaim, superuserClaim',
    body: 'AuthorizationSettings', response: 'AuthorizationSettings', errors: [400], handler: (a, r) => a.authz.setAuthorizationSettings(r.body) },
  // clients
  { method: 'GET', url: '/clients', tag: 'clients', summary: 'Connected clients and offline persistent sessions, by client id, connected since or address, a page at a time',
    description: 'Every entry has `connected`. Offline entries are sessions kept for a client that is away (MQTT 3.1.1 clean session 0, ' +
      'MQTT 5 Session Expiry Interval above 0): they carry `subscriptions`, `queued` and `session` (expiry interval, and when the session ' +
      'ends), but none of the fields that only a connection has (address, protocol, identity, token…).',
    query: [
      { name: 'state', enum: CLIENT_STATES, default: 'all', description: 'connected: connected clients only; offline: offline sessions only' },
      { name: 'q', description: 'only client ids containing this text' },
      { name: 'sort', enum: CLIENT_SORTS, default: 'clientId', description: 'clientId (code-unit order), connectedAt (connected since) or address; ' +
        'ties by client id; entries without the key (offline sessions have no connectedAt) come last in either order' },
      { name: 'order', enum: CLIENT_ORDERS, default: 'asc', description: 'asc or desc (desc: connectedAt newest first)' },
      { name: 'limit', description: 'one page of at most this many clients (1..1000); absent: all. A page shorter than limit is the last' },
      { name: 'after', description: 'only entries after this client id in the order asked: the last id of the previous page' },
      { name: 'afterKey', description: 'with sort=connectedAt or address: the last entry\'s connectedAt or address (absent or empty when it had none)' },
    ],
    response: 'Client[]', errors: [400], handler: (a, r) => a.clientsAcross.list(r.query) },
  { method: 'GET', url: '/clients/:id', tag: 'clients', summary: 'One connected client or offline session, with its subscriptions',
    response: 'ClientDetail', errors: [404], handler: (a, r) => a.clientsAcross.get(r.params['id']) },
  { method: 'DELETE', url: '/clients/:id', tag: 'clients', summary: 'Disconnect a client (MQTT 5: DISCONNECT 0x98 Administrative action), or end an offline session',
    description: 'A connected client is disconnected; its session then lives on or ends as its expiry interval says. An offline session is ' +
      'ended at once: its subscriptions and queued messages are dropped and a delayed will is published, as when a session expires.',
    status: 204, errors: [404], handler: (a, r) => a.clientsAcross.disconnect(r.params['id']) },
  { method: 'GET', url: '/clients/:id/permissions', tag: 'clients', summary: 'A connected client\'s effective permissions: the rules that apply to it, first match decides',
    description: 'The rules the broker asks for this client, in order: the built-in `$`-topic rules, the superuser claim, the token\'s ACL claim and ' +
      'the policies whose clientId / username / ip conditions it meets, with placeholders substituted; then `noMatch` decides. With `action` ' +
      '(and `topic`, `qos`, `retain`) the answer also works out that one check with the rule that decides it (`check`), exactly as the broker ' +
      'decides the client\'s PUBLISH and SUBSCRIBE packets. 404 for an offline session: permissions are worked out when a client connects.',
    query: [
      { name: 'action', enum: ['connect', 'publish', 'subscribe'], description: 'a check to work out' },
      { name: 'topic', description: 'the topic (publish) or filter (subscribe; $share/<group>/ allowed) to check' },
      { name: 'qos', enum: ['0', '1', '2'], default: '0', description: 'the QoS of the check' },
      { name: 'retain', enum: ['false', 'true'], default: 'false', description: 'publish: a retained message' },
    ],
    response: 'ClientPermissions', errors: [400, 404], handler: (a, r) => a.clientsAcross.permissions(r.params['id'], r.query) },
  // topics
  codeUnitList({ url: '/topics', tag: 'topics', summary: 'Subscribed topic filters: how many sessions hold each, shared groups apart',
    description: 'Connected clients\' and offline sessions\' subscriptions, by filter in code-unit order.',
    narrow: { name: 'q', description: 'only filters containing this text' },
    items: 'filters', key: 'filter', item: 'SubscribedFilter', list: (a, query) => a.topics.subscriptions(query) }),
  codeUnitList({ url: '/retained', tag: 'topics', summary: 'Retained messages under a filter, with a preview of each payload',
    description: 'Retained messages whose topic matches `filter` (default `#`: every topic not starting with `$`; `$SYS/#` lists the ' +
      'broker\'s), by topic in code-unit order. A payload is previewed up to 1,024 bytes: as `text` when it is UTF-8, else as `base64`. ' +
      'Every match is visited to answer one page: a narrower filter answers faster.',
    narrow: { name: 'filter', default: '#', description: 'a topic filter' },
    items: 'messages', key: 'topic', item: 'RetainedMessage', list: (a, query) => a.topics.retained(query) }),
  // cluster
  { method: 'GET', url: '/cluster/nodes', tag: 'broker', summary: 'The cluster\'s nodes: up, stopped or down, clients and message rates at their last heartbeat',
    description: 'Every node that joined the cluster\'s Redis, by id: `state` up (a heartbeat within 3 s), stopped (left cleanly) or down (died), ' +
      '`self` for the node answering, `lastHeartbeat`, and `report` — what the node wrote with its last heartbeat (once a second): `clients`, ' +
      '`sessions`, `messagesInPerSecond`, `messagesOutPerSecond`, `startedAt` (epoch ms). 404 on a broker without `cluster`.',
    response: 'ClusterNode[]', errors: [404], handler: (a) => a.clusterNodes() },
  // revocations
  { method: 'GET', url: '/revocations', tag: 'revocations', summary: 'Revoked tokens in force (entries past their expiry are dropped)',
    response: 'Revocation[]', errors: [], handler: (a) => a.revocations.listRevocations() },
  { method: 'POST', url: '/revocations', tag: 'revocations', summary: 'Revoke tokens by jti, by subject, or a subject\'s tokens issued before a time',
    description: 'Body `{ "jti": "…", "exp"?: … }`, `{ "sub": "…" }` or `{ "sub": "…", "issuedBefore": 1767225600 | "2026-01-01T00:00:00Z" | "now" }`, ' +
      'with an optional `reason`. The entry is stored before it is in force; connected clients whose token it covers are disconnected at once ' +
      '(MQTT 5: DISCONNECT 0x98; 3.1.1: closed), and the answer says how many. It expires when the tokens it covers can no longer be valid: ' +
      'a jti at `exp` when given, else (like issuedBefore) after the longest token life the authenticators allow (their largest `claims.maxAge`); ' +
      'a subject, and any entry when some authenticator sets no maxAge, lasts until deleted. In a cluster the list is shared: the entry is stored in Redis ' +
      'first and every node enforces it (and disconnects its own matching clients) within about a second; while Redis cannot be reached the answer is 503.',
    body: 'RevocationRequest', status: 201, response: 'RevocationResult', errors: [400], handler: (a, r) => a.revocations.revoke(r.body) },
  { method: 'GET', url: '/revocations/:id', tag: 'revocations', summary: 'One revocation',
    response: 'Revocation', errors: [404], handler: (a, r) => a.revocations.getRevocation(r.params['id']) },
  { method: 'DELETE', url: '/revocations/:id', tag: 'revocations', summary: 'Withdraw a revocation (the tokens it covered work again)',
    status: 204, errors: [404], handler: (a, r) => a.revocations.deleteRevocation(r.params['id']) },
  // devices
  { method: 'GET', url: '/devices', tag: 'devices', summary: 'Registered devices, by id, a page at a time (keys shown without secrets)',
    query: [
      { name: 'prefix', description: 'only ids starting with this text' },
      { name: 'enabled', enum: ['true', 'false'], description: 'only enabled (true) or disabled (false) devices' },
      { name: 'after', description: 'ids after this one: the `next` of the previous page' },
      { name: 'limit', default: '100', description: 'devices per page, 1..1000' },
    ],
    response: 'DevicePage', errors: [400], handler: (a, r) => a.devices.listDevices(r.query) },
  { method: 'POST', url: '/devices', tag: 'devices', summary: 'Register a device with up to 3 keys (PEM, JWK or HMAC secret)',
    body: 'DeviceInput', status: 201, response: 'Device', errors: [400, 409], handler: (a, r) => a.devices.createDevice(r.body) },
  { method: 'POST', url: '/devices/import', tag: 'devices', summary: 'Register many devices from JSON or CSV, with an error for every row that cannot be used',
    description: 'The body is a JSON list of devices (as POST /devices takes them, or `{ "devices": [...] }`), or CSV with `Content-Type: text/csv`: ' +
      'a header row, then one key per row (columns id, enabled, description, key_id, pem | jwk | secret, expires_at; rows with the same id are one device). ' +
      'Every row is checked first. By default any error imports nothing and answers 400 with `errors`: every bad row with its row number, CSV line, ' +
      'field and reason. With `partial=true` the good rows are imported and the others listed in `errors`. A device already registered is an error ' +
      'unless `replace=true` (its keys are then replaced, and clients connected with a key it no longer holds are disconnected). Up to 64 MiB.',
    query: [
      { name: 'replace', enum: ['true', 'false'], default: 'false', description: 'replace devices already registered (else each is an error)' },
      { name: 'partial', enum: ['true', 'false'], default: 'false', description: 'import the good rows even when others have errors' },
    ],
    body: 'DeviceImport', csv: true, bodyLimit: 64 * 1024 * 1024, response: 'DeviceImportResult', errors: [400],
    handler: (a, r) => a.devices.importDevices(r.body, r.query) },
  { method: 'GET', url: '/devices/:id', tag: 'devices', summary: 'One device',
    response: 'Device', errors: [404], etag: deviceTag, handler: (a, r) => a.devices.getDevice(r.params['id']) },
  { method: 'PUT', url: '/devices/:id', tag: 'devices', summary: 'Replace a device whole, its keys too (clients connected with a key it no longer holds are disconnected)',
    body: 'DeviceInput', response: 'DeviceChangeResult', errors: [400, 404], etag: deviceTag, ifMatch: true,
    handler: (a, r) => a.devices.replaceDevice(r.params['id'], r.body, r.ifMatch) },
  ...switchRows({ url: '/devices/:id', tag: 'devices', response: 'DeviceChangeResult',
    summaries: ['Delete a device (its connected clients are disconnected)', 'Enable a device',
      'Disable a device: its tokens are refused (0x8A Banned / 3.1.1: 5) and its connected clients disconnected'],
    remove: (a, id, ifMatch) => a.devices.deleteDevice(id, ifMatch), setEnabled: (a, id, on, ifMatch) => a.devices.setDeviceEnabled(id, on, ifMatch) }),
  { method: 'POST', url: '/devices/:id/keys', tag: 'devices', summary: 'Add a key to a device (at most 3: add the new key, move the device over, remove the old one)',
    body: 'DeviceKeyInput', status: 201, response: 'Device', errors: [400, 404, 409], ifMatch: true, handler: (a, r) => a.devices.addDeviceKey(r.params['id'], r.body, r.ifMatch) },
  { method: 'DELETE', url: '/devices/:id/keys/:keyId', tag: 'devices', summary: 'Remove a key (clients connected with it are disconnected)',
    response: 'DeviceChangeResult', errors: [404], ifMatch: true, handler: (a, r) => a.devices.removeDeviceKey(r.params['id'], r.params['keyId'], r.ifMatch) },
  // refusals
  { method: 'GET', url: '/refusals', tag: 'clients', summary: 'Recently refused CONNECTs, newest first: why was this client refused?',
    description: 'The broker keeps the last 1,000 refusals for authentication or authorization reasons in memory (lost on restart): ' +
      'time, client id, address, listener, the authenticator whose reason was given, the error code, the MQTT 5 reason code and the reason text, ' +
      'and the token\'s `sub`, `iss`, `kid` and `exp` as the token states them (read without verifying it). The token itself is never kept.',
    query: [
      { name: 'clientId', description: 'client ids containing this text' },
      { name: 'address', description: 'addresses containing this text' },
      { name: 'reason', description: 'an error code (ERR_JWT_EXPIRED) or an MQTT 5 reason code (134 or 0x86)' },
      { name: 'since', description: 'only refusals at or after this time (epoch milliseconds or ISO 8601)' },
    ],
    response: 'Refusal[]', errors: [400], handler: (a, r) => a.refusals(r.query) },
  { method: 'GET', url: '/audit', tag: 'broker', summary: 'The audit trail of management changes, newest first',
    description: 'Every successful change through this API (and so through the console): when, which API key (`who`, its name), from which address, ' +
      'the operation, and what changed (`changes`: path, before, after; secrets shown as `[redacted]`). Actions that change no configuration ' +
      '(revocations, disconnects, refreshes) carry their request body instead, secrets redacted. Kept in the configuration store (the newest 10,000). ' +
      'Page back with `before` = the previous answer\'s `next`.',
    query: [
      { name: 'limit', description: 'entries per page, 1..500', default: '50' },
      { name: 'before', description: 'only entries older than this id (the previous page\'s `next`)' },
    ],
    response: 'AuditPage', errors: [400], handler: (a, r) => a.auditPage(r.query) },
  // tools
  { method: 'POST', url: '/token/check', tag: 'tools', summary: 'Check a token against the current chain, check by check, and what it may do (the token is not logged)',
    description: 'When the token is accepted, `permissions` says what the client a CONNECT with it admits may do under the current authorization: ' +
      'its identity is built by the accepting authenticator as at CONNECT (counted as one authentication by it), the client id is the one the token ' +
      'binds, else `clientId`; `ip` (default 127.0.0.1) is the address policies\' ip conditions see. `connect` and the one `check` asked for ' +
      'name the rule that decides them, as GET /clients/{clientId}/permissions does for a connected client.',
    body: 'TokenCheckRequest', response: 'TokenInspection', errors: [400], audit: false, handler: (a, r) => a.tokenCheck(r.body) },
  { method: 'GET', url: '/stats', tag: 'broker', summary: 'Broker statistics',
    response: 'Stats', errors: [], handler: (a) => a.stats() },
  { method: 'GET', url: '/stats/history', tag: 'broker', summary: 'The last 5 minutes, 15 minutes or hour of statistics, a point every 10 s',
    description: 'The broker takes a point every 10 seconds and keeps the last 360 (an hour) in memory; they are lost on restart. Each point ' +
      'holds the connected clients at that moment and, from the same counters as GET /stats and /metrics, the rate per second over the ' +
      '10 seconds that ended then: connects, messages in and out, bytes in and out, authentication failures, dropped messages.',
    query: [{ name: 'range', enum: HISTORY_RANGE_NAMES, default: '1h', description: 'how far back: 5m, 15m or 1h' }],
    response: 'StatsHistory', errors: [400], handler: (a, r) => a.statsHistory(r.query) },
  { method: 'GET', url: '/configuration', tag: 'broker', summary: 'Where authenticators and authorization come from, and how the configuration file differs from the stored copy',
    description: 'With a stored copy in use (`source: database`), `fileDiffers` says whether the configuration file\'s authenticators, policies or ' +
      'authorization settings differ from it, and `differences` names them (by name and key, never by value). The console shows `message` as a banner.',
    response: 'ConfigurationStatus', errors: [], handler: (a) => a.configuration() },
]
