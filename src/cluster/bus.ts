/**
 * The message bus between broker nodes. A single node uses the local bus, which has no
 * peers; the Redis bus (cluster mode, redis-bus.ts) implements the same interface.
 *
 * Shared subscription groups are named by their subscription key, `$share/<group>/<filter>`:
 * each message for a group goes to one member cluster-wide, so the bus decides which node
 * serves each group a message matches.
 */
import type { Message } from '../mqtt/types.js'

/** What a node delivers of a message that reached it from another node. */
export interface Forwarded {
  /** Deliver to the node's non-shared subscriptions that match (false: only `groups`). */
  readonly all: boolean
  /** Shared groups (keys) this node serves for the message: one member of each gets it. */
  readonly groups: readonly string[]
  /**
   * Only these sessions (a dead node's stream drained by the node that took its sessions
   * over: its other subscribers had their copy already). Undefined: every matching one.
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
  close(): Promise<void> {
    return Promise.resolve()
  }
}
