/**
 * The JWKS state the nodes of a cluster share (auth/jwks/share.ts), in Redis, per endpoint:
 *
 *   pc:jwks:{<id>}      hash: url, set (key set id), doc (the JWK Set), at (fetched, epoch ms), node;
 *                       written only by a newer fetch, expires once no node may use it
 *                       (refreshInterval + gracePeriod of the longest-lived writer)
 *   pc:jwks:{<id>}:kid  the unknown-kid refetch cooldown: SET NX PX, value = when it was taken
 *   pc:jwks:stored      pub/sub: the URL of every set written, so the other nodes take it at once
 *
 * `<id>` is the SHA-256 of the endpoint URL (hash-tagged: both keys of an endpoint live in one
 * slot). Every command is bounded by SHARED_JWKS_TIMEOUT_MS: while Redis is unreachable (or
 * slow) the node works alone, with its own last good set, exactly as a single node; the
 * first failure is logged, and the first success after it.
 */
import { createHash } from 'node:crypto'
import type { Result } from 'ioredis'
import { clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { JwksShare, RefetchClaim, SharedKeySet } from '../auth/jwks/share.js'
import { keySetId } from '../auth/jwks/share.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { answerWithin, defineScripts } from './shared-versioned.js'

/** The longest a shared-JWKS command may take before the node decides alone (ms). */
export const SHARED_JWKS_TIMEOUT_MS = 1000

export const SHARED_JWKS_CHANNEL = 'pc:jwks:stored'

/** KEYS[1] the endpoint's hash; ARGV: at, url, set, doc, node, keep ms, channel. 1 when written. */
const WRITE_LUA = `
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if at >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'url', ARGV[2], 'set', ARGV[3], 'doc', ARGV[4], 'node', ARGV[5])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ARGV[2])
return 1
`

/** KEYS[1] the cooldown key; ARGV: now, cooldown ms. {1, now} when taken, else {0, when it was taken}. */
const CLAIM_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[1]) or ARGV[1]}
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pcJwksWrite(numKeys: number, ...args: Array<string | number>): Result<number, Context>
    pcJwksClaim(numKeys: number, ...args: Array<string | number>): Result<[number, string], Context>
  }
}

/** The Redis key of an endpoint's shared set (the cooldown key is this plus `:kid`). */
export function sharedJwksKey(url: string): string {
  return `pc:jwks:{${createHash('sha256').update(url).digest('hex').slice(0, 32)}}`
}

export class SharedJwks implements JwksShare {
  readonly #state: RedisState
  readonly #logger: Logger
  #down = false
  /** Endpoint URL → what to call when a node stores a set for it. */
  readonly #watchers = new Map<string, Set<() => void>>()
  #listener: RedisClient | undefined
  #closed = false

  constructor(state: RedisState, logger: Logger) {
    this.#state = state
    this.#logger = logger
    defineScripts(state.client, { pcJwksWrite: WRITE_LUA, pcJwksClaim: CLAIM_LUA })
  }

  async read(url: string): Promise<SharedKeySet | undefined> {
    const h = await this.#bounded(url, () => this.#state.client.hgetall(sharedJwksKey(url)))
    if (h === undefined || h['doc'] === undefined) return undefined
    return { url: h['url'] ?? '', setId: h['set'] ?? '', document: h['doc'], fetchedAt: Number(h['at']), node: h['node'] ?? '?' }
  }

  async write(url: string, document: string, fetchedAt: number, keepMs: number): Promise<void> {
    const keep = Math.max(1, Math.round(keepMs))
    const setId = keySetId(document)
    const { client, nodeId } = this.#state
    await this.#bounded(url, () => client.pcJwksWrite(1, sharedJwksKey(url), fetchedAt, url, setId, document, nodeId, keep, SHARED_JWKS_CHANNEL))
  }

  async claimRefetch(url: string, cooldownMs: number): Promise<RefetchClaim | undefined> {
    // Wall clock: the other nodes compare it with when their sets were fetched.
    const answer = await this.#bounded(url, () => this.#state.client.pcJwksClaim(1, `${sharedJwksKey(url)}:kid`, clock.now(), Math.max(1, Math.round(cooldownMs))))
    if (answer === undefined) return undefined
    return { mine: answer[0] === 1, takenAt: Number(answer[1]) }
  }

  watch(url: string, onStored: () => void): () => void {
    const set = this.#watchers.get(url) ?? new Set()
    set.add(onStored)
    this.#watchers.set(url, set)
    if (this.#listener === undefined && !this.#closed) {
      const listener = this.#state.connection('portcullis-jwks', true)
      listener.on('error', () => { /* logged by the main connection; a missed notice is caught up at the next refresh */ })
      listener.on('message', (_channel: string, storedUrl: string) => {
        for (const fn of this.#watchers.get(storedUrl) ?? []) fn()
      })
      listener.subscribe(SHARED_JWKS_CHANNEL).catch(() => { /* as above */ })
      this.#listener = listener
    }
    return () => {
      set.delete(onStored)
      if (set.size === 0 && this.#watchers.get(url) === set) this.#watchers.delete(url)
    }
  }

  close(): void {
    this.#closed = true
    this.#watchers.clear()
    const listener = this.#listener
    this.#listener = undefined
    listener?.disconnect()
  }

  /** `command`, or undefined when Redis fails or takes longer than SHARED_JWKS_TIMEOUT_MS. */
  async #bounded<T>(url: string, command: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await answerWithin(command(), SHARED_JWKS_TIMEOUT_MS)
      if (this.#down) {
        this.#down = false
        this.#logger.info({ url }, 'cluster: the JWKS key sets are shared through Redis again')
      }
      return result
    } catch (err) {
      if (!this.#down) {
        this.#down = true
        this.#logger.warn({ url, err: { message: (err as Error).message } },
          "cluster: the JWKS key set cannot be shared through Redis: this node keeps its own last good set and decides its own refetches until Redis answers again")
      }
      return undefined
    }
  }
}
