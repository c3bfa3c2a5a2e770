/**
 * Configuration of `type: x509`: the client certificate a tls/wss listener with
 * `requestCert` verified (against its `ca`, and its `crl`) is the client's credential.
 *
 * Defaults, and why:
 *   identity: none            the certificate only authenticates; username and client id stay
 *                             what the CONNECT carried. `identity: { username: cn, clientId: cn }`
 *                             binds them to the certificate (fields: cn, fingerprint, serial,
 *                             san.dns, san.uri, san.email, san.ip — the first SAN of that kind),
 *                             with clientIdMode as for tokens.
 *   requireToken: false       true: a good certificate is not enough — a later authenticator in
 *                             the chain must accept the client's token as well (certificate for
 *                             the device, token for its rights).
 *   disconnectOnExpiry: true  a certificate that expires while connected ends the connection,
 *                             like a token's exp.
 */
import { ConfigError } from '../../errors.js'
import { knownKeys, optionalBoolean, type Raw } from '../../config/check.js'
import { CERT_IDENTITY_FIELDS } from '../certificate.js'
import { parseIdentityConfig, type IdentityConfig } from '../identity.js'
import { AUTHENTICATOR_DEFAULTS, parseEntryBasics } from '../jwt/config.js'

export interface X509AuthenticatorConfig {
  readonly type: 'x509'
  readonly name: string
  readonly description?: string
  readonly enabled: boolean
  readonly identity?: IdentityConfig
  readonly requireToken: boolean
  readonly disconnectOnExpiry: boolean
}

const KEYS = ['type', 'name', 'description', 'enabled', 'identity', 'clientIdMode', 'requireToken', 'disconnectOnExpiry']

/** Parses a `type: x509` entry (the type already checked). Throws ConfigError. */
export function parseX509Config(r: Raw, path: string, defaultName: string): X509AuthenticatorConfig {
  knownKeys(r, path, KEYS)
  const entry = parseEntryBasics(r, path, defaultName)
  const identity = parseIdentityConfig(r, path)
  for (const key of ['username', 'clientId'] as const) {
    const field = identity?.[key]
    if (field !== undefined && !(CERT_IDENTITY_FIELDS as readonly string[]).includes(field)) {
      throw new ConfigError(`${path}.identity.${key}`, `must be a certificate field: ${CERT_IDENTITY_FIELDS.join(', ')} (got ${JSON.stringify(field)})`)
    }
  }
  return Object.freeze({
    type: 'x509' as const,
    ...entry,
    ...(identity !== undefined ? { identity } : {}),
    requireToken: optionalBoolean(r['requireToken'], `${path}.requireToken`, false),
    disconnectOnExpiry: optionalBoolean(r['disconnectOnExpiry'], `${path}.disconnectOnExpiry`, AUTHENTICATOR_DEFAULTS.disconnectOnExpiry),
  })
}
