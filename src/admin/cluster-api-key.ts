/**
 * The generated admin API key of a cluster: one key for every node, so that the console (or
 * a script) signed in with it works on any node. The first node that needs it creates it in
 * Redis (`pc:admin-api-key`, SET NX: of two nodes starting at once, one key wins); every node
 * reads it from there at start-up and keeps a copy in its own `dataDir/admin-api-key` (mode
 * 0600), where the operator and the `portcullis` commands read it. A key file a node had
 * before it joined a cluster is replaced by the cluster's key (logged).
 *
 * Every node also looks at the key once a second (`followClusterApiKey`): rotation is deleting
 * it in Redis (`DEL pc:admin-api-key`; the first node to look makes a new one) or setting one
 * (`SET pc:admin-api-key <key>`); within about a second every node takes the new key, writes it
 * to its file and refuses the old one.
 */
import { clock } from '../clock.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { answerWithin, SHARED_POLL_MS } from '../cluster/shared-versioned.js'
import { generateApiKey, readApiKey, writeApiKeyFile, type ApiKey } from './api-key.js'

export const CLUSTER_API_KEY = 'pc:admin-api-key'
/** The longest start-up waits for Redis to hand out the key (ms). */
const KEY_TIMEOUT_MS = 5000

/** The cluster's generated key (created now when no node has made one: `created`), also written to `dataDir/admin-api-key`. */
export async function clusterApiKey(state: RedisState, dataDir: string, timeoutMs = KEY_TIMEOUT_MS): Promise<ApiKey> {
  const client = state.client
  let stored: string | null
  let created = false
  try {
    created = (await answerWithin(client.set(CLUSTER_API_KEY, generateApiKey(), 'NX'), timeoutMs)) === 'OK'
    stored = await answerWithin(client.get(CLUSTER_API_KEY), timeoutMs)
  } catch (err) {
    throw new ConfigError('admin.apiKey', `the cluster's admin API key cannot be read from Redis (${(err as Error).message})`, { cause: err })
  }
  const key = stored === null ? undefined : readApiKey(stored)
  if (key === undefined) {
    throw new ConfigError('admin.apiKey', `the cluster's admin API key in Redis (${CLUSTER_API_KEY}) is not usable (at least 16 characters): delete it to have a new one made`)
  }
  return { key, file: writeApiKeyFile(dataDir, key), created }
}

/**
 * Looks at the cluster's key once a second (making a new one when it was deleted) and calls
 * `rotated` with a key that differs from `current` (after writing it to the file). Redis away or
 * an unusable key: the node keeps the key it has (logged once). Answers a function that stops it.
 */
export function followClusterApiKey(state: RedisState, dataDir: string, current: string, logger: Logger, rotated: (key: string) => void): () => void {
  let key = current
  let looking = false
  let trouble = false
  const look = async (): Promise<void> => {
    if (looking) return
    looking = true
    try {
      const next = await clusterApiKey(state, dataDir, SHARED_POLL_MS)
      trouble = false
      if (next.key === key) return
      key = next.key
      rotated(key)
      logger.info({ file: next.file, created: next.created }, 'cluster: the admin API key was rotated; this node takes the new one (the old one is refused)')
    } catch (err) {
      if (!trouble) logger.warn({ err: { message: (err as Error).message } }, 'cluster: the admin API key cannot be looked at in Redis; this node keeps the one it has')
      trouble = true
    } finally {
      looking = false
    }
  }
  const timer = clock.setInterval(() => void look(), SHARED_POLL_MS)
  timer.unref()
  return () => clearInterval(timer)
}
