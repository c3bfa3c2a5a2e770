/**
 * BrokerAdmin: the narrow facade the admin API works through, one part per concern —
 * authenticators, authorization, clients, revocations, devices — plus the token check and the statistics.
 * Changes are validated exactly as the configuration file is (same messages, same key
 * paths), run one at a time, persisted, and apply to new connections at once. Connected
 * clients keep what they were admitted with until they reconnect or are disconnected.
 */
import type { AuthenticatorChain } from '../auth/chain.js'
import type { AuthenticatorStats, ManagedAuthenticator } from '../auth/create.js'
import type { JwksFetchCounts } from '../auth/jwks/source.js'
import type { AuthorizationConfig } from '../authz/config.js'
import type { Broker } from '../broker/broker.js'
import type { CacheUsage } from '../bounded-cache.js'
import type { Logger } from '../log.js'
import type { CacheName, MetricsSource } from '../metrics/metrics.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { AuthenticatorsAdmin } from './authenticators.js'
import { AuthorizationAdmin } from './authorization.js'
import { AdminChanges } from './changes.js'
import { ClientsAdmin } from './clients.js'
import { ClientsAcrossNodes, type ClusterPeers } from './clients-across-nodes.js'
import type { SharedConfig, SharedCopy } from '../cluster/shared-config.js'
import { SharedConfigError } from '../cluster/shared-versioned.js'
import type { ClusterNodeView } from '../cluster/membership.js'
import { ApiError } from './errors.js'
import { authenticatorToRaw, authorizationToRaw } from './config-views.js'
import { TopicsAdmin } from './topics.js'
import { RevocationsAdmin } from './revocations.js'
import { DevicesAdmin } from './devices.js'
import type { DeviceRegistry } from '../auth/devices/registry.js'
import type { JwksShare } from '../auth/jwks/share.js'
import type { RevocationList } from '../auth/revocation.js'
import { brokerStats, cacheUsage, type BrokerStatsView } from './stats.js'
import { StatsHistory, type StatsHistoryView } from './stats-history.js'
import type { ConfigurationStatus } from './managed-config.js'
import { checkToken, type TokenCheckAnswer } from './token-check.js'
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, AuditLog, type AuditPage } from './audit.js'
import type { AuditStore } from '../store/audit-types.js'
import { listRefusals } from './refusals.js'
import { pageNumber } from './query.js'
import type { RefusalRecord } from '../broker/refusals.js'

export interface BrokerAdminOptions {
  readonly broker: Broker
  readonly chain: AuthenticatorChain
  /** The started authenticators, in chain order (their configs are the current ones). */
  readonly authenticators: readonly ManagedAuthenticator[]
  readonly authorization: AuthorizationConfig
  readonly logger: Logger
  readonly store?: SqliteConfigStore
  /** Where the configuration came from at start-up, and how the file differs from the stored copy. */
  readonly configuration?: ConfigurationStatus
  /** Revoked tokens (the chain checks the same list). */
  readonly revocations: RevocationList
  /** Registered devices (type: devices authenticators look them up). */
  readonly devices: DeviceRegistry
  /** Cluster: the managed configuration every node shares (Redis). */
  readonly shared?: SharedConfig
  /** Cluster: JWKS last good sets and kid cooldowns every node shares (Redis). */
  readonly jwksShare?: JwksShare
  /** Cluster: every node, its state and last report. */
  readonly nodes?: () => Promise<ClusterNodeView[]>
  /** Cluster: the other nodes, asked for the clients they hold. */
  readonly peers?: ClusterPeers
  /** Where the audit trail is kept when not in `store` (cluster: Redis). */
  readonly auditStore?: AuditStore
}

export class BrokerAdmin implements MetricsSource {
  readonly #broker: Broker
  readonly authn: AuthenticatorsAdmin
  readonly authz: AuthorizationAdmin
  /** This node's clients. */
  readonly clients: ClientsAdmin
  /** Every node's clients (the API's): this node's, or in a cluster those of whichever node holds them. */
  readonly clientsAcross: ClientsAcrossNodes
  readonly topics: TopicsAdmin
  readonly #configuration: ConfigurationStatus
  readonly #changes: AdminChanges
  readonly #nodes: (() => Promise<ClusterNodeView[]>) | undefined
  readonly revocations: RevocationsAdmin
  readonly devices: DevicesAdmin
  readonly #revocationList: RevocationList
  /** Management changes: who, when, from where, what (secrets redacted). */
  readonly audit: AuditLog
  /** The last hour of statistics at 10 s (console charts). */
  readonly history: StatsHistory

  constructor(options: BrokerAdminOptions) {
    const { broker, chain, logger } = options
    this.#broker = broker
    this.#configuration = options.configuration ?? { source: 'configuration file', fileDiffers: false }
    this.audit = new AuditLog(options.auditStore ?? options.store)
    const changes = new AdminChanges(options.store, () => ({ authenticators: this.authn.configs, authorization: this.authz.config }), options.shared)
    this.#changes = changes
    this.#nodes = options.nodes
    this.authn = new AuthenticatorsAdmin({
      chain,
      authenticators: options.authenticators,
      logger,
      changes,
      devices: options.devices,
      ...(options.jwksShare !== undefined ? { jwksShare: options.jwksShare } : {}),
    })
    this.authz = new AuthorizationAdmin({
      broker, authorization: options.authorization, logger, changes, tokens: () => this.authn.live.length > 0,
    })
    this.clients = new ClientsAdmin({
      broker, chain, logger, authorization: () => this.authz.config, ...(options.peers !== undefined ? { nodeId: options.peers.nodeId } : {}),
    })
    this.clientsAcross = new ClientsAcrossNodes(this.clients, options.peers)
    this.topics = new TopicsAdmin(broker)
    this.#revocationList = options.revocations
    this.revocations = new RevocationsAdmin({ broker, list: options.revocations, logger, authenticators: () => this.authn.live })
    this.devices = new DevicesAdmin({ broker, registry: options.devices, logger })
    this.history = new StatsHistory(() => this.stats())
  }

  /**
   * Cluster: run the configuration every node shares (the copy in Redis wins over this node's
   * database and file), or share this node's when no node stored one yet; then apply every
   * change another node makes (within about a second). Before the MQTT listeners open.
   */
  async followSharedConfig(shared: SharedConfig): Promise<{ readonly version: number; readonly seeded: boolean }> {
    for (;;) {
      const copy = await shared.load()
      if (copy !== undefined) {
        await this.#applyShared(copy)
        shared.ran(copy.version)
        break
      }
      try {
        await shared.publish({ authenticators: this.authn.configs.map(authenticatorToRaw), authorization: authorizationToRaw(this.authz.config) })
        await shared.follow((c) => this.#applyShared(c))
        return { version: shared.version, seeded: true }
      } catch (err) {
        if (!(err instanceof SharedConfigError && err.code === 'ERR_CONFLICT')) throw err
        // another node stored one first: run that one
      }
    }
    await shared.follow((c) => this.#applyShared(c))
    return { version: shared.version, seeded: false }
  }

  #applyShared(copy: SharedCopy): Promise<void> {
    return this.#changes.serial(async () => {
      await this.authn.applyShared(copy.state.authenticators)
      await this.authz.applyShared(copy.state.authorization)
    })
  }

  /** GET /cluster/nodes: the cluster's nodes (404 on a broker without `cluster`). */
  async clusterNodes(): Promise<ClusterNodeView[]> {
    if (this.#nodes === undefined) throw new ApiError('ERR_NOT_FOUND', 'this broker is not part of a cluster (no `cluster` in its configuration)')
    try {
      return await this.#nodes()
    } catch (err) {
      throw new ApiError('ERR_UNAVAILABLE', `the cluster's Redis cannot be reached (${(err as Error).message})`)
    }
  }

  /** The live authenticators, in chain order. */
  get authenticators(): readonly ManagedAuthenticator[] {
    return this.authn.live
  }

  get authorization(): AuthorizationConfig {
    return this.authz.config
  }

  authenticatorStats(a: ManagedAuthenticator): AuthenticatorStats {
    return this.authn.authenticatorStats(a)
  }

  jwksFetches(a: ManagedAuthenticator): JwksFetchCounts | undefined {
    return this.authn.jwksFetches(a)
  }

  /** The check-by-check report of the current chain, and what the current authorization lets the client do. The token is never logged or stored. */
  tokenCheck(body: unknown): Promise<TokenCheckAnswer> {
    return checkToken(body, this.authn.live, this.authz.config, this.#revocationList)
  }

  caches(): Readonly<Record<CacheName, CacheUsage>> {
    return cacheUsage(this.#broker, this.authn.live)
  }

  /** Recently refused CONNECTs, newest first, filtered (never the token). */
  refusals(query: Readonly<Record<string, unknown>>): RefusalRecord[] {
    return listRefusals(this.#broker.refusals, query)
  }

  /** GET /audit: a page of the audit trail, newest first. */
  async auditPage(query: Readonly<Record<string, unknown>>): Promise<AuditPage> {
    const limit = pageNumber(query, 'limit', AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX)
    const before = query['before'] === undefined ? undefined : pageNumber(query, 'before', 0, Number.MAX_SAFE_INTEGER)
    try {
      return await this.audit.page(before, limit)
    } catch (err) {
      if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
      throw err
    }
  }

  stats(): BrokerStatsView {
    return brokerStats(this.#broker)
  }

  /** GET /stats/history: the points of the last 5 minutes, 15 minutes or hour. */
  statsHistory(query: Readonly<Record<string, unknown>>): StatsHistoryView {
    return this.history.view(query)
  }

  /** Stops taking history points. */
  close(): void {
    this.history.close()
  }

  /** Where authenticators and authorization came from at start-up, and how the file differs (console banner). */
  configuration(): ConfigurationStatus {
    return this.#configuration
  }
}
