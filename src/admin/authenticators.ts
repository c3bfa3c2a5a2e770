/**
 * The authenticators part of the admin API: the live chain's configuration, validated
 * exactly as the configuration file is (same messages, same key paths), persisted, and
 * swapped in so that changes apply to new connections at once.
 *
 * Swaps: new instances are started before they enter the chain, retired ones are closed
 * after they left it; their counters are carried over under the same name.
 */
import { isDeepStrictEqual } from 'node:util'
import type { AuthenticatorChain } from '../auth/chain.js'
import { parseAuthenticatorsConfig } from '../auth/config.js'
import { createAuthenticator, parseAuthenticatorConfig, type AuthenticatorConfig, type ManagedAuthenticator, type AuthenticatorStats, type AuthenticatorStatus } from '../auth/create.js'
import type { DeviceRegistry } from '../auth/devices/registry.js'
import type { JwksShare } from '../auth/jwks/share.js'
import type { JwksFetchCounts } from '../auth/jwks/source.js'
import type { ClaimsConfig } from '../auth/jwt/claims.js'
import { expected, isMapping, type Raw } from '../config/check.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import type { AdminChanges } from './changes.js'
import { authenticatorToRaw, authenticatorView } from './config-views.js'
import { checkIfMatch, entityTag } from './entity-tag.js'
import { ApiError } from './errors.js'
import { mergePatch } from './merge-patch.js'

export const AUTHENTICATORS_PATH = 'authentication.authenticators'

export interface AuthenticatorsAdminOptions {
  readonly chain: AuthenticatorChain
  /** The started authenticators, in chain order (their configs are the current ones). */
  readonly authenticators: readonly ManagedAuthenticator[]
  readonly logger: Logger
  readonly changes: AdminChanges
  /** The device registry new `type: devices` authenticators look devices up in. */
  readonly devices?: DeviceRegistry
  /** Cluster: what new JWKS authenticators share with the other nodes. */
  readonly jwksShare?: JwksShare
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

/**
 * The claims checks a change removed (issuer, audience, required claims), each as a warning
 * for the answer: a replacement that leaves `claims` out drops them silently otherwise.
 */
export function droppedClaimsChecks(before: ClaimsConfig, after: ClaimsConfig, path: string): string[] {
  const warnings: string[] = []
  if (before.issuer !== undefined && after.issuer === undefined) {
    warnings.push(`${path}.issuer was removed: tokens from any issuer are now accepted`)
  }
  if (before.audience !== undefined && after.audience === undefined) {
    warnings.push(`${path}.audience was removed: tokens for any audience are now accepted`)
  }
  const gone = before.required.filter((claim) => !after.required.includes(claim))
  if (gone.length > 0) {
    warnings.push(`${path}.required no longer lists ${gone.join(', ')}: tokens without ${gone.length === 1 ? 'it' : 'them'} are now accepted`)
  }
  return warnings
}

export class AuthenticatorsAdmin {
  readonly #options: AuthenticatorsAdminOptions
  #configs: readonly AuthenticatorConfig[]
  #live: readonly ManagedAuthenticator[]
  /** Counters of retired instances, by authenticator name. */
  readonly #retiredStats = new Map<string, AuthenticatorStats>()
  readonly #retiredFetches = new Map<string, JwksFetchCounts>()

  constructor(options: AuthenticatorsAdminOptions) {
    this.#options = options
    this.#live = options.authenticators
    this.#configs = options.authenticators.map((a) => a.config)
  }

  /** The live authenticators, in chain order. */
  get live(): readonly ManagedAuthenticator[] {
    return this.#live
  }

  /** Their configurations, in chain order. */
  get configs(): readonly AuthenticatorConfig[] {
    return this.#configs
  }

  #index(name: string): number {
    const i = this.#configs.findIndex((c) => c.name === name)
    if (i === -1) throw new ApiError('ERR_NOT_FOUND', `no authenticator named '${name}'`)
    return i
  }

  listAuthenticators(): Raw[] {
    return this.#configs.map((c, i) => authenticatorView(c, this.#status(this.#live[i])))
  }

  getAuthenticator(name: string): Raw {
    const i = this.#index(name)
    return authenticatorView(this.#configs[i], this.#status(this.#live[i]))
  }

  /** The authenticator's entity tag (undefined: no such authenticator): its configuration without write-only secrets. */
  authenticatorTag(name: string): string | undefined {
    const c = this.#configs.find((m) => m.name === name)
    return c === undefined ? undefined : entityTag(authenticatorView(c, undefined))
  }

  /** 412 unless If-Match (when given) names the authenticator at `index` as it is in the copy this change is made on. */
  #checkIfMatch(index: number, ifMatch: string | undefined): void {
    const c = this.#configs[index]
    checkIfMatch(ifMatch, entityTag(authenticatorView(c, undefined)), `authenticator '${c.name}'`)
  }

  /** Live key status, with JWKS fetch counts carried over across replacements. */
  #status(a: ManagedAuthenticator | undefined): AuthenticatorStatus | undefined {
    if (a === undefined) return undefined
    const status = a.status()
    const fetches = this.jwksFetches(a)
    return fetches === undefined ? status : { ...status, fetches }
  }

  /** Live key status and counters (counters include those of replaced instances). */
  authenticatorStatus(name: string): Raw {
    const i = this.#index(name)
    const a = this.#live[i]
    return { ...this.#status(a), stats: this.authenticatorStats(a) }
  }

  /**
   * Key set fetches of a JWKS authenticator by outcome, carried over across replacements
   * under the same name (an edit starts a new instance). Undefined when the
   * authenticator never fetched (static keys, pasted key sets).
   */
  jwksFetches(a: ManagedAuthenticator): JwksFetchCounts | undefined {
    const now = a.status().fetches
    const old = this.#retiredFetches.get(a.name)
    if (old === undefined || now === undefined) return now ?? old
    return {
      ok: old.ok + now.ok,
      error: old.error + now.error,
      rejected: old.rejected + now.rejected,
      lastDurationMs: now.lastDurationMs ?? old.lastDurationMs,
    }
  }

  /** Counters of an authenticator, carried over across replacements under the same name. */
  authenticatorStats(a: ManagedAuthenticator): AuthenticatorStats {
    const s = a.stats()
    const old = this.#retiredStats.get(a.name)
    if (old === undefined) return s
    const deny = { ...old.deny }
    addCounts(deny, s.deny)
    const ignore = { ...old.ignore }
    addCounts(ignore, s.ignore)
    return {
      allow: old.allow + s.allow,
      deny,
      ignore,
      verifyCount: old.verifyCount + s.verifyCount,
      verifyMicrosTotal: old.verifyMicrosTotal + s.verifyMicrosTotal,
      cacheHits: old.cacheHits + s.cacheHits,
    }
  }

  #parseAuthenticator(raw: unknown, index: number, urlName?: string): AuthenticatorConfig {
    const path = `${AUTHENTICATORS_PATH}[${index}]`
    let entry = raw
    if (urlName !== undefined && isMapping(raw)) {
      if (raw['name'] !== undefined && raw['name'] !== urlName) {
        throw new ApiError('ERR_VALIDATION', `${path}.name: must be '${urlName}' as in the address (authenticators cannot be renamed; create a new one)`, `${path}.name`)
      }
      entry = { ...raw, name: urlName }
    }
    const type = isMapping(raw) && typeof raw['type'] === 'string' ? raw['type'] : 'auth'
    return parseAuthenticatorConfig(entry, path, `${type}-${index}`)
  }

  async createAuthenticator(raw: unknown): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#configs.length
      const config = this.#parseAuthenticator(raw, index)
      if (this.#configs.some((c) => c.name === config.name)) {
        throw new ApiError('ERR_CONFLICT', `${AUTHENTICATORS_PATH}[${index}].name: '${config.name}' is already used; names must be unique`, `${AUTHENTICATORS_PATH}[${index}].name`)
      }
      await this.#applyAuthenticators([...this.#configs, config], new Set([config.name]))
      this.#options.logger.info({ authenticator: config.name, type: config.type }, 'admin: authenticator created')
      return this.getAuthenticator(config.name)
    })
  }

  /**
   * Secrets are write-only (never returned), so a replacement may leave them out: an
   * hmac-based entry without `secret` keeps the stored secret and its `secretBase64`, when
   * the stored entry is hmac-based too. A body that sends `secret` replaces it; one that
   * changes `secretBase64` alone is refused (the stored secret would change meaning).
   * Returns the entry to validate, and whether the stored secret was put in.
   */
  #withStoredSecret(raw: unknown, current: AuthenticatorConfig, path: string): { entry: unknown; kept: boolean } {
    if (current.type === 'http') {
      // Request header values (the service's API key) are write-only: left out, the stored ones are kept.
      if (!isMapping(raw) || raw['type'] !== 'http' || (raw['headers'] !== undefined && raw['headers'] !== null)) return { entry: raw, kept: false }
      return { entry: { ...raw, headers: { ...current.headers } }, kept: true }
    }
    if (current.type === 'introspection') {
      // The introspection client secret is write-only too: left out, the stored one is kept.
      if (!isMapping(raw) || raw['type'] !== 'introspection' || (raw['clientSecret'] !== undefined && raw['clientSecret'] !== null)) return { entry: raw, kept: false }
      return { entry: { ...raw, clientSecret: current.clientSecret }, kept: true }
    }
    if (current.type !== 'jwt' || current.algorithm !== 'hmac-based' || current.secret === undefined) return { entry: raw, kept: false }
    const stored = current.secret
    if (!isMapping(raw) || raw['type'] !== 'jwt' || raw['algorithm'] !== 'hmac-based') return { entry: raw, kept: false }
    if (raw['secret'] !== undefined && raw['secret'] !== null) return { entry: raw, kept: false }
    const base64 = raw['secretBase64']
    if (typeof base64 === 'boolean' && base64 !== current.secretBase64) {
      throw new ApiError('ERR_VALIDATION', `${path}.secret: is required to change secretBase64 (the stored secret is kept only with its own encoding)`, `${path}.secret`)
    }
    const entry = { ...raw, secret: stored, ...(base64 === undefined || base64 === null ? { secretBase64: current.secretBase64 } : {}) }
    return { entry, kept: true }
  }

  async replaceAuthenticator(name: string, raw: unknown, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#index(name)
      this.#checkIfMatch(index, ifMatch)
      const { entry, kept } = this.#withStoredSecret(raw, this.#configs[index], `${AUTHENTICATORS_PATH}[${index}]`)
      return this.#replaceAt(index, entry, kept ? 'send a new one' : undefined, 'replaced')
    })
  }

  /**
   * JSON merge patch (RFC 7396) of the stored entry: only the keys sent change, `null`
   * removes a key (it takes its default), `claims` merges key by key. The stored secret
   * stays unless the patch sends one (or removes it with null); changing `secretBase64`
   * needs the secret too, as for PUT.
   */
  async patchAuthenticator(name: string, patch: unknown, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#index(name)
      this.#checkIfMatch(index, ifMatch)
      const path = `${AUTHENTICATORS_PATH}[${index}]`
      if (!isMapping(patch)) throw expected(path, 'a mapping (a JSON merge patch)', patch)
      const current = this.#configs[index]
      const stored = authenticatorToRaw(current)
      const kept = stored['secret'] !== undefined && !Object.hasOwn(patch, 'secret')
      const base64 = patch['secretBase64']
      if (kept && typeof base64 === 'boolean' && base64 !== stored['secretBase64']) {
        throw new ApiError('ERR_VALIDATION', `${path}.secret: is required to change secretBase64 (the stored secret is kept only with its own encoding)`, `${path}.secret`)
      }
      return this.#replaceAt(index, mergePatch(stored, patch), kept ? 'send a new one, or "secret": null to remove it' : undefined, 'patched')
    })
  }

  /**
   * Validate `entry` as the authenticator at `index`, swap it in, and answer its view (with
   * warnings). `keptSecret`: what to tell the client when the stored secret it kept no longer fits.
   */
  async #replaceAt(index: number, entry: unknown, keptSecret: string | undefined, verb: string): Promise<Raw> {
    const path = `${AUTHENTICATORS_PATH}[${index}]`
    const current = this.#configs[index]
    let config: AuthenticatorConfig
    try {
      config = this.#parseAuthenticator(entry, index, current.name)
    } catch (err) {
      // A kept secret that no longer fits (e.g. a new algorithms list): say which secret.
      if (keptSecret !== undefined && err instanceof ConfigError && err.path === `${path}.secret`) {
        throw new ApiError('ERR_VALIDATION', `${err.message} (the stored secret; ${keptSecret})`, err.path)
      }
      throw err
    }
    const next = [...this.#configs]
    next[index] = config
    await this.#applyAuthenticators(next, new Set([config.name]))
    const warnings = 'claims' in current && 'claims' in config ? droppedClaimsChecks(current.claims, config.claims, `${path}.claims`) : []
    this.#options.logger.info({ authenticator: config.name, type: config.type, ...(warnings.length > 0 ? { warnings } : {}) }, `admin: authenticator ${verb}`)
    return { ...this.getAuthenticator(config.name), ...(warnings.length > 0 ? { warnings } : {}) }
  }

  async deleteAuthenticator(name: string, ifMatch?: string): Promise<void> {
    return this.#options.changes.serial(async () => {
      this.#checkIfMatch(this.#index(name), ifMatch)
      await this.#applyAuthenticators(this.#configs.filter((c) => c.name !== name), new Set())
      this.#retiredStats.delete(name)
      this.#retiredFetches.delete(name)
      this.#options.logger.info({ authenticator: name }, 'admin: authenticator deleted')
    })
  }

  async setAuthenticatorEnabled(name: string, enabled: boolean, ifMatch?: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const index = this.#index(name)
      this.#checkIfMatch(index, ifMatch)
      const current = this.#configs[index]
      if (current.enabled !== enabled) {
        const next = [...this.#configs]
        next[index] = Object.freeze({ ...current, enabled })
        await this.#applyAuthenticators(next, new Set([name]))
        this.#options.logger.info({ authenticator: name }, `admin: authenticator ${enabled ? 'enabled' : 'disabled'}`)
      }
      return this.getAuthenticator(name)
    })
  }

  /**
   * Re-fetch a key set now, in the live instance: a failed fetch keeps the last good set
   * through the grace period, as a scheduled refresh does.
   */
  async refreshAuthenticator(name: string): Promise<Raw> {
    return this.#options.changes.serial(async () => {
      const loaded = await this.#live[this.#index(name)].refreshKeys()
      this.#options.logger.info({ authenticator: name, loaded }, 'admin: authenticator refreshed')
      return this.authenticatorStatus(name)
    })
  }

  async reorderAuthenticators(body: unknown): Promise<Raw[]> {
    return this.#options.changes.serial(async () => {
      const names = isMapping(body) ? body['names'] : undefined
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
        throw new ApiError('ERR_VALIDATION', 'names: must be a list of authenticator names', 'names')
      }
      const current = this.#configs.map((c) => c.name)
      names.forEach((n, i) => {
        if (!current.includes(n as string)) throw new ApiError('ERR_VALIDATION', `names[${i}]: no authenticator named '${String(n)}'`, `names[${i}]`)
        if (names.indexOf(n) !== i) throw new ApiError('ERR_VALIDATION', `names[${i}]: '${String(n)}' is listed twice`, `names[${i}]`)
      })
      const missing = current.filter((n) => !names.includes(n))
      if (missing.length > 0) throw new ApiError('ERR_VALIDATION', `names: must list every authenticator (missing: ${missing.join(', ')})`, 'names')
      const next = (names as string[]).map((n) => this.#configs.find((c) => c.name === n)!)
      await this.#applyAuthenticators(next, new Set())
      this.#options.logger.info({ order: names }, 'admin: authenticators reordered')
      return this.listAuthenticators()
    })
  }

  /**
   * Make `next` the chain: instances named in `rebuild` are created and started anew,
   * the rest are kept. Persist, swap, then close what left the chain.
   */
  /**
   * The authenticators another node of the cluster stored (validated again here, as the file
   * would be): those whose configuration changed are rebuilt, the rest kept; not shared back.
   */
  async applyShared(raw: unknown): Promise<void> {
    const next = parseAuthenticatorsConfig(raw, AUTHENTICATORS_PATH)
    const same = (c: AuthenticatorConfig): boolean => {
      const mine = this.#configs.find((m) => m.name === c.name)
      return mine !== undefined && isDeepStrictEqual(authenticatorToRaw(mine), authenticatorToRaw(c))
    }
    await this.#applyAuthenticators(next, new Set(next.filter((c) => !same(c)).map((c) => c.name)), { fromCluster: true })
  }

  async #applyAuthenticators(
    next: readonly AuthenticatorConfig[], rebuild: ReadonlySet<string>, options: { readonly fromCluster?: boolean } = {},
  ): Promise<void> {
    const created: ManagedAuthenticator[] = []
    let live: ManagedAuthenticator[]
    try {
      live = next.map((c) => {
        const existing = this.#live.find((a) => a.name === c.name)
        if (existing !== undefined && !rebuild.has(c.name)) return existing
        const a = createAuthenticator(c, {
          logger: this.#options.logger,
          ...(this.#options.devices !== undefined ? { devices: this.#options.devices } : {}),
          ...(this.#options.jwksShare !== undefined ? { jwksShare: this.#options.jwksShare } : {}),
        })
        created.push(a)
        return a
      })
      for (const a of created) await a.start()
      await this.#options.changes.persist({ authenticators: next }, options)
    } catch (err) {
      for (const a of created) await a.close()
      throw err
    }
    const retired = this.#live.filter((a) => !live.includes(a))
    this.#configs = Object.freeze([...next])
    this.#live = Object.freeze(live)
    this.#options.chain.replace(this.#live)
    for (const a of retired) {
      const s = this.authenticatorStats(a)
      this.#retiredStats.set(a.name, { ...s, deny: { ...s.deny }, ignore: { ...s.ignore } })
      const fetches = this.jwksFetches(a)
      if (fetches !== undefined) this.#retiredFetches.set(a.name, fetches)
      await a.close()
    }
    if (this.#live.length === 0) this.#options.logger.warn('admin: no authenticator left: only anonymous clients (if allowed) can connect')
  }
}
