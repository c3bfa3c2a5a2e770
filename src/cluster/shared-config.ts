/**
 * The managed configuration (authenticators, policies, authorization settings) shared by
 * every node of a cluster: one copy in Redis (`pc:config`: the state as JSON, a version
 * bumped by every change, and who made it), so a change made through any node's admin API
 * applies on every node.
 *
 * A change is written to Redis before it applies anywhere (the admin API answers after
 * that): a compare-and-set on the version the node last applied, so two nodes changing at
 * once cannot lose one of the changes silently — the later one is refused (409) and the node
 * applies the newer copy. Other nodes are told on a pub/sub channel at once and also look at
 * the version once a second (a notice lost while Redis was away is caught up), so a change
 * applies on every node within about a second.
 */
import type { Result } from 'ioredis'
import { clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'

export const SHARED_CONFIG_KEY = 'pc:config'
export const SHARED_CONFIG_CHANNEL = 'pc:config:changed'
/** How often a node looks at the version besides the notices (ms). */
export const SHARED_CONFIG_POLL_MS = 1000

/** The managed configuration as stored: what the configuration file's keys would hold. */
export interface SharedState {
  readonly authenticators: readonly Record<string, unknown>[]
  readonly authorization: Record<string, unknown>
}

export interface SharedCopy {
  readonly version: number
  readonly state: SharedState
  /** The node that made the change, and when (epoch ms). */
  readonly node: string
  readonly at: number
}

/** KEYS[1] pc:config; ARGV: expected version, state JSON, node, time, channel. */
const PUBLISH_LUA = `
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
v = v + 1
redis.call('HSET', KEYS[1], 'version', v, 'state', ARGV[2], 'node', ARGV[3], 'at', ARGV[4])
redis.call('PUBLISH', ARGV[5], v)
return {1, v}
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pcConfigPublish(numKeys: number, ...args: Array<string | number>): Result<[number, number], Context>
  }
}

/** Why a change could not be shared (the admin API answers 409 / 503 with the message). */
export class SharedConfigError extends Error {
  readonly code: 'ERR_CONFLICT' | 'ERR_UNAVAILABLE'
  constructor(code: 'ERR_CONFLICT' | 'ERR_UNAVAILABLE', message: string) {
    super(message)
    this.name = 'SharedConfigError'
    this.code = code
  }
}

/** Throws when Redis cannot be reached: a change that not every node would see is not made. */
function unavailable(err: unknown): never {
  throw new SharedConfigError('ERR_UNAVAILABLE', `the cluster's Redis cannot be reached (${(err as Error).message}): configuration changes are refused until it is back, so that every node keeps the same configuration`)
}

export class SharedConfig {
  readonly #client: RedisClient
  readonly #state: RedisState
  readonly #nodeId: string
  readonly #logger: Logger
  /** The version this node runs (0: none seen yet). */
  #version = 0
  #listener: RedisClient | undefined
  #poll: ReturnType<typeof clock.setInterval> | undefined
  #onChange: ((copy: SharedCopy) => Promise<void>) | undefined
  #checking: Promise<void> | undefined
  /** A version that could not be applied here (logged once). */
  #failed = 0
  #closed = false

  constructor(state: RedisState, logger: Logger) {
    this.#client = state.client
    this.#state = state
    this.#nodeId = state.nodeId
    this.#logger = logger
    if (typeof this.#client.pcConfigPublish !== 'function') this.#client.defineCommand('pcConfigPublish', { lua: PUBLISH_LUA })
  }

  get version(): number {
    return this.#version
  }

  /** The copy in Redis, or undefined when no node stored one yet. */
  async load(): Promise<SharedCopy | undefined> {
    const h = await this.#client.hgetall(SHARED_CONFIG_KEY)
    if (h['version'] === undefined || h['state'] === undefined) return undefined
    return { version: Number(h['version']), state: JSON.parse(h['state']) as SharedState, node: h['node'] ?? '?', at: Number(h['at'] ?? 0) }
  }

  /**
   * Store `state` as the next version, if the copy in Redis is still the one this node runs.
   * Throws ApiError ERR_CONFLICT (another node changed it first) or ERR_UNAVAILABLE.
   */
  async publish(state: SharedState): Promise<void> {
    let result: [number, number]
    try {
      result = await this.#client.pcConfigPublish(1, SHARED_CONFIG_KEY, this.#version, JSON.stringify(state), this.#nodeId, clock.now(), SHARED_CONFIG_CHANNEL)
    } catch (err) {
      unavailable(err)
    }
    const [ok, version] = result
    if (ok !== 1) {
      void this.check()
      throw new SharedConfigError('ERR_CONFLICT', `the configuration was changed on another node a moment ago (version ${version}; this node ran ${this.#version}): this change was not made — it is being applied here now; retry against it`)
    }
    this.#version = version
  }

  /** Note the version this node now runs (after applying a copy, or seeding one). */
  ran(version: number): void {
    this.#version = Math.max(this.#version, version)
  }

  /** From now on, call `onChange` with every newer copy (one at a time, in order). */
  async follow(onChange: (copy: SharedCopy) => Promise<void>): Promise<void> {
    this.#onChange = onChange
    const listener = this.#state.connection('portcullis-config', true)
    listener.on('error', () => { /* the main connection logs Redis trouble; the poll catches up */ })
    listener.on('message', () => void this.check())
    await listener.subscribe(SHARED_CONFIG_CHANNEL)
    this.#listener = listener
    this.#poll = clock.setInterval(() => void this.check(), SHARED_CONFIG_POLL_MS)
    this.#poll.unref?.()
  }

  /** Apply the copy in Redis if it is newer than what this node runs. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    return this.#checking
  }

  async #check(): Promise<void> {
    if (this.#closed || this.#onChange === undefined) return
    let copy: SharedCopy | undefined
    try {
      const version = Number((await this.#client.hget(SHARED_CONFIG_KEY, 'version')) ?? 0)
      if (version <= this.#version) return
      copy = await this.load()
    } catch {
      return // Redis away: the next look catches up
    }
    if (copy === undefined || copy.version <= this.#version) return
    try {
      await this.#onChange(copy)
      this.#version = Math.max(this.#version, copy.version)
      this.#logger.info({ version: copy.version, changedOn: copy.node }, 'cluster: configuration changed on another node applied here')
    } catch (err) {
      // Not applied: it is tried again at the next look (logged once per version).
      if (this.#failed === copy.version) return
      this.#failed = copy.version
      this.#logger.error({ version: copy.version, changedOn: copy.node, err: { message: (err as Error).message } }, 'cluster: the shared configuration cannot be applied on this node; it keeps the one it runs')
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#poll !== undefined) clearInterval(this.#poll)
    const listener = this.#listener
    this.#listener = undefined
    if (listener !== undefined) await listener.quit().catch(() => listener.disconnect())
  }
}
