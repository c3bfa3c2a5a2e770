/**
 * Writes coalesced per turn of the event loop. A connection holds its first write of a turn
 * (and joins the next ones to it) and asks to be flushed here; every connection written to in
 * this turn hands its bytes to its stream once the turn's I/O callbacks have run (one
 * setImmediate for all of them).
 * At a fixed rate from many publishers, one read callback per publisher each routes a message
 * to the same subscriber: flushing after each callback (process.nextTick) cost the subscriber
 * one write syscall per message; flushing per turn gives it one writev for all of them, a few
 * microseconds later, within the same turn.
 */

export interface Flushable {
  flush(): void
}

let pending: Flushable[] = []
let spare: Flushable[] = []
let scheduled = false

function flushPending(): void {
  const list = pending
  pending = spare
  spare = list
  scheduled = false
  // A flush may write again (and ask for the next turn): that goes to the other list.
  for (const c of list) c.flush()
  list.length = 0
}

/** Flush `c` at the end of this turn of the event loop (call once per corking). */
export function flushThisTurn(c: Flushable): void {
  pending.push(c)
  if (!scheduled) {
    scheduled = true
    setImmediate(flushPending)
  }
}
