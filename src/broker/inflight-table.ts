/**
 * A session's outgoing messages in flight, by packet identifier, in the order they are kept:
 * insertion order, a message moved to the end when its PUBREC arrives (PUBRELs are resent in the
 * order their PUBRECs came [MQTT-4.6.0-4]), held PUBLISHes resent in the order first sent
 * [MQTT-4.6.0-1].
 *
 * Why not a Map: V8 shrinks a Map's table each time deleting leaves it less than half full, and
 * rehashes it when deleted entries fill it; a session with one or two messages in flight at a
 * time (a device, a subscriber at a modest rate) reallocated its table for most messages. Here
 * the slots array only grows: packet identifiers are handed out in sequence, so `id & mask`
 * spreads the ids in flight over consecutive slots, and the order is a list threaded through the
 * entries. Open addressing with Robin Hood placement (an entry farther from its home slot takes
 * the place of one nearer to its own) and deletion by backward shift that stops at the first
 * entry in its home slot: with ids in sequence every entry sits in its home slot, so ending a
 * message's flight costs the same whatever the window (plain linear probing shifted through the
 * whole run of ids in flight after it: O(window) per acknowledgement).
 */

export interface InflightLinks {
  readonly packetId: number
  /** Neighbours in the table's order (owned by the table). */
  prev: InflightLinks | undefined
  next: InflightLinks | undefined
}

/** Slots of a new table: a power of two, at least twice the entries it holds. */
const INITIAL_SLOTS = 8

export class InflightTable<T extends InflightLinks> {
  #slots: Array<T | undefined> = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined)
  #mask = INITIAL_SLOTS - 1
  #size = 0
  #head: T | undefined
  #tail: T | undefined

  get size(): number {
    return this.#size
  }

  get(packetId: number): T | undefined {
    const slots = this.#slots
    const mask = this.#mask
    for (let i = packetId & mask; ; i = (i + 1) & mask) {
      const e = slots[i]
      if (e === undefined || e.packetId === packetId) return e
    }
  }

  has(packetId: number): boolean {
    return this.get(packetId) !== undefined
  }

  /** Add `e` at the end of the order; one already held under its packet id is replaced (and its place taken). */
  set(e: T): void {
    this.delete(e.packetId)
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow()
    this.#place(e)
    this.#size++
    this.#append(e)
  }

  /** Remove the entry of `packetId`. False when there was none. */
  delete(packetId: number): boolean {
    const slots = this.#slots
    const mask = this.#mask
    let i = packetId & mask
    let e: T | undefined
    for (; ; i = (i + 1) & mask) {
      e = slots[i]
      if (e === undefined) return false
      if (e.packetId === packetId) break
    }
    // Backward shift: the entries after it that are away from their home slot move one slot back
    // (Robin Hood placement keeps them in order of home slot); an empty slot or an entry in its
    // home slot ends the run.
    let hole = i
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const next = slots[j]
      if (next === undefined || (next.packetId & mask) === j) break
      slots[hole] = next
      hole = j
    }
    slots[hole] = undefined
    this.#size--
    this.#unlink(e)
    return true
  }

  /** Move `e` (held here) to the end of the order. */
  moveToEnd(e: T): void {
    if (this.#tail === e) return
    this.#unlink(e)
    this.#append(e)
  }

  /** The entries in order. Deleting the entry just yielded is allowed. */
  *values(): Generator<T> {
    let e = this.#head
    while (e !== undefined) {
      const next = e.next as T | undefined
      yield e
      e = next
    }
  }

  /** Robin Hood placement: walking from `e`'s home slot, whichever of the two is farther from home keeps the slot. */
  #place(e: T): void {
    const slots = this.#slots
    const mask = this.#mask
    let cur = e
    let dist = 0
    for (let i = e.packetId & mask; ; i = (i + 1) & mask, dist++) {
      const x = slots[i]
      if (x === undefined) {
        slots[i] = cur
        return
      }
      const xDist = (i - (x.packetId & mask)) & mask
      if (xDist < dist) {
        slots[i] = cur
        cur = x
        dist = xDist
      }
    }
  }

  #grow(): void {
    const old = this.#slots
    this.#slots = new Array<T | undefined>(old.length * 2).fill(undefined)
    this.#mask = this.#slots.length - 1
    for (const e of old) if (e !== undefined) this.#place(e)
  }

  #append(e: T): void {
    e.prev = this.#tail
    e.next = undefined
    if (this.#tail === undefined) this.#head = e
    else this.#tail.next = e
    this.#tail = e
  }

  #unlink(e: T): void {
    const { prev, next } = e
    if (prev === undefined) this.#head = next as T | undefined
    else prev.next = next
    if (next === undefined) this.#tail = prev as T | undefined
    else next.prev = prev
    e.prev = undefined
    e.next = undefined
  }
}
