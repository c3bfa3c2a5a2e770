/**
 * Configuration of the `devices` authenticator: tokens signed by a registered device's own key
 * (Cloud IoT Core style). The devices and their keys are not configuration: they live in the
 * device registry (admin API, stored in the configuration store).
 *
 *   type: devices
 *   from: password            where the token is (default password: the username is free, as
 *                             IoT Core devices send it)
 *   lookup: clientId          which device a token is for: the client id (default), or
 *                             { claim: <name or dotted path> } read from the token (verified
 *                             with that device's keys before anything else of it is used)
 *   claims.audience           required: a token is minted for this broker (IoT Core: the project)
 *   claims.maxAge             required, at most 86400 s: device tokens are short-lived, and a
 *                             token without iat is refused
 *
 * Every other key as for `type: jwt` (claims, identity, clientIdMode, maxTokenBytes,
 * disconnectOnExpiry, enabled, description). Signatures are checked on every CONNECT (no
 * verified-token cache: a token is bound to its device).
 */
import { absent, isMapping, knownKeys, optionalString, type Raw } from '../../config/check.js'
import { ConfigError } from '../../errors.js'
import { parseIdentityConfig } from '../identity.js'
import { parseTokenBasics, type CommonAuthenticatorConfig } from '../jwt/config.js'

/** Longest device token life accepted in `claims.maxAge` (a day, as IoT Core allowed). */
export const MAX_DEVICE_TOKEN_AGE = 86_400

export type DeviceLookup = { readonly kind: 'clientId' } | { readonly kind: 'claim'; readonly claim: string }

export interface DevicesAuthenticatorConfig extends CommonAuthenticatorConfig {
  readonly type: 'devices'
  readonly lookup: DeviceLookup
}

const DEVICES_KEYS = ['type', 'name', 'from', 'description', 'enabled', 'claims', 'maxTokenBytes', 'disconnectOnExpiry', 'identity', 'clientIdMode', 'lookup']

function parseLookup(value: unknown, path: string): DeviceLookup {
  if (absent(value) || value === 'clientId') return Object.freeze({ kind: 'clientId' })
  if (isMapping(value)) {
    knownKeys(value, path, ['claim'])
    const claim = optionalString(value['claim'], `${path}.claim`)
    if (claim === undefined || claim === '' || claim.startsWith('.') || claim.endsWith('.') || claim.includes('..')) {
      throw new ConfigError(`${path}.claim`, 'must be a claim name or a dotted path such as ext.device')
    }
    return Object.freeze({ kind: 'claim', claim })
  }
  throw new ConfigError(path, `must be clientId or { claim: <name> } (got ${JSON.stringify(value)})`)
}

export function parseDevicesConfig(r: Raw, path: string, defaultName: string): DevicesAuthenticatorConfig {
  knownKeys(r, path, DEVICES_KEYS)
  const basics = parseTokenBasics({ ...r, from: r['from'] ?? 'password' }, path, defaultName)
  if (basics.claims.audience === undefined) {
    throw new ConfigError(`${path}.claims.audience`, 'is required for type: devices (the audience device tokens are minted for)')
  }
  if (basics.claims.maxAge === undefined || basics.claims.maxAge > MAX_DEVICE_TOKEN_AGE) {
    throw new ConfigError(`${path}.claims.maxAge`, `is required for type: devices, at most ${MAX_DEVICE_TOKEN_AGE} seconds (device tokens are short-lived)`)
  }
  const identity = parseIdentityConfig(r, path)
  return Object.freeze({
    ...basics,
    type: 'devices',
    verifiedTokenCache: 0,
    lookup: parseLookup(r['lookup'], `${path}.lookup`),
    ...(identity !== undefined ? { identity } : {}),
  })
}
