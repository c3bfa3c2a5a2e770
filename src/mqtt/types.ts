/**
 * The MQTT vocabulary every layer shares (broker, router, authorization, stores, cluster):
 * QoS, protocol versions, "never expires", the application message as the broker routes it
 * [MQTT-3.3.2-*] and a delivery of it to one client. Nothing here imports another module of
 * Portcullis, so store/ and cluster/ depend on it rather than on broker/.
 */

export type QoS = 0 | 1 | 2

/** Protocol levels: 3 (MQTT 3.1), 4 (MQTT 3.1.1), 5 (MQTT 5.0). */
export type ProtocolVersion = 3 | 4 | 5

/** A Session Expiry Interval of 0xFFFFFFFF: the session never expires [MQTT-3.1.2-11]. */
export const NEVER_EXPIRES = 0xffffffff

export interface MessageProperties {
  payloadFormatIndicator?: boolean
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: Record<string, string | string[]>
}

export interface Message {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean
  /** Properties forwarded unaltered to subscribers (v5), or undefined. */
  readonly properties: MessageProperties | undefined
  /** Epoch ms at which the message expires (Message Expiry Interval), or undefined. */
  readonly expiresAt: number | undefined
  /** Client id of the publisher (for No Local), undefined for broker messages. */
  readonly origin: string | undefined
  /** QoS 0 PUBLISH bytes, encoded once and shared by every subscriber (see connection.ts). */
  encoded?: Buffer[]
  /**
   * In a cluster: the id the publishing node gave the message when it forwarded it, the same in
   * every copy on every node (a node a client has just moved to delivers it to that client once).
   */
  clusterId?: number
}

/** Seconds left before a message expires (rounded up), 0 when expired, undefined if it never does. */
export function remainingExpiry(message: Message, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined
  const ms = message.expiresAt - now
  return ms <= 0 ? 0 : Math.ceil(ms / 1000)
}

/** A message on its way to one client. */
export interface Delivery {
  readonly message: Message
  readonly qos: QoS
  readonly retain: boolean
  readonly subscriptionIds: readonly number[] | undefined
  /**
   * The session store's id for this delivery when it is stored (persistent session, QoS ≥ 1),
   * set once by the broker when it hands the delivery to its session (a delivery belongs to one
   * session: set in place, every delivery keeps one shape).
   */
  stored?: number | undefined
  /** The shared subscription it came through (`$share/<group>/<filter>`), if one. */
  readonly group?: string | undefined
}

/** The Subscription Identifiers a delivery through one subscription carries [MQTT-3.3.4-3]. */
export function subscriptionIdsOf(sub: { readonly subscriptionId: number | undefined }): readonly number[] | undefined {
  return sub.subscriptionId === undefined ? undefined : [sub.subscriptionId]
}

/**
 * A delivery of `message` through a subscription granted `subscriptionQos`: the lower of the
 * two QoS levels [MQTT-3.8.4-8]; RETAIN as given (Retain As Published decides it); `group`: the
 * shared subscription (its `$share/…` key) it came through.
 */
export function toDelivery(
  message: Message, subscriptionQos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined, group?: string,
): Delivery {
  const qos = message.qos < subscriptionQos ? message.qos : subscriptionQos
  if (qos === 0) return { message, qos, retain, subscriptionIds, group, stored: undefined }
  // A QoS 1/2 delivery comes with the fields its session records while it is in flight (packet
  // id 0: not in flight yet), so that the session fills them in place when its PUBLISH goes out
  // instead of copying it into a second object (src/broker/session.ts, addInflight).
  const flightReady: Delivery & { packetId: number; state: 'publish'; counted: boolean; prev: undefined; next: undefined } = {
    message, qos, retain, subscriptionIds, group, stored: undefined, packetId: 0, state: 'publish', counted: false, prev: undefined, next: undefined,
  }
  return flightReady
}
