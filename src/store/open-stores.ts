/**
 * Choose and open the stores a configuration asks for: memory only (`persistence: false`),
 * the SQLite state database in dataDir (one node), or Redis (`cluster`). Opened before
 * anything listens; a store that cannot be opened stops start-up.
 */
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
  /** Close the state database or Redis (pending changes committed first); the broker closes the stores. Idempotent. */
  close(): Promise<void>
}

export async function openStores(config: PortcullisConfig, logger: Logger, custom: RetainedStore | undefined): Promise<OpenStores> {
  const persistence = config.persistence
  let state: StateDatabase | undefined
  let redis: RedisState | undefined
  let retained: RetainedStore | undefined = custom
  let sessionStore: SessionStore | undefined
  try {
    if (config.cluster !== undefined) {
      redis = await RedisState.open(config.cluster.redis, config.cluster.nodeId, logger)
      logger.info({ node: redis.nodeId, redis: describeTarget(config.cluster.redis) }, 'cluster: connected to Redis')
      // One live node per Redis until the client registry (one owner per client id) is in;
      // tests of cross-node delivery run several live nodes on sessions of their own making.
      if (process.env['PORTCULLIS_TEST_CLUSTER_LIVE_NODES'] !== '1') await redis.waitForOtherNodes()
      retained ??= persistence.retained ? await RedisRetainedStore.open(redis) : undefined
      sessionStore = persistence.sessions ? new RedisSessionStore(redis) : undefined
    } else if (persistence.sessions || persistence.retained) {
      state = new StateDatabase(config.dataDir, persistence.sync, logger)
      retained ??= persistence.retained ? new SqliteRetainedStore(state, logger) : undefined
      sessionStore = persistence.sessions ? new SqliteSessionStore(state) : undefined
    }
  } catch (err) {
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
    close: () => {
      closed ??= (async () => {
        state?.close()
        await redis?.close()
      })()
      return closed
    },
  }
}
