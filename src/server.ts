/**
 * Assemble a running Portcullis from a validated configuration: the admin listener,
 * authenticators, authorizers, stores, the broker and its listeners; `close()` undoes it
 * in reverse order. A failure half-way closes whatever was already started.
 */
import type { JsonWebKey } from 'node:crypto'
import { createRequire } from 'node:module'
import { loadOrCreateApiKey } from './admin/api-key.js'
import { clusterApiKey, followClusterApiKey } from './admin/cluster-api-key.js'
import { ClusterAudit } from './admin/cluster-audit.js'
import { BrokerAdmin } from './admin/broker-admin.js'
import { loadManagedConfig, seedStoredConfig, type ConfigurationStatus, type ManagedConfig } from './admin/managed-config.js'
import { startAdminServer, type AdminServer } from './admin/server.js'
import { AuthenticatorChain } from './auth/chain.js'
import { createAuthenticators, type ManagedAuthenticator } from './auth/create.js'
import { authorizersFor } from './authz/create.js'
import { Broker } from './broker/broker.js'
import { listenError, loadListenerTls, startListener, type RunningListener } from './broker/listeners.js'
import { LocalBus } from './cluster/bus.js'
import { RedisBus } from './cluster/redis-bus.js'
import { SharedConfig } from './cluster/shared-config.js'
import { NodeRequests } from './cluster/node-requests.js'
import { clusterPeers } from './admin/clients-across-nodes.js'
import { SharedJwks } from './cluster/shared-jwks.js'
import { SharedRevocations } from './cluster/shared-revocations.js'
import { SharedDevices } from './cluster/shared-devices.js'
import { clock } from './clock.js'
import type { PortcullisConfig } from './config/schema.js'
import { createLogger, type Logger } from './log.js'
import { createMetrics } from './metrics/metrics.js'
import { DeviceRegistry } from './auth/devices/registry.js'
import { RevocationList } from './auth/revocation.js'
import { registerClusterMetrics } from './metrics/cluster-metrics.js'
import { registerStoreMetrics } from './metrics/store-metrics.js'
import { SqliteConfigStore } from './store/sqlite/config-store.js'
import { NO_COMMITS } from './store/memory/session-store.js'
import { openStores } from './store/open-stores.js'
import type { RedisState } from './store/redis/redis-state.js'
import { RedisRetainedStore } from './store/redis/retained-store.js'
import { SqliteSessionStore } from './store/sqlite/session-store.js'
import type { StateDatabase } from './store/sqlite/state-database.js'
import type { RetainedStore } from './store/types.js'

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export interface ServerOptions {
  readonly logger?: Logger
  /** A public key set the admin listener publishes at /.well-known/jwks.json (development setup). */
  readonly jwks?: { readonly keys: readonly JsonWebKey[] }
  /** The admin API key (default: admin.apiKey, else dataDir/admin-api-key, generated if missing). */
  readonly apiKey?: string
  /**
   * Keep admin API changes in dataDir/portcullis.db, seeded from the configuration on the
   * first start (default: true when the admin listener is configured; false: file only).
   */
  readonly persistConfig?: boolean
  /**
   * A retained-message store of your own (embedding), used instead of the configured one
   * (`persistence.retained`); the server closes it. Whatever it throws or rejects with costs
   * the publishing client its connection, never the broker.
   */
  readonly retainedStore?: RetainedStore
}

export interface PortcullisServer {
  readonly broker: Broker
  /** The live authenticators, in chain order (they change with the admin API). */
  readonly authenticators: readonly ManagedAuthenticator[]
  /** The management facade the admin API works through. */
  readonly brokerAdmin: BrokerAdmin
  /** Where authenticators and authorization came from at start-up. */
  readonly configSource: 'configuration file' | 'database'
  /** The same, with how the configuration file differs from a stored copy that wins over it. */
  readonly configuration: ConfigurationStatus
  readonly listeners: readonly RunningListener[]
  readonly admin: AdminServer | undefined
  /** The state database (`persistence` on, no `cluster`), else undefined. */
  readonly stateStore: StateDatabase | undefined
  /** The cluster's state in Redis (`cluster`), else undefined. */
  readonly redisState: RedisState | undefined
  readonly logger: Logger
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function createServer(config: PortcullisConfig, options: ServerOptions = {}): Promise<PortcullisServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat })
  const undo: Array<() => Promise<void> | void> = []
  const unwind = async (): Promise<void> => {
    while (undo.length > 0) await (undo.pop() as () => Promise<void> | void)()
  }
  try {
    // Every certificate and key file is read and checked before any listener (admin included) opens.
    const listenerTls = config.listeners.map((l, i) => loadListenerTls(l, `listeners[${i}]`))

    // With the management plane on, the stored configuration (seeded from the file) wins.
    let managed: ManagedConfig = {
      authenticators: config.authentication.authenticators, authorization: config.authorization,
      source: 'configuration file', seed: false, status: { source: 'configuration file', fileDiffers: false },
    }
    let store: SqliteConfigStore | undefined
    if (config.admin !== undefined && options.persistConfig !== false) {
      const s = new SqliteConfigStore(config.dataDir)
      undo.push(() => s.close())
      store = s
      managed = loadManagedConfig(s, managed, logger)
    }

    // Opened before anything listens: a database (or Redis) that cannot be opened stops start-up.
    const stores = await openStores(config, logger, options.retainedStore)
    undo.push(() => stores.close())
    const { state, redis, retained, sessionStore, ownership, membership } = stores
    undo.push(() => retained.close())

    // The admin listener comes first: it may serve the key set the authenticators fetch.
    let admin: AdminServer | undefined
    let stopKeyFollow: (() => void) | undefined
    if (config.admin !== undefined) {
      const adminConfig = config.admin
      let apiKey = options.apiKey ?? adminConfig.apiKey
      let followKey: ((admin: AdminServer) => () => void) | undefined
      // With named keys only (admin.apiKeys), no key is generated.
      if (apiKey === undefined && (adminConfig.apiKeys ?? []).length === 0) {
        if (redis === undefined) {
          const stored = loadOrCreateApiKey(config.dataDir)
          logger.info({ file: stored.file }, stored.created ? 'admin API key generated (read it from the file)' : 'admin API key read from file')
          apiKey = stored.key
        } else {
          // Cluster: one generated key for every node, kept in Redis (a copy in the file).
          const stored = await clusterApiKey(redis, config.dataDir)
          logger.info({ file: stored.file }, stored.created
            ? 'cluster: admin API key generated for the cluster (every node uses it; read it from the file)'
            : 'cluster: admin API key of the cluster read from Redis (written to the file)')
          apiKey = stored.key
          followKey = (admin) => followClusterApiKey(redis, config.dataDir, stored.key, logger, (key) => admin.setApiKey(key))
        }
      }
      const a = await startAdminServer({
        config: adminConfig,
        logger,
        ...(apiKey !== undefined ? { apiKey } : {}),
        apiKeys: adminConfig.apiKeys ?? [],
        metricsPublic: adminConfig.metricsPublic,
        version: VERSION,
        ...(options.jwks !== undefined ? { jwks: options.jwks } : {}),
      }).catch((err: NodeJS.ErrnoException) => {
        throw listenError(err, 'admin', adminConfig.host, adminConfig.port)
      })
      undo.push(() => a.close())
      admin = a
      // Cluster: a rotation of the generated key (on any node, or in Redis) is taken within about a second.
      if (followKey !== undefined) {
        const stop = followKey(a)
        undo.push(stop)
        stopKeyFollow = stop
      }
    }
    // Devices too (type: devices): kept in the configuration store with the admin API on, else in
    // memory; in a cluster, the registry in Redis (the store keeps a copy).
    const devices = new DeviceRegistry(store, { keyCache: config.authentication.deviceKeyCache })
    if (devices.size > 0) logger.info({ devices: devices.size, keyCache: config.authentication.deviceKeyCache }, 'registered devices loaded')
    // Cluster: JWKS endpoints' last good sets and kid cooldowns are shared through Redis.
    const jwksShare = redis === undefined ? undefined : new SharedJwks(redis, logger)
    if (jwksShare !== undefined) undo.push(() => jwksShare.close())
    const tokenAuthenticators = createAuthenticators(managed.authenticators, {
      logger,
      devices,
      ...(jwksShare !== undefined ? { jwksShare } : {}),
    })
    // Revocations are kept in the configuration store (with the admin API on), else in memory.
    const revocations = new RevocationList(store)
    const authenticators = new AuthenticatorChain(tokenAuthenticators, { allowAnonymous: config.authentication.allowAnonymous, revocations })
    undo.push(() => authenticators.close())
    await authenticators.start()

    const authorizers = authorizersFor(managed.authorization, { logger, tokens: tokenAuthenticators.length > 0 })
    // Cluster: messages reach subscribers on the other nodes through Redis (cluster/redis-bus.ts).
    const bus = redis === undefined ? new LocalBus() : new RedisBus(redis, logger, {
      ...(retained instanceof RedisRetainedStore ? { mirrorRetained: (m) => retained.mirror(m) } : {}),
      qos0: config.cluster?.qos0 ?? 'pubsub',
      qos0BatchMs: config.cluster?.qos0BatchMs ?? 0,
    })

    const broker = new Broker({
      limits: config.limits,
      authenticators,
      authorizers,
      retained,
      sessions: sessionStore,
      commits: state ?? redis ?? NO_COMMITS,
      bus,
      ...(ownership !== undefined ? { ownership } : {}),
      logger,
      version: VERSION,
      connackReasonString: config.authentication.reasonString,
    })
    undo.push(() => broker.close())
    // Which stored sessions dead nodes held, noted before recovery rewrites it (their streams are taken over).
    if (bus instanceof RedisBus) await bus.prepare()
    // Stored sessions are back (subscriptions in the tree) before any client can publish.
    const recovered = await broker.sessions.recover()
    if (state !== undefined) logger.info({ file: state.file, sessions: recovered, retained: retained.size }, 'state recovered')
    if (redis !== undefined) logger.info({ node: redis.nodeId, sessions: recovered, retained: retained.size }, 'cluster: state recovered from Redis')
    // Routes written and the node's stream read (pending forwards first) before clients come.
    if (bus instanceof RedisBus) await bus.start((clientId) => broker.sessions.get(clientId) !== undefined)
    // Cluster: each heartbeat tells the other nodes' admin API how this node is doing.
    if (membership !== undefined) {
      let last = { at: clock.now(), received: 0, sent: 0 }
      membership.report(() => {
        const now = { at: clock.now(), received: broker.stats.messagesReceived, sent: broker.stats.messagesSent }
        const seconds = Math.max(0.001, (now.at - last.at) / 1000)
        const rates = {
          messagesInPerSecond: Math.round(((now.received - last.received) / seconds) * 10) / 10,
          messagesOutPerSecond: Math.round(((now.sent - last.sent) / seconds) * 10) / 10,
        }
        last = now
        return { clients: broker.sessions.connectedCount, sessions: broker.sessions.size, startedAt: broker.startedAt, ...rates }
      })
    }
    // Cluster: authenticators, policies and authorization settings are shared through Redis.
    const shared = redis === undefined ? undefined : new SharedConfig(redis, logger)
    if (shared !== undefined) undo.push(() => shared.close())
    // Cluster: the admin API asks the node that holds a client (list, details, disconnect).
    const requests = redis === undefined ? undefined : new NodeRequests(redis, logger)
    if (requests !== undefined) undo.push(() => requests.close())
    const peers = redis !== undefined && requests !== undefined && membership !== undefined
      ? clusterPeers(redis, requests, membership)
      : undefined
    const brokerAdmin = new BrokerAdmin({
      broker,
      chain: authenticators,
      authenticators: tokenAuthenticators,
      authorization: managed.authorization,
      logger,
      configuration: managed.status,
      revocations,
      devices,
      ...(jwksShare !== undefined ? { jwksShare } : {}),
      ...(store !== undefined ? { store } : {}),
      ...(shared !== undefined ? { shared } : {}),
      ...(membership !== undefined ? { nodes: () => membership.nodes() } : {}),
      ...(peers !== undefined ? { peers } : {}),
      // Cluster: one audit trail for every node, in Redis.
      ...(redis !== undefined ? { auditStore: new ClusterAudit(redis) } : {}),
    })
    undo.push(() => brokerAdmin.close())
    if (redis !== undefined && store !== undefined && store.listAudit(undefined, 1).length > 0) {
      logger.info({ file: store.file }, 'cluster: the audit entries in this node\'s database stay there; GET /audit shows the cluster\'s trail in Redis')
    }
    // Cluster: revocations are shared through Redis (every node enforces the same list).
    const sharedRevocations = redis === undefined ? undefined : new SharedRevocations(redis, logger)
    if (sharedRevocations !== undefined) {
      undo.push(() => sharedRevocations.close())
      const joined = await brokerAdmin.revocations.followShared(sharedRevocations)
      logger.info({ revocations: joined.entries }, joined.seeded
        ? 'cluster: no node had shared its revocations yet: this node\'s are now the cluster\'s'
        : 'cluster: revocations from the cluster\'s shared list in Redis')
    }
    // Cluster: the device registry is shared through Redis.
    const sharedDevices = redis === undefined ? undefined : new SharedDevices(redis, logger)
    if (sharedDevices !== undefined) {
      undo.push(() => sharedDevices.close())
      const held = devices.size
      const joined = await brokerAdmin.devices.followShared(sharedDevices)
      if (joined.seeded) logger.info({ devices: joined.devices }, 'cluster: no node had shared its devices yet: this node\'s registered devices are now the cluster\'s')
      else logger.info({ devices: joined.devices }, 'cluster: registered devices from the cluster\'s registry in Redis')
      if (!joined.seeded && held > 0 && joined.replaced > 0) {
        logger.warn({ held, replaced: joined.replaced, file: store?.file }, 'cluster: the devices stored on this node differed from the cluster\'s registry in Redis and are replaced by it (changed on other nodes while this one was away, or registered before it joined the cluster)')
      }
    }
    if (shared !== undefined) {
      const joined = await brokerAdmin.followSharedConfig(shared)
      logger.info({ version: joined.version }, joined.seeded
        ? 'cluster: no node had shared its configuration yet: this node\'s authenticators and authorization are now the cluster\'s'
        : 'cluster: authenticators and authorization from the cluster\'s shared copy in Redis (this node\'s database and file are not used)')
    }
    await requests?.start((kind, args) => brokerAdmin.clientsAcross.serve(kind, args))
    const metrics = createMetrics(brokerAdmin, { version: VERSION, ...(redis !== undefined ? { node: redis.nodeId } : {}) })
    if (state !== undefined) {
      const db = state
      registerStoreMetrics(metrics.registry, {
        stats: db.stats,
        sizeBytes: () => db.sizeBytes(),
        storedSessions: () => broker.sessions.storedCount,
        storedDeliveries: () => (sessionStore instanceof SqliteSessionStore ? sessionStore.counts() : { deliveries: 0, messages: 0 }),
      })
    }
    if (bus instanceof RedisBus) registerClusterMetrics(metrics.registry, bus)
    undo.push(() => metrics.close())
    admin?.attach({ admin: brokerAdmin, metrics: metrics.registry })
    const listeners: RunningListener[] = []
    for (const [i, l] of config.listeners.entries()) {
      const running = await startListener(broker, l, `listeners[${i}]`, listenerTls[i])
      listeners.push(running)
      undo.push(() => running.close())
    }

    // Fully started: only now is the file's configuration stored (a failed start stores nothing).
    if (store !== undefined) seedStoredConfig(store, managed, logger)
    admin?.setReadiness('ready')

    let closed: Promise<void> | undefined
    const close = (): Promise<void> => {
      closed ??= (async () => {
        // Stop accepting first, then disconnect clients (the broker), then the rest.
        admin?.setReadiness('stopping')
        const stopping = listeners.map((l) => l.close())
        await broker.close()
        shared?.close()
        await requests?.close()
        jwksShare?.close()
        sharedRevocations?.close()
        sharedDevices?.close()
        stopKeyFollow?.()
        await stores.close()
        await Promise.all(stopping)
        await admin?.close()
        // (broker.close() closed the authenticator chain, with any authenticator swapped in since.)
        metrics.close()
        brokerAdmin.close()
        store?.close()
      })()
      return closed
    }
    return {
      broker,
      get authenticators() {
        return brokerAdmin.authenticators
      },
      brokerAdmin,
      configSource: managed.source,
      configuration: managed.status,
      listeners,
      admin,
      stateStore: state,
      redisState: redis,
      logger,
      close,
      [Symbol.asyncDispose]: close,
    }
  } catch (err) {
    await unwind()
    throw err
  }
}
