/**
 * The generated admin API key of a cluster: one key for every node, so that the console (or
 * a script) signed in with it works on any node. The first node that needs it creates it in
 * Redis (`pc:admin-api-key`, SET NX: of two nodes starting at once, one key wins); every node
 * reads it from there at start-up and keeps a copy in its own `dataDir/admin-api-key` (mode
 * 0600), where the operator and the `portcullis` commands read it. A key file a node had
 * before it joined a cluster is replaced by the cluster's key (logged).
 *
 * Rotation: delete the key in Redis (`DEL pc:admin-api-key`) and restart the nodes: the first
 * to start creates a new key, the others read it (a node not yet restarted still takes the old one).
 */
import { ConfigError } from '../errors.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { answerWithin } from '../cluster/shared-versioned.js'
import { generateApiKey, readApiKey, writeApiKeyFile, type ApiKey } from './api-key.js'

export const CLUSTER_API_KEY = 'pc:admin-api-key'
/** The longest start-up waits for Redis to hand out the key (ms). */
const KEY_TIMEOUT_MS = 5000

/** The cluster's generated key (created now when no node has made one: `created`), also written to `dataDir/admin-api-key`. */
export async function clusterApiKey(state: RedisState, dataDir: string): Promise<ApiKey> {
  const client = state.client
  let stored: string | null
  let created = false
  try {
    created = (await answerWithin(client.set(CLUSTER_API_KEY, generateApiKey(), 'NX'), KEY_TIMEOUT_MS)) === 'OK'
    stored = await answerWithin(client.get(CLUSTER_API_KEY), KEY_TIMEOUT_MS)
  } catch (err) {
    throw new ConfigError('admin.apiKey', `the cluster's admin API key cannot be read from Redis (${(err as Error).message})`, { cause: err })
  }
  const key = stored === null ? undefined : readApiKey(stored)
  if (key === undefined) {
    throw new ConfigError('admin.apiKey', `the cluster's admin API key in Redis (${CLUSTER_API_KEY}) is not usable (at least 16 characters): delete it to have a new one made`)
  }
  return { key, file: writeApiKeyFile(dataDir, key), created }
}
