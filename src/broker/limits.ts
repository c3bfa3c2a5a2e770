/**
 * Broker limits: every number the broker enforces, with its default and why.
 * Values come from configuration `limits:` and are clamped once, here.
 */
export interface Limits {
  /** Largest packet accepted and advertised (Maximum Packet Size). 1 MiB keeps a single
   *  client from pinning large buffers; raise it for big payloads. */
  readonly maxPacketSize: number
  /** Receive Maximum advertised: incoming QoS 1/2 publishes a client may have unacknowledged. */
  readonly receiveMaximum: number
  /** Longest keep alive accepted (s); a longer or zero request gets Server Keep Alive = this (v5). */
  readonly maxKeepAlive: number
  /** Topic Alias Maximum advertised to MQTT 5 clients. */
  readonly topicAliasMaximum: number
  /** Outgoing QoS 1/2 messages in flight per client, whatever larger Receive Maximum it sends. */
  readonly maxInflight: number
  /** Messages queued per session (offline, or behind a full in-flight window). When full,
   *  the oldest queued message is dropped and counted (`messagesDropped`). */
  readonly maxQueuedMessages: number
  /** A connection that has not completed CONNECT after this many ms is closed. */
  readonly connectTimeoutMs: number
  /** Longest Session Expiry Interval granted (s). */
  readonly maxSessionExpiry: number
  /** How often $SYS topics are published (s); 0 turns them off. */
  readonly sysInterval: number
  /** Bytes buffered for one slow client before QoS 0 messages to it are dropped. */
  readonly maxWriteBuffer: number
  /** Levels a topic name or filter may have (PUBLISH, SUBSCRIBE, will). 128 is far beyond
   *  any real hierarchy and keeps per-message work on a topic small; the protocol itself
   *  allows 32,768 levels in a 65,535-byte name. */
  readonly maxTopicLevels: number
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxPacketSize: 1024 * 1024,
  receiveMaximum: 100,
  maxKeepAlive: 60,
  topicAliasMaximum: 64,
  maxInflight: 100,
  maxQueuedMessages: 1000,
  connectTimeoutMs: 10_000,
  maxSessionExpiry: 0xffffffff,
  sysInterval: 10,
  maxWriteBuffer: 8 * 1024 * 1024,
  maxTopicLevels: 128,
})
