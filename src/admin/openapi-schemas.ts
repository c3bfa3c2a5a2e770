/**
 * JSON Schemas of the admin API's bodies, for the OpenAPI document at /api/docs. They
 * document; validation is the configuration validators' (same messages as the file).
 */
import { HISTORY_RANGE_NAMES } from './stats-history.js'
import { COUNTED_LIMITS } from '../broker/limits.js'
import { DEVICE_SCHEMAS } from './openapi-device-schemas.js'
import { objectSchema } from './openapi-object-schema.js'

type Schema = Record<string, unknown>

const str = { type: 'string' }
const int = { type: 'integer' }
const bool = { type: 'boolean' }
const strings = { type: 'array', items: str }
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

const claims: Schema = objectSchema({ additionalProperties: false }, {
  issuer: { oneOf: [str, strings], description: 'trusted iss values (any of)' },
  audience: { oneOf: [str, strings], description: 'accepted aud values (any of)' },
  maxAge: { ...int, minimum: 1, description: 'seconds: iat older than this is "issued too early"' },
  leeway: { ...int, minimum: 0, maximum: 300, default: 5 },
  required: strings,
  match: { type: 'object', additionalProperties: str, description: 'claim → template (${clientid}, ${username}, ${claims.NAME})' },
})

const authenticatorCommon: Schema = {
  name: { ...str, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' },
  from: { enum: ['username', 'password'], default: 'username' },
  description: { ...str, maxLength: 128 },
  enabled: { ...bool, default: true },
  claims: ref('Claims'),
  algorithms: strings,
  maxTokenBytes: { ...int, minimum: 256, maximum: 65535, default: 8192 },
  disconnectOnExpiry: { ...bool, default: true },
  verifiedTokenCache: { ...int, minimum: 0, maximum: 1_000_000, default: 10_000, description: 'verified tokens remembered (0 = off); claims are checked on every CONNECT' },
  identity: ref('Identity'),
  clientIdMode: { enum: ['enforce', 'override'], default: 'enforce', description: 'with identity.clientId: another client id in the CONNECT is refused (enforce, 0x85) or replaced (override)' },
}

/** type: devices takes neither an algorithm list (each key fixes its own) nor a verified-token cache. */
const { algorithms: _algorithms, verifiedTokenCache: _cache, ...devicesCommon } = authenticatorCommon
void _algorithms
void _cache

const identity: Schema = objectSchema({
  additionalProperties: false,
  description: 'claims (name or dotted path) that become the client\'s username and client id',
}, {
  username: { ...str, description: 'claim whose value is the username policies, placeholders, logs and the API use' },
  clientId: { ...str, description: 'claim whose value is the client id; a client cannot choose another' },
})

export const SCHEMAS: Record<string, Schema> = {
  Error: objectSchema({ required: ['error', 'message'] }, {
    error: { enum: ['ERR_VALIDATION', 'ERR_BAD_REQUEST', 'ERR_UNAUTHORIZED', 'ERR_NOT_FOUND', 'ERR_CONFLICT', 'ERR_PRECONDITION_FAILED', 'ERR_PAYLOAD_TOO_LARGE', 'ERR_UNAVAILABLE', 'ERR_INTERNAL'] },
    message: str,
    path: { ...str, description: 'configuration key path, e.g. authentication.authenticators[0].secret' },
    errors: { type: 'array', items: ref('DeviceImportRowError'), description: 'device import: every row that cannot be imported' },
  }),
  ...DEVICE_SCHEMAS,
  Claims: claims,
  RevocationRequest: objectSchema({
    additionalProperties: false,
    description: 'jti (with the token\'s exp when known), or sub (with issuedBefore: only tokens with an earlier iat)',
  }, {
    jti: str,
    exp: { oneOf: [int, str], description: 'the revoked token\'s exp (epoch seconds or ISO 8601): the entry expires then' },
    sub: str,
    issuedBefore: { oneOf: [int, str], description: 'epoch seconds, ISO 8601, or "now"' },
    reason: { ...str, maxLength: 1024, description: 'shown in refusals and token checks' },
  }),
  Revocation: objectSchema({ required: ['id', 'kind', 'value', 'createdAt', 'expires'] }, {
    id: str,
    kind: { enum: ['jti', 'sub', 'issuedBefore'] },
    value: { ...str, description: 'the jti or the subject' },
    issuedBefore: { ...int, description: 'epoch seconds (kind issuedBefore)' },
    expiresAt: { ...int, description: 'epoch ms; absent: until deleted' },
    expires: { type: ['string', 'null'], description: 'expiresAt as ISO 8601, or null' },
    reason: str,
    createdAt: { ...int, description: 'epoch ms' },
  }),
  RevocationResult: objectSchema({ required: ['revocation', 'disconnected'] }, {
    revocation: ref('Revocation'),
    disconnected: { ...int, description: 'connected clients disconnected because of it' },
  }),
  Refusal: objectSchema({ required: ['time', 'clientId', 'address', 'listener', 'protocolVersion', 'code', 'reasonCode', 'reason'] }, {
    time: { ...str, format: 'date-time' },
    clientId: str,
    address: str,
    listener: str,
    protocolVersion: int,
    authenticator: { ...str, description: 'the authenticator whose reason was given' },
    code: { ...str, description: 'stable error code (ERR_…)' },
    reasonCode: { ...int, description: 'MQTT 5 CONNACK reason code (3.1.1 clients got the return code derived from it)' },
    reason: str,
    token: objectSchema({ description: 'what the token states about itself, unverified (never the token)' }, {
      sub: str, iss: str, kid: str, exp: { ...int, description: 'epoch seconds' },
    }),
    count: { ...int, description: 'the same refusal repeated this many times (each within 10 s of the previous); absent: once' },
    lastTime: { ...str, format: 'date-time', description: 'when it was last repeated' },
  }),
  AuditEntry: objectSchema({ required: ['id', 'at', 'who', 'address', 'operation', 'summary', 'changes'] }, {
    id: int,
    at: { ...str, format: 'date-time' },
    who: { ...str, description: 'the name of the API key used (admin for admin.apiKey or the generated key)' },
    address: str,
    operation: { ...str, description: 'method and path, e.g. PATCH /api/v1/authenticators/corp' },
    summary: str,
    changes: {
      type: 'array',
      items: objectSchema({ required: ['path'] }, { path: str, before: { description: 'absent: added' }, after: { description: 'absent: removed' } }),
    },
    request: { type: 'object', description: 'the request body (secrets redacted), for actions that change no configuration' },
    node: { ...str, description: 'cluster: the node whose admin API made the change' },
  }),
  AuditPage: objectSchema({ required: ['entries', 'next'] }, {
    entries: { type: 'array', items: { $ref: '#/components/schemas/AuditEntry' } },
    next: { type: ['integer', 'null'], description: 'pass as `before` for the next (older) page; null on the last page' },
  }),
  Identity: identity,
  AuthenticatorInput: {
    description: 'One entry of authentication.authenticators, exactly as in the configuration file',
    oneOf: [
      objectSchema({ title: 'jwt', required: ['type', 'algorithm'] }, {
        type: { const: 'jwt' },
        ...authenticatorCommon,
        algorithm: { enum: ['hmac-based', 'public-key'] },
        secret: { ...str, writeOnly: true, description: 'hmac-based; never returned. On PUT, leave it out to keep the stored secret' },
        secretBase64: { ...bool, description: 'the secret is base64 (or base64url); on PUT without secret, must be left out or unchanged' },
        publicKey: { ...str, description: 'public-key: PEM (SPKI, PKCS#1 RSA, or X.509 certificate)' },
      }),
      objectSchema({ title: 'jwks', required: ['type'] }, {
        type: { const: 'jwks' },
        ...authenticatorCommon,
        endpoint: { ...str, description: 'issuer address; /.well-known/jwks.json is appended' },
        text: { ...str, description: 'a pasted jwks.json (instead of endpoint)' },
        refreshInterval: { ...int, minimum: 60, maximum: 1000, default: 60 },
        timeoutMs: int,
        maxResponseBytes: int,
        gracePeriod: int,
        kidRefetchCooldown: int,
        ca: str,
      }),
      objectSchema({
        title: 'devices',
        required: ['type', 'claims'],
        description: 'tokens signed by a registered device\'s own key (the device registry, /devices); claims.audience and claims.maxAge (at most 86400) are required',
      }, {
        type: { const: 'devices' },
        ...devicesCommon,
        from: { enum: ['username', 'password'], default: 'password' },
        lookup: { oneOf: [{ const: 'clientId' }, objectSchema({ required: ['claim'] }, { claim: str })], default: 'clientId', description: 'which device a token is for: the client id, or a claim of the token' },
      }),
      objectSchema({ title: 'introspection', required: ['type', 'endpoint', 'clientId', 'clientSecret'] }, {
        type: { const: 'introspection' },
        ...authenticatorCommon,
        endpoint: { ...str, description: 'the full RFC 7662 introspection URL' },
        clientId: str,
        clientSecret: { ...str, writeOnly: true, description: 'never returned. On PUT, leave it out to keep the stored one' },
        clientAuth: { enum: ['basic', 'post'], default: 'basic' },
        authMethod: { ...str, default: 'OAUTH2', description: 'MQTT 5 Authentication Method carrying the token' },
        ca: str,
        timeoutMs: int,
        maxResponseBytes: int,
        maxConnections: { ...int, default: 16 },
        cacheSize: { ...int, default: 10_000 },
        cacheMaxTtl: { ...int, default: 300, description: 'seconds an active answer is reused (never past its exp)' },
      }),
      objectSchema({ title: 'http', required: ['type', 'url'] }, {
        type: { const: 'http' },
        name: authenticatorCommon['name'],
        description: authenticatorCommon['description'],
        enabled: authenticatorCommon['enabled'],
        url: str,
        format: { enum: ['json', 'form'], default: 'json' },
        body: { type: 'object', additionalProperties: str, description: 'field → template: ${clientid} ${username} ${password} ${peerhost} ${proto_ver} ${cert_cn} ${cert_fingerprint} ${cert_serial} ${cert_san_dns|uri|email|ip}' },
        headers: { type: 'object', additionalProperties: str, writeOnly: true, description: 'never returned (headerNames is); on PUT, leave it out to keep the stored ones' },
        ca: str,
        timeoutMs: int,
        maxConnections: { ...int, default: 16 },
        maxPending: { ...int, default: 1024 },
        maxResponseBytes: int,
        cacheTtl: { ...int, default: 0, description: 'seconds an allow is reused for the same request (0 = off)' },
        cacheSize: { ...int, default: 10_000 },
        disconnectOnExpiry: authenticatorCommon['disconnectOnExpiry'],
      }),
      objectSchema({
        title: 'x509',
        required: ['type'],
        description: 'the client certificate a tls/wss listener with requestCert verified (its ca and crl)',
      }, {
        type: { const: 'x509' },
        name: authenticatorCommon['name'],
        description: authenticatorCommon['description'],
        enabled: authenticatorCommon['enabled'],
        identity: objectSchema({
          description: 'certificate fields that become the username / client id: cn, fingerprint, serial, san.dns, san.uri, san.email, san.ip',
        }, {
          username: str,
          clientId: str,
        }),
        clientIdMode: authenticatorCommon['clientIdMode'],
        requireToken: { ...bool, default: false, description: 'a later authenticator must accept the client\'s token as well' },
        disconnectOnExpiry: { ...bool, default: true, description: 'end the connection when the certificate expires' },
      }),
    ],
  },
  KeyStatus: objectSchema({
    name: str,
    type: { enum: ['jwt', 'jwks', 'devices', 'introspection', 'http', 'x509'] },
    enabled: bool,
    state: { enum: ['ok', 'stale', 'unavailable', 'disabled'] },
    lastSuccessAt: { type: ['integer', 'null'], description: 'epoch ms' },
    lastError: { type: ['string', 'null'] },
    consecutiveFailures: int,
    kids: strings,
    keyCount: int,
    devices: { ...int, description: 'type devices: devices registered' },
    nextRefreshAt: { type: ['integer', 'null'], description: 'epoch ms' },
    fetches: objectSchema({
      description: 'JWKS fetched from an endpoint: fetches by outcome since the authenticator was created (kept across edits and refreshes)',
    }, {
      ok: { ...int, description: 'key set loaded' },
      error: { ...int, description: 'no usable answer: network, TLS, timeout, HTTP error status' },
      rejected: { ...int, description: 'an answer refused: redirect, over maxResponseBytes, not JSON, not a JWK Set' },
      lastDurationMs: { type: ['number', 'null'], description: 'how long the last fetch took' },
    }),
    fromCluster: objectSchema({ description: 'cluster only: key sets taken from the set the nodes share instead of fetched by this node' }, {
      sets: { ...int, description: 'sets taken (another node fetched it within the refresh interval, or this node could not)' },
      lastNode: { type: ['string', 'null'], description: 'the node that fetched the last one' },
    }),
  }),
  Authenticator: objectSchema({ description: 'The configuration without the HMAC secret, plus hasSecret and the live key status' }, {
    type: { enum: ['jwt', 'jwks', 'devices', 'introspection', 'http', 'x509'] },
    ...authenticatorCommon,
    algorithm: { enum: ['hmac-based', 'public-key'] },
    hasSecret: bool,
    secretBase64: bool,
    publicKey: str,
    endpoint: str,
    url: str,
    text: str,
    refreshInterval: int,
    status: ref('KeyStatus'),
    warnings: { ...strings, description: 'PUT and PATCH answers only, when the change removed claims checks (issuer, audience, required claims)' },
  }),
  AuthenticatorPatch: {
    type: 'object',
    description: 'A JSON merge patch (RFC 7396) of an AuthenticatorInput: keys sent replace the stored ones, null removes a key ' +
      '(it takes its default), claims merges key by key. The stored secret stays unless secret is sent.',
    additionalProperties: true,
  },
  AuthenticatorStatus: {
    allOf: [ref('KeyStatus'), objectSchema({
      stats: objectSchema({
        allow: int,
        deny: { type: 'object', additionalProperties: int },
        ignore: { type: 'object', additionalProperties: int },
        verifyCount: int,
        verifyMicrosTotal: int,
        cacheHits: int,
      }),
    })],
  },
  AuthenticatorOrder: objectSchema({ required: ['names'] }, { names: strings }),
  Policy: objectSchema({ required: ['name', 'priority', 'effect', 'actions'] }, {
    name: { ...str, minLength: 3, maxLength: 64 },
    priority: { ...int, description: 'smaller is evaluated first; unique' },
    effect: { enum: ['allow', 'deny'] },
    actions: { type: 'array', items: { enum: ['connect', 'publish', 'subscribe', 'pub', 'sub'] } },
    topics: strings,
    clientId: { ...str, description: 'regular expression' },
    username: str,
    ip: { oneOf: [str, strings], description: 'address or CIDR' },
    qos: { type: 'array', items: { enum: [0, 1, 2] } },
    retain: { oneOf: [bool, { const: 'any' }] },
    description: { ...str, maxLength: 128 },
  }),
  PolicyPatch: {
    type: 'object',
    description: 'A JSON merge patch (RFC 7396) of a Policy: keys sent replace the stored ones (lists whole), null removes an optional key',
    additionalProperties: true,
  },
  PolicyPriority: objectSchema({ required: ['priority'] }, { priority: int }),
  AuthorizationSettings: objectSchema({
    noMatch: { enum: ['allow', 'deny'], default: 'deny' },
    aclClaim: { ...str, default: 'acl' },
    superuserClaim: { type: ['string', 'null'] },
  }),
  Client: objectSchema({
    description: 'A connected client (connected: true) or an offline persistent session (connected: false). ' +
      'The fields marked "connected only" are absent from offline entries; for an offline entry, username, ' +
      'usernameIsToken, address and protocolVersion are those of the connection that left the session ' +
      '(absent when the session has not outlived a connection since the broker started).',
    required: ['clientId', 'connected', 'subscriptions', 'queued', 'session'],
  }, {
    clientId: str,
    connected: { ...bool, description: 'false: a persistent session whose client is away' },
    node: { ...str, description: 'cluster only: the node that holds the client or session' },
    username: { ...str, description: 'absent when the username carried the token (then usernameIsToken is true)' },
    usernameIsToken: { ...bool, description: 'present (true) when the username was the token (from: username, or a compact JWS): it is never shown' },
    address: { ...str, description: 'remote address (offline: of the last connection)' },
    protocolVersion: { enum: [3, 4, 5], description: 'offline: of the last connection' },
    disconnectedAt: { ...str, format: 'date-time', description: 'offline only: when the last connection ended' },
    listener: { ...str, description: 'connected only' },
    connectedAt: { ...str, format: 'date-time', description: 'connected only' },
    keepAlive: { ...int, description: 'connected only' },
    authenticator: { type: ['string', 'null'], description: 'connected only' },
    anonymous: { ...bool, description: 'connected only' },
    token: objectSchema({ description: 'connected only' }, { subject: str, issuer: str, expiresAt: { ...str, format: 'date-time' } }),
    certificate: objectSchema({ description: 'connected only: the verified client certificate (tls/wss listeners with requestCert)' }, {
      cn: str, san: { type: 'array', items: str, description: 'DNS:…, IP Address:…, URI:…, email:…' },
      fingerprint256: { ...str, description: 'SHA-256, colon-separated hex' }, serialNumber: str, issuer: str,
      validFrom: { ...str, format: 'date-time' }, validTo: { ...str, format: 'date-time', description: 'the connection ends then' },
    }),
    vouchedBy: { ...str, description: 'connected only: the x509 authenticator (requireToken) that accepted the certificate before `authenticator` accepted the token' },
    acl: objectSchema({ description: 'connected only' }, { tokenRules: int, superuser: bool }),
    subscriptions: { ...int, description: 'subscriptions the session holds' },
    queued: { ...int, description: 'messages waiting for the client (offline, or behind a full window)' },
    session: objectSchema({ required: ['expiryInterval'] }, {
      expiryInterval: { ...int, description: 'seconds the session outlives its connection; 0 ends with it, 4294967295 never expires' },
      expiresAt: { ...str, format: 'date-time', description: 'offline sessions that expire: when the session ends' },
      expiresInSeconds: { ...int, description: 'offline sessions that expire: seconds left' },
    }),
  }),
  ClientDetail: {
    allOf: [ref('Client'), objectSchema({
      subscriptionList: { type: 'array', items: objectSchema({ topic: str, qos: int }) },
      inflight: { ...int, description: 'QoS 1/2 messages sent and not yet acknowledged (resent when an offline client returns)' },
    })],
  },
  ClusterNode: objectSchema({ required: ['nodeId', 'state', 'self', 'report'] }, {
    nodeId: str,
    state: { enum: ['up', 'stopped', 'down'] },
    self: { ...bool, description: 'the node answering' },
    lastHeartbeat: { ...str, format: 'date-time' },
    report: { type: 'object', additionalProperties: { type: 'number' }, description: 'clients, sessions, messagesInPerSecond, messagesOutPerSecond, startedAt' },
  }),
  RuleView: objectSchema({ required: ['source', 'origin', 'effect', 'actions', 'topics'] }, {
    source: { enum: ['broker', 'superuser', 'token-acl', 'policies', 'dollar-topics'] },
    origin: { ...str, description: 'a policy name, the ACL claim entry (acl[2], acl.pub), or the built-in rule' },
    effect: { enum: ['allow', 'deny'] },
    actions: { type: 'array', items: { enum: ['connect', 'publish', 'subscribe'] } },
    topics: { ...strings, description: 'topic filters after placeholder substitution' },
    qos: { type: 'array', items: { enum: [0, 1, 2] }, description: 'absent: any QoS' },
    retain: { ...bool, description: 'publish rules limited to retained (true) or other (false) messages' },
    note: str,
  }),
  ClientPermissions: objectSchema({ required: ['clientId', 'rules', 'noMatch'] }, {
    clientId: str,
    rules: { type: 'array', items: ref('RuleView'), description: 'in the order they are asked: the first that matches decides' },
    noMatch: { enum: ['allow', 'deny'], description: 'decides a publish or subscribe no rule matched (connect: allowed)' },
    expiresAt: { ...str, format: 'date-time', description: 'the token the rules came from expires then: every check is refused from then on' },
    check: objectSchema({
      action: { enum: ['connect', 'publish', 'subscribe'] }, topic: str, qos: int, retain: bool,
      allowed: bool, decidedBy: ref('RuleView'), because: str,
    }),
  }),
  SubscribedFilter: objectSchema({ required: ['filter', 'subscribers', 'shared'] }, {
    filter: str,
    subscribers: { ...int, description: 'sessions subscribed directly (connected or offline)' },
    shared: { type: 'array', items: objectSchema({ group: str, members: int }) },
  }),
  RetainedMessage: objectSchema({ required: ['topic', 'qos', 'bytes', 'truncated'] }, {
    topic: str, qos: int, bytes: int,
    text: { ...str, description: 'the payload (up to 1,024 bytes) when it is UTF-8' },
    base64: { ...str, description: 'the payload (up to 1,024 bytes) when it is not UTF-8' },
    truncated: { ...bool, description: 'the preview holds only the first 1,024 bytes' },
    contentType: str, payloadFormatIndicator: bool,
    expiresAt: { ...str, format: 'date-time', description: 'Message Expiry: when it is dropped' },
  }),
  TokenCheckRequest: objectSchema({ required: ['token'] }, {
    token: { ...str, writeOnly: true }, clientId: str, username: str,
    ip: { ...str, description: 'the address the client connects from, for policies with an ip condition (default 127.0.0.1)' },
    check: objectSchema({ required: ['action'], description: 'one check to work out when the token is accepted (a shared subscription on the filter it shares)' }, {
      action: { enum: ['connect', 'publish', 'subscribe'] }, topic: str, qos: { enum: [0, 1, 2] }, retain: bool,
    }),
  }),
  TokenInspection: objectSchema({
    header: { type: 'object' },
    payload: { type: 'object' },
    decodeError: str,
    sizeBytes: int,
    authenticators: {
      type: 'array',
      items: objectSchema({
        name: str, type: str, enabled: bool, outcome: { enum: ['allow', 'deny', 'ignore'] }, code: str, message: str,
        relevance: { type: 'integer', minimum: 0, maximum: 3, description: 'passed on: 3 trusted issuer, 2 key with its kid, 1 nothing says otherwise, 0 meant for another' },
        key: objectSchema({ index: int, kid: str, description: str, alg: str }),
        steps: { type: 'array', items: objectSchema({ check: str, ok: bool, detail: str, code: str }) },
      }),
    },
    verdict: objectSchema({ outcome: { enum: ['allow', 'deny', 'ignore'] }, authenticator: str, code: str, message: str }),
    permissions: objectSchema({
      description: 'accepted tokens: what the client a CONNECT with the token admits may do under the current authorization (its identity from the ' +
        'accepting authenticator, as at CONNECT); only `refused` when that authenticator did not accept it on the CONNECT path after all',
    }, {
      refused: str,
      clientId: { ...str, description: 'the one the token binds, else the one given' },
      username: { ...str, description: 'absent when none, or when it is the token itself (never answered)' },
      usernameIsToken: bool,
      ip: str,
      expiresAt: { ...str, format: 'date-time', description: 'the rules stop applying then' },
      rules: { type: 'array', items: ref('RuleView'), description: 'in the order they are asked: the first that matches decides' },
      noMatch: { enum: ['allow', 'deny'] },
      connect: objectSchema({ allowed: bool, decidedBy: ref('RuleView'), because: str }),
      check: objectSchema({
        action: { enum: ['connect', 'publish', 'subscribe'] }, topic: str, qos: int, retain: bool,
        allowed: bool, decidedBy: ref('RuleView'), because: str,
      }),
      aclProblem: { ...str, description: 'why the token\'s ACL claim gave no rules' },
    }),
  }),
  ConfigurationStatus: objectSchema({
    source: { enum: ['configuration file', 'database'] },
    store: str,
    storedAt: { ...str, format: 'date-time' },
    fileDiffers: bool,
    differences: objectSchema({ description: 'by name and key, never by value' }, {
      authenticators: ref('EntryDrift'),
      policies: ref('EntryDrift'),
      settings: strings,
    }),
    message: str,
  }),
  EntryDrift: objectSchema({
    onlyInFile: { ...strings, description: 'in the file, not stored: not used' },
    onlyStored: { ...strings, description: 'stored, not in the file: used' },
    changed: { type: 'array', items: objectSchema({ name: str, keys: strings }) },
    orderDiffers: bool,
  }),
  Stats: objectSchema({
    startedAt: { ...str, format: 'date-time' },
    uptimeSeconds: int,
    connections: objectSchema({ current: int, open: int, total: int }),
    sessions: int,
    retained: int,
    messages: objectSchema({ received: int, sent: int, dropped: int, receivedByQos: { type: 'array', items: int }, sentByQos: { type: 'array', items: int } }),
    bytes: objectSchema({ in: int, out: int }),
    authFailures: objectSchema({
      total: int,
      byReason: { type: 'object', additionalProperties: int },
      byAuthenticator: { type: 'object', description: "authenticator whose reason was given ('none': no one's) → code → count", additionalProperties: { type: 'object', additionalProperties: int } },
    }),
    authzDenied: objectSchema({ connect: int, publish: int, subscribe: int }),
    limitsHit: objectSchema({
      description: 'Times each per-client / per-address limit acted (a filter refused, a message dropped or held back, a connection or client refused)',
    }, Object.fromEntries(COUNTED_LIMITS.map((k) => [k, int]))),
  }),
  StatsHistory: objectSchema({ required: ['range', 'intervalSeconds', 'from', 'to', 'points'] }, {
    range: { ...str, enum: HISTORY_RANGE_NAMES },
    intervalSeconds: { type: 'number', description: 'seconds between points (10)' },
    from: { ...str, format: 'date-time', description: 'the start of the range (now minus the range)' },
    to: { ...str, format: 'date-time', description: 'now' },
    points: { type: 'array', description: 'oldest first, at most 360 (an hour)', items: ref('StatsPoint') },
  }),
  StatsPoint: objectSchema({
    description: 'The connected clients when the point was taken, and each counter of GET /stats as a rate per second over the interval that ended then',
  }, {
    at: { ...str, format: 'date-time' },
    connections: int,
    connectsPerSecond: { type: 'number', description: 'network connections accepted (connections.total)' },
    messagesInPerSecond: { type: 'number', description: 'PUBLISH packets from clients (messages.received)' },
    messagesOutPerSecond: { type: 'number', description: 'PUBLISH packets to clients (messages.sent)' },
    bytesInPerSecond: { type: 'number' },
    bytesOutPerSecond: { type: 'number' },
    authFailuresPerSecond: { type: 'number', description: 'refused CONNECTs and re-authentications (authFailures.total)' },
    dropsPerSecond: { type: 'number', description: 'messages dropped (messages.dropped)' },
  }),
}

export { ref as schemaRef }
