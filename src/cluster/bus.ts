/**
 * The message bus between broker nodes. A single node uses the local bus, which has no
 * peers; the Redis bus (cluster mode) implements the same interface.
 */
import type { Message } from '../mqtt/types.js'

export interface ClusterBus {
  readonly nodeId: string
  /** Hand a message published on this node to the other nodes. */
  publish(message: Message): void
  /** Messages published on other nodes are delivered to this handler. */
  onMessage(handler: (message: Message) => void): void
  close(): Promise<void>
}

export class LocalBus implements ClusterBus {
  readonly nodeId: string
  constructor(nodeId = 'local') {
    this.nodeId = nodeId
  }
  publish(_message: Message): void {}
  onMessage(_handler: (message: Message) => void): void {}
  close(): Promise<void> {
    return Promise.resolve()
  }
}
