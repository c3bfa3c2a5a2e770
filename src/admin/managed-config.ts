/**
 * Which configuration the management plane starts from: on the first start the
 * configuration file's authenticators and authorization are stored (seeded) — only once the
 * broker has fully started, so a failed start stores nothing; afterwards the stored copy
 * wins, validated exactly like the file, and start-up says how the file differs from it. `resetStoredConfig` (behind
 * `portcullis start --reset-config`) makes the file win again.
 */
import { parseAuthenticatorsConfig, type AuthenticatorConfig } from '../auth/config.js'
import { parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { AUTHENTICATORS_PATH } from './authenticators.js'
import { AUTHORIZATION_PATH } from './authorization.js'
import { configDrift, describeDrift, hasDrift, type ConfigDrift } from './config-drift.js'
import { authenticatorToRaw, authorizationToRaw } from './config-views.js'

export interface ManagedConfig {
  readonly authenticators: readonly AuthenticatorConfig[]
  readonly authorization: AuthorizationConfig
  readonly source: 'configuration file' | 'database'
  /** Nothing stored yet: the file's configuration is stored once the broker has started (seedStoredConfig). */
  readonly seed: boolean
  /** What the admin API and the console show about it. */
  readonly status: ConfigurationStatus
}

/** GET /api/v1/configuration: where the authenticators and authorization come from, and how the file differs. */
export interface ConfigurationStatus {
  readonly source: 'configuration file' | 'database'
  /** The database file (with an admin listener). */
  readonly store?: string
  /** When the stored copy was last written (source: database). */
  readonly storedAt?: string
  /** True when the configuration file's authenticators or authorization differ from the stored copy in use. */
  readonly fileDiffers: boolean
  readonly differences?: ConfigDrift
  /** The same, in one sentence, as the start-up log says it. */
  readonly message?: string
}

type FileConfig = { readonly authenticators: readonly AuthenticatorConfig[]; readonly authorization: AuthorizationConfig }

/** What to start from. Nothing is written here: a start that fails must store nothing. */
export function loadManagedConfig(store: SqliteConfigStore, fromFile: FileConfig, logger: Logger): ManagedConfig {
  const stored = store.load()
  if (stored === undefined) {
    logger.info({ file: store.file }, 'configuration: authenticators and authorization from the configuration file (stored for the admin API once the broker has started)')
    return { ...fromFile, source: 'configuration file', seed: true, status: { source: 'configuration file', store: store.file, fileDiffers: false } }
  }
  let authenticators: readonly AuthenticatorConfig[]
  let authorization: AuthorizationConfig
  try {
    authenticators = parseAuthenticatorsConfig(stored.authenticators, AUTHENTICATORS_PATH)
    authorization = parseAuthorizationConfig(stored.authorization, AUTHORIZATION_PATH)
  } catch (err) {
    if (err instanceof ConfigError) {
      const reason = err.message.startsWith(`${err.path}: `) ? err.message.slice(err.path.length + 2) : err.message
      throw new ConfigError(err.path, `${reason} (in the stored configuration ${store.file}; start with --reset-config to drop it)`, { cause: err })
    }
    throw err
  }
  const storedAt = new Date(stored.updatedAt).toISOString()
  logger.info(
    { file: store.file, updatedAt: storedAt, authenticators: authenticators.length, policies: authorization.policies.length },
    'configuration: authenticators and authorization from the database (the configuration file\'s are not used; start with --reset-config to use them)',
  )
  const drift = configDrift(fromFile, { authenticators, authorization })
  const base = { source: 'database' as const, store: store.file, storedAt }
  if (!hasDrift(drift)) return { authenticators, authorization, source: 'database', seed: false, status: { ...base, fileDiffers: false } }
  const message = `the configuration file differs from the stored configuration in use (${describeDrift(drift)}); ` +
    'changes made in the file are not used — make them through the admin API or console, or start with --reset-config to use the file'
  logger.warn({ file: store.file, differences: drift }, `configuration: ${message}`)
  return { authenticators, authorization, source: 'database', seed: false, status: { ...base, fileDiffers: true, differences: drift, message } }
}

/** Once the broker has fully started: store the file's configuration if nothing is stored yet. */
export function seedStoredConfig(store: SqliteConfigStore, managed: ManagedConfig, logger: Logger): void {
  if (!managed.seed || store.load() !== undefined) return
  store.save({ authenticators: managed.authenticators.map(authenticatorToRaw), authorization: authorizationToRaw(managed.authorization) })
  logger.info({ file: store.file }, 'configuration: the configuration file\'s authenticators and authorization stored for the admin API')
}
