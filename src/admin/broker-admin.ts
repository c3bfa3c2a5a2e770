/**
 * BrokerAdmin: the narrow facade the admin API works through. It owns the live
 * configuration of authenticators and authorization, validates changes exactly as the
 * configuration file is validated (same messages, same key paths), persists them, and
 * swaps the chains so that changes apply to new connections at once. Connected clients
 * keep what they were admitted with until they reconnect or are disconnected here.
 *
 * Authenticator swaps: new instances are started before they enter the chain, retired
 * ones are closed after they left it; their counters are carried over under the same name.
 */
import type { AuthenticatorChain } from '../auth/chain.js'
import { createAuthenticator, parseAuthenticatorConfig, type AuthenticatorConfig, type AuthenticatorTimingOverrides, type TokenAuthenticator, type TokenAuthenticatorStats, type TokenAuthenticatorStatus } from '../auth/create.js'
import type { JwksFetchCounts } from '../auth/jwks/source.js'
import { headerCacheUsage } from '../auth/jwt/jws.js'
import { inspectToken, type TokenInspection } from '../auth/jwt/tools.js'
import { templateCacheUsage } from '../authz/placeholders.js'
import { NO_USAGE, addUsage, type CacheUsage } from '../bounded-cache.js'
import type { CacheName } from '../metrics/metrics.js'
import { authorizationWarning, parseAuthorizationConfig, type AuthorizationConfig } from '../authz/config.js'
import { createAuthorizerChain } from '../authz/create.js'
import type { AuthzSubject } from '../authz/types.js'
import type { Broker } from '../broker/broker.js'
import type { Connection } from '../broker/connection.js'
import type { CountedLimit } from '../broker/limits.js'
import type { Session } from '../broker/session.js'
import { isMapping, type Raw } from '../config/check.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import { ReasonCode } from '../protocol/reason-codes.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { authenticatorToRaw, authenticatorView, authorizationSettings, authorizationToRaw, policyToRaw, type AuthorizationSettings } from './config-views.js'
import { ApiError } from './errors.js'
import type { ProtocolVersion } from '../mqtt/types.js'


export const AUTHENTICATORS_PATH = 'authentication.authenticators'
export const AUTHORIZATION_PATH = 'authorization'

export interface BrokerAdminOptions {
  readonly broker: Broker
  readonly chain: AuthenticatorChain
  /** The started authenticators, in chain order (their configs are the current ones). */
  readonly authenticators: readonly TokenAuthenticator[]
  readonly authorization: AuthorizationConfig
  readonly logger: Logger
  readonly store?: SqliteConfigStore
  /** Tests only. */
  readonly timing?: AuthenticatorTimingOverrides
}

/** The session behind a client entry: how long it outlives its connection, and when an offline one ends. */
export interface SessionView {
  /** Seconds the session outlives its connection (0: ends with it; 4294967295: never expires). */
  readonly expiryInterval: number
  /** Offline sessions that expire: when, and how many seconds are left. Absent otherwise. */
  readonly expiresAt?: string
  readonly expiresInSeconds?: number
}

/** A connected client. `connected`, `queued` and `session` were added after the rest. */
export interface ConnectedClientView {
  readonly clientId: string
  readonly connected: true
  /** Absent when the username carried the token (`from: username`). */
  readonly username?: string
  readonly usernameIsToken?: true
  readonly address: string
  readonly protocolVersion: ProtocolVersion
  readonly listener: string
  readonly connectedAt: string
  readonly keepAlive: number
  readonly authenticator: string | null
  readonly anonymous: boolean
  readonly token?: { readonly subject?: string; readonly issuer?: string; readonly expiresAt?: string }
  readonly acl: { readonly tokenRules: number; readonly superuser: boolean }
  readonly subscriptions: number
  readonly queued: number
  readonly session: SessionView
}

/**
 * A persistent session whose client is away (clean session false, or a session expiry
 * interval above 0): it keeps its subscriptions and queues QoS 1/2 messages. Who held it
 * last (username, address, protocol) and when they left come from the connection that
 * left it; what only a live connection has (listener, identity, ACL…) is absent.
 */
export interface OfflineClientView {
  readonly clientId: string
  readonly connected: false
  /** The last connection's; absent when its username carried the token (`usernameIsToken`). */
  readonly username?: string
  readonly usernameIsToken?: true
  /** The last connection's remote address. */
  readonly address?: string
  readonly protocolVersion?: ProtocolVersion
  /** When the last connection ended. */
  readonly disconnectedAt?: string
  readonly subscriptions: number
  readonly queued: number
  readonly session: SessionView
}

export type ClientView = ConnectedClientView | OfflineClientView

export type ClientDetail = ClientView & {
  readonly subscriptionList: readonly { readonly topic: string; readonly qos: number }[]
  readonly inflight: number
  readonly queued: number
}

/** GET /clients?state=: connected clients, offline sessions, or both (the default). */
export const CLIENT_STATES = ['all', 'connected', 'offline'] as const
export type ClientState = (typeof CLIENT_STATES)[number]

export interface BrokerStatsView {
  readonly startedAt: string
  readonly uptimeSeconds: number
  readonly connections: { readonly current: number; readonly open: number; readonly total: number }
  readonly sessions: number
  readonly retained: number
  readonly messages: {
    readonly received: number
    readonly sent: number
    readonly dropped: number
    readonly receivedByQos: readonly number[]
    readonly sentByQos: readonly number[]
  }
  readonly bytes: { readonly in: number; readonly out: number }
  readonly authFailures: { readonly total: number; readonly byReason: Readonly<Record<string, number>> }
  readonly authzDenied: { readonly connect: number; readonly publish: number; readonly subscribe: number }
  /** Times each per-client / per-address limit acted (refused, dropped or held back). */
  readonly limitsHit: Readonly<Record<CountedLimit, number>>
}


function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

/** Number of rules an ACL claim carries (list form, or the pub/sub/all map). */
function countAclRules(acl: unknown): number {
  if (Array.isArray(acl)) return acl.length
  if (isMapping(acl)) {
    let n = 0
    for (const v of Object.values(acl)) n += Array.isArray(v) ? v.length : typeof v === 'string' ? 1 : 0
    return n
  }
  return 0
}

export class BrokerAdmin {
  readonly #broker: Broker
  readonly #chain: AuthenticatorChain
  readonly #logger: Logger
  readonly #store: SqliteConfigStore | undefined
  readonly #timing: AuthenticatorTimingOverrides | undefined
  #configs: readonly AuthenticatorConfig[]
  #live: readonly TokenAuthenticator[]
  #authorization: AuthorizationConfig
  /** Counters of retired instances, by authenticator name. */
  readonly #retiredStats = new Map<string, TokenAuthenticatorStats>()
  readonly #retiredFetches = new Map<string, JwksFetchCounts>()
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: BrokerAdminOptions) {
    this.#broker = options.broker
    this.#chain = options.chain
    this.#logger = options.logger
    this.#store = options.store
    this.#timing = options.timing
    this.#live = options.authenticators
    this.#configs = options.authenticators.map((a) => a.config)
    this.#authorization = options.authorization
  }

  /** The live authenticators, in chain order. */
  get authenticators(): readonly TokenAuthenticator[] {
    return this.#live
  }

  get authorization(): AuthorizationConfig {
    return this.#authorization
  }

  /** One change at a time: validation sees the state the previous change left. */
  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  #persist(configs: readonly AuthenticatorConfig[], authorization: AuthorizationConfig): void {
    this.#store?.save({ authenticators: configs.map(authenticatorToRaw), authorization: authorizationToRaw(authorization) })
  }

  // ── authenticators ─────────────────────────────────────────────────────────────

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
    return authenticatorView(this.#configs[i]!, this.#status(this.#live[i]))
  }

  /** Live key status, with JWKS fetch counts carried over across replacements. */
  #status(a: TokenAuthenticator | undefined): TokenAuthenticatorStatus | undefined {
    if (a === undefined) return undefined
    const status = a.status()
    const fetches = this.jwksFetches(a)
    return fetches === undefined ? status : { ...status, fetches }
  }

  /** Live key status and counters (counters include those of replaced instances). */
  authenticatorStatus(name: string): Raw {
    const i = this.#index(name)
    const a = this.#live[i]!
    return { ...this.#status(a), stats: this.authenticatorStats(a) }
  }

  /**
   * Key set fetches of a JWKS authenticator by outcome, carried over across replacements
   * under the same name (a refresh or an edit starts a new instance). Undefined when the
   * authenticator never fetched (static keys, pasted key sets).
   */
  jwksFetches(a: TokenAuthenticator): JwksFetchCounts | undefined {
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
  authenticatorStats(a: TokenAuthenticator): TokenAuthenticatorStats {
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
    return this.#serial(async () => {
      const index = this.#configs.length
      const config = this.#parseAuthenticator(raw, index)
      if (this.#configs.some((c) => c.name === config.name)) {
        throw new ApiError('ERR_CONFLICT', `${AUTHENTICATORS_PATH}[${index}].name: '${config.name}' is already used; names must be unique`, `${AUTHENTICATORS_PATH}[${index}].name`)
      }
      await this.#applyAuthenticators([...this.#configs, config], new Set([config.name]))
      this.#logger.info({ authenticator: config.name, type: config.type }, 'admin: authenticator created')
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

  async replaceAuthenticator(name: string, raw: unknown): Promise<Raw> {
    return this.#serial(async () => {
      const index = this.#index(name)
      const path = `${AUTHENTICATORS_PATH}[${index}]`
      const { entry, kept } = this.#withStoredSecret(raw, this.#configs[index]!, path)
      let config: AuthenticatorConfig
      try {
        config = this.#parseAuthenticator(entry, index, name)
      } catch (err) {
        // A kept secret that no longer fits (e.g. a new algorithms list): say which secret.
        if (kept && err instanceof ConfigError && err.path === `${path}.secret`) {
          throw new ApiError('ERR_VALIDATION', `${err.message} (the stored secret; send a new one)`, err.path)
        }
        throw err
      }
      const next = [...this.#configs]
      next[index] = config
      await this.#applyAuthenticators(next, new Set([name]))
      this.#logger.info({ authenticator: name, type: config.type }, 'admin: authenticator replaced')
      return this.getAuthenticator(name)
    })
  }

  async deleteAuthenticator(name: string): Promise<void> {
    return this.#serial(async () => {
      this.#index(name)
      await this.#applyAuthenticators(this.#configs.filter((c) => c.name !== name), new Set())
      this.#retiredStats.delete(name)
      this.#retiredFetches.delete(name)
      this.#logger.info({ authenticator: name }, 'admin: authenticator deleted')
    })
  }

  async setAuthenticatorEnabled(name: string, enabled: boolean): Promise<Raw> {
    return this.#serial(async () => {
      const index = this.#index(name)
      const current = this.#configs[index]!
      if (current.enabled !== enabled) {
        const next = [...this.#configs]
        next[index] = Object.freeze({ ...current, enabled })
        await this.#applyAuthenticators(next, new Set([name]))
        this.#logger.info({ authenticator: name }, `admin: authenticator ${enabled ? 'enabled' : 'disabled'}`)
      }
      return this.getAuthenticator(name)
    })
  }

  /**
   * Re-fetch a key set now, in the live instance: a failed fetch keeps the last good set
   * through the grace period, as a scheduled refresh does.
   */
  async refreshAuthenticator(name: string): Promise<Raw> {
    return this.#serial(async () => {
      const loaded = await this.#live[this.#index(name)]!.refreshKeys()
      this.#logger.info({ authenticator: name, loaded }, 'admin: authenticator refreshed')
      return this.authenticatorStatus(name)
    })
  }

  async reorderAuthenticators(body: unknown): Promise<Raw[]> {
    return this.#serial(async () => {
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
      this.#logger.info({ order: names }, 'admin: authenticators reordered')
      return this.listAuthenticators()
    })
  }

  /**
   * Make `next` the chain: instances named in `rebuild` are created and started anew,
   * the rest are kept. Persist, swap, then close what left the chain.
   */
  async #applyAuthenticators(next: readonly AuthenticatorConfig[], rebuild: ReadonlySet<string>): Promise<void> {
    const created: TokenAuthenticator[] = []
    let live: TokenAuthenticator[]
    try {
      live = next.map((c) => {
        const existing = this.#live.find((a) => a.name === c.name)
        if (existing !== undefined && !rebuild.has(c.name)) return existing
        const a = createAuthenticator(c, { logger: this.#logger, ...(this.#timing !== undefined ? { timing: this.#timing } : {}) })
        created.push(a)
        return a
      })
      for (const a of created) await a.start()
      this.#persist(next, this.#authorization)
    } catch (err) {
      for (const a of created) await a.close()
      throw err
    }
    const retired = this.#live.filter((a) => !live.includes(a))
    this.#configs = Object.freeze([...next])
    this.#live = Object.freeze(live)
    this.#chain.replace(this.#live)
    for (const a of retired) {
      const s = this.authenticatorStats(a)
      this.#retiredStats.set(a.name, { ...s, deny: { ...s.deny }, ignore: { ...s.ignore } })
      const fetches = this.jwksFetches(a)
      if (fetches !== undefined) this.#retiredFetches.set(a.name, fetches)
      await a.close()
    }
    if (this.#live.length === 0) this.#logger.warn('admin: no authenticator left: only anonymous clients (if allowed) can connect')
  }

  // ── authorization ──────────────────────────────────────────────────────────────

  #policyIndex(name: string): number {
    const i = this.#authorization.policies.findIndex((p) => p.name === name)
    if (i === -1) throw new ApiError('ERR_NOT_FOUND', `no policy named '${name}'`)
    return i
  }

  /** Policies in evaluation order (by priority). */
  listPolicies(): Raw[] {
    return [...this.#authorization.policies].sort((a, b) => a.priority - b.priority).map(policyToRaw)
  }

  getPolicy(name: string): Raw {
    return policyToRaw(this.#authorization.policies[this.#policyIndex(name)]!)
  }

  getAuthorizationSettings(): AuthorizationSettings {
    return authorizationSettings(this.#authorization)
  }

  /** 409 when `raw` names a priority (or, for a new policy, a name) another policy holds. */
  #checkClash(raw: unknown, index: number, except: string | undefined): void {
    if (!isMapping(raw)) return
    const path = `${AUTHORIZATION_PATH}.policies[${index}]`
    const others = this.#authorization.policies.filter((p) => p.name !== except)
    const name = raw['name']
    if (except === undefined && typeof name === 'string' && others.some((p) => p.name === name)) {
      throw new ApiError('ERR_CONFLICT', `${path}.name: "${name}" is already used by another policy`, `${path}.name`)
    }
    const priority = raw['priority']
    const holder = others.find((p) => p.priority === priority)
    if (typeof priority === 'number' && holder !== undefined) {
      throw new ApiError('ERR_CONFLICT', `${path}.priority: ${priority} is already used by policy "${holder.name}"`, `${path}.priority`)
    }
  }

  #parseAuthorization(settings: Raw, policies: readonly unknown[]): AuthorizationConfig {
    return parseAuthorizationConfig({ ...settings, policies }, AUTHORIZATION_PATH)
  }

  #settingsRaw(): Raw {
    const { policies: _p, ...settings } = authorizationToRaw(this.#authorization)
    void _p
    return settings
  }

  async createPolicy(raw: unknown): Promise<Raw> {
    return this.#serial(() => {
      const index = this.#authorization.policies.length
      this.#checkClash(raw, index, undefined)
      const next = this.#parseAuthorization(this.#settingsRaw(), [...this.#authorization.policies.map(policyToRaw), raw])
      this.#applyAuthorization(next)
      const created = next.policies[index]!
      this.#logger.info({ policy: created.name }, 'admin: policy created')
      return policyToRaw(created)
    })
  }

  async replacePolicy(name: string, raw: unknown): Promise<Raw> {
    return this.#serial(() => {
      const index = this.#policyIndex(name)
      const path = `${AUTHORIZATION_PATH}.policies[${index}]`
      let entry = raw
      if (isMapping(raw)) {
        if (raw['name'] !== undefined && raw['name'] !== name) {
          throw new ApiError('ERR_VALIDATION', `${path}.name: must be "${name}" as in the address (policies cannot be renamed; create a new one)`, `${path}.name`)
        }
        entry = { ...raw, name }
      }
      this.#checkClash(entry, index, name)
      const list: unknown[] = this.#authorization.policies.map(policyToRaw)
      list[index] = entry
      const next = this.#parseAuthorization(this.#settingsRaw(), list)
      this.#applyAuthorization(next)
      this.#logger.info({ policy: name }, 'admin: policy replaced')
      return policyToRaw(next.policies[index]!)
    })
  }

  async setPolicyPriority(name: string, body: unknown): Promise<Raw> {
    return this.#serial(() => {
      const index = this.#policyIndex(name)
      if (!isMapping(body) || body['priority'] === undefined) {
        throw new ApiError('ERR_VALIDATION', 'priority: is required ({ "priority": <integer> })', 'priority')
      }
      const entry = { ...policyToRaw(this.#authorization.policies[index]!), priority: body['priority'] }
      this.#checkClash(entry, index, name)
      const list: unknown[] = this.#authorization.policies.map(policyToRaw)
      list[index] = entry
      const next = this.#parseAuthorization(this.#settingsRaw(), list)
      this.#applyAuthorization(next)
      this.#logger.info({ policy: name, priority: next.policies[index]!.priority }, 'admin: policy priority changed')
      return policyToRaw(next.policies[index]!)
    })
  }

  async deletePolicy(name: string): Promise<void> {
    return this.#serial(() => {
      const index = this.#policyIndex(name)
      const list = this.#authorization.policies.filter((_, i) => i !== index).map(policyToRaw)
      this.#applyAuthorization(this.#parseAuthorization(this.#settingsRaw(), list))
      this.#logger.info({ policy: name }, 'admin: policy deleted')
    })
  }

  /** Full replacement of noMatch, aclClaim and superuserClaim (absent keys take their defaults). */
  async setAuthorizationSettings(body: unknown): Promise<AuthorizationSettings> {
    return this.#serial(() => {
      if (!isMapping(body)) throw new ConfigError(AUTHORIZATION_PATH, 'must be a mapping { noMatch, aclClaim, superuserClaim }')
      if (body['policies'] !== undefined) {
        throw new ApiError('ERR_VALIDATION', `${AUTHORIZATION_PATH}.policies: is managed through /api/v1/policies`, `${AUTHORIZATION_PATH}.policies`)
      }
      const settings = { ...body }
      if (settings['superuserClaim'] === null) delete settings['superuserClaim']
      const next = this.#parseAuthorization(settings, this.#authorization.policies.map(policyToRaw))
      this.#applyAuthorization(next)
      this.#logger.info(authorizationSettings(next), 'admin: authorization settings changed')
      return authorizationSettings(next)
    })
  }

  #applyAuthorization(next: AuthorizationConfig): void {
    this.#persist(this.#configs, next)
    this.#authorization = next
    const logger = this.#logger
    this.#broker.setAuthorizers(createAuthorizerChain(next, {
      onAclProblem: (subject: AuthzSubject, reason: string) => logger.warn({ clientId: subject.clientId }, `ACL claim unusable: ${reason}`),
    }))
    const warning = authorizationWarning(next, { tokens: this.#live.length > 0 })
    if (warning !== undefined) logger.warn(warning)
  }

  // ── clients ─────────────────────────────────────────────────────────────────────

  /** The session held for `clientId` (connected, or persistent and offline), or 404. */
  #session(clientId: string): Session {
    const session = this.#broker.sessions.get(clientId)
    if (session === undefined || (session.connection !== undefined && session.connection.state !== 'connected')) {
      throw new ApiError('ERR_NOT_FOUND', `no connected client or offline session with id '${clientId}'`)
    }
    return session
  }

  #connectedView(conn: Connection, session: Session): ConnectedClientView {
    const identity = conn.identity
    const claims = identity?.claims
    // With `from: username` the username IS the token: never shown.
    const usernameIsToken = this.#chain.usernameIsToken(conn)
    const superuserClaim = this.#authorization.superuserClaim
    const sub = claims?.['sub']
    const iss = claims?.['iss']
    const token = claims === undefined ? undefined : {
      ...(typeof sub === 'string' ? { subject: sub } : {}),
      ...(typeof iss === 'string' ? { issuer: iss } : {}),
      ...(identity?.expiresAt !== undefined ? { expiresAt: new Date(identity.expiresAt).toISOString() } : {}),
    }
    return {
      clientId: conn.clientId,
      connected: true,
      ...(conn.username !== undefined && !usernameIsToken ? { username: conn.username } : {}),
      ...(usernameIsToken ? { usernameIsToken: true as const } : {}),
      address: conn.remoteAddress,
      protocolVersion: conn.protocolVersion,
      listener: conn.listener,
      connectedAt: new Date(conn.createdAt).toISOString(),
      keepAlive: conn.keepAlive,
      authenticator: identity?.authenticator ?? null,
      anonymous: identity?.anonymous ?? true,
      ...(token !== undefined ? { token } : {}),
      acl: {
        tokenRules: countAclRules(claims?.[this.#authorization.aclClaim]),
        superuser: superuserClaim !== undefined && claims?.[superuserClaim] === true,
      },
      subscriptions: session.subscriptionCount,
      queued: session.queue.length,
      session: { expiryInterval: session.expiryInterval },
    }
  }

  /** An offline session; when it ends comes from the record the broker stored at disconnect,
   *  who left it and when from the session's last connection. */
  #offlineView(session: Session): OfflineClientView {
    const expiresAt = this.#broker.sessions.expiresAt(session)
    const last = session.lastConnection
    return {
      clientId: session.clientId,
      connected: false,
      ...(last === undefined ? {} : {
        ...(last.username !== undefined ? { username: last.username } : {}),
        ...(last.usernameIsToken ? { usernameIsToken: true as const } : {}),
        address: last.remoteAddress,
        protocolVersion: last.protocolVersion,
        disconnectedAt: new Date(last.disconnectedAt).toISOString(),
      }),
      subscriptions: session.subscriptionCount,
      queued: session.queue.length,
      session: {
        expiryInterval: session.expiryInterval,
        ...(expiresAt !== undefined
          ? { expiresAt: new Date(expiresAt).toISOString(), expiresInSeconds: Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000)) }
          : {}),
      },
    }
  }

  #view(session: Session): ClientView {
    const conn = session.connection
    return conn !== undefined ? this.#connectedView(conn, session) : this.#offlineView(session)
  }

  /**
   * Connected clients and offline persistent sessions (`state`: all, the default;
   * connected; offline), by client id. Every entry says `connected`.
   */
  async listClients(state: unknown = 'all'): Promise<ClientView[]> {
    if (typeof state !== 'string' || !(CLIENT_STATES as readonly string[]).includes(state)) {
      throw new ApiError('ERR_VALIDATION', `state: must be one of ${CLIENT_STATES.join(', ')} (got ${JSON.stringify(state)})`, 'state')
    }
    const wanted: Session[] = []
    for (const session of this.#broker.sessions.values()) {
      const conn = session.connection
      if (conn !== undefined && conn.state !== 'connected') continue // being taken over or closed
      if (state === 'all' || (state === 'connected') === (conn !== undefined)) wanted.push(session)
    }
    const views = wanted.map((s) => this.#view(s))
    return views.sort((a, b) => a.clientId.localeCompare(b.clientId))
  }

  async getClient(clientId: string): Promise<ClientDetail> {
    const session = this.#session(clientId)
    return {
      ...this.#view(session),
      subscriptionList: [...(session.subscriptionCount > 0 ? session.subscriptions.values() : [])].map((s) => ({ topic: s.key, qos: s.qos })),
      inflight: session.inflightCount,
      queued: session.queue.length,
    }
  }

  /**
   * A connected client: DISCONNECT 0x98 (Administrative action) for MQTT 5, the connection
   * closed for 3.x; its session then lives on or ends as its expiry says. An offline
   * session: ended now (subscriptions and queued messages dropped, a delayed will published
   * now, as when a session ends (MQTT 5 §3.1.3.2.2)); the client's next CONNECT starts a new session.
   */
  disconnectClient(clientId: string): void {
    const session = this.#session(clientId)
    const conn = session.connection
    if (conn !== undefined) {
      this.#logger.info({ clientId }, 'admin: client disconnected')
      conn.disconnect(ReasonCode.AdministrativeAction, 'disconnected by an administrator')
      return
    }
    this.#logger.info({ clientId, subscriptions: session.subscriptionCount, queued: session.queue.length }, 'admin: offline session ended')
    this.#broker.sessions.end(session)
  }

  // ── token check and stats ───────────────────────────────────────────────────────

  /** The check-by-check report of the current chain. The token is never logged or stored. */
  async tokenCheck(body: unknown): Promise<TokenInspection> {
    if (!isMapping(body)) throw new ApiError('ERR_VALIDATION', 'body: must be a mapping { token, clientId?, username? }', 'body')
    const token = body['token']
    if (typeof token !== 'string' || token === '') throw new ApiError('ERR_VALIDATION', 'token: is required (a non-empty string)', 'token')
    const context: { clientId?: string; username?: string } = {}
    for (const key of ['clientId', 'username'] as const) {
      const v = body[key]
      if (v === undefined || v === null) continue
      if (typeof v !== 'string') throw new ApiError('ERR_VALIDATION', `${key}: must be a string`, key)
      context[key] = v
    }
    for (const key of Object.keys(body)) {
      if (!['token', 'clientId', 'username'].includes(key)) throw new ApiError('ERR_VALIDATION', `${key}: unknown key (expected one of: token, clientId, username)`, key)
    }
    return inspectToken(token, this.#live, context)
  }

  /** Entries and estimated bytes of every cache, by name (each is bounded by bytes; README "Limits"). */
  caches(): Readonly<Record<CacheName, CacheUsage>> {
    let tokens = NO_USAGE
    for (const a of this.authenticators) tokens = addUsage(tokens, a.cacheUsage())
    return {
      topic_match: this.#broker.tree.cacheUsage,
      authz_decisions: this.#broker.authzCacheUsage(),
      verified_tokens: tokens,
      jws_headers: headerCacheUsage(),
      topic_templates: templateCacheUsage(),
    }
  }

  stats(): BrokerStatsView {
    const b = this.#broker
    const s = b.stats
    return {
      startedAt: new Date(b.startedAt).toISOString(),
      uptimeSeconds: Math.floor((Date.now() - b.startedAt) / 1000),
      connections: { current: b.sessions.connectedCount, open: b.connectionCount, total: s.connectionsTotal },
      sessions: b.sessions.size,
      retained: b.retained.size,
      messages: {
        received: s.messagesReceived,
        sent: s.messagesSent,
        dropped: s.messagesDropped,
        receivedByQos: [...s.messagesReceivedByQos],
        sentByQos: [...s.messagesSentByQos],
      },
      bytes: { in: s.bytesIn, out: s.bytesOut },
      authFailures: { total: s.authFailures, byReason: { ...s.authFailuresByReason } },
      authzDenied: { ...s.authzDenied },
      limitsHit: { ...s.limitsHit },
    }
  }
}
