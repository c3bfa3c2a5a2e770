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
  /** Subscriptions one session may hold; filters beyond it are refused in the SUBACK with
   *  0x97 Quota exceeded (3.1.1: 0x80). Replacing an existing subscription always works. */
  readonly maxSubscriptionsPerClient: number
  /** Payload bytes of outgoing QoS 1/2 messages in flight per session: beyond it, further
   *  messages wait in the queue (as when the client's window is full). One message is always
   *  allowed, however large. */
  readonly maxInflightBytes: number
  /** Payload bytes queued per session. When over, the oldest queued messages are dropped and
   *  counted, as with maxQueuedMessages. */
  readonly maxQueuedBytes: number
  /** New connections per second from one source address (IPv6: its /64), a token bucket
   *  refilled at this rate, holding up to connectBurstPerAddress; 0 turns it off. Over it, a CONNECT is
   *  refused before authentication: MQTT 5 CONNACK 0x9F Connection rate exceeded, 3.1.1 close. */
  readonly connectRatePerAddress: number
  /** Connections one address may open at once before connectRatePerAddress paces it. */
  readonly connectBurstPerAddress: number
  /** Per-client publish rate, off (0) by default: PUBLISH packets and payload bytes per
   *  second, each a token bucket holding one second's worth. Over it: MQTT 5 DISCONNECT
   *  0x97 Quota exceeded, 3.1.1 close. */
  readonly publishRate: PublishRate
  /** Retained messages clients may keep (the broker's own `$` topics not counted); 0: no limit.
   *  A retained PUBLISH that would keep one more is refused: MQTT 5 0x97 Quota exceeded,
   *  3.1.1 acknowledged and dropped (as an unauthorized publish). Replacing or clearing a
   *  retained message always works. Without it one client could grow memory (and the store)
   *  without bound, one topic at a time. */
  readonly maxRetainedMessages: number
  /** Bytes (topic + payload) of the retained messages clients keep; 0: no limit. Over it, a
   *  retained PUBLISH that would add bytes is refused as for maxRetainedMessages. */
  readonly maxRetainedBytes: number
  /** Subscriptions all sessions on this node may hold together; 0: no limit. A new filter past
   *  it is refused as for maxSubscriptionsPerClient. Per client alone, many clients could still
   *  grow the node's subscription tree -- and, in a cluster, every node's copy of its routes. */
  readonly maxSubscriptions: number
}

export interface PublishRate {
  /** PUBLISH packets per second per client; 0: no limit. */
  readonly messages: number
  /** Payload bytes per second per client; 0: no limit. A message larger than this passes
   *  when the client has the whole second's allowance, and uses the next seconds'. */
  readonly bytes: number
}

/** The limits counted in `/metrics` (portcullis_limit_hits_total) and in the stats when they act. */
export const COUNTED_LIMITS = [
  'maxSubscriptionsPerClient', 'maxInflightBytes', 'maxQueuedBytes', 'connectRatePerAddress', 'publishRate',
  'maxRetainedMessages', 'maxRetainedBytes', 'maxSubscriptions',
] as const
export type CountedLimit = (typeof COUNTED_LIMITS)[number]

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxPacketSize: 1024 * 1024,
  receiveMaximum: 100,
  maxKeepAlive: 60,
  topicAliasMaximum: 64,
  // Room for a subscriber fed at tens of thousands of messages/s to catch up: with 100, one that
  // fell behind (a pause, a slow round) was fed only 100 per round trip, and at 20,000/s on a
  // slow core that barely outpaced what kept arriving (issue 19: p99 up to 36 ms where 1,000 gave
  // 2-5 ms). maxInflightBytes still bounds what one client holds in flight.
  maxInflight: 1000,
  maxQueuedMessages: 1000,
  connectTimeoutMs: 10_000,
  maxSessionExpiry: 0xffffffff,
  sysInterval: 10,
  maxWriteBuffer: 8 * 1024 * 1024,
  maxTopicLevels: 128,
  // Per client and per address: generous for any real device, tight enough that one client
  // cannot hold a large share of the broker's memory.
  maxSubscriptionsPerClient: 10_000,
  maxInflightBytes: 16 * 1024 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
  // A fleet behind one NAT address reconnecting after a restart still gets in within seconds.
  connectRatePerAddress: 1000,
  connectBurstPerAddress: 5000,
  publishRate: Object.freeze({ messages: 0, bytes: 0 }),
  // Far above what a fleet's last-known states take (a million topics; 256 MiB of topics and
  // payloads, about 0.5-1 GiB of process memory with the index), yet a bound.
  maxRetainedMessages: 1_000_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  // 200,000 clients with 10 subscriptions each; a few hundred bytes each on every node.
  maxSubscriptions: 2_000_000,
})
