/**
 * Authenticators from validated configuration. The broker calls this once per entry of
 * `authentication.authenticators` (parsed by parseAuthenticatorsConfig) and hands the
 * list to AuthenticatorChain.
 */
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import { RemoteJwksSource } from './jwks/remote.js'
import type { JwksShare } from './jwks/share.js'
import { StaticKeySource, type KeySource } from './jwks/source.js'
import { TokenAuthenticator } from './jwt/authenticator.js'
import { authenticatorConfigWarnings, hmacKeyFromConfig, type JwtAuthenticatorConfig, type JwksAuthenticatorConfig } from './jwt/config.js'
import { bindAlgorithms, importJwks, importPublicKeyPem, makeVerifyKey } from './jwt/keys.js'
import type { AuthenticatorConfig, TokenAuthenticatorConfig } from './config.js'
import { DeviceKeySource } from './devices/key-source.js'
import { DeviceRegistry } from './devices/registry.js'
import { HttpAuthenticator } from './http/authenticator.js'
import { IntrospectionAuthenticator } from './introspection/authenticator.js'
import { introspectionWarnings } from './introspection/config.js'
import type { ManagedAuthenticator } from './managed.js'
import { X509Authenticator } from './x509/authenticator.js'

export { TokenAuthenticator } from './jwt/authenticator.js'
export type { AuthenticatorInspection, TokenAuthenticatorStats, TokenAuthenticatorStatus } from './jwt/authenticator.js'
export { AUTHENTICATOR_DEFAULTS } from './jwt/config.js'
export type { JwtAuthenticatorConfig, JwksAuthenticatorConfig } from './jwt/config.js'
export { parseAuthenticatorConfig, parseAuthenticatorsConfig } from './config.js'
export type { AuthenticatorConfig } from './config.js'
export type { AuthenticatorReport, AuthenticatorStats, AuthenticatorStatus, ManagedAuthenticator } from './managed.js'

export interface CreateAuthenticatorOptions {
  readonly logger: Logger
  /** The device registry `type: devices` authenticators look devices up in (default: an empty one). */
  readonly devices?: DeviceRegistry
  /** Verified-signature cache entries per authenticator (default 1024; 0 disables). */
  readonly cacheSize?: number
  /** Cluster: JWKS endpoints' last good sets and kid cooldowns, shared with the other nodes. */
  readonly jwksShare?: JwksShare
}

/** First retry after a failed JWKS fetch; doubles up to refreshInterval. */
export const JWKS_BACKOFF_BASE_MS = 1000

function staticJwtSource(config: JwtAuthenticatorConfig): KeySource {
  const at = `authenticator '${config.name}'`
  try {
    const key = config.algorithm === 'hmac-based'
      ? hmacKeyFromConfig(config)
      : importPublicKeyPem(config.publicKey ?? '')
    const algorithms = bindAlgorithms(key, config.algorithms)
    if (algorithms.length === 0) throw new Error('none of the allowed algorithms fits the key')
    return new StaticKeySource([makeVerifyKey(key, algorithms, undefined, 0)], true)
  } catch (cause) {
    throw new ConfigError(config.algorithm === 'hmac-based' ? `${at}.secret` : `${at}.publicKey`, (cause as Error).message, { cause })
  }
}

function jwksSource(config: JwksAuthenticatorConfig, logger: Logger, shared: JwksShare | undefined): KeySource {
  if (config.text !== undefined) {
    const imported = importJwks(JSON.parse(config.text), config.algorithms)
    for (const s of imported.skipped) logger.info({ index: s.index, reason: s.reason }, 'JWKS key not used for signatures; skipped')
    return new StaticKeySource(imported.keys, false)
  }
  return new RemoteJwksSource({
    url: config.url!,
    ...(config.ca !== undefined ? { ca: config.ca } : {}),
    ...(config.algorithms !== undefined ? { algorithms: config.algorithms } : {}),
    timeoutMs: config.timeoutMs,
    maxResponseBytes: config.maxResponseBytes,
    refreshIntervalMs: config.refreshInterval * 1000,
    gracePeriodMs: config.gracePeriod * 1000,
    kidRefetchCooldownMs: config.kidRefetchCooldown * 1000,
    backoffBaseMs: JWKS_BACKOFF_BASE_MS,
    logger,
    ...(shared !== undefined ? { shared } : {}),
  })
}

/** Creates the authenticator for one validated config entry. Logs config warnings. */
export function createAuthenticator(config: TokenAuthenticatorConfig, options: CreateAuthenticatorOptions): TokenAuthenticator
export function createAuthenticator(config: AuthenticatorConfig, options: CreateAuthenticatorOptions): ManagedAuthenticator
export function createAuthenticator(config: AuthenticatorConfig, options: CreateAuthenticatorOptions): ManagedAuthenticator {
  const logger = options.logger.child({ authenticator: config.name })
  if (config.type === 'http') {
    return new HttpAuthenticator(config, { logger: options.logger })
  }
  if (config.type === 'x509') return new X509Authenticator(config, { logger: options.logger })
  if (config.type === 'introspection') {
    for (const warning of introspectionWarnings(config)) logger.warn(warning)
    return new IntrospectionAuthenticator(config, { logger: options.logger })
  }
  if (config.type === 'devices') {
    // No verified-token cache: a cached token would skip the check that it is its device's.
    return new TokenAuthenticator(config, new DeviceKeySource(options.devices ?? new DeviceRegistry(), config.lookup), { logger: options.logger, cacheSize: 0 })
  }
  for (const warning of authenticatorConfigWarnings(config)) logger.warn(warning)
  const source = config.type === 'jwt' ? staticJwtSource(config) : jwksSource(config, logger, options.jwksShare)
  return new TokenAuthenticator(config, source, {
    logger: options.logger,
    ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}),
  })
}

export function createAuthenticators(configs: readonly TokenAuthenticatorConfig[], options: CreateAuthenticatorOptions): TokenAuthenticator[]
export function createAuthenticators(configs: readonly AuthenticatorConfig[], options: CreateAuthenticatorOptions): ManagedAuthenticator[]
export function createAuthenticators(configs: readonly AuthenticatorConfig[], options: CreateAuthenticatorOptions): ManagedAuthenticator[] {
  return configs.map((config) => createAuthenticator(config, options))
}
