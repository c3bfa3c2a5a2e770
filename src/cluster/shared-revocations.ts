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
 * and put it in place of theirs.
 */
import type { ChainableCommander } from 'ioredis'
import type { Revocation } from '../auth/revocation.js'
import { clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { SharedConfigError } from './shared-config.js'

export const SHARED_REVOCATIONS_KEY = 'pc:{revocations}'
export const SHARED_REVOCATIONS_VERSION_KEY = 'pc:{revocations}:version'
export const SHARED_REVOCATIONS_CHANNEL = 'pc:revocations:changed'
/** How often a node looks at the version besides the notices (ms). */
export const SHARED_REVOCATIONS_POLL_MS = 1000
/** The longest a change may wait for Redis before it is refused (ms). */
const CHANGE_TIMEOUT_MS = 2000

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
  readonly #state: RedisState
  readonly #logger: Logger
  #version = 0
  #listener: RedisClient | undefined
  #poll: NodeJS.Timeout | undefined
  #onChange: ((entries: readonly Revocation[]) => void) | undefined
  #checking: Promise<void> | undefined
  #closed = false

  constructor(state: RedisState, logger: Logger) {
    this.#client = state.client
    this.#state = state
    this.#logger = logger
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
    await this.#change((m) => {
      m.hset(SHARED_REVOCATIONS_KEY, entry.id, JSON.stringify(entry))
      if (replaced.length > 0) m.hdel(SHARED_REVOCATIONS_KEY, ...replaced)
    })
  }

  /** Withdraws entries for every node. Throws SharedConfigError ERR_UNAVAILABLE. */
  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#change((m) => m.hdel(SHARED_REVOCATIONS_KEY, ...ids))
  }

  async #change(write: (m: ChainableCommander) => void): Promise<void> {
    const m = this.#client.multi()
    write(m)
    m.incr(SHARED_REVOCATIONS_VERSION_KEY)
    let timer: NodeJS.Timeout | undefined
    try {
      const answers = await Promise.race([
        m.exec(),
        new Promise<never>((_, reject) => {
          timer = clock.setTimeout(() => reject(new Error(`no answer within ${CHANGE_TIMEOUT_MS} ms`)), CHANGE_TIMEOUT_MS)
        }),
      ])
      const bumped = answers?.at(-1)
      if (bumped === undefined || bumped[0] !== null) throw bumped?.[0] ?? new Error('the change was not applied')
      // Another node's change in between: the whole list is read again (it holds this change too).
      if (Number(bumped[1]) === this.#version + 1) this.#version++
      else void this.check()
      void this.#client.publish(SHARED_REVOCATIONS_CHANNEL, String(bumped[1])).catch(() => { /* the others' poll catches up */ })
    } catch (err) {
      throw new SharedConfigError('ERR_UNAVAILABLE', `the cluster's Redis cannot be reached (${(err as Error).message}): revocations cannot be changed until it is back, so that every node enforces the same list`)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Note the version this node now enforces. */
  ran(version: number): void {
    this.#version = Math.max(this.#version, version)
  }

  /** From now on, call `onChange` with the whole list whenever another node changes it. */
  async follow(onChange: (entries: readonly Revocation[]) => void): Promise<void> {
    this.#onChange = onChange
    const listener = this.#state.connection('portcullis-revocations', true)
    listener.on('error', () => { /* the main connection logs Redis trouble; the poll catches up */ })
    listener.on('message', () => void this.check())
    this.#listener = listener
    await listener.subscribe(SHARED_REVOCATIONS_CHANNEL)
    this.#poll = clock.setInterval(() => void this.check(), SHARED_REVOCATIONS_POLL_MS)
    this.#poll.unref()
  }

  /** Apply the cluster's list if it is newer than what this node enforces. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    return this.#checking
  }

  async #check(): Promise<void> {
    if (this.#closed || this.#onChange === undefined) return
    let copy: SharedRevocationsCopy | undefined
    try {
      const version = Number((await this.#client.get(SHARED_REVOCATIONS_VERSION_KEY)) ?? 0)
      if (version <= this.#version) return
      copy = await this.load()
    } catch {
      return // Redis away: the next look catches up; the node enforces the list it has
    }
    if (this.#closed || copy === undefined || copy.version <= this.#version) return
    this.#onChange(copy.entries)
    this.#version = copy.version
  }

  close(): void {
    this.#closed = true
    if (this.#poll !== undefined) clearInterval(this.#poll)
    this.#listener?.disconnect()
    this.#listener = undefined
  }
}
