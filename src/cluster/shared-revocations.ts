/**
 * The revocations every node of a cluster enforces: one list in Redis, so a token revoked
 * through any node's admin API is refused on every node (and the revoked subject's live
 * connections closed there) within about a second.
 *
 *   pc:{revocations}          hash: revocation id → the entry as JSON
 *   pc:{revocations}:version  bumped by every change (one hash tag: one slot of a Redis Cluster,
 *                             so a change and its version bump stay one MULTI)
 *   pc:revocations:changed  pub/sub: the new version
 *
 * A change is written to Redis before it applies anywhere (the admin API answers after that;
 * while Redis cannot be reached it is refused, 503, so no node enforces what the others do
 * not). The other nodes are told at once and also look at the version once a second (a notice
 * lost while Redis was away is caught up); they then read the whole list (revocations are few)
 * and put it in place of theirs (shared-versioned.ts: what it shares with the configuration).
 */
import type { Revocation } from '../auth/revocation.js'
import type { Logger } from '../log.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { SharedVersioned } from './shared-versioned.js'

export const SHARED_REVOCATIONS_KEY = 'pc:{revocations}'
export const SHARED_REVOCATIONS_VERSION_KEY = 'pc:{revocations}:version'
export const SHARED_REVOCATIONS_CHANNEL = 'pc:revocations:changed'

/** What a change refused while Redis cannot be reached says. */
const REFUSED = 'revocations cannot be changed until it is back, so that every node enforces the same list'

/** KEYS: the hash, the version. ARGV: the entries as id, JSON pairs. Seeds only an empty cluster: 1 when seeded. */
const SEED_LUA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[2], 1)
return 1
`

export interface SharedRevocationsCopy {
  readonly version: number
  readonly entries: readonly Revocation[]
}

export class SharedRevocations {
  readonly #client: RedisClient
  readonly #logger: Logger
  readonly #shared: SharedVersioned<SharedRevocationsCopy>

  constructor(state: RedisState, logger: Logger) {
    this.#client = state.client
    this.#logger = logger
    this.#shared = new SharedVersioned(state, logger, {
      name: 'revocations',
      version: { key: SHARED_REVOCATIONS_VERSION_KEY },
      channel: SHARED_REVOCATIONS_CHANNEL,
      load: () => this.load(),
    })
  }

  /** The cluster's list, or undefined when no node shared one yet. */
  async load(): Promise<SharedRevocationsCopy | undefined> {
    const [version, hash] = await Promise.all([this.#client.get(SHARED_REVOCATIONS_VERSION_KEY), this.#client.hgetall(SHARED_REVOCATIONS_KEY)])
    if (version === null) return undefined
    const entries: Revocation[] = []
    for (const [id, json] of Object.entries(hash)) {
      try {
        entries.push(JSON.parse(json) as Revocation)
      } catch {
        this.#logger.warn({ revocation: id }, 'cluster: a shared revocation cannot be read; skipped')
      }
    }
    return { version: Number(version), entries }
  }

  /** Shares `entries` as the cluster's list if no node did yet; true when this node's list became the cluster's. */
  async seed(entries: readonly Revocation[]): Promise<boolean> {
    const args = entries.flatMap((e) => [e.id, JSON.stringify(e)])
    return (await this.#client.eval(SEED_LUA, 2, SHARED_REVOCATIONS_KEY, SHARED_REVOCATIONS_VERSION_KEY, ...args)) === 1
  }

  /** Adds `entry` (and drops `replaced`) for every node. Throws SharedConfigError ERR_UNAVAILABLE. */
  async add(entry: Revocation, replaced: readonly string[] = []): Promise<void> {
    await this.#shared.change((m) => {
      m.hset(SHARED_REVOCATIONS_KEY, entry.id, JSON.stringify(entry))
      if (replaced.length > 0) m.hdel(SHARED_REVOCATIONS_KEY, ...replaced)
    }, REFUSED)
  }

  /** Withdraws entries for every node. Throws SharedConfigError ERR_UNAVAILABLE. */
  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#shared.change((m) => m.hdel(SHARED_REVOCATIONS_KEY, ...ids), REFUSED)
  }

  /** Note the version this node now enforces. */
  ran(version: number): void {
    this.#shared.ran(version)
  }

  /** From now on, call `onChange` with the whole list whenever another node changes it. */
  follow(onChange: (entries: readonly Revocation[]) => void): Promise<void> {
    return this.#shared.follow((copy) => onChange(copy.entries))
  }

  close(): void {
    this.#shared.close()
  }
}
