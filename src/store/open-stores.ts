/**
 * Choose and open the stores a configuration asks for: memory only (`persistence: false`),
 * the SQLite state database in dataDir (one node), or Redis (`cluster`). Opened before
 * anything listens; a store that cannot be opened stops start-up.
 */
import { NodeMembership } from '../cluster/membership.js'
import type { ClientOwnership } from '../cluster/ownership.js'
import { ClientRegistry } from '../cluster/registry.js'
import type { PortcullisConfig } from '../config/schema.js'
import type { Logger } from '../log.js'
import { MemoryRetainedStore } from './memory/retained-store.js'
import { MemorySessionStore } from './memory/session-store.js'
import { RedisState, describeTarget } from './redis/redis-state.js'
import { RedisRetainedStore } from './redis/retained-store.js'
import { RedisSessionStore } from './redis/session-store.js'
import { SqliteRetainedStore } from './sqlite/retained-store.js'
import { SqliteSessionStore } from './sqlite/session-store.js'
import { StateDatabase } from './sqlite/state-database.js'
import type { RetainedStore, SessionStore } from './types.js'

export interface OpenStores {
  readonly state: StateDatabase | undefined
  readonly redis: RedisState | undefined
  readonly retained: RetainedStore
  readonly sessionStore: SessionStore
  /** The cluster's client registry (`cluster`), else undefined: every client id is this node's. */
  readonly ownership: ClientOwnership | undefined
  /** The cluster's node membership (`cluster`), else undefined. */
  readonly membership: NodeMembership | undefined
  /** Close the state database or Redis (pending changes committed first); the broker closes the stores. Idempotent. */
  close(): Promise<void>
}

export async function openStores(config: PortcullisConfig, logger: Logger, custom: RetainedStore | undefined): Promise<OpenStores> {
  const persistence = config.persistence
  let state: StateDatabase | undefined
  let redis: RedisState | undefined
  let retained: RetainedStore | undefined = custom
  let sessionStore: SessionStore | undefined
  let membership: NodeMembership | undefined
  let registry: ClientRegistry | undefined
  let ownership: ClientOwnership | undefined
  try {
    if (config.cluster !== undefined) {
      const { replicaAck } = config.cluster
      redis = await RedisState.open(config.cluster.redis, config.cluster.nodeId, logger, { replicaAck })
      logger.info({ node: redis.nodeId, redis: describeTarget(config.cluster.redis), ...(replicaAck !== undefined ? { replicaAck } : {}) }, 'cluster: connected to Redis')
      membership = await NodeMembership.join(redis, logger)
      const reg = new ClientRegistry(redis, membership, logger)
      registry = reg
      await reg.start()
      retained ??= persistence.retained ? await RedisRetainedStore.open(redis) : undefined
      const store = persistence.sessions ? new RedisSessionStore(redis, reg) : undefined
      sessionStore = store
      ownership = {
        claim: (cid, cleanStart) => reg.claim(cid, cleanStart),
        release: (cid) => reg.release(cid),
        holds: (cid) => reg.holds(cid),
        forget: (cid) => {
          reg.forget(cid)
          store?.handedOver(cid)
        },
        onTakenOver: (handler) => reg.onTakenOver(handler),
        onTakeoverStarted: (handler) => reg.onTakeoverStarted(handler),
        load: (cid) => store?.load(cid) ?? Promise.resolve(undefined),
        onNodeDied: (handler) => reg.onNodeDied(handler),
        orphanCandidates: async () => store === undefined
          ? { clientIds: [], live: [] }
          : { clientIds: await store.storedClientIds(), live: await store.liveOthers() },
        adoptOrphans: (cids, live) => store?.adoptOrphans(cids, live) ?? Promise.resolve([]),
      }
    } else if (persistence.sessions || persistence.retained) {
      state = new StateDatabase(config.dataDir, persistence.sync, logger)
      retained ??= persistence.retained ? new SqliteRetainedStore(state, logger) : undefined
      sessionStore = persistence.sessions ? new SqliteSessionStore(state) : undefined
    }
  } catch (err) {
    await registry?.close()
    membership?.leave()
    await redis?.close()
    state?.close()
    throw err
  }
  const r = retained ?? new MemoryRetainedStore()
  const s = sessionStore ?? new MemorySessionStore()
  let closed: Promise<void> | undefined
  return {
    state,
    redis,
    retained: r,
    sessionStore: s,
    ownership,
    membership,
    close: () => {
      closed ??= (async () => {
        state?.close()
        await registry?.close()
        membership?.leave()
        await redis?.close()
      })()
      return closed
    },
  }
}
