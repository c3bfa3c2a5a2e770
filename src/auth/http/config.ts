/**
 * Configuration of `type: http`: a client's credentials are POSTed to an authentication
 * service, whose answer decides (allow / deny / ignore, as the chain's own answers).
 *
 * Defaults, and why:
 *   format: json              a JSON object of `body`'s fields (form: x-www-form-urlencoded).
 *   body: clientid, username, password, peerhost — what every auth service needs; each value
 *                             is a template with ${clientid} ${username} ${password}
 *                             ${peerhost} ${proto_ver} ${cert_cn}.
 *   timeoutMs: 5000           per request, waiting for a pooled connection included.
 *   maxConnections: 16        keep-alive connections to the service, at most: a connect storm
 *                             queues for them instead of opening a socket per client.
 *   maxPending: 1024          requests waiting for a connection beyond this are not sent: the
 *                             client gets "server unavailable" at once (the service is behind).
 *   maxResponseBytes: 65536   an answer is a small JSON object.
 *   cacheTtl: 0               allows are not remembered; > 0: an allow for the same request
 *                             (same fields, so the same password) is reused for that many
 *                             seconds (never beyond its expire_at). Denials are never cached.
 *   cacheSize: 10000          remembered allows, at most.
 *   headers: none             sent with every request (e.g. the service's own API key); their
 *                             values are write-only in the admin API.
 */
import { ConfigError } from '../../errors.js'
import { knownKeys, mapping, oneOf, optionalBoolean, optionalInteger, type Raw } from '../../config/check.js'
import { AUTHENTICATOR_DEFAULTS, parseCaPem, parseEntryBasics } from '../jwt/config.js'
import { parseServiceUrl } from '../introspection/config.js'
import { compileRequestTemplate } from './request-template.js'

export interface HttpAuthenticatorConfig {
  readonly type: 'http'
  readonly name: string
  readonly description?: string
  readonly enabled: boolean
  readonly url: string
  readonly format: 'json' | 'form'
  /** Field name → template. */
  readonly body: Readonly<Record<string, string>>
  /** Header name (lower case) → value. Write-only in the admin API. */
  readonly headers: Readonly<Record<string, string>>
  readonly ca?: string
  readonly timeoutMs: number
  readonly maxConnections: number
  readonly maxPending: number
  readonly maxResponseBytes: number
  readonly cacheTtl: number
  readonly cacheSize: number
  readonly disconnectOnExpiry: boolean
}

export const HTTP_DEFAULTS = Object.freeze({
  format: 'json' as const,
  body: Object.freeze({ clientid: '${clientid}', username: '${username}', password: '${password}', peerhost: '${peerhost}' }),
  timeoutMs: AUTHENTICATOR_DEFAULTS.timeoutMs,
  maxConnections: 16,
  maxPending: 1024,
  maxResponseBytes: 64 * 1024,
  cacheTtl: 0,
  cacheSize: 10_000,
})

const KEYS = ['type', 'name', 'description', 'enabled', 'url', 'format', 'body', 'headers', 'ca', 'timeoutMs', 'maxConnections', 'maxPending',
  'maxResponseBytes', 'cacheTtl', 'cacheSize', 'disconnectOnExpiry']
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Headers the request itself sets. */
const RESERVED_HEADERS = ['content-type', 'content-length', 'host', 'connection', 'transfer-encoding']

function stringMap(raw: unknown, path: string): Record<string, string> {
  const m = mapping(raw, path)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new ConfigError(`${path}.${k}`, 'must be a string')
    out[k] = v
  }
  return out
}

/** Parses a `type: http` entry (the type already checked). Throws ConfigError. */
export function parseHttpConfig(r: Raw, path: string, defaultName: string): HttpAuthenticatorConfig {
  knownKeys(r, path, KEYS)
  const entry = parseEntryBasics(r, path, defaultName)
  const url = parseServiceUrl(r, 'url', path)
  const body = r['body'] === undefined || r['body'] === null ? { ...HTTP_DEFAULTS.body } : stringMap(r['body'], `${path}.body`)
  if (Object.keys(body).length === 0) throw new ConfigError(`${path}.body`, 'must name at least one field')
  for (const [field, template] of Object.entries(body)) {
    try {
      compileRequestTemplate(template)
    } catch (cause) {
      throw new ConfigError(`${path}.body.${field}`, (cause as Error).message)
    }
  }
  const headers: Record<string, string> = {}
  if (r['headers'] !== undefined && r['headers'] !== null) {
    for (const [k, v] of Object.entries(stringMap(r['headers'], `${path}.headers`))) {
      if (!HEADER_NAME.test(k)) throw new ConfigError(`${path}.headers.${k}`, 'is not a valid header name')
      if (RESERVED_HEADERS.includes(k.toLowerCase())) throw new ConfigError(`${path}.headers.${k}`, 'is set by the request itself')
      if (/[\r\n]/.test(v)) throw new ConfigError(`${path}.headers.${k}`, 'must not contain line breaks')
      headers[k.toLowerCase()] = v
    }
  }
  const int = (key: string, min: number, max: number, fallback: number): number => optionalInteger(r[key], `${path}.${key}`, fallback, min, max)
  const ca = parseCaPem(r, path, url.protocol)
  return Object.freeze({
    type: 'http' as const,
    ...entry,
    url: url.toString(),
    format: oneOf(r['format'], `${path}.format`, ['json', 'form'], HTTP_DEFAULTS.format),
    body: Object.freeze(body),
    headers: Object.freeze(headers),
    ...(ca !== undefined ? { ca } : {}),
    timeoutMs: int('timeoutMs', 100, 60_000, HTTP_DEFAULTS.timeoutMs),
    maxConnections: int('maxConnections', 1, 1024, HTTP_DEFAULTS.maxConnections),
    maxPending: int('maxPending', 0, 100_000, HTTP_DEFAULTS.maxPending),
    maxResponseBytes: int('maxResponseBytes', 1024, 1024 * 1024, HTTP_DEFAULTS.maxResponseBytes),
    cacheTtl: int('cacheTtl', 0, 86_400, HTTP_DEFAULTS.cacheTtl),
    cacheSize: int('cacheSize', 0, 1_000_000, HTTP_DEFAULTS.cacheSize),
    disconnectOnExpiry: optionalBoolean(r['disconnectOnExpiry'], `${path}.disconnectOnExpiry`, AUTHENTICATOR_DEFAULTS.disconnectOnExpiry),
  })
}
