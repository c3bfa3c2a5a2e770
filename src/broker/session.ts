/**
 * Session state [MQTT-4.1]: subscriptions, outgoing QoS 1/2 messages in flight, the
 * queue of messages waiting for the client (offline, or behind a full window), and
 * incoming QoS 2 packet ids not yet released.
 */
import type { QoS } from '../authz/types.js'
import type { Subscription } from '../router/topic-tree.js'
import type { Connection } from './connection.js'
import type { Message } from './message.js'
import type { LongTimer } from './timers.js'

/** A message on its way to one client. */
export interface Delivery {
  readonly message: Message
  readonly qos: QoS
  readonly retain: boolean
  readonly subscriptionIds: readonly number[] | undefined
}

export interface Inflight extends Delivery {
  readonly packetId: number
  /** 'publish': waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  state: 'publish' | 'pubrel'
}

export interface PendingWill {
  readonly message: Message
  timer: LongTimer | undefined
}

export class Session {
  readonly clientId: string
  /** Seconds the session outlives its connection; 0xFFFFFFFF never expires. */
  expiryInterval: number
  queue: Delivery[] = []
  // The collections below are created on first use: most idle clients never need them
  // (an idle connection's memory is mostly its socket, the parser and these).
  #subscriptions: Map<string, Subscription> | undefined
  #inflight: Map<number, Inflight> | undefined
  #incomingQos2: Set<number> | undefined
  connection: Connection | undefined
  expiryTimer: LongTimer | undefined
  pendingWill: PendingWill | undefined
  #nextPacketId = 1

  constructor(clientId: string, expiryInterval: number) {
    this.clientId = clientId
    this.expiryInterval = expiryInterval
  }

  get subscriptions(): Map<string, Subscription> {
    return (this.#subscriptions ??= new Map())
  }

  /** Outgoing QoS 1/2 messages sent and not yet completely acknowledged, by packet id. */
  get inflight(): Map<number, Inflight> {
    return (this.#inflight ??= new Map())
  }

  /** Incoming QoS 2 packet ids received (PUBREC sent) but not yet released by PUBREL. */
  get incomingQos2(): Set<number> {
    return (this.#incomingQos2 ??= new Set())
  }

  /** Number of messages in flight, without creating the map. */
  get inflightCount(): number {
    return this.#inflight === undefined ? 0 : this.#inflight.size
  }

  get subscriptionCount(): number {
    return this.#subscriptions === undefined ? 0 : this.#subscriptions.size
  }

  /** A free packet identifier for an outgoing QoS 1/2 message, or 0 when all are in use. */
  allocatePacketId(): number {
    if (this.inflightCount >= 65535) return 0
    for (;;) {
      const id = this.#nextPacketId
      this.#nextPacketId = id === 65535 ? 1 : id + 1
      if (this.#inflight === undefined || !this.#inflight.has(id)) return id
    }
  }

  /** Queue a delivery; when the queue is full the oldest is dropped. Returns true if one was dropped. */
  enqueue(delivery: Delivery, max: number): boolean {
    this.queue.push(delivery)
    if (this.queue.length > max) {
      this.queue.shift()
      return true
    }
    return false
  }
}
