/**
 * The cluster's durable state in Redis, with group commit like the SQLite state database:
 * stores record their changes here as they happen (commands to queue, nothing read), and
 * every change recorded during one turn of the event loop is sent in one MULTI/EXEC on the
 * next (setImmediate). `afterCommit` callbacks run once EXEC has answered, in order.
 *
 * While Redis is unreachable nothing is queued for later (ioredis's offline queue is off): a
 * group fails at once, its waiters get ERR_STORE_UNAVAILABLE, and `available` is false so new
 * CONNECTs are refused (0x88 / 3). ioredis reconnects with back-off; the next group after it
 * is back commits again.
 *
 * Node liveness: every node writes `pc:node:<id>` { at } each second through the same commits.
 * A node that starts waits for any other node whose note is fresh (see waitForOtherNodes):
 * today one live node at a time serves a Redis (a standby takes over a dead node's sessions).
 */
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis'
import type { Logger } from '../../log.js'
import { PortcullisError } from '../../errors.js'
import type { CommitBarrier } from '../types.js'

/** How a node reaches Redis: a redis:// URL, or a unix socket. */
export type RedisTarget = string | { readonly path: string }

export const HEARTBEAT_MS = 1000
/** A node whose last note is older than this is dead. */
export const NODE_DEAD_AFTER_MS = 3000

export const KEYS = {
  nodes: 'pc:nodes',
  node: (id: string) => `pc:node:${id}`,
  /** Bumped once per node start: the high bits of every id the node hands out. */
  epoch: 'pc:epoch',
} as const

export interface RedisCommitStats {
  commits: number
  failures: number
  changes: number
}

export function connectRedis(target: RedisTarget, logger: Logger): Redis {
  const options: RedisOptions = {
    lazyConnect: true,
    // No false acknowledgement: a command while disconnected fails now instead of waiting.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect with back-off: 50 ms, 100 ms, … at most 2 s apart, forever.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'portcullis',
  }
  const client = typeof target === 'string' ? new Redis(target, options) : new Redis({ ...options, path: target.path })
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    logger.error({ err: { message: err.message } }, 'cluster: Redis unreachable; new connections are refused until it is back')
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    logger.warn('cluster: Redis reachable again')
  })
  return client
}

/** A redacted description of the target for logs (a URL may carry a password). */
export function describeTarget(target: RedisTarget): string {
  if (typeof target !== 'string') return `unix:${target.path}`
  try {
    const u = new URL(target)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'redis://(unparsable)'
  }
}

export class RedisState implements CommitBarrier {
  readonly client: Redis
  readonly nodeId: string
  readonly stats: RedisCommitStats = { commits: 0, failures: 0, changes: 0 }
  readonly #logger: Logger
  #ops: Array<(m: ChainableCommander) => void> = []
  #waiters: Array<(err: Error | undefined) => void> = []
  #scheduled = false
  #recorded = 0
  #failing = false
  #closed = false
  #epoch = 0
  #seq = 0
  #heartbeat: NodeJS.Timeout | undefined
  readonly #flushBound = (): void => this.#flush()

  private constructor(client: Redis, nodeId: string, logger: Logger) {
    this.client = client
    this.nodeId = nodeId
    this.#logger = logger
  }

  /** Connect (start-up fails when Redis cannot be reached), take an id epoch, start the heartbeat. */
  static async open(target: RedisTarget, nodeId: string, logger: Logger): Promise<RedisState> {
    const client = connectRedis(target, logger)
    try {
      await client.connect()
    } catch (err) {
      client.disconnect()
      throw new Error(`cluster.redis: cannot connect to ${describeTarget(target)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    const state = new RedisState(client, nodeId, logger)
    state.#epoch = await client.incr(KEYS.epoch)
    await client.sadd(KEYS.nodes, nodeId)
    state.#beat()
    state.#heartbeat = setInterval(() => state.#beat(), HEARTBEAT_MS)
    state.#heartbeat.unref()
    return state
  }

  /** True while Redis answers (commits can succeed). */
  get available(): boolean {
    return this.client.status === 'ready'
  }

  /** Changes recorded and not yet committed, or a commit still waiting for EXEC's answer. */
  get pending(): boolean {
    return this.#ops.length > 0 || this.#sending !== undefined
  }

  get recorded(): number {
    return this.#recorded
  }

  /**
   * A new id, unique across every node and node start on this Redis and larger than any id
   * handed out by an earlier start: epoch in the high bits, a counter in the low 32.
   */
  nextId(): number {
    return this.#epoch * 2 ** 32 + ++this.#seq
  }

  /** Ids loaded from Redis that were handed out by this very start (cannot happen) are skipped past. */
  seenId(id: number): void {
    if (Math.floor(id / 2 ** 32) === this.#epoch) this.#seq = Math.max(this.#seq, id % 2 ** 32)
  }

  /** Epoch ms a node last noted it was alive, or undefined. */
  async aliveAt(nodeId: string): Promise<number | undefined> {
    const at = await this.client.hget(KEYS.node(nodeId), 'at')
    return at === null ? undefined : Number(at)
  }

  /**
   * Wait (at most NODE_DEAD_AFTER_MS + a beat) until no other node's liveness note is fresh;
   * throws when one still is: two live nodes on one Redis are not supported yet.
   */
  async waitForOtherNodes(): Promise<void> {
    const deadline = Date.now() + NODE_DEAD_AFTER_MS + HEARTBEAT_MS
    for (;;) {
      const alive: string[] = []
      for (const id of await this.client.smembers(KEYS.nodes)) {
        if (id === this.nodeId) continue
        const node = await this.client.hgetall(KEYS.node(id))
        if (node['stopped'] !== '1' && Date.now() - Number(node['at'] ?? 0) < NODE_DEAD_AFTER_MS) alive.push(id)
      }
      if (alive.length === 0) return
      if (Date.now() > deadline) {
        throw new Error(`cluster: node ${alive.join(', ')} is alive on this Redis; this version serves one live node per Redis at a time`)
      }
      this.#logger.info({ nodes: alive }, 'cluster: waiting for the other node\'s liveness note to expire')
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  /** A change to send with the next group. */
  record(op: (m: ChainableCommander) => void): void {
    if (this.#closed) return
    this.#recorded++
    this.#ops.push(op)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flushBound)
    }
  }

  afterCommit(done: (err: Error | undefined) => void): void {
    if (this.#ops.length > 0) this.#waiters.push(done)
    else if (this.#sending !== undefined) this.#sending.push(done)
    else done(undefined)
  }

  /** Send what is pending, note the node stopped, and disconnect. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    clearInterval(this.#heartbeat)
    this.record((m) => m.hset(KEYS.node(this.nodeId), 'at', String(Date.now()), 'stopped', '1'))
    this.#closed = true
    await new Promise<void>((r) => this.#send(r))
    this.client.disconnect()
  }

  /** Waiters of the last group sent whose EXEC has not answered yet (groups answer in order). */
  #sending: Array<(err: Error | undefined) => void> | undefined

  #beat(): void {
    const now = String(Date.now())
    this.record((m) => m.hset(KEYS.node(this.nodeId), 'at', now, 'stopped', '0'))
  }

  #flush(): void {
    this.#scheduled = false
    this.#send(() => {})
  }

  /** One MULTI/EXEC for every change pending; waiters run after EXEC answered (in order: EXECs are pipelined on one connection). */
  #send(sent: () => void): void {
    if (this.#ops.length === 0) {
      this.afterCommit(() => sent())
      return
    }
    const ops = this.#ops
    const waiters = this.#waiters
    this.#ops = []
    this.#waiters = []
    this.#sending = waiters
    const finish = (error: Error | undefined): void => {
      if (this.#sending === waiters) this.#sending = undefined
      const s = this.stats
      if (error === undefined) {
        s.commits++
        s.changes += ops.length
        if (this.#failing) {
          this.#failing = false
          this.#logger.warn('cluster: Redis commits succeed again')
        }
      } else {
        s.failures++
        if (!this.#failing) {
          this.#failing = true
          this.#logger.error({ err: { message: error.message }, changes: ops.length }, 'cluster: Redis commit failed: nothing more is acknowledged until it succeeds')
        }
      }
      for (const done of waiters) done(error)
      sent()
    }
    if (this.client.status !== 'ready') {
      finish(new PortcullisError('ERR_STORE_UNAVAILABLE', `Redis is ${this.client.status}`))
      return
    }
    const multi = this.client.multi()
    for (const op of ops) op(multi)
    multi.exec().then((results) => {
      const failed = results === null ? new Error('transaction aborted') : results.find(([err]) => err !== null)?.[0]
      finish(failed == null ? undefined : new PortcullisError('ERR_STORE_UNAVAILABLE', failed.message, { cause: failed }))
    }, (err: unknown) => {
      finish(new PortcullisError('ERR_STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err), { cause: err }))
    })
  }
}
