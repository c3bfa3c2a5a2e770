/**
 * Session state [MQTT-4.1]: subscriptions, outgoing QoS 1/2 messages in flight (with the
 * part of the client's window the current connection uses), the queue of messages waiting
 * for the client (offline, or behind a full window), and incoming QoS 2 packet ids not yet
 * released.
 */
import type { Delivery, Message, ProtocolVersion } from '../mqtt/types.js'
import type { Subscription } from '../router/topic-tree.js'
import type { Connection } from './connection.js'
import { DeliveryQueue } from './delivery-queue.js'
import { InflightTable, type InflightLinks } from './inflight-table.js'
import { RecentIds } from './recent-ids.js'
import type { LongTimer } from './timers.js'

export interface Inflight extends Delivery, InflightLinks {
  readonly packetId: number
  /**
   * 'publish': PUBLISH sent, waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for
   * PUBCOMP; 'held': sent on an earlier connection of a resumed session, to be resent (DUP)
   * when the client's window has room.
   */
  state: 'publish' | 'pubrel' | 'held'
  /** Its PUBLISH went out on the current connection, so it uses the client's window until
   *  PUBACK, PUBCOMP or a PUBREC that refuses it [MQTT-4.9.0-2]. */
  counted: boolean
}

/** A will waiting for its Will Delay Interval to pass [MQTT-3.1.3-9]. */
export interface PendingWill {
  readonly message: Message
  /** Will Message Expiry Interval (s), counted from publication. */
  readonly expiry: number | undefined
  /** Epoch ms at which it is published. */
  readonly publishAt: number
  timer: LongTimer | undefined
}

/**
 * Who held a persistent session last, kept when its connection ends so that an offline
 * session can be told apart from the others (admin API). A username that carried the token
 * is not kept: only the fact that it did.
 */
export interface LastConnection {
  readonly username: string | undefined
  readonly usernameIsToken: boolean
  readonly remoteAddress: string
  readonly protocolVersion: ProtocolVersion
  /** Epoch milliseconds. */
  readonly disconnectedAt: number
}

/** The queue of every session that never queued anything (read only: nothing is pushed to it). */
const NO_QUEUE: Pick<DeliveryQueue, 'length' | 'peek'> = new DeliveryQueue()

export class Session {
  readonly clientId: string
  /** Seconds the session outlives its connection; 0xFFFFFFFF never expires. */
  expiryInterval: number
  /** Payload bytes queued (maxQueuedBytes) and in flight (maxInflightBytes). */
  #queuedBytes = 0
  #inflightBytes = 0
  // The collections below are created on first use: most idle clients never need them
  // (an idle connection's memory is mostly its socket, the parser and these).
  #queue: DeliveryQueue | undefined
  #subscriptions: Map<string, Subscription> | undefined
  #inflight: InflightTable<Inflight> | undefined
  #incomingQos2: Set<number> | undefined
  /** Held in-flight messages (see holdInflight), newest first so the oldest pops off the end. */
  #held: Inflight[] | undefined
  #windowUsed = 0
  connection: Connection | undefined
  expiryTimer: LongTimer | undefined
  pendingWill: PendingWill | undefined
  /** Set when the session outlives a connection; undefined before the first one ended. */
  lastConnection: LastConnection | undefined
  /** Recorded in the session store (persistent, with persistence on). */
  stored = false
  #nextPacketId = 1
  /**
   * In a cluster, a persistent session's recently delivered cluster ids (created at its first
   * such delivery, or seeded when it moves in from another node): each message once [MQTT-4.3.3].
   */
  recent: RecentIds | undefined
  /**
   * In a cluster: another node is taking the session over (its packets are no longer read here);
   * new messages for it go to that node (ClusterBus.movedAway), none is delivered here.
   */
  leaving = false

  constructor(clientId: string, expiryInterval: number) {
    this.clientId = clientId
    this.expiryInterval = expiryInterval
  }

  /** False when the message with this cluster id was delivered to the session lately (see `recent`). */
  firstCopy(clusterId: number, now: number): boolean {
    return (this.recent ??= new RecentIds(now)).first(clusterId, now)
  }

  get subscriptions(): Map<string, Subscription> {
    return (this.#subscriptions ??= new Map())
  }

  /** Outgoing QoS 1/2 messages sent and not yet completely acknowledged, by packet id, oldest first. */
  get inflight(): InflightTable<Inflight> {
    return (this.#inflight ??= new InflightTable())
  }

  /** Incoming QoS 2 packet ids received (PUBREC sent) but not yet released by PUBREL. */
  get incomingQos2(): Set<number> {
    return (this.#incomingQos2 ??= new Set())
  }

  /** Number of messages in flight, without creating the map. */
  get inflightCount(): number {
    return this.#inflight === undefined ? 0 : this.#inflight.size
  }

  /**
   * QoS 1/2 PUBLISH packets sent on the current connection and not yet acknowledged: what
   * the client's Receive Maximum limits [MQTT-3.3.4-9].
   */
  get windowUsed(): number {
    return this.#windowUsed
  }

  /** In-flight messages of a resumed session still waiting to be resent. */
  get heldCount(): number {
    return this.#held === undefined ? 0 : this.#held.length
  }

  /** Record a message whose PUBLISH is going out for the first time. */
  addInflight(d: Delivery, packetId: number): Inflight {
    let f: Inflight
    if ((d as Partial<Inflight>).packetId === 0) {
      // Made by toDelivery with the in-flight fields already there: filled in place (a delivery
      // belongs to one session, and packet id 0 says it has not been in flight).
      const ready = d as Delivery & { packetId: number; state: Inflight['state']; counted: boolean }
      ready.packetId = packetId
      ready.state = 'publish'
      ready.counted = true
      f = ready as Inflight
    } else {
      // One object shape for every other message in flight (a spread copies whatever shape `d` has).
      f = {
        message: d.message, qos: d.qos, retain: d.retain, subscriptionIds: d.subscriptionIds, stored: d.stored, packetId, state: 'publish', counted: true,
        prev: undefined, next: undefined,
      }
    }
    this.inflight.set(f)
    this.#inflightBytes += f.message.payload.length
    this.#windowUsed++
    return f
  }

  /**
   * A new connection resumes this session. The client's window starts empty: the send quota
   * starts again from the new Receive Maximum on each connection (§4.9, [MQTT-4.9.0-1]). Every PUBLISH not yet
   * acknowledged is held, in the order first sent [MQTT-4.6.0-1], for the caller to resend as
   * the window allows (takeHeld). Messages waiting for PUBCOMP are not held: their PUBREL goes
   * out at once and, as no PUBLISH is sent for them, they use none of the new window.
   */
  holdInflight(): void {
    this.#windowUsed = 0
    this.#held = undefined
    if (this.#inflight === undefined || this.#inflight.size === 0) return
    const held: Inflight[] = []
    // The table keeps insertion order, and entries are inserted as their PUBLISH is first sent.
    for (const f of this.#inflight.values()) {
      f.counted = false
      if (f.state !== 'pubrel') {
        f.state = 'held'
        held.push(f)
      }
    }
    if (held.length > 0) this.#held = held.reverse()
  }

  /** The oldest held message, now counted as sent on this connection: the caller resends it. */
  takeHeld(): Inflight | undefined {
    const held = this.#held
    if (held === undefined) return undefined
    const f = held.pop() as Inflight
    if (held.length === 0) this.#held = undefined
    f.state = 'publish'
    f.counted = true
    this.#windowUsed++
    return f
  }

  /**
   * A message in flight recovered from the store (its PUBLISH went out before a restart): it
   * is resent (DUP) when the client resumes the session, PUBREL for one that waits for PUBCOMP.
   */
  restoreInflight(d: Delivery, packetId: number, state: 'publish' | 'pubrel'): void {
    this.inflight.set({ ...d, packetId, state, counted: false, prev: undefined, next: undefined })
    this.#inflightBytes += d.message.payload.length
    if (packetId >= this.#nextPacketId) this.#nextPacketId = packetId === 65535 ? 1 : packetId + 1
  }

  /** End a message's flight: acknowledged, refused by the client, or not deliverable. False when it was not in flight. */
  completeInflight(f: Inflight): boolean {
    if (this.#inflight?.get(f.packetId) !== f) return false
    this.#inflight.delete(f.packetId)
    this.#inflightBytes -= f.message.payload.length
    if (f.counted) this.#windowUsed--
    if (f.state === 'held' && this.#held !== undefined) {
      this.#held.splice(this.#held.lastIndexOf(f), 1)
      if (this.#held.length === 0) this.#held = undefined
    }
    return true
  }

  /** Forget every message in flight (the session ends). */
  clearInflight(): void {
    this.#inflight = undefined
    this.#inflightBytes = 0
    this.#held = undefined
    this.#windowUsed = 0
  }

  /** Payload bytes of the messages in flight. */
  get inflightBytes(): number {
    return this.#inflightBytes
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

  /** Messages waiting for the client (offline, or behind a full window), oldest first. */
  get queue(): Pick<DeliveryQueue, 'length' | 'peek'> {
    return this.#queue ?? NO_QUEUE
  }

  /** Payload bytes of the queued messages. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /**
   * Queue a delivery. While the queue holds more than `maxMessages` messages or `maxBytes`
   * payload bytes, the oldest is dropped (the newest is kept, however large). Says how many
   * were dropped, and whether the byte limit dropped any.
   */
  enqueue(delivery: Delivery, maxMessages: number, maxBytes: number, onDrop?: (dropped: Delivery) => void): { messages: number; bytesLimit: boolean } {
    const queue = (this.#queue ??= new DeliveryQueue())
    queue.push(delivery)
    this.#queuedBytes += delivery.message.payload.length
    let messages = 0
    let bytesLimit = false
    while (queue.length > 0 && (queue.length > maxMessages || (this.#queuedBytes > maxBytes && queue.length > 1))) {
      if (queue.length <= maxMessages) bytesLimit = true
      const dropped = this.dequeue()
      if (dropped !== undefined) onDrop?.(dropped)
      messages++
    }
    return { messages, bytesLimit }
  }

  /** Take the oldest queued message off the queue. */
  dequeue(): Delivery | undefined {
    const d = this.#queue?.shift()
    if (d !== undefined) this.#queuedBytes -= d.message.payload.length
    return d
  }

  /** Drop every queued message (the session ends). */
  clearQueue(): void {
    this.#queue?.clear()
    this.#queuedBytes = 0
  }

  /** What the client has not acknowledged: queued, and sent without its PUBACK / PUBREC yet. */
  *unacknowledged(): Generator<Delivery> {
    if (this.#queue !== undefined) yield* this.#queue
    if (this.#inflight !== undefined) for (const f of this.#inflight.values()) if (f.state === 'publish') yield f
  }

  /** The store ids of the messages this session holds (queued and in flight). */
  *storedDeliveries(): Generator<number> {
    if (this.#queue !== undefined) for (const d of this.#queue) if (d.stored !== undefined) yield d.stored
    if (this.#inflight !== undefined) for (const f of this.#inflight.values()) if (f.stored !== undefined) yield f.stored
  }
}
