/**
 * Messages between nodes go through one Redis Stream per receiving node, `pc:fwd:{<node>}`,
 * read by that node with a consumer group — not pub/sub, which drops what a node misses. (QoS 0
 * for a node's non-shared subscriptions, which may be dropped, goes over pub/sub by default:
 * qos0-channel.ts.)
 *
 * - The sender appends (XADD) with the changes of the same turn, in its group commit: the
 *   publisher's PUBACK/PUBREC goes out after EXEC, so an acknowledged message is in Redis.
 * - The receiver reads with XREADGROUP (its consumer name is its node id), delivers each entry
 *   to its local subscribers, and records XACK + XDEL in the same group commit as what that
 *   delivery stored (a persistent session's queue): the handover is one MULTI/EXEC, so a
 *   crash either leaves the entry pending or has it in the session's queue, never neither.
 *   On a Redis Cluster the deliveries commit first and the XACK + XDEL after them: a crash
 *   between the two delivers those entries again (at least once, also for QoS 2).
 * - A read whose delivery stored nothing (QoS 0, sessions held in memory: the common case) has
 *   nothing to commit with: its XACK + XDEL go on the reading connection right behind the next
 *   XREADGROUP, in the same write. Redis runs them once that read has its answer (a blocked
 *   client's next command waits), so both answers come in one read of the socket: one wake-up
 *   per batch, no group commit, no round trip of its own. While such an acknowledgement waits
 *   behind it, the read blocks at most ACK_BLOCK_MS: a crash re-reads the entries handed over
 *   since the last acknowledgement applied — those of the last ACK_BLOCK_MS at most when
 *   traffic stops, of one batch while it flows.
 * - On start a node first re-reads its own pending entries (read before a crash, never
 *   acknowledged), then new ones.
 *
 * An entry holds the messages one commit of the sender had for this node, in one field `m`:
 * their bytes as entry-codec.ts writes them (topic, flags, which subscriptions to serve,
 * payload; no JSON per message).
 */
import { Redis } from 'ioredis'
import type { Logger } from '../log.js'
import type { Message } from '../mqtt/types.js'
import type { RedisClient, RedisState } from '../store/redis/redis-state.js'
import type { Forwarded } from './bus.js'
import { EntryWriter, SpareWriters, decodeEntry, readEntry, type EntryVisitor, type ForwardEntry } from './entry-codec.js'
import { clock } from '../clock.js'

export type { EntryVisitor, ForwardEntry } from './entry-codec.js'

export const STREAM_GROUP = 'pc'
export const streamKey = (node: string): string => `pc:fwd:{${node}}`
/** Entries read per XREADGROUP, and how long one blocks waiting for new entries. */
const READ_COUNT = 256
const BLOCK_MS = 1000
/** How long a read with an acknowledgement behind it blocks: the acknowledgement runs when the read answers. */
const ACK_BLOCK_MS = 100
const RETRY_MS = 500
/** The entry's one field. */
export const STREAM_FIELD = 'm'
const FIELD = STREAM_FIELD
/**
 * XACK and XDEL of the entries read, as one command (KEYS[1] the stream, ARGV[1] the group, then
 * the ids): atomic like a MULTI of the two, and — when the acknowledgement is all a commit holds
 * (QoS 0, or no persistent subscriber) — sent without one.
 */
const ACK_LUA = `redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))`

/** Per state, the entry being filled for each node in the current group (see recordForward). */
const batches = new WeakMap<RedisState, Map<string, EntryWriter>>()

/**
 * Per state, writers whose commit has answered, reused for the next entries (entry-codec.ts says
 * why). A writer comes back only once its commit has answered: until then ioredis may still read
 * its bytes — on a Redis Cluster it writes a command again after MOVED/ASK, and keeps a command
 * for a master it is still connecting to, from the arguments it was given (on one Redis it copies
 * them when the command is sent, but nothing here relies on it).
 */
const spares = new WeakMap<RedisState, SpareWriters>()

/**
 * Record `message` for `node`'s stream in the next group commit. Every message for one node in
 * one group goes in one entry (one XADD), its bytes written now — a command per node and commit
 * instead of one per message, and nothing kept of the message but its bytes.
 */
export function recordForward(state: RedisState, node: string, message: Message, forwarded: Forwarded, mirror: boolean, passedOn = false): void {
  let open = batches.get(state)
  if (open === undefined) batches.set(state, (open = new Map<string, EntryWriter>()))
  const current = open.get(node)
  if (current !== undefined) {
    current.add(message, forwarded, mirror, passedOn)
    // Recorded all the same (nothing to send): the publisher's acknowledgement waits for this group.
    state.recordNothing()
    return
  }
  let spare = spares.get(state)
  if (spare === undefined) spares.set(state, (spare = new SpareWriters()))
  const writer = spare.take()
  writer.add(message, forwarded, mirror, passedOn)
  const filling = open
  filling.set(node, writer)
  const key = streamKey(node)
  // Runs as the group is sent: the entry is closed, later messages start the next one.
  const close = (): void => {
    if (filling.get(node) === writer) filling.delete(node)
  }
  state.recordCommand(() => {
    close()
    return ['XADD', key, '*', FIELD, writer.bytes()]
  })
  const done = spare
  // Once the group has answered (committed or failed), ioredis holds the bytes no more: the writer
  // is reused. A group that fails before it is sent (Redis unreachable) never runs the op above:
  // closed here.
  state.afterCommit(() => {
    close()
    done.give(writer)
  })
}

/** The bytes of one stream entry, from its fields as read (name, value, …): the value of field `m`. */
function entryBytes(fields: readonly Buffer[]): Buffer {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i].length === 1 && fields[i][0] === 0x6d) return fields[i + 1]
  }
  throw new Error(`stream entry without its ${FIELD} field`)
}

/** Hand each message of one stream entry (its fields as read) to `visit`, in the order they were published. */
export function visitEntry(fields: readonly Buffer[], visit: EntryVisitor): void {
  readEntry(entryBytes(fields), visit)
}

/** The messages of one stream entry (its fields as read), in the order they were published. */
export function entryMessages(fields: readonly Buffer[]): ForwardEntry[] {
  return decodeEntry(entryBytes(fields))
}

/** Entries read per XRANGE when a stream is copied. */
const RANGE_PAGE = 256

/**
 * Every entry of a stream as it is now, oldest first, read page by page (XRANGE: nothing is
 * acknowledged or removed). An entry that cannot be decoded is logged and skipped.
 */
export async function readStream(client: RedisClient, key: string, logger: Logger): Promise<ForwardEntry[]> {
  const out: ForwardEntry[] = []
  for (let from = '-'; ;) {
    const page = await client.callBuffer('xrange', key, from, '+', 'COUNT', RANGE_PAGE) as Array<[Buffer, Buffer[]]>
    for (const [id, fields] of page) {
      try {
        out.push(...entryMessages(fields))
      } catch (err) {
        logger.error({ err: { message: err instanceof Error ? err.message : String(err) }, entry: id.toString() }, 'cluster: forwarded message not delivered')
      }
    }
    if (page.length < RANGE_PAGE) return out
    from = `(${page[page.length - 1][0].toString()}`
  }
}

type ReadReply = Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
type Entries = Array<[Buffer, Buffer[] | null]>

/**
 * Reads one node's stream as one consumer and hands each entry to `handle` (which records the
 * deliveries); the acknowledgement (XACK + XDEL) is recorded right after, in the same turn, so
 * both go in one MULTI/EXEC. The next read waits for that commit. `start()` follows the node's
 * own stream for good (another node's stream is copied, never read as a consumer: stream-takeover.ts).
 */
export class StreamReader {
  readonly #state: RedisState
  readonly #client: RedisClient
  readonly #logger: Logger
  readonly #handle: EntryVisitor
  readonly #key: string
  readonly #consumer: string
  #closed = false
  #failing = false
  #running: Promise<void> | undefined
  /** Ids of entries handed over whose delivery stored nothing: acknowledged with the next read. */
  #unacked: Buffer[] = []
  /** Ids whose acknowledgement was sent behind a read and has not answered yet. */
  #acking: Buffer[] | undefined
  /** The last acknowledgement sent behind a read failed: the next read throws it (entries are read again). */
  #ackFailed: Error | undefined
  /** The entry being handed over (see hold). */
  #visiting: Buffer | undefined
  /** Entries not acknowledged until what they carry is delivered (see hold): holds per entry id. */
  readonly #held = new Map<string, number>()
  /** Messages read and handed over since start. */
  received = 0
  readonly #counted: EntryVisitor = (message, forwarded, mirror, passedOn) => {
    this.#handle(message, forwarded, mirror, passedOn)
    this.received++
  }

  constructor(state: RedisState, client: RedisClient, logger: Logger, handle: EntryVisitor) {
    this.#state = state
    this.#client = client
    this.#logger = logger
    this.#handle = handle
    this.#key = streamKey(state.nodeId)
    this.#consumer = state.nodeId
  }

  /**
   * Called while a message of the entry being handed over is delivered: the receiver keeps the
   * message in memory for a delivery that comes later (a client being claimed here), so the
   * entry is not acknowledged until `release` says that delivery is recorded. A node that crashes
   * meanwhile reads the entry again (or a survivor copies it): the message is not lost.
   * Undefined outside a hand-over (nothing to hold).
   */
  hold(): Buffer | undefined {
    const id = this.#visiting
    if (id === undefined) return undefined
    const key = id.toString()
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1)
    return id
  }

  /**
   * What `hold` kept for these entries has been delivered, the deliveries recorded in the current
   * group when `stored`: an entry none of whose messages is held any more is acknowledged in that
   * group (one MULTI/EXEC with what it stored), or behind the next read when nothing was stored.
   * On a Redis Cluster the acknowledgement follows the deliveries' commit (at least once).
   */
  release(ids: readonly Buffer[], stored: boolean): void {
    if (this.#closed) return
    const done: Buffer[] = []
    for (const id of ids) {
      const key = id.toString()
      const holds = (this.#held.get(key) ?? 0) - 1
      if (holds > 0) this.#held.set(key, holds)
      else if (this.#held.delete(key)) done.push(id)
    }
    if (done.length === 0) return
    const state = this.#state
    if (!stored) {
      for (const id of done) this.#unacked.push(id)
    } else if (state.sharded) {
      // (Not acknowledged when the deliveries failed: the entries are read again with the next read from '0'.)
      state.afterCommit((err) => {
        if (err === undefined && !this.#closed) for (const id of done) this.#unacked.push(id)
      })
    } else {
      const key = this.#key
      state.recordCommand(() => ['EVAL', ACK_LUA, 1, key, STREAM_GROUP, ...done])
    }
  }

  async start(): Promise<void> {
    await this.#ensureGroup()
    this.#running = this.#run()
  }

  async close(): Promise<void> {
    // Redis Cluster: entries released with deliveries still committing (a claim that ended just
    // before the stop) join #unacked when that commit answers: waited for, so they are acknowledged below.
    if (this.#state.sharded && this.#state.pending) await committed(this.#state)
    this.#closed = true
    this.#client.disconnect()
    await this.#running
    // Handed over, not acknowledged yet (or its answer cut off with the read it waited behind):
    // with the state's last commit (acknowledging an entry twice changes nothing).
    const ids = [...(this.#acking ?? []), ...this.#unacked]
    this.#acking = undefined
    this.#unacked = []
    if (ids.length === 0) return
    const key = this.#key
    this.#state.recordCommand(() => ['EVAL', ACK_LUA, 1, key, STREAM_GROUP, ...ids])
    await committed(this.#state)
  }

  async #ensureGroup(): Promise<void> {
    try {
      // From the stream's start: entries added before the group existed are messages for this node too.
      await this.#client.xgroup('CREATE', this.#key, STREAM_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err
    }
  }

  /**
   * The next entries from `from` (blocking for new ones when `block`); the acknowledgement of the
   * entries handed over last without a commit (#unacked) goes right behind it on the same
   * connection, both commands in one write: Redis answers the read, then runs the
   * acknowledgement. Throws when the read fails or an acknowledgement failed: what was not
   * acknowledged is read again.
   */
  async #read(from: string, block: boolean): Promise<Entries> {
    this.#throwAckFailure()
    const client = this.#client
    const ids = this.#unacked
    // (A Redis Cluster client has no one socket: two writes there.)
    const socket = ids.length > 0 && client instanceof Redis ? client.stream : undefined
    socket?.cork()
    // (Command names in lower case: commandName in redis-state.ts says why.)
    const reading = client.callBuffer(
      'xreadgroup', 'GROUP', STREAM_GROUP, this.#consumer, 'COUNT', READ_COUNT,
      ...(block ? ['BLOCK', ids.length > 0 ? ACK_BLOCK_MS : BLOCK_MS] : []), 'STREAMS', this.#key, from,
    )
    if (ids.length > 0) {
      this.#unacked = []
      this.#acking = ids
      client.callBuffer('eval', ACK_LUA, 1, this.#key, STREAM_GROUP, ...ids).then(() => {
        if (this.#acking === ids) this.#acking = undefined
      }, (err: unknown) => {
        // Closing: close() acknowledges #acking with the state's last commit.
        if (this.#closed) return
        if (this.#acking === ids) this.#acking = undefined
        this.#ackFailed ??= err instanceof Error ? err : new Error(String(err))
      })
    }
    socket?.uncork()
    const reply = await reading as ReadReply
    // The acknowledgement's answer came with the read's (usually the same chunk): a failure is known now.
    this.#throwAckFailure()
    return reply?.[0]?.[1] ?? []
  }

  /** An acknowledgement failed: the entries handed over since are pending too, and read again from '0'. */
  #throwAckFailure(): void {
    const err = this.#ackFailed
    if (err === undefined) return
    this.#ackFailed = undefined
    this.#unacked = []
    throw err
  }

  /**
   * Hand the entries over and acknowledge them in the same commit; the commit's error, if any.
   * When the delivery recorded nothing to commit, the acknowledgement waits for the next read
   * instead (#read): nothing to wait for here.
   */
  async #hand(entries: Entries): Promise<Error | undefined> {
    let ids: Buffer[] = []
    const state = this.#state
    const recorded = state.recorded
    for (const [id, fields] of entries) {
      ids.push(id)
      // (A pending entry whose fields are gone was deleted: only acknowledged.)
      if (fields === null || fields.length === 0) continue
      this.#visiting = id
      try {
        visitEntry(fields, this.#counted)
      } catch (err) {
        // An entry that cannot be read or delivered is acknowledged all the same (never a loop on it).
        this.#logger.error({ err: { message: err instanceof Error ? err.message : String(err) }, entry: id.toString() }, 'cluster: forwarded message not delivered')
      } finally {
        this.#visiting = undefined
      }
    }
    // Entries with a message held for later are acknowledged when it is delivered (release).
    if (this.#held.size > 0) ids = ids.filter((id) => !this.#held.has(id.toString()))
    if (state.recorded === recorded) {
      for (const id of ids) this.#unacked.push(id)
      return undefined
    }
    if (ids.length === 0) return committed(state)
    const key = this.#key
    if (state.sharded) {
      // Redis Cluster: the deliveries (their clients' slots) and the acknowledgement (this
      // node's slot) cannot share a MULTI: the deliveries commit first, then the acknowledgement.
      // A crash between the two reads the entries again at the next start (at least once).
      const delivered = await committed(state)
      if (delivered !== undefined) return delivered
    }
    state.recordCommand(() => ['EVAL', ACK_LUA, 1, key, STREAM_GROUP, ...ids])
    return committed(state)
  }

  async #run(): Promise<void> {
    // '0': this consumer's pending entries (read before, never acknowledged) first; '>' then new ones.
    let from = '0'
    while (!this.#closed) {
      let entries: Entries
      try {
        entries = await this.#read(from, from === '>')
      } catch (err) {
        if (this.#closed) return
        this.#trouble(err)
        if (err instanceof Error && err.message.startsWith('NOGROUP')) await this.#ensureGroup().catch(() => {})
        from = '0'
        await sleep(RETRY_MS)
        continue
      }
      if (entries.length === 0) {
        from = '>'
        continue
      }
      const err = await this.#hand(entries)
      if (err !== undefined) {
        // Not acknowledged: read the pending entries again once Redis is back.
        this.#trouble(err)
        from = '0'
        await sleep(RETRY_MS)
      } else {
        if (this.#failing) this.#logger.warn('cluster: reading forwarded messages again')
        this.#failing = false
        // Paging through pending entries goes on after the last one read.
        if (from !== '>') from = (entries[entries.length - 1] as [Buffer, unknown])[0].toString()
      }
    }
  }

  #trouble(err: unknown): void {
    if (this.#failing) return
    this.#failing = true
    this.#logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cluster: cannot read forwarded messages; retrying')
  }
}

/**
 * The outcome of the group holding every change recorded so far. (A delivery refused because
 * another node claimed its client meanwhile is not the reader's failure: the acknowledgement and
 * every other delivery of the group were applied, and the new owner serves that client.)
 */
function committed(state: RedisState): Promise<Error | undefined> {
  return new Promise<Error | undefined>((r) => state.afterCommit(r))
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => clock.setTimeout(r, ms))
}
