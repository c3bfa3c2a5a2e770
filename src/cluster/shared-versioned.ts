/**
 * What the cluster's shared documents have in common (the managed configuration in
 * shared-config.ts, the revocation list in shared-revocations.ts): one copy in Redis with a
 * version bumped by every change, written there before it applies anywhere, and followed by
 * every node — a pub/sub notice at once, and a look at the version once a second (a notice
 * lost while Redis was away is caught up). Checks that overlap share one read, and a copy
 * applies on a node only when it is newer than the one the node runs.
 *
 * The helpers below it serve every shared-* module (shared-jwks.ts too): scripts registered
 * once per connection, and a Redis command bounded in time.
 */
import type { ChainableCommander } from 'ioredis'
import { clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'

/** How often a node looks at a shared document's version besides the notices (ms). */
export const SHARED_POLL_MS = 1000
/** The longest a change may wait for Redis before it is refused (ms). */
export const SHARED_CHANGE_TIMEOUT_MS = 2000

/** Why a change could not be shared (the admin API answers 409 / 503 with the message). */
export class SharedConfigError extends Error {
  readonly code: 'ERR_CONFLICT' | 'ERR_UNAVAILABLE'
  constructor(code: 'ERR_CONFLICT' | 'ERR_UNAVAILABLE', message: string) {
    super(message)
    this.name = 'SharedConfigError'
    this.code = code
  }
}

/**
 * The error for a change refused because Redis did not answer: a change that not every node
 * would see is not made. `refused` says what is refused and why, e.g. "revocations cannot be
 * changed until it is back, so that every node enforces the same list".
 */
export function unavailable(err: unknown, refused: string): SharedConfigError {
  return new SharedConfigError('ERR_UNAVAILABLE', `the cluster's Redis cannot be reached (${(err as Error).message}): ${refused}`)
}

/** Registers each Lua script as a command of `client`, unless a module did already (one per connection). */
export function defineScripts(client: RedisClient, scripts: Readonly<Record<string, string>>): void {
  for (const [name, lua] of Object.entries(scripts)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') client.defineCommand(name, { lua })
  }
}

/** `command`'s answer, or a rejection "no answer within `ms` ms" if Redis takes longer. */
export async function answerWithin<T>(command: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      command,
      new Promise<never>((_, reject) => {
        timer = clock.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** A copy of a shared document as read from Redis. */
export interface VersionedCopy {
  readonly version: number
}

export interface SharedVersionedOptions<C extends VersionedCopy> {
  /** What is shared, for the log ("configuration", "revocations"); also names the listener connection. */
  readonly name: string
  /** Where the version is: a key of its own, or a field of the document's hash (`field`). */
  readonly version: { readonly key: string; readonly field?: string }
  /** The pub/sub channel every change is announced on (its message: the new version). */
  readonly channel: string
  /** Reads the whole copy; undefined when no node stored one yet. */
  readonly load: () => Promise<C | undefined>
}

export class SharedVersioned<C extends VersionedCopy> {
  readonly #state: RedisState
  readonly #logger: Logger
  readonly #options: SharedVersionedOptions<C>
  /** The version this node runs (0: none seen yet). */
  #version = 0
  #listener: RedisClient | undefined
  #poll: NodeJS.Timeout | undefined
  #apply: ((copy: C) => Promise<void> | void) | undefined
  #checking: Promise<void> | undefined
  /** A version that could not be applied here (logged once). */
  #failed = 0
  #closed = false

  constructor(state: RedisState, logger: Logger, options: SharedVersionedOptions<C>) {
    this.#state = state
    this.#logger = logger
    this.#options = options
  }

  get version(): number {
    return this.#version
  }

  /** The copy in Redis, or undefined when no node stored one yet. */
  load(): Promise<C | undefined> {
    return this.#options.load()
  }

  /** Note the version this node now runs (after applying a copy, seeding one or writing a change). */
  ran(version: number): void {
    this.#version = Math.max(this.#version, version)
  }

  /**
   * A change written for every node in one MULTI: `write`'s commands, the version bumped (a
   * version key of its own), the others told. Bounded by SHARED_CHANGE_TIMEOUT_MS; throws
   * SharedConfigError ERR_UNAVAILABLE (`refused`: see `unavailable`). When another node changed
   * the document in between, this node reads the whole copy again (it holds this change too).
   */
  async change(write: (m: ChainableCommander) => void, refused: string): Promise<void> {
    const client = this.#state.client
    const m = client.multi()
    write(m)
    m.incr(this.#options.version.key)
    try {
      const bumped = (await answerWithin(m.exec(), SHARED_CHANGE_TIMEOUT_MS))?.at(-1)
      if (bumped === undefined || bumped[0] !== null) throw bumped?.[0] ?? new Error('the change was not applied')
      const version = Number(bumped[1])
      if (version === this.#version + 1) this.#version = version
      else void this.check()
      void client.publish(this.#options.channel, String(version)).catch(() => { /* the others' poll catches up */ })
    } catch (err) {
      throw unavailable(err, refused)
    }
  }

  /** From now on, `apply` every newer copy (one at a time, in order); a copy it throws on is tried again at the next look. */
  async follow(apply: (copy: C) => Promise<void> | void): Promise<void> {
    this.#apply = apply
    const listener = this.#state.connection(`portcullis-${this.#options.name}`, true)
    listener.on('error', () => { /* the main connection logs Redis trouble; the poll catches up */ })
    listener.on('message', () => void this.check())
    this.#listener = listener
    await listener.subscribe(this.#options.channel)
    this.#poll = clock.setInterval(() => void this.check(), SHARED_POLL_MS)
    this.#poll.unref()
  }

  /** Apply the copy in Redis if it is newer than what this node runs (overlapping calls share one look). */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    return this.#checking
  }

  async #check(): Promise<void> {
    if (this.#closed || this.#apply === undefined) return
    let copy: C | undefined
    try {
      if (await this.#readVersion() <= this.#version) return
      copy = await this.#options.load()
    } catch {
      return // Redis away: the next look catches up; the node keeps what it runs
    }
    if (this.#closed || copy === undefined || copy.version <= this.#version) return
    try {
      await this.#apply(copy)
      this.ran(copy.version)
    } catch (err) {
      if (this.#failed === copy.version) return
      this.#failed = copy.version
      this.#logger.error({ version: copy.version, err: { message: (err as Error).message } }, `cluster: the shared ${this.#options.name} cannot be applied on this node; it keeps the one it runs`)
    }
  }

  async #readVersion(): Promise<number> {
    const { key, field } = this.#options.version
    const client = this.#state.client
    return Number((field === undefined ? await client.get(key) : await client.hget(key, field)) ?? 0)
  }

  close(): void {
    this.#closed = true
    if (this.#poll !== undefined) clearInterval(this.#poll)
    this.#listener?.disconnect()
    this.#listener = undefined
  }
}
