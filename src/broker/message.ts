/**
 * An application message as the broker routes it: what a client published (or a will),
 * with the MQTT 5 properties that travel with it [MQTT-3.3.2-*].
 */
import type { QoS } from '../authz/types.js'

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
}

/** Seconds left before a message expires (rounded up), 0 when expired, undefined if it never does. */
export function remainingExpiry(message: Message, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined
  const ms = message.expiresAt - now
  return ms <= 0 ? 0 : Math.ceil(ms / 1000)
}
