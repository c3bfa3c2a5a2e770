/**
 * Which configuration the management plane starts from: on the first start the
 * configuration file's authenticators and authorization are stored (seeded); afterwards
 * the stored copy wins, validated exactly like the file. `resetStoredConfig` (behind
 * `portcullis start --reset-config`) makes the file win again.
 */
import { parseAuthenticatorsConfig, type AuthenticatorConfig } from '../auth/config.js'
import { parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { AUTHENTICATORS_PATH } from './authenticators.js'
import { AUTHORIZATION_PATH } from './authorization.js'
import { authenticatorToRaw, authorizationToRaw } from './config-views.js'

export interface ManagedConfig {
  readonly authenticators: readonly AuthenticatorConfig[]
  readonly authorization: AuthorizationConfig
  readonly source: 'configuration file' | 'database'
}

export function loadManagedConfig(
  store: SqliteConfigStore,
  fromFile: { readonly authenticators: readonly AuthenticatorConfig[]; readonly authorization: AuthorizationConfig },
  logger: Logger,
): ManagedConfig {
  const stored = store.load()
  if (stored === undefined) {
    store.save({ authenticators: fromFile.authenticators.map(authenticatorToRaw), authorization: authorizationToRaw(fromFile.authorization) })
    logger.info({ file: store.file }, 'configuration: authenticators and authorization from the configuration file (stored for the admin API)')
    return { ...fromFile, source: 'configuration file' }
  }
  try {
    const authenticators = parseAuthenticatorsConfig(stored.authenticators, AUTHENTICATORS_PATH)
    const authorization = parseAuthorizationConfig(stored.authorization, AUTHORIZATION_PATH)
    logger.info(
      { file: store.file, updatedAt: new Date(stored.updatedAt).toISOString(), authenticators: authenticators.length, policies: authorization.policies.length },
      'configuration: authenticators and authorization from the database (the configuration file\'s are not used; start with --reset-config to use them)',
    )
    return { authenticators, authorization, source: 'database' }
  } catch (err) {
    if (err instanceof ConfigError) {
      const reason = err.message.startsWith(`${err.path}: `) ? err.message.slice(err.path.length + 2) : err.message
      throw new ConfigError(err.path, `${reason} (in the stored configuration ${store.file}; start with --reset-config to drop it)`, { cause: err })
    }
    throw err
  }
}
