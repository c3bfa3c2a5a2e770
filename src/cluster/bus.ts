/**
 * The message bus between broker nodes. A single node uses the local bus, which has no
 * peers; the Redis bus (cluster mode, redis-bus.ts) implements the same interface.
 *
 * Shared subscription groups are named by their subscription key, `$share/<group>/<filter>`:
 * each message for a group goes to one member cluster-wide, so the bus decides which node
 * serves each group a message matches.
 */
import type { Message } from '../mqtt/types.js'

/**
 * How long a node that lost a client to a live node's takeover goes on taking messages for it
 * and forwarding them to the new node: every other node's route table has the new node's routes
 * by then (a notice within ms, a poll every second: two polls and a second to spare).
 */
export const MOVE_GRACE_MS = 3000
/**
 * How long (at least) a node remembers the cluster ids of the messages it delivered to a
 * persistent session (broker/recent-ids.ts): a copy that comes later — forwarded by the node the
 * client left during its grace, or read late from a node's stream — is not delivered again.
 */
export const RECENT_IDS_MS = MOVE_GRACE_MS + 2000

/** What a node delivers of a message that reached it from another node. */
export interface Forwarded {
  /** Deliver to the node's non-shared subscriptions that match (false: only `groups`). */
  readonly all: boolean
  /** Shared groups (keys) this node serves for the message: one member of each gets it. */
  readonly groups: readonly string[]
  /**
   * Only these sessions (a dead node's stream drained by the node that took its sessions
   * over: its other subscribers had their copy already; a client that moved here, forwarded by
   * the node it left). Undefined: every matching one.
   */
  readonly clients?: ReadonlySet<string>
}

export interface ClusterBus {
  readonly nodeId: string
  /**
   * Hand a message published on this node to the other nodes whose subscribers it matches.
   * `localGroups`: the shared groups it matches that have members on this node. Returns the
   * groups this node serves itself (every other matching group went to one other node). What
   * it forwards is recorded with the node's other changes: a PUBACK waits for the commit.
   */
  publish(message: Message, localGroups: readonly string[]): readonly string[]
  /**
   * Messages forwarded by other nodes are delivered to this handler; it returns the shared
   * groups it could not serve (no member left on this node).
   */
  onMessage(handler: (message: Message, forwarded: Forwarded) => readonly string[]): void
  /** A filter (or shared group key) got its first subscription on this node. */
  addRoute(key: string): void
  /** The last subscription to a filter (or shared group key) on this node went. */
  removeRoute(key: string): void
  /**
   * This node has just claimed `clientId` from node `previous`: deliver to it what waits for it
   * in that node's stream. Resolves with the entries read.
   */
  catchUp(clientId: string, previous: string): Promise<number>
  /**
   * This node now holds sessions that node `node` held when it died (or was cut off): deliver to
   * them what waits for them in that node's stream. Resolves with the messages read for them.
   */
  takeOver(node: string, clientIds: ReadonlySet<string>): Promise<number>
  /**
   * Give a message of shared group `key` to a member on another live node (one picked as for a
   * publish), recorded with this node's changes. False when no other live node has a member.
   */
  serveElsewhere(message: Message, key: string): boolean
  /**
   * Live node `to` has just taken `clientId` over from this node: for MOVE_GRACE_MS this node keeps
   * routes for the client's (non-shared) `filters` and forwards every message it handles that
   * matches them to `to`, for that client only (what other nodes still sent here while their route
   * tables changed). `unacknowledged`: what this node had for the client and the client has not
   * acknowledged, forwarded the same way at once (this node's last writes for the client may
   * have been refused: the new owner had claimed it already; it delivers a message it loaded
   * from the session once). `delivered`: the cluster ids of the messages delivered to the client
   * lately (RECENT_IDS_MS), stored for the new owner (`deliveredBefore`) in the commit its answer
   * waits for. Called before the session is let go here.
   */
  movedAway(clientId: string, to: string, filters: readonly string[], unacknowledged: readonly Message[], delivered?: readonly number[]): void
  /**
   * The cluster ids the node `clientId` moved from had delivered to it lately (see movedAway):
   * the node it moved to delivers none of them again.
   */
  deliveredBefore(clientId: string): Promise<readonly number[]>
  /**
   * This node is claiming `clientId`: it stops forwarding for it (movedAway), and what other nodes
   * forward for that client only is held until `arrived` (its session is loaded by then).
   */
  arriving(clientId: string): void
  /**
   * The claim of `clientId` is done (loaded, or not): what was held for it is delivered now.
   * `movedIn`: its session came from another node; what reached this node for every matching
   * subscription during the claim (no session of the client here yet) is delivered to it now.
   */
  arrived(clientId: string, movedIn: boolean): void
  close(): Promise<void>
}

export class LocalBus implements ClusterBus {
  readonly nodeId: string
  constructor(nodeId = 'local') {
    this.nodeId = nodeId
  }
  publish(_message: Message, localGroups: readonly string[]): readonly string[] {
    return localGroups
  }
  onMessage(_handler: (message: Message, forwarded: Forwarded) => readonly string[]): void {}
  addRoute(_key: string): void {}
  removeRoute(_key: string): void {}
  catchUp(_clientId: string, _previous: string): Promise<number> {
    return Promise.resolve(0)
  }
  takeOver(_node: string, _clientIds: ReadonlySet<string>): Promise<number> {
    return Promise.resolve(0)
  }
  serveElsewhere(_message: Message, _key: string): boolean {
    return false
  }
  movedAway(_clientId: string, _to: string, _filters: readonly string[], _unacknowledged: readonly Message[], _delivered?: readonly number[]): void {}
  deliveredBefore(_clientId: string): Promise<readonly number[]> {
    return Promise.resolve([])
  }
  arriving(_clientId: string): void {}
  arrived(_clientId: string, _movedIn: boolean): void {}
  close(): Promise<void> {
    return Promise.resolve()
  }
}
