/**
 * Identity from credentials: an authenticator's `identity` block names the claims (of a
 * verified token, an introspection answer, a certificate's fields…) that become the
 * client's username and client id. One step for every authenticator type:
 *
 *   parseIdentityConfig   the `identity` + `clientIdMode` keys of an authenticator entry
 *   identityFromClaims    the claims → { username, clientId } (or why not: ERR_IDENTITY_CLAIM)
 *   bindClientId          what the broker does with the client id a client sent
 *
 * Without `identity.clientId` any client id is accepted (a token for device A could open
 * device B's session); with it the client id is the one the credential was issued for.
 */
import { absent, knownKeys, mapping, optionalString } from '../config/check.js'
import { ConfigError, PortcullisError } from '../errors.js'
import { resolveClaim } from './claim-lookup.js'

/** What a client id the client sent that differs from the credential's gets. */
export type ClientIdMode = 'enforce' | 'override'

export interface IdentityConfig {
  /** Claim (name or dotted path) whose value is the client's username. */
  readonly username?: string
  /** Claim (name or dotted path) whose value is the client's id. */
  readonly clientId?: string
  readonly clientIdMode: ClientIdMode
}

/** The identity a credential names (set members only). */
export interface ClaimedIdentity {
  readonly username?: string
  readonly clientId?: string
  readonly clientIdMode?: ClientIdMode
}

const IDENTITY_KEYS = ['username', 'clientId']
/** Longest client id or username taken from a claim (the MQTT string limit). */
const MAX_IDENTITY_BYTES = 65_535

/**
 * Parses `<path>.identity` and `<path>.clientIdMode` of an authenticator entry `raw`.
 * Undefined when no identity is configured (clientIdMode alone is refused: it would do nothing).
 */
export function parseIdentityConfig(raw: Readonly<Record<string, unknown>>, path: string): IdentityConfig | undefined {
  const modeRaw = raw['clientIdMode']
  if (!absent(modeRaw) && modeRaw !== 'enforce' && modeRaw !== 'override') {
    throw new ConfigError(`${path}.clientIdMode`, `must be enforce or override (got ${JSON.stringify(modeRaw)})`)
  }
  const clientIdMode: ClientIdMode = modeRaw === 'override' ? 'override' : 'enforce'
  if (absent(raw['identity'])) {
    if (!absent(modeRaw)) throw new ConfigError(`${path}.clientIdMode`, 'is only used with identity.clientId')
    return undefined
  }
  const at = `${path}.identity`
  const m = mapping(raw['identity'], at)
  knownKeys(m, at, IDENTITY_KEYS)
  const username = optionalString(m['username'], `${at}.username`)
  const clientId = optionalString(m['clientId'], `${at}.clientId`)
  for (const [key, value] of [['username', username], ['clientId', clientId]] as const) {
    if (value !== undefined && (value === '' || value.startsWith('.') || value.endsWith('.') || value.includes('..'))) {
      throw new ConfigError(`${at}.${key}`, `must be a claim name or a dotted path such as ext.device (got ${JSON.stringify(value)})`)
    }
  }
  if (username === undefined && clientId === undefined) throw new ConfigError(at, 'names no claim (set username and/or clientId)')
  if (clientId === undefined && !absent(modeRaw)) throw new ConfigError(`${path}.clientIdMode`, 'is only used with identity.clientId')
  return Object.freeze({
    clientIdMode,
    ...(username !== undefined ? { username } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
  })
}

function claimText(claims: Readonly<Record<string, unknown>>, name: string, what: string): string | PortcullisError {
  const value = resolveClaim(claims, name)
  if (value === undefined) return new PortcullisError('ERR_IDENTITY_CLAIM', `claim '${name}' (the ${what}) is missing`)
  if (typeof value !== 'string') return new PortcullisError('ERR_IDENTITY_CLAIM', `claim '${name}' (the ${what}) is not a string`)
  if (value === '') return new PortcullisError('ERR_IDENTITY_CLAIM', `claim '${name}' (the ${what}) is empty`)
  if (Buffer.byteLength(value) > MAX_IDENTITY_BYTES || value.includes('\u0000')) {
    return new PortcullisError('ERR_IDENTITY_CLAIM', `claim '${name}' (the ${what}) is not usable as an MQTT string`)
  }
  return value
}

/** The username and client id the claims name, or the error that refuses the client. */
export function identityFromClaims(config: IdentityConfig | undefined, claims: Readonly<Record<string, unknown>>): ClaimedIdentity | PortcullisError {
  if (config === undefined) return {}
  let username: string | undefined
  let clientId: string | undefined
  if (config.username !== undefined) {
    const v = claimText(claims, config.username, 'username')
    if (v instanceof PortcullisError) return v
    username = v
  }
  if (config.clientId !== undefined) {
    const v = claimText(claims, config.clientId, 'client id')
    if (v instanceof PortcullisError) return v
    clientId = v
  }
  return {
    ...(username !== undefined ? { username } : {}),
    ...(clientId !== undefined ? { clientId, clientIdMode: config.clientIdMode } : {}),
  }
}

/** A short description for logs and `token inspect`. */
export function describeIdentity(claimed: ClaimedIdentity): string {
  const parts: string[] = []
  if (claimed.username !== undefined) parts.push(`username ${JSON.stringify(claimed.username)}`)
  if (claimed.clientId !== undefined) parts.push(`client id ${JSON.stringify(claimed.clientId)} (${claimed.clientIdMode ?? 'enforce'})`)
  return parts.length === 0 ? 'none taken from the claims' : parts.join(', ')
}

export type ClientIdBinding =
  /** Use this client id; `assigned` when the client must be told (MQTT 5 Assigned Client Identifier). */
  | { readonly ok: true; readonly clientId: string; readonly assigned: boolean }
  | { readonly ok: false; readonly error: PortcullisError }

/**
 * The client id a client gets once authenticated. `sent` is what its CONNECT carried ('' for
 * none). With a credential-bound id: none sent → the credential's; the same → kept; another →
 * refused (enforce, 0x85 / 3.1.1: 2) or replaced (override; an MQTT 5 client is told).
 */
export function bindClientId(sent: string, claimed: ClaimedIdentity | undefined): ClientIdBinding | undefined {
  const bound = claimed?.clientId
  if (bound === undefined) return undefined
  if (sent === bound) return { ok: true, clientId: bound, assigned: false }
  if (sent === '' || claimed?.clientIdMode === 'override') return { ok: true, clientId: bound, assigned: true }
  return {
    ok: false,
    error: new PortcullisError('ERR_CLIENT_ID_INVALID', `client id ${JSON.stringify(sent.length > 64 ? `${sent.slice(0, 61)}...` : sent)} is not the one the credentials were issued for`),
  }
}
