/**
 * The cluster ids of the messages delivered to one session lately, so that a message reaching it
 * twice is delivered once [MQTT-4.3.3]. In a cluster a message can reach a client that moves
 * between nodes by more than one way (straight from its publisher's node, forwarded by the node
 * the client left, read late from a node's stream), and a late copy may come after the first was
 * delivered and acknowledged on another node: the node a client leaves hands its ids over with
 * the session (ClusterBus.movedAway), the node it moves to starts from them.
 *
 * Two generations of RECENT_IDS_MS each: an id is remembered at least that long, at most twice
 * that; nothing is kept per message beyond the number.
 */
import { RECENT_IDS_MS } from '../cluster/bus.js'

export class RecentIds {
  #current = new Set<number>()
  #previous = new Set<number>()
  #since: number

  constructor(now: number, ids: Iterable<number> = []) {
    this.#since = now
    for (const id of ids) this.#current.add(id)
  }

  /** False when `id` was delivered (or handed over) lately; else it is remembered now. */
  first(id: number, now: number): boolean {
    if (now - this.#since >= RECENT_IDS_MS) {
      this.#previous = now - this.#since >= 2 * RECENT_IDS_MS ? new Set() : this.#current
      this.#current = new Set()
      this.#since = now
    }
    if (this.#current.has(id) || this.#previous.has(id)) return false
    this.#current.add(id)
    return true
  }

  /** Every id remembered now. */
  ids(): number[] {
    return [...this.#previous, ...this.#current]
  }
}
