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
  readonly subscriptions = new Map<string, Subscription>()
  readonly inflight = new Map<number, Inflight>()
  queue: Delivery[] = []
  /** Incoming QoS 2 packet ids received (PUBREC sent) but not yet released by PUBREL. */
  readonly incomingQos2 = new Set<number>()
  connection: Connection | undefined
  expiryTimer: LongTimer | undefined
  pendingWill: PendingWill | undefined
  #nextPacketId = 1

  constructor(clientId: string, expiryInterval: number) {
    this.clientId = clientId
    this.expiryInterval = expiryInterval
  }

  /** A free packet identifier for an outgoing QoS 1/2 message, or 0 when all are in use. */
  allocatePacketId(): number {
    if (this.inflight.size >= 65535) return 0
    for (;;) {
      const id = this.#nextPacketId
      this.#nextPacketId = id === 65535 ? 1 : id + 1
      if (!this.inflight.has(id)) return id
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
