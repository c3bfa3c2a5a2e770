/**
 * The cluster's durable state in Redis, with group commit like the SQLite state database:
 * stores record their changes here as they happen (commands to queue, nothing read), and
 * every change recorded during one turn of the event loop is sent in one MULTI/EXEC on the
 * next (setImmediate) — or alone when the group's only change is one command (recordCommand).
 * `afterCommit` callbacks run once Redis has answered, in order.
 *
 * A change to one client's session is fenced (`recordFenced`): it runs inside a Lua script that
 * first checks the client's registry entry still holds the epoch this node was given when it
 * claimed the client id (src/cluster/registry.ts). A node that lost the client id to another
 * node (a takeover while it was paused or cut off) has its write refused — that change only: the
 * rest of the group is committed, waiters about that client (`afterCommit(done, clientId)`) get
 * ERR_SESSION_TAKEN_OVER, the others are not told — and `onFenced` names the client so the node
 * lets the session go.
 *
 * While Redis is unreachable nothing is queued for later (ioredis's offline queue is off): a
 * group fails at once, its waiters get ERR_STORE_UNAVAILABLE, and `available` is false so new
 * CONNECTs are refused (0x88 / 3). ioredis reconnects with back-off; the next group after it
 * is back commits again.
 */
import { Cluster, Redis, type ChainableCommander, type ClusterOptions, type RedisOptions, type Result } from 'ioredis'
import type { Logger } from '../../log.js'
import type { RedisSentinelConfig, RedisSocketConfig, ReplicaAckConfig } from '../../config/schema.js'
import { PortcullisError } from '../../errors.js'
import { GroupCommitter, type CommitOutcome, type CommitStats } from '../group-commit.js'
import type { CommitBarrier } from '../types.js'
import { captureCommands, command, placeKeyless, slotOf, type SlotCommand } from './slots.js'
import { followRedirectionsInOrder } from './cluster-redirects.js'

/** How a node reaches Redis: a redis:// URL, a unix socket, a master through Sentinel, or a Redis Cluster's seed nodes (redis:// URLs). */
export type RedisTarget = string | RedisSocketConfig | RedisSentinelConfig | { readonly cluster: readonly string[] }

/** A connection to one Redis, or to a Redis Cluster (every master, commands routed by slot). */
export type RedisClient = Redis | Cluster

export const KEYS = {
  /** Bumped once per node start: the high bits of every id the node hands out. */
  epoch: 'pc:epoch',
} as const

/**
 * Run by every fenced change. KEYS[1]: the client's registry entry; KEYS[2]: its hand-off key;
 * KEYS[3..]: the keys the commands write. ARGV[1]: the writer's epoch; then the commands, each as
 * its argument count, its name and its arguments. `UNREF key` is ours: one delivery less for a
 * stored message, which goes with its last one (a message is shared by sessions that may live on
 * any node). The previous owner's epoch still writes while the hand-off to the current one is
 * pending (registry.ts: the claimer loads the session only once it is answered or gone).
 */
const FENCED_WRITE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'prev')
if cur[1] ~= ARGV[1] and not (cur[1] and cur[2] == ARGV[1] and redis.call('GET', KEYS[2]) == cur[1]) then
  return redis.error_reply('FENCED the client id was claimed by a newer epoch')
end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  if ARGV[i + 1] == 'UNREF' then
    if redis.call('HINCRBY', ARGV[i + 2], 'n', -1) <= 0 then redis.call('DEL', ARGV[i + 2]) end
  else
    redis.call(unpack(ARGV, i + 1, i + n))
  end
  i = i + n + 1
end
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pcFencedWrite(numKeys: number, ...args: Array<string | number>): Result<number, Context>
  }
}

/** One command of a fenced change: its name, then its arguments (keys among them by name). */
export type FencedCommand = readonly [string, ...Array<string | number>]

/** A change to one client's session, applied only while the client's registry entry holds `epoch`. */
interface FencedChange {
  readonly clientId: string
  readonly ownerKey: string
  /** undefined: this node does not hold the client id (any more): the change fails its group. */
  readonly epoch: string | undefined
  readonly keys: readonly string[]
  readonly commands: readonly FencedCommand[]
}

/** One Redis command, its arguments built as the group is sent (see recordCommand). */
export type RedisCommand = readonly [string, ...Array<string | Buffer | number>]

/** A change that is one command: sent alone, without MULTI/EXEC, when its group holds nothing else. */
interface CommandChange {
  readonly command: () => RedisCommand
}

/** A change with no command (recordNothing). */
const NOTHING = (): void => {}
const COMMITTED: CommitOutcome<never> = {}

type Change = ((m: ChainableCommander) => void) | FencedChange | CommandChange

/** Reconnect with back-off: 50 ms, 100 ms, … at most 2 s apart, forever. */
const backOff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000)

/**
 * A client of the node's Redis. Until its first connection is made (`RedisState.open`) a
 * failure is not logged here: start-up fails with that failure's own words instead
 * (`lastError`); from then on an outage is logged once, and its end.
 */
export function connectRedis(target: RedisTarget, logger: Logger): { client: RedisClient; lastError: () => Error | undefined } {
  const options: RedisOptions = {
    lazyConnect: true,
    // No false acknowledgement: a command while disconnected fails now instead of waiting.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: backOff,
    connectionName: 'portcullis',
  }
  let client: RedisClient
  let state: 'connecting' | 'up' | 'down' = 'connecting'
  if (typeof target === 'string') client = new Redis(target, options)
  else if ('path' in target) {
    const { path, username, password } = target
    client = new Redis({ ...options, path, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) })
  }
  else if ('sentinels' in target) client = new Redis(sentinelOptions(target, options, () => state === 'connecting'))
  else client = followRedirectionsInOrder(new Cluster([...target.cluster], clusterOptions(target.cluster, options)))
  let last: Error | undefined
  client.on('error', (err: Error) => {
    last = err
    if (state !== 'up') return
    state = 'down'
    logger.error({ err: { message: err.message } }, 'cluster: Redis unreachable; new connections are refused until it is back')
  })
  client.on('ready', () => {
    if (state === 'down') logger.warn('cluster: Redis reachable again')
    state = 'up'
  })
  return { client, lastError: () => last }
}

/**
 * A Redis Cluster client: the seeds' password and TLS (rediss://) apply to every master it
 * finds; the same no-offline-queue rule (a command while a slot's master is unreachable fails
 * now); MOVED/ASK redirections and a failover's new master are followed by ioredis.
 */
function clusterOptions(seeds: readonly string[], options: RedisOptions): ClusterOptions {
  const first = new URL(seeds[0])
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName,
    maxRetriesPerRequest: 0,
    ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  }
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    // A command cut off with its master's connection, or refused with CLUSTERDOWN, fails now
    // instead of being sent again 100 ms later (ioredis's default): a retry went to a random
    // master while commits sent after it went ahead, so a node's stream entries were swapped
    // across a master's failover (13-36 of ~600 acknowledged messages per run). A failed
    // commit is not acknowledged; MOVED and ASK are still followed at once, in order
    // (cluster-redirects.ts: also a MULTI's, to a master the node had no connection to).
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    clusterRetryStrategy: backOff,
    redisOptions,
  }
}

/** Rounds over every sentinel before start-up gives up when none answers (later: forever). */
const SENTINEL_ROUNDS_AT_START = 3

/**
 * A master found through Sentinel. Every connection of the node (its duplicates too) asks the
 * sentinels for the master's address when it connects, checks that the server it reached is a
 * master, and listens to the sentinels' +switch-master so that a failover to a replica is
 * followed at once rather than at the next reconnection attempt. `starting()`: true until the
 * first connection is made — until then sentinels that do not answer fail the start.
 */
function sentinelOptions(target: RedisSentinelConfig, options: RedisOptions, starting: () => boolean): RedisOptions {
  const { sentinels, name, username, password, sentinelUsername, sentinelPassword } = target
  return {
    ...options,
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name,
    role: 'master',
    failoverDetector: true,
    sentinelRetryStrategy: (times) => (starting() && times >= SENTINEL_ROUNDS_AT_START ? null : backOff(times)),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(sentinelUsername !== undefined ? { sentinelUsername } : {}),
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  }
}

/**
 * How many connections listen on `channel`, on whichever node of a Redis Cluster they are.
 * PUBLISH answers this on one Redis, but on a Redis Cluster it counts only the subscribers of
 * the node it ran on (the message reaches the others over the cluster bus), so there every
 * node is asked (PUBSUB NUMSUB; a subscriber may sit on a replica too).
 */
export async function subscribersOf(client: RedisClient, channel: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('all') : [client]
  const counts = await Promise.all(nodes.map((n) => n.pubsub('NUMSUB', channel)))
  return counts.reduce<number>((sum, c) => sum + Number(c[1] ?? 0), 0)
}

/** A redacted description of the target for logs (a URL may carry a password). */
export function describeTarget(target: RedisTarget): string {
  if (typeof target !== 'string') {
    if ('path' in target) return `unix:${target.path}`
    if ('sentinels' in target) return `sentinel:${target.name}@${target.sentinels.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',')}`
    return `cluster:${target.cluster.map(describeUrl).join(',')}`
  }
  return describeUrl(target)
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'redis://(unparsable)'
  }
}

/** The hand-off key beside a registry entry `pc:{<cid>}:owner` (src/cluster/registry.ts). */
function handoffKeyOf(ownerKey: string): string {
  return `${ownerKey.slice(0, -'owner'.length)}handoff`
}

/** How long after a failed commit a Redis Cluster's commits go one at a time (see RedisState's constructor). */
const SERIAL_AFTER_FAILURE_MS = 1000

export class RedisState implements CommitBarrier {
  readonly client: RedisClient
  readonly nodeId: string
  /**
   * On a Redis Cluster: a group commit is one MULTI per hash slot (slots.ts), so changes to keys
   * of different slots are not atomic together; stores that relied on one MULTI split their
   * change into steps (session-store.ts, streams.ts, stream-takeover.ts say how).
   */
  readonly sharded: boolean
  readonly #committer: GroupCommitter<Change>
  /** Absent: a commit is acknowledged once the master answered its EXEC. */
  readonly #replicaAck: ReplicaAckConfig | undefined
  #epoch = 0
  #seq = 0
  /** Told of every client whose fenced change was refused (registry.ts lets the session go). */
  onFenced: (clientId: string) => void = () => {}
  #closing: Promise<void> | undefined

  private constructor(client: RedisClient, nodeId: string, logger: Logger, replicaAck: ReplicaAckConfig | undefined) {
    this.client = client
    this.nodeId = nodeId
    this.sharded = client instanceof Cluster
    this.#replicaAck = replicaAck
    this.#committer = new GroupCommitter<Change>({
      commit: (ops) => this.#exec(ops),
      failed: (err, changes) => logger.error({ err: { message: err.message }, changes }, 'cluster: Redis commit failed: nothing more is acknowledged until it succeeds'),
      recovered: () => logger.warn('cluster: Redis commits succeed again'),
      // On a Redis Cluster, one commit at a time while commits fail and for a second after:
      // while a slot's master is dead and dropped from ioredis's pool, ioredis sends each command
      // for that slot to a random master, whose MOVED or CLUSTERDOWN answers come back on different
      // connections in any order, so two commits in flight could reach the promoted replica in
      // the other order (seen: a stream entry applied after the next commit's, both sent while
      // the slot had no master; one SIGKILL round in ten). A healthy Redis Cluster sends them at
      // once, as one Redis does.
    }, { serialAfterFailureMs: this.sharded ? SERIAL_AFTER_FAILURE_MS : 0 })
  }

  /**
   * Connect (start-up fails when Redis cannot be reached) and take an id epoch. `replicaAck`:
   * a group commit counts as committed only once that many replicas hold it (one Redis or
   * Sentinel; a Redis Cluster is refused).
   */
  static async open(target: RedisTarget, nodeId: string, logger: Logger, options: { replicaAck?: ReplicaAckConfig | undefined } = {}): Promise<RedisState> {
    if (options.replicaAck !== undefined && typeof target !== 'string' && 'cluster' in target) throw new TypeError('replicaAck: not on a Redis Cluster')
    const { client, lastError } = connectRedis(target, logger)
    try {
      await client.connect()
    } catch (err) {
      client.disconnect()
      // ioredis rejects with "Connection is closed."; what went wrong (ECONNREFUSED, NOAUTH, not Redis…) is its last 'error'.
      const cause = lastError() ?? err
      throw new Error(`cluster.redis: cannot connect to ${describeTarget(target)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    }
    client.defineCommand('pcFencedWrite', { lua: FENCED_WRITE_LUA })
    const state = new RedisState(client, nodeId, logger, options.replicaAck)
    state.#epoch = await client.incr(KEYS.epoch)
    return state
  }

  /**
   * Another connection to the same Redis (pub/sub listeners, the blocking stream reader).
   * `offlineQueue`: commands wait while it reconnects (subscriptions are made again then).
   */
  connection(name: string, offlineQueue = false): RedisClient {
    const c = this.client
    if (c instanceof Cluster) {
      const redisOptions = { ...c.options.redisOptions, connectionName: name }
      return followRedirectionsInOrder(c.duplicate(undefined, { enableOfflineQueue: offlineQueue, redisOptions }))
    }
    return c.duplicate({ connectionName: name, enableOfflineQueue: offlineQueue })
  }

  /** True while Redis answers (commits can succeed). */
  get available(): boolean {
    return this.client.status === 'ready'
  }

  get stats(): CommitStats {
    return this.#committer.stats
  }

  /** Changes recorded and not yet committed, or a commit still waiting for EXEC's answer. */
  get pending(): boolean {
    return this.#committer.pending
  }

  get recorded(): number {
    return this.#committer.recorded
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

  /** A change to send with the next group (one MULTI/EXEC). */
  record(op: (m: ChainableCommander) => void): void {
    this.#committer.record(op)
  }

  /**
   * A change that is one command, `command()` building it as the group is sent. A group whose
   * only change it is sends it alone — a transaction of one command is no safer, and its
   * MULTI/EXEC costs more than the command (a stream entry for another node, an acknowledgement).
   */
  recordCommand(command: () => RedisCommand): void {
    this.#committer.record({ command })
  }

  /** A change with nothing to write: the next group's waiters wait for it all the same. */
  recordNothing(): void {
    this.#committer.record(NOTHING)
  }

  /**
   * A change to one client's session, sent with the next group and applied only if the
   * client's registry entry (`ownerKey`) still holds `epoch`; `keys`: every key the commands
   * write (declared to Redis as the script's keys).
   */
  recordFenced(clientId: string, ownerKey: string, epoch: string | undefined, keys: readonly string[], commands: readonly FencedCommand[]): void {
    this.#committer.record({ clientId, ownerKey, epoch, keys, commands })
  }

  afterCommit(done: (err: Error | undefined) => void, since?: number): void {
    this.#committer.afterCommit(done, since)
  }

  /** Send what is pending and disconnect. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#committer.close().then(() => this.client.disconnect())
    return this.#closing
  }

  /**
   * One MULTI/EXEC for a group; EXECs are pipelined on one connection, so groups answer in
   * order. Throws at once while Redis is not ready (nothing is queued for later). A fenced
   * change refused (its client id claimed by another node, or never held) refuses that client's
   * waiters with ERR_SESSION_TAKEN_OVER, and `onFenced` hears of its client once they were told.
   */
  #exec(ops: readonly Change[]): Promise<CommitOutcome<Change>> {
    if (this.client.status !== 'ready') throw new PortcullisError('ERR_STORE_UNAVAILABLE', `Redis is ${this.client.status}`)
    const alone = loneCommand(ops)
    if (alone !== undefined) {
      const [name, ...args] = alone.command()
      const sent = this.sharded ? pipelineOfOne(this.client, commandName(name), args) : this.client.callBuffer(commandName(name), ...args)
      const replicated = this.#replicated()
      if (replicated === undefined) return sent.then(() => COMMITTED, unavailable)
      return sent.then(() => replicated, unavailable).then((short) => (short === undefined ? COMMITTED : { failed: short }))
    }
    if (this.sharded) return this.#execBySlot(ops)
    const multi = this.client.multi()
    /** Result index of each fenced change. */
    const fencedAt = new Map<number, FencedChange>()
    const refused = new Set<FencedChange>()
    for (const op of ops) {
      if (typeof op === 'function') {
        op(multi)
      } else if ('command' in op) {
        multi.call(...op.command())
      } else if (op.epoch === undefined) {
        refused.add(op)
      } else {
        // (The MULTI is the transaction's first queued command: EXEC's results start after it.)
        fencedAt.set(multi.length - 1, op)
        multi.pcFencedWrite(2 + op.keys.length, ...fencedArgs(op, op.epoch))
      }
    }
    const executed = multi.exec()
    const replicated = this.#replicated()
    return executed.then(async (results) => {
      if (results === null) return { failed: new PortcullisError('ERR_STORE_UNAVAILABLE', 'transaction aborted') }
      let failed: Error | undefined = replicated === undefined ? undefined : await replicated
      for (const [i, [err]] of results.entries()) {
        if (err === null) continue
        const fenced = fencedAt.get(i)
        if (fenced !== undefined && err.message.startsWith('FENCED')) refused.add(fenced)
        else failed ??= err
      }
      return this.#outcome(refused, failed)
    }, unavailable)
  }

  /**
   * With `replicaAck`: WAIT, written on the commit's connection right behind it (ioredis writes a
   * MULTI/EXEC at once when the connection is ready, and commands go out in order), so it counts
   * the replicas that hold this commit; an error when fewer than asked do within the timeout.
   * The commit is applied on the master all the same — it is not acknowledged, as when Redis
   * fails to answer. Without `replicaAck`: nothing sent, nothing awaited.
   *
   * Writes made outside group commits get no WAIT of their own, because none can lose an
   * acknowledged message on a failover: WAIT covers every earlier write of its connection, and
   * the ones on this connection (client-id claims and hand-offs, a dead node's stream renamed by
   * its sweeper, a node's first liveness key) come before the commits whose acknowledgements
   * depend on them — a claim the promoted replica lacks leaves the registry entry on an older
   * epoch, so the claimer's writes for that client are refused (no false acknowledgement). The
   * stream reader's own connection (XREADGROUP, and XACK + XDEL of entries whose delivery stored
   * nothing) writes only what, when lost, makes a node read an entry again (a repeat, never a
   * loss); an entry whose delivery stored something is acknowledged in that delivery's commit.
   * Heartbeats go with the group commits (waited for).
   */
  #replicated(): Promise<Error | undefined> | undefined {
    const ack = this.#replicaAck
    if (ack === undefined) return undefined
    return this.client.call('WAIT', ack.replicas, ack.timeoutMs).then(
      (n) => (Number(n) >= ack.replicas ? undefined : new PortcullisError('ERR_STORE_UNAVAILABLE', `only ${String(n)} of ${ack.replicas} replicas acknowledged the commit within ${ack.timeoutMs} ms`)),
      (err: unknown) => new PortcullisError('ERR_STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err), { cause: err }),
    )
  }

  /**
   * A group on a Redis Cluster: one MULTI/EXEC per hash slot, all sent at once (slots.ts). The
   * group succeeds when every one of them did; one that fails fails the group (its waiters get
   * the error) even though the others were applied — the stores order their steps so that a
   * partly applied group can only repeat a delivery, never lose one.
   */
  async #execBySlot(ops: readonly Change[]): Promise<CommitOutcome<Change>> {
    const bySlot = new Map<number, Array<SlotCommand | FencedChange>>()
    const add = (slot: number, item: SlotCommand | FencedChange): void => {
      const list = bySlot.get(slot)
      if (list === undefined) bySlot.set(slot, [item])
      else list.push(item)
    }
    const refused = new Set<FencedChange>()
    let fallback: number | undefined
    for (const op of ops) {
      if (typeof op === 'function') {
        for (const [slot, c] of placeKeyless(captureCommands(op), fallback ?? 0)) {
          fallback ??= slot
          add(slot, c)
        }
      } else if ('command' in op) {
        const [name, ...args] = op.command()
        const c = command(name, args)
        fallback ??= c.slot
        add(c.slot ?? fallback ?? 0, c)
      } else if (op.epoch === undefined) {
        refused.add(op)
      } else {
        add(slotOf(op.ownerKey), op)
      }
    }
    let failed: Error | undefined
    await Promise.all([...bySlot.values()].map(async (items) => {
      const multi = this.client.multi()
      for (const item of items) {
        if ('clientId' in item) multi.pcFencedWrite(2 + item.keys.length, ...fencedArgs(item, item.epoch as string))
        else multi.call(item.name, ...item.args)
      }
      try {
        const results = await multi.exec()
        if (results === null) throw new Error('transaction aborted')
        for (const [i, [err]] of results.entries()) {
          if (err === null) continue
          const item = items[i]
          if (item !== undefined && 'clientId' in item && err.message.startsWith('FENCED')) refused.add(item)
          else failed ??= err
        }
      } catch (err) {
        failed ??= err instanceof Error ? err : new Error(String(err))
      }
    }))
    return this.#outcome(refused, failed)
  }

  /** A group's outcome: `failed` (a command's error), and the fenced changes refused (only their waiters are told). */
  #outcome(refused: ReadonlySet<FencedChange>, failed: Error | undefined): CommitOutcome<Change> {
    const fenced = [...new Set([...refused].map((c) => c.clientId))]
    return {
      failed: failed === undefined ? undefined : new PortcullisError('ERR_STORE_UNAVAILABLE', failed.message, { cause: failed }),
      refused: fenced.length > 0 ? { error: new PortcullisError('ERR_SESSION_TAKEN_OVER', `client id ${fenced.join(', ')} was claimed by another node`), changes: refused } : undefined,
      after: () => {
        for (const clientId of fenced) this.onFenced(clientId)
      },
    }
  }
}

/** The arguments of FENCED_WRITE_LUA for a change (2 + its keys): its keys, the epoch, then each command as its length and itself. */
function fencedArgs(op: FencedChange, epoch: string): Array<string | number> {
  const args: Array<string | number> = [op.ownerKey, handoffKeyOf(op.ownerKey), ...op.keys, epoch]
  for (const c of op.commands) args.push(c.length, ...c)
  return args
}

/**
 * One command sent as a pipeline (no MULTI) on a Redis Cluster, so that a MOVED it gets is
 * followed the way a group's MULTIs are. Why: ioredis follows a lone command's MOVED as the
 * answer is read, but a pipeline's only in a promise callback once every answer of that read is
 * in: a lone commit answered MOVED by the old master in the same read as the MULTIs of earlier
 * commits reached the new master first. Traced with MONITOR on both masters across CLUSTER
 * FAILOVER (the old master holds writes during it and answers them all at once): commits of
 * messages 296 and 298 (lone XADDs) applied before the MULTIs of 280-294, sent 10-50 ms earlier.
 */
function pipelineOfOne(client: RedisClient, name: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown> {
  return client.pipeline().callBuffer(name, ...args).exec().then((results) => {
    const [err, value] = results?.[0] ?? [new Error('pipeline without an answer'), undefined]
    if (err !== null) throw err
    return value
  })
}

/** The group's one change when it is a single command and everything else records nothing. */
function loneCommand(ops: readonly Change[]): CommandChange | undefined {
  let found: CommandChange | undefined
  for (const op of ops) {
    if (op === NOTHING) continue
    if (found !== undefined || typeof op === 'function' || !('command' in op)) return undefined
    found = op
  }
  return found
}

/**
 * A command's name as ioredis must be given it in `call`/`callBuffer`: lower case. Its Redis
 * Cluster client finds a command's keys (so its slot, so its master) only by the lower-case name;
 * given 'XADD' it finds none and sends the command to a random master, which answers MOVED, and
 * the command goes to the right one a round trip later — behind commands sent after it that
 * happened to go straight there (successive stream entries of one publisher were seen swapped).
 */
export function commandName(name: string): string {
  return name.toLowerCase()
}

function unavailable(err: unknown): never {
  throw new PortcullisError('ERR_STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err), { cause: err })
}
