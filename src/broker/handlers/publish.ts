/**
 * PUBLISH from a client [MQTT-3.3]: topic alias, validation, QoS 2 duplicate detection,
 * flow control, authorization, then route and acknowledge.
 */
import { Buffer, isUtf8 } from 'node:buffer'
import type mqtt from 'mqtt-packet'
import type { QoS } from '../../mqtt/types.js'
import { toReasonCode } from '../../errors.js'
import { ReasonCode } from '../../protocol/reason-codes.js'
import { hasMoreLevels, topicNameFault } from '../../protocol/topic.js'
import type { Connection } from '../connection.js'
import type { Session } from '../session.js'
import { receivedQos0Encoding } from '../qos0-encoding.js'
import type { CountedLimit } from '../limits.js'
import { PublishRateLimiter } from '../rate-limit.js'
import { forwardableProperties } from '../properties.js'
import { clock } from '../../clock.js'

/**
 * Acknowledgements to a publisher leave in the order its PUBLISHes arrived [MQTT-4.6.0-2], so
 * every one goes through the commit barrier (broker.afterCommit answers in order), negative
 * ones too: a refusal stores nothing, but it must not overtake a PUBACK still waiting for the
 * commit of an earlier message. At once when nothing waits (the memory-only path).
 *
 * Acknowledge once what the PUBLISH changed is stored. A store that cannot write gets no false
 * acknowledgement: MQTT 5 PUBACK/PUBREC 0x97, MQTT 3.1.1 (which has no negative acknowledgement)
 * the connection closed.
 */
function acknowledgeStored(conn: Connection, qos: QoS, id: number, since?: number): void {
  // (Nothing recorded since `since`: the PUBLISH stored nothing — no persistent subscriber.)
  const stored = since === undefined || conn.broker.commits.recorded !== since
  // The memory-only path (and a quiet store) answers at once, without a callback.
  if (!conn.broker.commits.pending) {
    acknowledge(conn, qos, id, 0)
    return
  }
  // (A change of another client's refused in the same group — its session moved to another node — is
  // not this publisher's concern: only a refusal of one of the changes its PUBLISH made is.)
  conn.broker.afterCommit((err) => {
    // (A PUBLISH that stored nothing — no persistent subscriber — is acknowledged in its turn all the same.)
    if (err === undefined || !stored) {
      acknowledge(conn, qos, id, 0)
      return
    }
    const session = conn.session
    if (qos === 2 && session !== undefined) conn.broker.sessions.releaseIncomingQos2(session, id)
    if (conn.v5) acknowledge(conn, qos, id, toReasonCode('ERR_STORE_WRITE'))
    else conn.fail('ERR_STORE_WRITE', 'PUBLISH not stored: no acknowledgement')
  }, since)
}

/** A PUBACK/PUBREC with a reason code of 0x80 or more (MQTT 5), in its place among the acknowledgements. */
function refuse(conn: Connection, qos: QoS, id: number, reasonCode: number): void {
  conn.broker.afterCommit(() => acknowledge(conn, qos, id, reasonCode))
}

/**
 * A PUBLISH refused for a reason the client may not learn from MQTT 3.1.1: MQTT 5 gets
 * `reasonCode` (QoS 0: nothing); 3.1.1 has no negative acknowledgement, so it is acknowledged
 * and dropped, the connection kept.
 */
function refusePublish(conn: Connection, session: Session, qos: QoS, id: number, reasonCode: number): void {
  if (conn.v5) {
    refuse(conn, qos, id, reasonCode)
    return
  }
  if (qos === 2) conn.broker.sessions.addIncomingQos2(session, id)
  acknowledgeStored(conn, qos, id)
}

function acknowledge(conn: Connection, qos: QoS, id: number, reasonCode: number): void {
  if (qos === 0) return
  if (conn.v5 && reasonCode !== 0) {
    conn.send(qos === 1 ? ({ cmd: 'puback', messageId: id, reasonCode }) : ({ cmd: 'pubrec', messageId: id, reasonCode }))
  } else {
    conn.sendAck(qos === 1 ? 'puback' : 'pubrec', id)
  }
}

/**
 * The retained limit a retained PUBLISH of `topic` would pass (maxRetainedMessages,
 * maxRetainedBytes), or undefined when it fits. Clearing always fits, and so does replacing a
 * retained message with one no larger.
 */
function retainedOverLimit(conn: Connection, topic: string, payloadBytes: number): CountedLimit | undefined {
  if (payloadBytes === 0) return undefined
  const { maxRetainedMessages, maxRetainedBytes } = conn.broker.limits
  if (maxRetainedMessages === 0 && maxRetainedBytes === 0) return undefined
  const store = conn.broker.retained
  const held = store.heldBytes?.(topic)
  if (held === undefined && maxRetainedMessages > 0 && (store.userSize ?? 0) >= maxRetainedMessages) return 'maxRetainedMessages'
  const bytes = topic.length + payloadBytes
  if (maxRetainedBytes > 0 && bytes > (held ?? 0) && (store.userBytes ?? 0) - (held ?? 0) + bytes > maxRetainedBytes) return 'maxRetainedBytes'
  return undefined
}

/** limits.publishRate: off unless configured; the client's buckets are made at its first PUBLISH. */
function withinPublishRate(conn: Connection, packet: mqtt.IPublishPacket): boolean {
  const rate = conn.broker.limits.publishRate
  if (!PublishRateLimiter.needed(rate)) return true
  conn.publishRate ??= new PublishRateLimiter(rate)
  return conn.publishRate.allow(packet.payload.length)
}

/**
 * The checks of a PUBLISH's topic name: true when the name is accepted; otherwise the client is
 * answered here (closed, or refused in its PUBACK/PUBREC). The answer depends on the name alone
 * (and fixed limits), so a client that publishes to the same name again is not checked again
 * (conn.checkedTopic).
 */
function topicNameAccepted(conn: Connection, topic: string, qos: QoS, id: number): boolean {
  const fault = topicNameFault(topic)
  if (fault === 'malformed') {
    // Ill-formed UTF-8 or U+0000 makes the packet malformed [MQTT-1.5.4-1, MQTT-1.5.4-2].
    conn.fail('ERR_MALFORMED_PACKET', 'PUBLISH topic name is not well-formed UTF-8')
    return false
  }
  if (fault === 'invalid') {
    conn.fail(topic === '' ? 'ERR_PROTOCOL' : 'ERR_TOPIC_NAME_INVALID', 'PUBLISH topic name invalid')
    return false
  }
  if (hasMoreLevels(topic, conn.broker.limits.maxTopicLevels)) {
    // A well-formed name this server does not accept: MQTT 5 says so in the PUBACK/PUBREC
    // (0x90) and keeps the connection; a QoS 0 publish has no acknowledgement, so it gets
    // DISCONNECT 0x90; MQTT 3.1.1 has no negative acknowledgement: the connection is closed
    // rather than the message silently dropped [MQTT-3.3.5-2].
    if (conn.v5 && qos > 0) {
      conn.broker.logger.info({ clientId: conn.clientId, code: 'ERR_TOPIC_NAME_INVALID' }, 'PUBLISH topic has more levels than maxTopicLevels')
      refuse(conn, qos, id, ReasonCode.TopicNameInvalid)
    } else {
      conn.fail('ERR_TOPIC_NAME_INVALID', 'PUBLISH topic has more levels than maxTopicLevels')
    }
    return false
  }
  return true
}

/**
 * `frame`: the PUBLISH's bytes as received, when at hand; a QoS 0 message whose bytes are already
 * its encoding for subscribers of the publisher's protocol version goes out as received
 * (receivedQos0Encoding).
 */
export function handlePublish(conn: Connection, packet: mqtt.IPublishPacket, frame?: Buffer): void {
  const broker = conn.broker
  const session = conn.session
  const authz = conn.authz
  if (session === undefined || authz === undefined) return
  broker.stats.messagesReceived++
  const qos = packet.qos
  broker.stats.messagesReceivedByQos[qos]++
  const id = packet.messageId ?? 0
  const props = packet.properties
  let topic = packet.topic

  if (conn.v5 && props?.topicAlias !== undefined) {
    const alias = props.topicAlias
    if (typeof alias !== 'number' || alias === 0 || alias > broker.limits.topicAliasMaximum) {
      conn.fail('ERR_TOPIC_ALIAS_INVALID', `topic alias ${String(alias)} out of range`)
      return
    }
    if (topic === '') {
      const known = conn.inAliases?.get(alias)
      if (known === undefined) {
        conn.fail('ERR_PROTOCOL', `unknown topic alias ${alias}`)
        return
      }
      topic = known
    } else {
      ;(conn.inAliases ??= new Map()).set(alias, topic)
    }
  }
  if (!withinPublishRate(conn, packet)) {
    conn.broker.countLimit('publishRate')
    conn.fail('ERR_QUOTA_EXCEEDED', 'publish rate exceeded')
    return
  }
  if (qos > 0 && id === 0) {
    // QoS 1 and 2 PUBLISH packets carry a non-zero packet identifier [MQTT-2.2.1-3].
    conn.fail('ERR_PROTOCOL', 'PUBLISH with QoS > 0 and packet identifier 0')
    return
  }
  if (topic !== conn.checkedTopic) {
    if (!topicNameAccepted(conn, topic, qos, id)) return
    conn.checkedTopic = topic
  }
  if (qos === 2) {
    // A QoS 2 packet id not yet released is a duplicate: acknowledge, do not route again [MQTT-4.3.3-10].
    if (session.incomingQos2.has(id)) {
      acknowledgeStored(conn, 2, id)
      return
    }
    if (session.incomingQos2.size >= broker.limits.receiveMaximum) {
      conn.fail('ERR_RECEIVE_MAXIMUM_EXCEEDED', 'client exceeded Receive Maximum')
      return
    }
  }
  if (conn.v5 && props?.payloadFormatIndicator === true && !isUtf8(packet.payload as Buffer)) {
    if (qos === 0) conn.fail('ERR_PAYLOAD_FORMAT_INVALID', 'payload is not UTF-8 as its format indicator says')
    else refuse(conn, qos, id, ReasonCode.PayloadFormatInvalid)
    return
  }
  if (!authz.canPublish(topic, qos, packet.retain)) {
    broker.stats.authzDenied.publish++
    broker.logger.debug({ clientId: conn.clientId, topic }, 'publish not authorized')
    refusePublish(conn, session, qos, id, ReasonCode.NotAuthorized)
    return
  }
  const overLimit = packet.retain ? retainedOverLimit(conn, topic, packet.payload.length) : undefined
  if (overLimit !== undefined) {
    broker.countLimit(overLimit)
    broker.logger.debug({ clientId: conn.clientId, topic, limit: overLimit }, 'retained publish refused: limit reached')
    refusePublish(conn, session, qos, id, ReasonCode.QuotaExceeded)
    return
  }

  const expiry = conn.v5 ? props?.messageExpiryInterval : undefined
  const mark = broker.commits.recorded
  broker.publish({
    topic,
    payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
    qos,
    retain: packet.retain,
    properties: conn.v5 && props !== undefined ? forwardableProperties(props) : undefined,
    expiresAt: expiry === undefined ? undefined : clock.now() + expiry * 1000,
    origin: conn.clientId,
    // in the literal, so the message has one shape whether or not a QoS 0 encoding is cached on it
    // (or a cluster id set on it)
    encoded: qos === 0 && frame !== undefined ? receivedQos0Encoding(frame, conn.protocolVersion) : undefined,
    clusterId: undefined,
  })
  if (qos === 2) broker.sessions.addIncomingQos2(session, id)
  if (qos !== 0) acknowledgeStored(conn, qos, id, mark)
}
