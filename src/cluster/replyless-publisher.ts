/**
 * PUBLISH without an answer: a connection of its own (`portcullis-qos0-pub`) put in `CLIENT REPLY
 * OFF` each time it is made, on which the QoS 0 batches for other nodes are written as RESP and
 * nothing comes back. Why: the answer to a PUBLISH (its receiver count) woke the sending node once
 * per batch — a wake-up and a read of the socket, ioredis parsing it and settling a promise — for
 * a message nobody waits for (QoS 0, at most once). Without it, a crossing batch costs the sending
 * node one write, like a local delivery's write to its subscriber.
 *
 * What is given up with the answer (qos0-channel.ts decides around it): the receiver count (a
 * PUBLISH nobody heard) and a failed PUBLISH's error. What still shows: a connection that is not
 * ready (being made again: `usable` is false and the caller uses its other way), and Redis not
 * reading it (stopped, stalled: its bytes pile up in the socket's buffer; past
 * MAX_BUFFERED_BYTES `write` refuses, so memory stays bounded while Redis does not read).
 *
 * One Redis or Sentinel only (ioredis reconnects it to the same master, or to the master the
 * sentinels name after a failover). A Redis that answers anyway (CLIENT REPLY refused, e.g. by
 * an ACL) is seen by the first byte that arrives: the connection is closed and not used again.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../log.js'

/** Bytes written and not yet taken by the kernel past which a batch is refused (Redis not reading). */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024

const REPLY_OFF = Buffer.from('*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n')
/**
 * The buffer each PUBLISH is written into, reused while the socket takes each write at once.
 * Why not a Buffer per PUBLISH: V8 counts the ArrayBuffer memory made since its last full
 * collection against the old generation's limit, and a fresh buffer per batch (with the entry's
 * own, qos0-channel.ts) made the sending node run a full mark-compact every ~2 s at 10,000
 * messages/s where a local delivery's run had only scavenges.
 */
const OUT_FIRST_SIZE = 16 * 1024
/** A buffer grown past this (a large batch) is not kept. */
const OUT_KEPT_SIZE = 1024 * 1024

export class ReplylessPublisher {
  readonly #conn: Redis
  readonly #logger: Logger
  /** The channel's part of each PUBLISH, by channel: `*3 $7 PUBLISH $n <channel> $`. */
  readonly #heads = new Map<string, Buffer>()
  /** CLIENT REPLY OFF was written on the connection that is up now. */
  #off = false
  /** Redis answered (it did not take CLIENT REPLY OFF): never used again. */
  #refused = false
  #closed = false
  /** The PUBLISH buffer (see OUT_FIRST_SIZE); undefined while the stream may still hold the last one. */
  #out: Buffer | undefined

  constructor(conn: Redis, logger: Logger) {
    this.#conn = conn
    this.#logger = logger
    // (The main connection logs Redis trouble; without a listener ioredis prints each failed reconnection.)
    conn.on('error', () => {})
    // First on every connection, before anything of ours: ioredis has made it (AUTH, SETNAME, ready check).
    conn.on('ready', () => {
      if (this.#refused) return
      const stream = conn.stream
      stream.write(REPLY_OFF)
      stream.on('data', this.#answered)
      this.#off = true
    })
    conn.on('close', () => {
      this.#off = false
    })
  }

  async start(): Promise<void> {
    await this.#conn.connect()
  }

  close(): void {
    this.#closed = true
    this.#off = false
    this.#conn.disconnect()
  }

  /** True when a PUBLISH can be written now. */
  get usable(): boolean {
    return this.#off && this.#conn.status === 'ready'
  }

  /**
   * Write a PUBLISH of `bytes` to `channel`; false when it was not written (not usable, or
   * Redis is not reading what was written before). Written is not delivered: nobody says.
   */
  write(channel: string, bytes: Buffer): boolean {
    if (!this.usable) return false
    const stream = this.#conn.stream
    if (stream.writableLength > MAX_BUFFERED_BYTES) return false
    let head = this.#heads.get(channel)
    if (head === undefined) {
      const name = Buffer.from(channel)
      head = Buffer.concat([Buffer.from(`*3\r\n$7\r\nPUBLISH\r\n$${name.length}\r\n`), name, Buffer.from('\r\n$')])
      this.#heads.set(channel, head)
    }
    // head, the length (at most 10 digits), CRLF, the bytes, CRLF
    const size = head.length + 14 + bytes.length
    let out = this.#out
    if (out === undefined || out.length < size) out = Buffer.allocUnsafeSlow(Math.max(OUT_FIRST_SIZE, 2 ** Math.ceil(Math.log2(size))))
    let at = head.copy(out, 0)
    at += out.write(String(bytes.length), at, 'latin1')
    out[at++] = 13
    out[at++] = 10
    at += bytes.copy(out, at)
    out[at++] = 13
    out[at++] = 10
    stream.write(out.subarray(0, at))
    // Kept for the next PUBLISH only if the socket took all of it now: otherwise the stream holds it until it can.
    this.#out = stream.writableLength === 0 && out.length <= OUT_KEPT_SIZE ? out : undefined
    return true
  }

  readonly #answered = (): void => {
    if (this.#refused || this.#closed) return
    this.#refused = true
    this.#off = false
    this.#logger.warn('cluster: Redis answers on the QoS 0 publishing connection (CLIENT REPLY OFF refused?); QoS 0 to other nodes goes on the main connection')
    this.#conn.disconnect()
  }
}
