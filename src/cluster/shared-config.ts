/**
 * The managed configuration (authenticators, policies, authorization settings) shared by
 * every node of a cluster: one copy in Redis (`pc:config`: the state as JSON, a version
 * bumped by every change, and who made it), so a change made through any node's admin API
 * applies on every node.
 *
 * A change is written to Redis before it applies anywhere (the admin API answers after
 * that): a compare-and-set on the version the node last applied, so two nodes changing at
 * once cannot lose one of the changes silently — the later one is refused (StaleConfigError),
 * the node applies the newer copy and works the change out again from it (admin/changes.ts). Other nodes are told on a pub/sub channel at once and also look at
 * the version once a second (a notice lost while Redis was away is caught up), so a change
 * applies on every node within about a second (shared-versioned.ts: what it shares with the
 * revocation list).
 */
import type { Result } from 'ioredis'
import { clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { RedisState } from '../store/redis/redis-state.js'
import { defineScripts, SharedConfigError, SharedVersioned, unavailable } from './shared-versioned.js'

export const SHARED_CONFIG_KEY = 'pc:config'
export const SHARED_CONFIG_CHANNEL = 'pc:config:changed'

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

/** A change worked out from an older copy than Redis holds (`version`): nothing was written. */
export class StaleConfigError extends SharedConfigError {
  readonly version: number
  constructor(message: string, version: number) {
    super('ERR_CONFLICT', message)
    this.name = 'StaleConfigError'
    this.version = version
  }
}

export class SharedConfig {
  readonly #state: RedisState
  readonly #logger: Logger
  readonly #shared: SharedVersioned<SharedCopy>

  constructor(state: RedisState, logger: Logger) {
    this.#state = state
    this.#logger = logger
    defineScripts(state.client, { pcConfigPublish: PUBLISH_LUA })
    this.#shared = new SharedVersioned<SharedCopy>(state, logger, {
      name: 'configuration',
      version: { key: SHARED_CONFIG_KEY, field: 'version' },
      channel: SHARED_CONFIG_CHANNEL,
      load: async () => {
        const h = await state.client.hgetall(SHARED_CONFIG_KEY)
        if (h['version'] === undefined || h['state'] === undefined) return undefined
        return { version: Number(h['version']), state: JSON.parse(h['state']) as SharedState, node: h['node'] ?? '?', at: Number(h['at'] ?? 0) }
      },
    })
  }

  /** The version this node runs (0: none seen yet). */
  get version(): number {
    return this.#shared.version
  }

  /** The copy in Redis, or undefined when no node stored one yet. */
  load(): Promise<SharedCopy | undefined> {
    return this.#shared.load()
  }

  /**
   * Store `state` as the next version, if the copy in Redis is still the one this node runs.
   * Throws StaleConfigError (another node changed it first) or SharedConfigError ERR_UNAVAILABLE.
   */
  async publish(state: SharedState): Promise<void> {
    const ran = this.#shared.version
    let result: [number, number]
    try {
      const { client, nodeId } = this.#state
      result = await client.pcConfigPublish(1, SHARED_CONFIG_KEY, ran, JSON.stringify(state), nodeId, clock.now(), SHARED_CONFIG_CHANNEL)
    } catch (err) {
      throw unavailable(err, 'configuration changes are refused until it is back, so that every node keeps the same configuration')
    }
    const [ok, version] = result
    if (ok !== 1) {
      void this.#shared.check()
      throw new StaleConfigError(`the configuration was changed on another node a moment ago (version ${version}; this node ran ${ran}): this change was not made — it is being applied here now; retry against it`, version)
    }
    this.#shared.ran(version)
  }

  /** Apply the copies in Redis until this node runs `version` or newer (a few looks: a copy that cannot be applied here stays behind). */
  async catchUp(version: number): Promise<void> {
    for (let looks = 0; looks < 3 && this.#shared.version < version; looks++) await this.#shared.check()
  }

  /** Note the version this node now runs (after applying a copy, or seeding one). */
  ran(version: number): void {
    this.#shared.ran(version)
  }

  /** From now on, call `onChange` with every newer copy (one at a time, in order). */
  follow(onChange: (copy: SharedCopy) => Promise<void>): Promise<void> {
    return this.#shared.follow(async (copy) => {
      await onChange(copy)
      this.#logger.info({ version: copy.version, changedOn: copy.node }, 'cluster: configuration changed on another node applied here')
    })
  }

  close(): void {
    this.#shared.close()
  }
}
