/**
 * Storage seams. Every change is recorded at once (a cheap, synchronous call that never reads)
 * and committed later, in groups; a caller that must not answer before a change is durable
 * (PUBACK, SUBACK, CONNACK, PUBREL…) waits with `afterCommit`. A backend that commits over
 * the network (Redis) fits the same shape: record into a pipeline, run it, call back.
 */
import type { Delivery, Message, ProtocolVersion } from '../mqtt/types.js'

/** When changes recorded so far are durable. */
export interface CommitBarrier {
  /** True when changes were recorded that are not committed yet. */
  readonly pending: boolean
  /** Changes recorded since start (a caller compares it to learn whether it recorded any). */
  readonly recorded: number
  /**
   * False while the store cannot be reached at all (the cluster's Redis is down): new CONNECTs
   * are refused with Server unavailable instead of accepted with nothing stored. Always true
   * for a local store (a failing disk shows as failed commits instead).
   */
  readonly available: boolean
  /**
   * `done` runs once every change recorded before this call is committed (`err` when the
   * commit failed: nothing of that group is stored). Callbacks run in the order given, and at
   * once (synchronously) when nothing is pending. `since` (`recorded` before the caller made its
   * changes): `err` also says when the store refused one of the changes recorded after it (in a
   * cluster: a write for a session another node holds now, ERR_SESSION_TAKEN_OVER); a waiter is
   * never told of a refusal of changes that were not its own (the rest of the group is stored).
   */
  afterCommit(done: (err: Error | undefined) => void, since?: number): void
}

export interface RetainedStore {
  /** Store (or, with an empty payload, clear) the retained message for its topic. */
  set(message: Message): Promise<void> | void
  /** Retained messages whose topic matches `filter`. Expired messages are not returned. */
  match(filter: string): Promise<Message[]> | Message[]
  /**
   * Walk the retained messages matching any of `filters` in slices (see RetainedScan): each
   * message once, however many of the filters match it. Expired messages are not returned.
   */
  scan(filters: readonly string[]): RetainedScan
  readonly size: number
  /** Retained messages on topics not starting with `$`: what clients retained ($SYS left out). */
  readonly userSize?: number
  /** Their bytes (topic + payload), as limits.maxRetainedBytes counts them. */
  readonly userBytes?: number
  /** The bytes (topic + payload) of the message retained on `topic`; undefined: none. */
  heldBytes?(topic: string): number | undefined
  close(): Promise<void>
}

/** One retained message found by a scan, with the first of the scan's filters that matches it. */
export interface RetainedHit {
  readonly message: Message
  /** Index into the filters given to `scan()`. */
  readonly filter: number
}

export interface RetainedBatch {
  /** May be empty while the walk goes on: a slice also ends after a bounded amount of work. */
  readonly hits: readonly RetainedHit[]
  readonly done: boolean
}

/** A resumable walk: each `next(max)` returns at most `max` hits, so callers can yield between slices. */
export interface RetainedScan {
  next(max: number): Promise<RetainedBatch> | RetainedBatch
}

/** A subscription as stored: the options the client gave, by filter (`key`, share prefix included). */
export interface StoredSubscription {
  readonly key: string
  readonly qos: 0 | 1 | 2
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: 0 | 1 | 2
  readonly subscriptionId: number | undefined
}

/** Who held a session last (admin API); a username that carried the token is never kept. */
export interface StoredLastConnection {
  readonly username: string | undefined
  readonly usernameIsToken: boolean
  readonly remoteAddress: string
  readonly protocolVersion: ProtocolVersion
  /** Epoch milliseconds. */
  readonly disconnectedAt: number
}

/** A will kept with its session, so that a crash does not lose it. */
export interface StoredWill {
  readonly message: Message
  /** Will Delay Interval (s). */
  readonly delay: number
  /** Will Message Expiry Interval (s), counted from publication. */
  readonly expiry: number | undefined
  /** Epoch ms at which it is due once its connection ended; undefined while connected. */
  readonly publishAt: number | undefined
}

/** The session-level facts (its subscriptions, messages and packet ids are stored apart). */
export interface SessionFacts {
  readonly clientId: string
  /** Session Expiry Interval (s); 0xFFFFFFFF never expires. */
  readonly expiryInterval: number
  readonly connected: boolean
  readonly lastConnection: StoredLastConnection | undefined
  readonly will: StoredWill | undefined
}

/** An outgoing message of a stored session that has a packet identifier. */
export interface StoredInflight {
  readonly delivery: Delivery
  readonly packetId: number
  /** 'publish': waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  readonly state: 'publish' | 'pubrel'
}

/** A persistent session as recovered at start-up. */
export interface StoredSession extends SessionFacts {
  /** Epoch ms when the broker last knew the session connected (a crash: its last heartbeat). */
  readonly lostAt: number
  readonly subscriptions: readonly StoredSubscription[]
  /** Messages not sent yet, oldest first. */
  readonly queue: readonly Delivery[]
  /** Messages sent and not completely acknowledged, in the order they must be resent. */
  readonly inflight: readonly StoredInflight[]
  /** Incoming QoS 2 packet ids received and not yet released. */
  readonly incomingQos2: readonly number[]
}

/**
 * Persistent sessions, change by change. Only sessions with a Session Expiry Interval above 0
 * are recorded, and only their QoS 1/2 messages; the memory store records nothing.
 */
export interface SessionStore {
  /** False for the memory store: callers skip recording altogether. */
  readonly durable: boolean
  /** When what this store recorded is committed (the state database's or Redis's; nothing ever pending in memory). */
  readonly commits: CommitBarrier
  /** Every stored session (start-up, before anything listens). */
  recover(): Promise<StoredSession[]>
  /** Create or update a session's facts. */
  saveSession(facts: SessionFacts): void
  /** The session ended: its facts, subscriptions, messages and packet ids go. `deliveries`: its stored delivery ids. */
  endSession(clientId: string, deliveries: Iterable<number>): void
  addSubscription(clientId: string, sub: StoredSubscription): void
  removeSubscription(clientId: string, key: string): void
  /** A QoS 1/2 message queued for a session; returns the delivery's stored id. */
  queueDelivery(clientId: string, delivery: Delivery): number
  /**
   * Its PUBLISH goes out with this packet identifier. `sentNow`: it goes out at once, before
   * this is committed (QoS 1): a store may hold its commit a moment for the PUBACK, after which
   * the delivery needs no writing at all.
   */
  deliverySent(delivery: number, packetId: number, sentNow?: boolean): void
  /** PUBREC received, PUBREL sent [MQTT-4.3.3-4]. */
  deliveryReleased(delivery: number): void
  /**
   * PUBACK or PUBCOMP received, or the message dropped. May be committed lazily (a crash before
   * then sends the message again); what of the delivery is not committed yet need never be.
   */
  deliveryDone(delivery: number): void
  /** An incoming QoS 2 packet id received (PUBREC goes out after commit). */
  addIncomingQos2(clientId: string, packetId: number): void
  /** Released by PUBREL. */
  removeIncomingQos2(clientId: string, packetId: number): void
  close(): Promise<void>
}
