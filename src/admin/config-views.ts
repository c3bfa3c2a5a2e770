/**
 * Validated configuration back to its raw (file-shaped) form — what the store keeps and
 * what validation reads again on the next start — and the API's public views, in which
 * secrets are write-only.
 */
import type { AuthenticatorConfig } from '../auth/config.js'
import type { AuthenticatorStatus } from '../auth/managed.js'
import type { ClaimsConfig } from '../auth/jwt/claims.js'
import type { IdentityConfig } from '../auth/identity.js'
import type { AuthorizationConfig, PolicyConfig } from '../authz/config.js'

type Raw = Record<string, unknown>

function claimsToRaw(c: ClaimsConfig): Raw {
  return {
    ...(c.issuer !== undefined ? { issuer: [...c.issuer] } : {}),
    ...(c.audience !== undefined ? { audience: [...c.audience] } : {}),
    ...(c.maxAge !== undefined ? { maxAge: c.maxAge } : {}),
    leeway: c.leeway,
    // An empty list is refused by validation ("leave it out"), so it is left out.
    ...(c.required.length > 0 ? { required: [...c.required] } : {}),
    ...(Object.keys(c.match).length > 0 ? { match: { ...c.match } } : {}),
  }
}

function identityToRaw(i: IdentityConfig): Raw {
  return {
    ...(i.username !== undefined ? { username: i.username } : {}),
    ...(i.clientId !== undefined ? { clientId: i.clientId } : {}),
  }
}

/** An entry's `identity` and `clientIdMode` keys, when it has an identity block. */
function identityEntryToRaw(identity: IdentityConfig | undefined): Raw {
  if (identity === undefined) return {}
  return { identity: identityToRaw(identity), ...(identity.clientId !== undefined ? { clientIdMode: identity.clientIdMode } : {}) }
}

/** A validated authenticator as a raw entry that validates to the same configuration. */
export function authenticatorToRaw(c: AuthenticatorConfig): Raw {
  if (c.type === 'http') {
    return {
      type: c.type, name: c.name, enabled: c.enabled,
      ...(c.description !== undefined ? { description: c.description } : {}),
      url: c.url, format: c.format, body: { ...c.body }, headers: { ...c.headers },
      ...(c.ca !== undefined ? { ca: c.ca } : {}),
      timeoutMs: c.timeoutMs, maxConnections: c.maxConnections, maxPending: c.maxPending, maxResponseBytes: c.maxResponseBytes,
      cacheTtl: c.cacheTtl, cacheSize: c.cacheSize, disconnectOnExpiry: c.disconnectOnExpiry,
    }
  }
  if (c.type === 'x509') {
    return {
      type: c.type, name: c.name, enabled: c.enabled,
      ...(c.description !== undefined ? { description: c.description } : {}),
      ...identityEntryToRaw(c.identity),
      requireToken: c.requireToken, disconnectOnExpiry: c.disconnectOnExpiry,
    }
  }
  const basics: Raw = {
    type: c.type,
    name: c.name,
    from: c.from,
    enabled: c.enabled,
    ...(c.description !== undefined ? { description: c.description } : {}),
    claims: claimsToRaw(c.claims),
    maxTokenBytes: c.maxTokenBytes,
    disconnectOnExpiry: c.disconnectOnExpiry,
    ...identityEntryToRaw(c.identity),
  }
  if (c.type === 'introspection') {
    return {
      ...basics,
      endpoint: c.endpoint, clientId: c.clientId, clientSecret: c.clientSecret, clientAuth: c.clientAuth, authMethod: c.authMethod,
      ...(c.ca !== undefined ? { ca: c.ca } : {}),
      timeoutMs: c.timeoutMs, maxResponseBytes: c.maxResponseBytes, maxConnections: c.maxConnections,
      cacheSize: c.cacheSize, cacheMaxTtl: c.cacheMaxTtl,
    }
  }
  if (c.type === 'devices') {
    return { ...basics, lookup: c.lookup.kind === 'clientId' ? 'clientId' : { claim: c.lookup.claim } }
  }
  const common: Raw = {
    ...basics,
    ...(c.algorithms !== undefined ? { algorithms: [...c.algorithms] } : {}),
    verifiedTokenCache: c.verifiedTokenCache,
  }
  if (c.type === 'jwt') {
    return {
      ...common,
      algorithm: c.algorithm,
      ...(c.secret !== undefined ? { secret: c.secret, secretBase64: c.secretBase64 } : {}),
      ...(c.publicKey !== undefined ? { publicKey: c.publicKey } : {}),
    }
  }
  const tuning = { timeoutMs: c.timeoutMs, maxResponseBytes: c.maxResponseBytes, gracePeriod: c.gracePeriod, kidRefetchCooldown: c.kidRefetchCooldown }
  if (c.text !== undefined) return { ...common, text: c.text, ...tuning }
  return {
    ...common,
    endpoint: c.endpoint,
    refreshInterval: c.refreshInterval,
    ...(c.ca !== undefined ? { ca: c.ca } : {}),
    ...tuning,
  }
}

/** A validated policy as a raw entry (connect-only policies carry no `topics`). */
export function policyToRaw(p: PolicyConfig): Raw {
  return {
    name: p.name,
    priority: p.priority,
    effect: p.effect,
    actions: [...p.actions],
    ...(p.topics.length > 0 ? { topics: [...p.topics] } : {}),
    ...(p.clientId !== undefined ? { clientId: p.clientId } : {}),
    ...(p.username !== undefined ? { username: p.username } : {}),
    ...(p.ip !== undefined ? { ip: [...p.ip] } : {}),
    ...(p.qos !== undefined ? { qos: [...p.qos] } : {}),
    ...(p.retain !== 'any' ? { retain: p.retain } : {}),
    ...(p.description !== undefined ? { description: p.description } : {}),
  }
}

export interface AuthorizationSettings {
  readonly noMatch: 'allow' | 'deny'
  readonly aclClaim: string
  readonly superuserClaim: string | null
}

export function authorizationSettings(a: AuthorizationConfig): AuthorizationSettings {
  return { noMatch: a.noMatch, aclClaim: a.aclClaim, superuserClaim: a.superuserClaim ?? null }
}

export function authorizationToRaw(a: AuthorizationConfig): Raw {
  return {
    noMatch: a.noMatch,
    aclClaim: a.aclClaim,
    ...(a.superuserClaim !== undefined ? { superuserClaim: a.superuserClaim } : {}),
    policies: a.policies.map(policyToRaw),
  }
}

/**
 * The API's view of an authenticator: its configuration without the HMAC secret or the
 * introspection client secret (`hasSecret` says whether one is set), and its live status.
 */
export function authenticatorView(c: AuthenticatorConfig, status: AuthenticatorStatus | undefined): Raw {
  const { secret: _secret, clientSecret: _clientSecret, headers: _headers, ...rest } = authenticatorToRaw(c)
  void _secret
  void _clientSecret
  void _headers
  const view: Raw = { ...rest, hasSecret: (c.type === 'jwt' && c.secret !== undefined) || c.type === 'introspection' }
  // HTTP auth request headers (the service's own API key) are write-only: only their names show.
  if (c.type === 'http') view['headerNames'] = Object.keys(c.headers)
  if (c.type === 'jwks' && c.url !== undefined) view['url'] = c.url
  if (status !== undefined) view['status'] = status
  return view
}
