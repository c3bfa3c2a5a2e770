/**
 * QoS 0 between nodes over Redis pub/sub (`cluster.qos0: pubsub`, the default): a node's QoS 0
 * messages for every matching subscription of another node go to that node's channel
 * `pc:q0:{<node>}` (hash-tagged like its stream `pc:fwd:{<node>}`: one shard on a Redis Cluster,
 * where SPUBLISH/SSUBSCRIBE keep the message on that shard instead of flooding the cluster bus).
 *
 * Why: QoS 0 is at most once (MQTT 3.1.1 and 5.0, 4.3.1), so nothing needs to wait in Redis for the receiver. The
 * stream (streams.ts) costs the receiver an XREADGROUP answer, the next XREADGROUP write and an
 * XACK per batch; a subscription costs one read per batch and no write at all — close to a local
 * delivery. What it gives up: a message published while the receiver's subscription is down
 * (Redis restarting or failing over, the node dead or reconnecting, its pub/sub output buffer
 * limit hit) is lost, where the stream would hold it. QoS 1 and 2 never come this way.
 *
 * Which QoS 0 messages (redis-bus.ts decides): the delivery to every matching non-shared
 * subscription of a node. Shared groups (one pick cluster-wide, passed on when the pick has no
 * member left), a retained message's mirror update, and messages for one moved client stay on
 * the stream. So each subscription gets the QoS 0 messages of a topic through one path only, and
 * a publisher's QoS 0 messages to a topic stay in order for each subscriber [MQTT-4.6.0-5]: a
 * retained QoS 0 message is delivered through the channel like the rest of its topic, and only
 * its mirror update goes by the stream.
 *
 * Every node subscribes to its channel, whatever its own `qos0` says (the key chooses how the
 * node sends): nodes with either setting work together. A PUBLISH that reached no subscriber
 * while the node is not alive (dead, or stopped with its routes left in Redis) is written to
 * its stream instead, as before: held there for the node or for whoever takes its sessions over.
 * A live node with no subscriber (its connection being made again) loses the batch — QoS 0 at
 * most once — rather than get it later by the stream, behind the batches after it.
 * (A rolling upgrade from a version without the channel: `qos0: stream` until every node runs
 * this one — live old nodes do not listen.)
 *
 * Batching: like the stream entries, every message for one node in one turn of the event loop
 * goes in one PUBLISH (the same bytes, entry-codec.ts). The PUBLISH is sent on its own, not in
 * the group commit: nothing waits for it, and a QoS 1 commit never waits for it or fails with it.
 * While messages keep coming, the sender also holds them for up to `batchMs` (cluster.qos0BatchMs)
 * after its last PUBLISHes, so one PUBLISH carries the messages of several turns. Why: a crossing
 * batch costs both nodes a wake-up, a read and a write whatever it holds (the receiving node's
 * read of what Redis pushes and its write to the subscriber, the sending node's write to Redis),
 * and those per-batch costs were most of a crossing message's cost; with one publisher's bursts
 * arriving every millisecond or so, a turn held ~12 messages. The first message after a pause
 * of `batchMs` goes at the end of its turn as before (no wait when traffic is light); under load a
 * message waits about `batchMs` at most (a timer), and an entry past HELD_BYTES goes at once.
 *
 * One Redis or Sentinel: it goes out with no answer (CLIENT REPLY OFF) on a connection of its own
 * (replyless-publisher.ts) — one PUBLISH after another on one socket, so Redis hands them over
 * in order. Without the answer there is no receiver count: whether a node is alive is asked
 * before (a node that is not alive gets the batch in its stream, as when nobody heard it), and
 * a live node that is not subscribed at that moment (its connection being made again) loses the
 * batch uncounted. While that connection is being made again the main connection carries the
 * PUBLISHes, answered as before; it is used again once none of those is still out (in order).
 * A Redis Cluster: the main client, answered, as below (one SPUBLISH per node at a time).
 */
import { Cluster, Redis } from 'ioredis'
import type { Logger } from '../log.js'
import type { Message } from '../mqtt/types.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import { slotOf } from '../store/redis/slots.js'
import { clock } from '../clock.js'
import { EntryWriter, SpareWriters, TO_ALL, readEntry, type EntryVisitor } from './entry-codec.js'
import { ReplylessPublisher } from './replyless-publisher.js'
import { STREAM_FIELD, streamKey } from './streams.js'

export const qos0Channel = (node: string): string => `pc:q0:{${node}}`

/** How long the receiver waits before it looks for its shard's master again (Redis Cluster). */
const RESOLVE_RETRY_MS = 500

/** An entry held for a node this large goes at the end of the turn, held or not (bounds a PUBLISH). */
const HELD_BYTES = 256 * 1024

/** The sending side: one PUBLISH (SPUBLISH on a Redis Cluster) per receiving node and turn, or per `batchMs` while messages keep coming. */
export class Qos0Sender {
  readonly #client: RedisClient
  readonly #logger: Logger
  /** Lower case: a Redis Cluster client routes 'SPUBLISH' by its channel only so (commandName in redis-state.ts). */
  readonly #command: 'publish' | 'spublish'
  readonly #alive: (node: string) => boolean
  /** Entry being filled per receiving node (this turn, or while its previous SPUBLISH is out). */
  readonly #open = new Map<string, EntryWriter>()
  /**
   * Writers whose bytes were copied out (the answerless connection copies them into its own
   * buffer), reused for the next batches instead of a new 4 KiB buffer per batch and node: see
   * replyless-publisher.ts (OUT_FIRST_SIZE) for why a buffer per batch costs a full collection.
   */
  readonly #spare = new SpareWriters()
  /**
   * Redis Cluster: nodes whose SPUBLISH has not answered yet; the next waits for it. Why: two
   * SPUBLISHes to one channel sent back to back through ioredis's Cluster client were seen to
   * reach the subscriber in the other order (cluster-qos0-pubsub's tests, a few times in ten), so
   * a node's batches go one at a time there — in order, and larger while one is out. (One Redis:
   * every PUBLISH goes out on the one connection, in order; none waits.)
   */
  readonly #out: Set<string> | undefined
  /** One Redis or Sentinel: PUBLISH with no answer (undefined on a Redis Cluster). */
  readonly #replyless: ReplylessPublisher | undefined
  /** PUBLISHes sent on the main connection and not answered yet (the replyless one waits for them: order). */
  #mainOut = 0
  #scheduled = false
  #failing = false
  /** How long messages are held after the last PUBLISHes (0: each turn's go at its end). */
  readonly #batchMs: number
  /** When the last PUBLISHes went (performance.now()). */
  #lastFlush = -Infinity
  /**
   * Sends what is held when no turn has come for `batchMs`. One timer, pushed back (refresh) at
   * the end of every turn while traffic lasts — not made and cleared per batch (a timer list made
   * and dropped each time), and not left to fire in the gaps between turns (a wake-up for nothing).
   */
  #holdTimer: NodeJS.Timeout | undefined
  /** The timer is pending (it fires once after the traffic stops). */
  #armed = false
  /** Messages not published (Redis unreachable or not reading, or the PUBLISH failed) or, answered, heard by nobody on a live node. */
  lost = 0

  /**
   * `alive`: whether a node is alive (its liveness note is fresh), see #unheard. `batchMs`: how
   * long messages are held after the last PUBLISHes while more keep coming (see Batching above).
   */
  constructor(state: RedisState, logger: Logger, alive: (node: string) => boolean, batchMs = 0) {
    this.#alive = alive
    this.#batchMs = batchMs
    this.#client = state.client
    this.#logger = logger
    this.#command = state.sharded ? 'spublish' : 'publish'
    this.#out = state.sharded ? new Set() : undefined
    this.#replyless = state.sharded ? undefined : new ReplylessPublisher(state.connection('portcullis-qos0-pub') as Redis, logger)
  }

  /** Make the publishing connection (one Redis or Sentinel). */
  async start(): Promise<void> {
    await this.#replyless?.start()
  }

  /** What is held goes now (written before the publishing connection closes behind it). */
  close(): void {
    if (this.#open.size > 0) this.#flush()
    clearTimeout(this.#holdTimer)
    this.#armed = false
    this.#replyless?.close()
  }

  /** Queue `message` for every matching non-shared subscription of `node`; sent at the end of this turn, or held (#turnEnd). */
  forward(node: string, message: Message): void {
    let w = this.#open.get(node)
    if (w === undefined) this.#open.set(node, (w = this.#spare.take()))
    w.add(message, TO_ALL, false, false)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(this.#turnEnd)
  }

  /**
   * The end of a turn that queued messages: they go now, unless the last PUBLISHes went less than
   * `batchMs` ago — then they are held for the next turn that ends after that, or for the timer
   * (`batchMs` after the last turn). A turn after a pause arms no timer: light traffic costs no
   * wake-up more.
   */
  readonly #turnEnd = (): void => {
    this.#scheduled = false
    if (this.#open.size === 0) return
    if (this.#batchMs > 0) {
      const hold = performance.now() - this.#lastFlush < this.#batchMs && !this.#large()
      if (hold || this.#armed) this.#arm()
      if (hold) return
    }
    this.#flush()
  }

  #arm(): void {
    this.#armed = true
    if (this.#holdTimer === undefined) this.#holdTimer = setTimeout(this.#timerFired, this.#batchMs)
    else this.#holdTimer.refresh()
  }

  readonly #timerFired = (): void => {
    this.#armed = false
    if (this.#open.size > 0) this.#flush()
  }

  /** An entry held for some node has reached HELD_BYTES. */
  #large(): boolean {
    for (const w of this.#open.values()) if (w.length >= HELD_BYTES) return true
    return false
  }

  readonly #flush = (): void => {
    this.#lastFlush = performance.now()
    const client = this.#client
    const ready = client.status === 'ready'
    const out = this.#out
    const replyless = this.#replyless !== undefined && this.#mainOut === 0 && this.#replyless.usable ? this.#replyless : undefined
    for (const [node, w] of this.#open) {
      if (out?.has(node) === true && ready) continue
      this.#open.delete(node)
      const count = w.count
      if (replyless !== undefined) {
        // No answer will say nobody heard it: a node that is not alive gets it in its stream now.
        if (!this.#alive(node)) {
          if (ready) {
            this.#toStream(node, w.bytes(), count)
            continue
          }
          this.lost += count
        } else if (replyless.write(qos0Channel(node), w.bytes())) this.#sent()
        else this.lost += count
        this.#spare.give(w) // its bytes copied out, or dropped
        continue
      }
      // At most once: nothing is kept for later (the main connection logs the outage).
      if (!ready) {
        this.lost += count
        continue
      }
      const bytes = w.bytes()
      out?.add(node)
      this.#mainOut++
      const answered = client.callBuffer(this.#command, qos0Channel(node), bytes).then(
        (listeners) => (Number(listeners) === 0 ? this.#unheard(node, bytes, count) : this.#sent()),
        (err: unknown) => this.#failed(err, count),
      ).finally(() => {
        this.#mainOut--
      })
      if (out !== undefined) {
        void answered.then(() => {
          out.delete(node)
          if (this.#open.has(node)) this.#schedule()
        })
      }
    }
  }

  /**
   * Nobody listened. A node that is not alive: the same bytes go to its stream, as with
   * `qos0: stream` — held there for the node, or for the one that takes its sessions over. A live
   * one (its subscription being made again): lost, counted.
   */
  #unheard(node: string, bytes: Buffer, count: number): void {
    if (this.#alive(node)) {
      this.lost += count
      return
    }
    this.#toStream(node, bytes, count)
  }

  #toStream(node: string, bytes: Buffer, count: number): void {
    this.#client.callBuffer('xadd', streamKey(node), '*', STREAM_FIELD, bytes).then(this.#sent, (err: unknown) => this.#failed(err, count))
  }

  readonly #sent = (): void => {
    if (!this.#failing) return
    this.#failing = false
    this.#logger.warn('cluster: QoS 0 messages to other nodes are published again')
  }

  #failed(err: unknown, count: number): void {
    this.lost += count
    if (this.#failing) return
    this.#failing = true
    this.#logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: cannot publish QoS 0 messages to other nodes; they are lost until it works again')
  }
}

/**
 * The receiving side: this node's channel, on a connection of its own, each entry handed to
 * `handle` as it arrives. Never throws after start: a lost connection is logged once, and the
 * subscription is made again when Redis is back (one Redis or Sentinel: ioredis reconnects and
 * subscribes again; a Redis Cluster: a connection to the master that holds the channel's slot,
 * looked up again after it is lost — a failover's new master). Closing the connection because
 * its output buffer grew past `client-output-buffer-limit pubsub` (this node reads too slowly)
 * is one of those losses: the messages in that buffer are lost, the rest go on.
 */
export class Qos0Receiver {
  readonly #state: RedisState
  readonly #logger: Logger
  readonly #handle: EntryVisitor
  readonly #channel: string
  #sub: Redis | undefined
  #closed = false
  #lost = false
  #timer: NodeJS.Timeout | undefined
  /** Redis Cluster: a connection to the channel's master is being made (#retryShard). */
  #connecting = false
  /** Messages received through the channel since start. */
  received = 0
  /** PUBLISHes (entries) received through the channel since start: `received` ÷ this is the batch size. */
  entries = 0

  constructor(state: RedisState, logger: Logger, handle: EntryVisitor) {
    this.#state = state
    this.#logger = logger
    this.#handle = handle
    this.#channel = qos0Channel(state.nodeId)
  }

  /** Subscribe (before this node's routes are published: nothing sent to it is missed). */
  async start(): Promise<void> {
    const client = this.#state.client
    if (client instanceof Cluster) {
      await this.#connectShard(client)
      return
    }
    // (ioredis subscribes again by itself after a reconnection: autoResubscribe.)
    const sub = this.#state.connection('portcullis-qos0') as Redis
    this.#sub = sub
    this.#watch(sub)
    sub.on('messageBuffer', this.#message)
    await sub.connect()
    await sub.subscribe(this.#channel)
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#sub?.disconnect()
    this.#sub = undefined
  }

  readonly #message = (_channel: Buffer, bytes: Buffer): void => {
    this.entries++
    try {
      readEntry(bytes, this.#counted)
    } catch (err) {
      this.#logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: forwarded QoS 0 message not delivered')
    }
  }

  readonly #counted: EntryVisitor = (message, forwarded, mirror, passedOn) => {
    this.received++
    this.#handle(message, forwarded, mirror, passedOn)
  }

  /** Log a lost subscription once, and its return. */
  #watch(sub: Redis): void {
    sub.on('error', () => { /* the main connection logs Redis trouble; the loss is logged below */ })
    sub.on('close', () => {
      if (this.#closed || this.#lost) return
      this.#lost = true
      this.#logger.warn({ channel: this.#channel }, 'cluster: QoS 0 channel connection lost (Redis away, or this node read too slowly for its pub/sub output buffer limit); QoS 0 messages from other nodes are lost until it is back')
    })
    sub.on('ready', () => this.#back())
  }

  #back(): void {
    if (!this.#lost || this.#closed) return
    this.#lost = false
    this.#logger.warn({ channel: this.#channel }, 'cluster: QoS 0 channel subscribed again')
  }

  /**
   * Redis Cluster: SSUBSCRIBE on the master that holds the channel's slot, found in the main
   * client's slot map. A connection of our own (no reconnection to the same address: after a
   * failover that master is gone): when it ends, the slot map is refreshed and its master looked
   * up again, every RESOLVE_RETRY_MS until it answers. At start a failure throws.
   */
  async #connectShard(cluster: Cluster): Promise<void> {
    const key = cluster.slots[slotOf(this.#channel)]?.[0]
    if (key === undefined) throw new Error(`Redis Cluster: no master for slot ${slotOf(this.#channel)} yet`)
    const i = key.lastIndexOf(':')
    const base = cluster.options.redisOptions ?? {}
    const sub = new Redis({
      ...base,
      host: key.slice(0, i),
      port: Number(key.slice(i + 1)),
      connectionName: 'portcullis-qos0',
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    this.#sub = sub
    this.#watch(sub)
    sub.on('smessageBuffer', this.#message)
    sub.once('end', () => {
      if (this.#sub !== sub) return
      this.#sub = undefined
      this.#retryShard(cluster)
    })
    try {
      await sub.connect()
      await sub.ssubscribe(this.#channel)
    } catch (err) {
      sub.disconnect()
      throw err
    }
  }

  /** One attempt at a time: a connection that ends while it is being made is retried once the attempt fails. */
  #retryShard(cluster: Cluster): void {
    if (this.#closed || this.#timer !== undefined || this.#connecting) return
    this.#lost = true
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined
      if (this.#closed) return
      this.#connecting = true
      cluster.refreshSlotsCache(() => {
        if (this.#closed) return
        this.#connectShard(cluster).then(() => {
          this.#connecting = false
          this.#back()
        }, () => {
          this.#connecting = false
          if (this.#sub === undefined) this.#retryShard(cluster)
        })
      })
    }, RESOLVE_RETRY_MS)
    this.#timer.unref()
  }
}
