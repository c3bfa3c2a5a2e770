/**
 * Configuration of token authenticators (`type: jwt` and `type: jwks`): parsed, validated
 * and frozen once; every mistake is a ConfigError naming the full key path.
 *
 * Defaults, and why:
 *   from: username            as TDMQ and the contract say.
 *   enabled: true
 *   maxTokenBytes: 8192       checked before any parsing (the MQTT field allows 65,535).
 *   disconnectOnExpiry: true  the broker disconnects the client at `exp` (the identity
 *                             always carries `expiresAt` = exp, so token ACLs end then).
 *   verifiedTokenCache: 10000 the last N distinct verified tokens are remembered (0..1,000,000;
 *                             0 = off; up to 2N held, roughly 0.5 KiB each), so a fleet
 *                             reconnecting with the tokens it already used (a network blip,
 *                             a load balancer restart) skips the signature checks; claims
 *                             are checked on every CONNECT.
 *   claims.leeway: 5          seconds of clock skew for exp / nbf / iat. Zero leeway
 *                             rejects good tokens whenever clocks drift (range 0..300).
 *   claims.required: []       exp is NOT required by default: issuers and debuggers
 *                             (jwt.io) commonly mint tokens without it, and TDMQ and EMQX
 *                             accept them. A token without exp never expires, so
 *                             createAuthenticator logs a warning when neither
 *                             `required: [exp]` nor `maxAge` bounds token lifetime.
 *   claims.maxAge: unset      no "issued too early" check unless configured.
 *   algorithms: unset         every algorithm that fits the key type (HMAC: those the
 *                             secret is long enough for).
 *   jwks refreshInterval: 60  seconds, 60..1000 (as TDMQ).
 *   jwks timeoutMs: 5000      per fetch, connect to last byte (100..60000).
 *   jwks maxResponseBytes: 262144 (1 KiB..16 MiB).
 *   jwks gracePeriod: 3600    seconds the last good key set keeps working after refreshes
 *                             start failing; then the authenticator fails closed and
 *                             answers "unavailable" (0x88). 0 = fail closed at once.
 *   jwks kidRefetchCooldown: 5 seconds between fetches triggered by an unknown kid (or by
 *                             a missing key set), shared by all clients (0..10).
 *   jwks ca: unset            PEM CA certificate(s) that replace the default roots for a
 *                             private issuer's https endpoint.
 */
import { X509Certificate, createSecretKey, type KeyObject } from 'node:crypto'
import { ConfigError } from '../../errors.js'
import {
  expected, isMapping, knownKeys, list, mapping, optionalBoolean, optionalInteger, optionalNumber, optionalString,
  optionalStringList, type Raw,
} from '../../config/check.js'
import { JWS_ALGORITHMS, hmacAlgorithmsFor, isJwsAlgorithm, type JwsAlgorithm } from './algorithms.js'
import type { ClaimsConfig } from './claims.js'
import { compileTemplate } from './claims.js'
import { bindAlgorithms, importJwks, importPublicKeyPem } from './keys.js'
import { parseIdentityConfig, type IdentityConfig } from '../identity.js'
import { clock } from '../../clock.js'

export type TokenSource = 'username' | 'password'

/** What every authenticator that verifies a token's signature itself has. */
export interface CommonAuthenticatorConfig {
  readonly name: string
  readonly from: TokenSource
  readonly description?: string
  readonly enabled: boolean
  readonly claims: ClaimsConfig
  /** Allow-list; undefined means every algorithm that fits the key. */
  readonly algorithms?: readonly JwsAlgorithm[]
  readonly maxTokenBytes: number
  readonly disconnectOnExpiry: boolean
  /** Verified tokens remembered (0 disables the cache). */
  readonly verifiedTokenCache: number
  /** Claims that become the client's username / client id. */
  readonly identity?: IdentityConfig
}

export interface JwtAuthenticatorConfig extends CommonAuthenticatorConfig {
  readonly type: 'jwt'
  readonly algorithm: 'hmac-based' | 'public-key'
  /** hmac-based: the secret as configured (see secretBase64). */
  readonly secret?: string
  readonly secretBase64: boolean
  /** public-key: PEM content. */
  readonly publicKey?: string
}

export interface JwksAuthenticatorConfig extends CommonAuthenticatorConfig {
  readonly type: 'jwks'
  /** The issuer address as configured. */
  readonly endpoint?: string
  /** The key set address fetched (endpoint + /.well-known/jwks.json). */
  readonly url?: string
  /** A pasted key set (JSON text). */
  readonly text?: string
  readonly refreshInterval: number
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly gracePeriod: number
  readonly kidRefetchCooldown: number
  readonly ca?: string
}

export type AuthenticatorConfig = JwtAuthenticatorConfig | JwksAuthenticatorConfig

export const AUTHENTICATOR_DEFAULTS = Object.freeze({
  from: 'username',
  enabled: true,
  maxTokenBytes: 8192,
  disconnectOnExpiry: true,
  verifiedTokenCache: 10_000,
  leeway: 5,
  refreshInterval: 60,
  timeoutMs: 5000,
  maxResponseBytes: 256 * 1024,
  gracePeriod: 3600,
  kidRefetchCooldown: 5,
})

export const JWKS_WELL_KNOWN_PATH = '/.well-known/jwks.json'

const COMMON_KEYS = ['type', 'name', 'from', 'description', 'enabled', 'claims', 'algorithms', 'maxTokenBytes', 'disconnectOnExpiry', 'verifiedTokenCache', 'identity', 'clientIdMode']
const JWT_KEYS = [...COMMON_KEYS, 'algorithm', 'secret', 'secretBase64', 'publicKey']
const JWKS_KEYS = [...COMMON_KEYS, 'endpoint', 'text', 'refreshInterval', 'timeoutMs', 'maxResponseBytes', 'gracePeriod', 'kidRefetchCooldown', 'ca']
const CLAIMS_KEYS = ['issuer', 'audience', 'maxAge', 'leeway', 'required', 'match']
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/

/** The `claims` block (shared by every authenticator whose credential carries claims). */
export function parseClaims(value: unknown, path: string, from: TokenSource): ClaimsConfig {
  if (value === undefined || value === null) return Object.freeze({ leeway: AUTHENTICATOR_DEFAULTS.leeway, required: [], match: {} })
  const raw = mapping(value, path)
  knownKeys(raw, path, CLAIMS_KEYS)
  const issuer = optionalStringList(raw['issuer'], `${path}.issuer`)
  const audience = optionalStringList(raw['audience'], `${path}.audience`)
  const maxAge = optionalNumber(raw['maxAge'], `${path}.maxAge`, undefined, 1, 366 * 24 * 3600)
  const leeway = optionalNumber(raw['leeway'], `${path}.leeway`, AUTHENTICATOR_DEFAULTS.leeway, 0, 300)
  const required = raw['required'] === undefined || raw['required'] === null ? [] : optionalStringList(raw['required'], `${path}.required`) ?? []
  const match: Record<string, string> = {}
  if (raw['match'] !== undefined && raw['match'] !== null) {
    const m = mapping(raw['match'], `${path}.match`)
    for (const [claim, template] of Object.entries(m)) {
      const at = `${path}.match.${claim}`
      if (typeof template !== 'string') throw expected(at, 'a string template', template)
      let parts
      try {
        parts = compileTemplate(template)
      } catch (cause) {
        throw new ConfigError(at, (cause as Error).message)
      }
      if (from === 'username' && parts.some((p) => p.kind === 'username')) {
        throw new ConfigError(at, '${username} cannot be used when the token itself is read from the username (from: username)')
      }
      match[claim] = template
    }
  }
  const claims: ClaimsConfig = {
    leeway,
    required: Object.freeze(required),
    match: Object.freeze(match),
    ...(issuer !== undefined ? { issuer: Object.freeze(issuer) } : {}),
    ...(audience !== undefined ? { audience: Object.freeze(audience) } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
  }
  return Object.freeze(claims)
}

function parseAlgorithms(raw: Raw, path: string): JwsAlgorithm[] | undefined {
  const list = optionalStringList(raw['algorithms'], `${path}.algorithms`)
  if (list === undefined) return undefined
  list.forEach((alg, i) => {
    if (alg.toLowerCase() === 'none') throw new ConfigError(`${path}.algorithms[${i}]`, "'none' is never accepted")
    if (!isJwsAlgorithm(alg)) throw new ConfigError(`${path}.algorithms[${i}]`, `unknown algorithm '${alg}' (expected one of: ${JWS_ALGORITHMS.join(', ')})`)
  })
  return [...new Set(list)] as JwsAlgorithm[]
}

/** What `secretBase64: true` accepts: base64 or base64url, padding optional. */
export const BASE64_SECRET = /^[A-Za-z0-9+/_-]+={0,2}$/

/** Decodes a configured HMAC secret to bytes (already validated). */
export function hmacSecretBytes(secret: string, base64: boolean): Buffer {
  return base64 ? Buffer.from(secret.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64') : Buffer.from(secret, 'utf8')
}

function parseJwt(raw: Raw, path: string, common: CommonAuthenticatorConfig): JwtAuthenticatorConfig {
  knownKeys(raw, path, JWT_KEYS)
  const algorithm = raw['algorithm']
  if (algorithm === undefined) throw new ConfigError(`${path}.algorithm`, 'is required (hmac-based | public-key)')
  if (algorithm !== 'hmac-based' && algorithm !== 'public-key') {
    throw expected(`${path}.algorithm`, 'hmac-based or public-key', algorithm)
  }
  const secretBase64 = optionalBoolean(raw['secretBase64'], `${path}.secretBase64`, false)
  const allowed = common.algorithms
  if (algorithm === 'hmac-based') {
    if (raw['publicKey'] !== undefined) throw new ConfigError(`${path}.publicKey`, 'is only used with algorithm: public-key')
    const secret = optionalString(raw['secret'], `${path}.secret`)
    if (secret === undefined || secret === '') throw new ConfigError(`${path}.secret`, 'is required for algorithm: hmac-based')
    if (secret.includes('-----BEGIN')) {
      throw new ConfigError(`${path}.secret`, 'looks like a PEM key; a public key must be configured with algorithm: public-key and publicKey (using it as an HMAC secret enables algorithm confusion)')
    }
    if (secretBase64 && !BASE64_SECRET.test(secret.trim())) throw new ConfigError(`${path}.secret`, 'is not valid base64 (secretBase64: true)')
    const bytes = hmacSecretBytes(secret, secretBase64).length
    const fits = hmacAlgorithmsFor(bytes)
    if (allowed !== undefined) {
      allowed.forEach((alg, i) => {
        if (!alg.startsWith('HS')) throw new ConfigError(`${path}.algorithms[${i}]`, `${alg} does not fit algorithm: hmac-based (use HS256, HS384 or HS512)`)
      })
      for (const alg of allowed) {
        if (!fits.includes(alg)) {
          throw new ConfigError(`${path}.secret`, `is ${bytes} bytes; ${alg} needs a secret of at least ${alg.slice(2) === '256' ? 32 : alg.slice(2) === '384' ? 48 : 64} bytes`)
        }
      }
    } else if (fits.length === 0) {
      throw new ConfigError(`${path}.secret`, `is ${bytes} bytes; an HMAC secret must be at least 32 bytes (HS256; 48 for HS384, 64 for HS512)`)
    }
    return { ...common, type: 'jwt', algorithm, secret, secretBase64 }
  }
  if (raw['secret'] !== undefined) throw new ConfigError(`${path}.secret`, 'is only used with algorithm: hmac-based')
  const publicKey = optionalString(raw['publicKey'], `${path}.publicKey`)
  if (publicKey === undefined || publicKey.trim() === '') throw new ConfigError(`${path}.publicKey`, 'is required for algorithm: public-key (PEM content)')
  let key
  try {
    key = importPublicKeyPem(publicKey)
  } catch (cause) {
    throw new ConfigError(`${path}.publicKey`, (cause as Error).message, { cause })
  }
  let bound: JwsAlgorithm[]
  try {
    bound = bindAlgorithms(key, undefined)
  } catch (cause) {
    throw new ConfigError(`${path}.publicKey`, (cause as Error).message, { cause })
  }
  if (allowed !== undefined) {
    allowed.forEach((alg, i) => {
      if (!bound.includes(alg)) throw new ConfigError(`${path}.algorithms[${i}]`, `${alg} does not fit the configured public key (it allows ${bound.join(', ')})`)
    })
  }
  return { ...common, type: 'jwt', algorithm, publicKey, secretBase64 }
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

/** endpoint → key set address: '/.well-known/jwks.json' is appended unless already there. */
export function jwksUrlFor(endpoint: string): { url: string; appended: boolean } {
  const u = new URL(endpoint)
  if (/jwks\.json$/i.test(u.pathname)) return { url: u.toString(), appended: false }
  u.pathname = u.pathname.replace(/\/+$/, '') + JWKS_WELL_KNOWN_PATH
  return { url: u.toString(), appended: true }
}

/** `ca`: PEM CA certificate(s) trusted for an https:// service instead of the default roots. */
export function parseCaPem(raw: Raw, path: string, protocol: string): string | undefined {
  const ca = optionalString(raw['ca'], `${path}.ca`)
  if (ca === undefined) return undefined
  const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new ConfigError(`${path}.ca`, 'must be PEM certificate content (-----BEGIN CERTIFICATE-----)')
  for (const block of blocks) {
    try {
      new X509Certificate(block)
    } catch (cause) {
      throw new ConfigError(`${path}.ca`, `holds a certificate that cannot be read: ${(cause as Error).message}`)
    }
  }
  if (protocol !== 'https:') throw new ConfigError(`${path}.ca`, 'is only used with an https:// endpoint')
  return ca
}

function parseJwks(raw: Raw, path: string, common: CommonAuthenticatorConfig): JwksAuthenticatorConfig {
  knownKeys(raw, path, JWKS_KEYS)
  const endpoint = optionalString(raw['endpoint'], `${path}.endpoint`)
  let text: string | undefined
  const rawText = raw['text']
  if (typeof rawText === 'object' && rawText !== null) text = JSON.stringify(rawText)
  else text = optionalString(raw['text'], `${path}.text`)
  if ((endpoint === undefined) === (text === undefined)) {
    throw new ConfigError(path, 'exactly one of endpoint (the issuer address) or text (a pasted jwks.json) is required')
  }
  const base = {
    ...common,
    type: 'jwks' as const,
    refreshInterval: optionalNumber(raw['refreshInterval'], `${path}.refreshInterval`, AUTHENTICATOR_DEFAULTS.refreshInterval, 60, 1000),
    timeoutMs: optionalNumber(raw['timeoutMs'], `${path}.timeoutMs`, AUTHENTICATOR_DEFAULTS.timeoutMs, 100, 60_000),
    maxResponseBytes: optionalNumber(raw['maxResponseBytes'], `${path}.maxResponseBytes`, AUTHENTICATOR_DEFAULTS.maxResponseBytes, 1024, 16 * 1024 * 1024),
    gracePeriod: optionalNumber(raw['gracePeriod'], `${path}.gracePeriod`, AUTHENTICATOR_DEFAULTS.gracePeriod, 0, 7 * 24 * 3600),
    kidRefetchCooldown: optionalNumber(raw['kidRefetchCooldown'], `${path}.kidRefetchCooldown`, AUTHENTICATOR_DEFAULTS.kidRefetchCooldown, 0, 10),
  }
  if (text !== undefined) {
    for (const key of ['refreshInterval', 'ca']) {
      if (raw[key] !== undefined) throw new ConfigError(`${path}.${key}`, 'is only used with endpoint, not with text')
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (cause) {
      throw new ConfigError(`${path}.text`, `is not JSON: ${(cause as Error).message}`)
    }
    let imported
    try {
      imported = importJwks(doc, common.algorithms)
    } catch (cause) {
      throw new ConfigError(`${path}.text`, (cause as Error).message)
    }
    const problem = imported.problems[0]
    if (problem !== undefined) throw new ConfigError(`${path}.text.keys[${problem.index}]`, problem.reason)
    if (imported.keys.length === 0) throw new ConfigError(`${path}.text`, 'holds no key usable for verifying signatures')
    return { ...base, text }
  }
  let resolved
  try {
    resolved = jwksUrlFor(endpoint!)
  } catch {
    throw new ConfigError(`${path}.endpoint`, `is not a valid URL: ${JSON.stringify(endpoint)}`)
  }
  const address = new URL(resolved.url)
  const protocol = address.protocol
  if (protocol !== 'https:' && protocol !== 'http:') throw new ConfigError(`${path}.endpoint`, 'must be an http:// or https:// address')
  // The address is shown by the API and the logs as configured: it must not carry a password.
  if (address.username !== '' || address.password !== '') {
    throw new ConfigError(`${path}.endpoint`, 'must not contain credentials (user:password@); JWKS endpoints are public')
  }
  const ca = parseCaPem(raw, path, protocol)
  return { ...base, endpoint: endpoint!, url: resolved.url, ...(ca !== undefined ? { ca } : {}) }
}

/** What every authenticator that reads a token from a client's credentials has. */
export type TokenBasics = Pick<CommonAuthenticatorConfig, 'name' | 'from' | 'description' | 'enabled' | 'claims' | 'maxTokenBytes' | 'disconnectOnExpiry'>

/** name, from, description, enabled, claims, maxTokenBytes and disconnectOnExpiry of an entry. */
export function parseTokenBasics(r: Raw, path: string, defaultName: string): TokenBasics {
  const entry = parseEntryBasics(r, path, defaultName)
  const from = r['from'] ?? AUTHENTICATOR_DEFAULTS.from
  if (from !== 'username' && from !== 'password') throw expected(`${path}.from`, 'username or password', from)
  return {
    ...entry,
    from,
    claims: parseClaims(r['claims'], `${path}.claims`, from),
    maxTokenBytes: optionalNumber(r['maxTokenBytes'], `${path}.maxTokenBytes`, AUTHENTICATOR_DEFAULTS.maxTokenBytes, 256, 65_535),
    disconnectOnExpiry: optionalBoolean(r['disconnectOnExpiry'], `${path}.disconnectOnExpiry`, AUTHENTICATOR_DEFAULTS.disconnectOnExpiry),
  }
}

/** name, description and enabled: what every authenticator entry has. */
export function parseEntryBasics(r: Raw, path: string, defaultName: string): { name: string; description?: string; enabled: boolean } {
  const name = optionalString(r['name'], `${path}.name`) ?? defaultName
  if (!NAME.test(name)) throw new ConfigError(`${path}.name`, 'must be 1..64 characters: letters, digits, and _ . : - (starting with a letter or digit)')
  const description = optionalString(r['description'], `${path}.description`)
  if (description !== undefined && [...description].length > 128) throw new ConfigError(`${path}.description`, `must be at most 128 characters (got ${[...description].length})`)
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    enabled: optionalBoolean(r['enabled'], `${path}.enabled`, AUTHENTICATOR_DEFAULTS.enabled),
  }
}

/**
 * Parses one authenticator entry. `path` is its key path, e.g.
 * `authentication.authenticators[0]`. Throws ConfigError.
 */
export function parseAuthenticatorConfig(raw: unknown, path: string, defaultName?: string): AuthenticatorConfig {
  const r = mapping(raw, path)
  const type = r['type']
  if (type !== 'jwt' && type !== 'jwks') {
    throw new ConfigError(`${path}.type`, type === undefined ? 'is required (jwt | jwks | devices | introspection | http | x509)' : `unknown authenticator type ${JSON.stringify(type)} (expected jwt | jwks | devices | introspection | http | x509)`)
  }
  const basics = parseTokenBasics(r, path, defaultName ?? type)
  const algorithms = parseAlgorithms(r, path)
  const identity = parseIdentityConfig(r, path)
  const common: CommonAuthenticatorConfig = {
    ...basics,
    verifiedTokenCache: optionalInteger(r['verifiedTokenCache'], `${path}.verifiedTokenCache`, AUTHENTICATOR_DEFAULTS.verifiedTokenCache, 0, 1_000_000),
    ...(algorithms !== undefined ? { algorithms: Object.freeze(algorithms) } : {}),
    ...(identity !== undefined ? { identity } : {}),
  }
  const config = type === 'jwt' ? parseJwt(r, path, common) : parseJwks(r, path, common)
  return Object.freeze(config)
}

/**
 * Parses the `authenticators` list: each entry, default names `<type>-<index>`, and unique
 * names. `path` is the list's key path, e.g. `authentication.authenticators`.
 */
export function parseAuthenticatorsConfig(rawList: unknown, path: string): AuthenticatorConfig[]
/** The same for a list whose entries `parseOne` parses (every authenticator type: auth/config.ts). */
export function parseAuthenticatorsConfig<C extends { readonly name: string }>(
  rawList: unknown,
  path: string,
  parseOne: (raw: unknown, path: string, defaultName: string) => C,
): C[]
export function parseAuthenticatorsConfig(
  rawList: unknown,
  path: string,
  parseOne: (raw: unknown, path: string, defaultName: string) => { readonly name: string } = parseAuthenticatorConfig,
): Array<{ readonly name: string }> {
  const entries = list(rawList, path)
  const seen = new Map<string, number>()
  return entries.map((raw, i) => {
    const type = isMapping(raw) ? raw['type'] : undefined
    const config = parseOne(raw, `${path}[${i}]`, `${typeof type === 'string' ? type : 'auth'}-${i}`)
    const prior = seen.get(config.name)
    if (prior !== undefined) throw new ConfigError(`${path}[${i}].name`, `'${config.name}' is already used by ${path}[${prior}]; names must be unique`)
    seen.set(config.name, i)
    return config
  })
}

/** Things worth a warning at start-up (never errors). */
export function authenticatorConfigWarnings(config: AuthenticatorConfig): string[] {
  const warnings: string[] = []
  if (!config.claims.required.includes('exp') && config.claims.maxAge === undefined) {
    warnings.push('tokens without exp are accepted and never expire; set claims.required: [exp] or claims.maxAge')
  }
  if (config.type === 'jwks' && config.endpoint !== undefined && config.url !== undefined) {
    const u = new URL(config.url)
    if (u.protocol === 'http:' && !isLoopback(u.hostname)) warnings.push(`key set fetched over plain http from ${u.host}; use https`)
    if (!jwksUrlFor(config.endpoint).appended) {
      warnings.push(`endpoint already ends in jwks.json and is used as is; configure the issuer address (${JWKS_WELL_KNOWN_PATH} is appended)`)
    }
  }
  if (config.type === 'jwt' && config.publicKey !== undefined && config.publicKey.includes('BEGIN CERTIFICATE')) {
    try {
      const cert = new X509Certificate(config.publicKey.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0])
      if (Date.parse(cert.validTo) < clock.now()) warnings.push(`the configured certificate expired on ${cert.validTo}; its public key is still used`)
    } catch {
      // validated at parse time
    }
  }
  return warnings
}

/** Imports the key of a validated hmac-based config (shared by create and tools). */
export function hmacKeyFromConfig(config: JwtAuthenticatorConfig): KeyObject {
  return createSecretKey(hmacSecretBytes(config.secret!, config.secretBase64))
}

