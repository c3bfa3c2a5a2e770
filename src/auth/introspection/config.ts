/**
 * Configuration of `type: introspection` (OAuth 2.0 Token Introspection, RFC 7662): the
 * token a client presents is POSTed to the authorization server's introspection endpoint,
 * whose answer (`active`, `exp`, `scope`, `aud`, `iss`, `sub`, `client_id`, …) is then
 * treated like a verified JWT's claims.
 *
 * Defaults, and why:
 *   from: username            as for token authenticators.
 *   clientAuth: basic         client_secret_basic is the method every server must support
 *                             (RFC 6749 §2.3.1); post = client_secret_post.
 *   authMethod: OAUTH2        the MQTT 5 Authentication Method that carries the token in
 *                             Authentication Data (and re-authenticates with AUTH).
 *   timeoutMs: 5000           per request, waiting for a pooled connection included.
 *   maxResponseBytes: 65536   an introspection answer is a small JSON object.
 *   maxConnections: 16        keep-alive connections to the endpoint, at most.
 *   cacheSize: 10000          answers remembered (by the token's SHA-256, never the token).
 *   cacheMaxTtl: 300          seconds an active answer is trusted without asking again
 *                             (never beyond its exp). It is how long a token revoked at the
 *                             server may still open connections. 0 = ask every time.
 *   inactive answers are remembered for at most 30 s (bounded by cacheMaxTtl), so a
 *   client retrying a dead token does not hammer the server.
 */
import { ConfigError } from '../../errors.js'
import { knownKeys, oneOf, optionalInteger, optionalString, type Raw } from '../../config/check.js'
import { parseIdentityConfig, type IdentityConfig } from '../identity.js'
import { AUTHENTICATOR_DEFAULTS, isLoopback, parseCaPem, parseTokenBasics, type TokenBasics } from '../jwt/config.js'

export interface IntrospectionAuthenticatorConfig extends TokenBasics {
  readonly type: 'introspection'
  readonly endpoint: string
  readonly clientId: string
  /** Write-only in the admin API; never logged. */
  readonly clientSecret: string
  readonly clientAuth: 'basic' | 'post'
  readonly authMethod: string
  readonly ca?: string
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly maxConnections: number
  readonly cacheSize: number
  readonly cacheMaxTtl: number
  /** Answer fields (names or dotted paths) that become the username / client id. */
  readonly identity?: IdentityConfig
}

export const INTROSPECTION_DEFAULTS = Object.freeze({
  clientAuth: 'basic' as const,
  authMethod: 'OAUTH2',
  timeoutMs: AUTHENTICATOR_DEFAULTS.timeoutMs,
  maxResponseBytes: 64 * 1024,
  maxConnections: 16,
  cacheSize: 10_000,
  cacheMaxTtl: 300,
  inactiveTtl: 30,
})

const KEYS = [
  'type', 'name', 'from', 'description', 'enabled', 'claims', 'maxTokenBytes', 'disconnectOnExpiry',
  'endpoint', 'clientId', 'clientSecret', 'clientAuth', 'authMethod', 'ca', 'timeoutMs', 'maxResponseBytes',
  'maxConnections', 'cacheSize', 'cacheMaxTtl', 'identity', 'clientIdMode',
]

/**
 * An http(s) service address: a valid URL, http: or https:, with no credentials in it (the
 * address is shown by the API and the logs as configured).
 */
export function parseServiceUrl(raw: Raw, key: string, path: string): URL {
  const value = optionalString(raw[key], `${path}.${key}`)
  if (value === undefined || value === '') throw new ConfigError(`${path}.${key}`, 'is required (an http:// or https:// address)')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`${path}.${key}`, `is not a valid URL: ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${path}.${key}`, 'must be an http:// or https:// address')
  if (url.username !== '' || url.password !== '') throw new ConfigError(`${path}.${key}`, 'must not contain credentials (user:password@)')
  return url
}

/** Parses a `type: introspection` entry (the type already checked). Throws ConfigError. */
export function parseIntrospectionConfig(r: Raw, path: string, defaultName: string): IntrospectionAuthenticatorConfig {
  knownKeys(r, path, KEYS)
  const basics = parseTokenBasics(r, path, defaultName)
  const url = parseServiceUrl(r, 'endpoint', path)
  const clientId = optionalString(r['clientId'], `${path}.clientId`)
  if (clientId === undefined || clientId === '') throw new ConfigError(`${path}.clientId`, 'is required (the broker\'s client id at the authorization server)')
  const clientSecret = optionalString(r['clientSecret'], `${path}.clientSecret`)
  if (clientSecret === undefined || clientSecret === '') throw new ConfigError(`${path}.clientSecret`, 'is required (the broker\'s client secret at the authorization server)')
  const clientAuth = oneOf(r['clientAuth'], `${path}.clientAuth`, ['basic', 'post'], INTROSPECTION_DEFAULTS.clientAuth)
  const authMethod = optionalString(r['authMethod'], `${path}.authMethod`) ?? INTROSPECTION_DEFAULTS.authMethod
  if (authMethod === '' || authMethod.length > 64) throw new ConfigError(`${path}.authMethod`, 'must be 1..64 characters')
  const ca = parseCaPem(r, path, url.protocol)
  const int = (key: string, min: number, max: number, fallback: number): number => optionalInteger(r[key], `${path}.${key}`, fallback, min, max)
  const identity = parseIdentityConfig(r, path)
  return Object.freeze({
    ...(identity !== undefined ? { identity } : {}),
    ...basics,
    type: 'introspection' as const,
    endpoint: url.toString(),
    clientId,
    clientSecret,
    clientAuth,
    authMethod,
    ...(ca !== undefined ? { ca } : {}),
    timeoutMs: int('timeoutMs', 100, 60_000, INTROSPECTION_DEFAULTS.timeoutMs),
    maxResponseBytes: int('maxResponseBytes', 1024, 1024 * 1024, INTROSPECTION_DEFAULTS.maxResponseBytes),
    maxConnections: int('maxConnections', 1, 1024, INTROSPECTION_DEFAULTS.maxConnections),
    cacheSize: int('cacheSize', 0, 1_000_000, INTROSPECTION_DEFAULTS.cacheSize),
    cacheMaxTtl: int('cacheMaxTtl', 0, 86_400, INTROSPECTION_DEFAULTS.cacheMaxTtl),
  })
}

export function introspectionWarnings(c: IntrospectionAuthenticatorConfig): string[] {
  const warnings: string[] = []
  const u = new URL(c.endpoint)
  if (u.protocol === 'http:' && !isLoopback(u.hostname)) {
    warnings.push(`tokens and the client secret are sent over plain http to ${u.host}; use https`)
  }
  return warnings
}
