/**
 * The deliveries waiting for a client (offline, or behind a full window), oldest first: a
 * ring buffer. An Array used as a queue costs O(n) per shift() once it no longer fits V8's
 * left-trimming (about 16,000 entries: 100 µs per shift at 20,000 queued, measured on Node 20),
 * so a subscriber that fell behind got slower exactly when it had most to catch up on.
 * Here push and shift are O(1) whatever the length; the storage grows by doubling and is let go
 * when the queue empties after a backlog.
 */
import type { Delivery } from '../mqtt/types.js'

/** Capacity kept when the queue empties (larger storage is released). */
const KEEP = 16

export class DeliveryQueue {
  #buf: (Delivery | undefined)[] | undefined
  #head = 0
  #length = 0

  get length(): number {
    return this.#length
  }

  /** The oldest delivery, left in place. */
  peek(): Delivery | undefined {
    return this.#length === 0 ? undefined : (this.#buf as Delivery[])[this.#head]
  }

  push(d: Delivery): void {
    let buf = this.#buf
    if (buf === undefined) buf = this.#buf = new Array<Delivery | undefined>(KEEP)
    else if (this.#length === buf.length) buf = this.#grow(buf)
    buf[(this.#head + this.#length) & (buf.length - 1)] = d
    this.#length++
  }

  /** Remove and return the oldest delivery. */
  shift(): Delivery | undefined {
    if (this.#length === 0) return undefined
    const buf = this.#buf as (Delivery | undefined)[]
    const d = buf[this.#head]
    buf[this.#head] = undefined
    this.#head = (this.#head + 1) & (buf.length - 1)
    if (--this.#length === 0) {
      this.#head = 0
      if (buf.length > KEEP) this.#buf = undefined
    }
    return d
  }

  clear(): void {
    this.#buf = undefined
    this.#head = 0
    this.#length = 0
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<Delivery> {
    const buf = this.#buf
    if (buf === undefined) return
    for (let i = 0; i < this.#length; i++) yield buf[(this.#head + i) & (buf.length - 1)] as Delivery
  }

  #grow(buf: (Delivery | undefined)[]): (Delivery | undefined)[] {
    // capacities are powers of two, so an index wraps with a mask
    const next = new Array<Delivery | undefined>(buf.length * 2)
    for (let i = 0; i < this.#length; i++) next[i] = buf[(this.#head + i) & (buf.length - 1)]
    this.#buf = next
    this.#head = 0
    return next
  }
}
