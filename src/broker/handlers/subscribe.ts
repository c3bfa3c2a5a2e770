/**
 * SUBSCRIBE [MQTT-3.8]: validate each filter, authorize its underlying filter, store it,
 * SUBACK, then send matching retained messages per Retain Handling (retained-delivery.ts).
 */
import type mqtt from 'mqtt-packet'
import { toReasonCode } from '../../errors.js'
import { ReasonCode, v3SubackCode } from '../../protocol/reason-codes.js'
import { hasMoreLevels, isValidTopicFilter, parseSharedFilter } from '../../protocol/topic.js'
import type { Subscription } from '../../router/topic-tree.js'
import type { Connection } from '../connection.js'
import { deliverRetained } from '../retained-delivery.js'

export function handleSubscribe(conn: Connection, packet: mqtt.ISubscribePacket): void {
  const broker = conn.broker
  const session = conn.session
  const authz = conn.authz
  if (session === undefined || authz === undefined) return
  if (packet.messageId === 0) {
    // A SUBSCRIBE carries a non-zero packet identifier [MQTT-2.2.1-3].
    conn.fail('ERR_PROTOCOL', 'SUBSCRIBE with packet identifier 0')
    return
  }
  if (packet.subscriptions.length === 0) {
    // A SUBSCRIBE carries at least one filter [MQTT-3.8.3-3].
    conn.fail('ERR_PROTOCOL', 'SUBSCRIBE without a topic filter')
    return
  }
  const subscriptionId = packet.properties?.subscriptionIdentifier as unknown
  if (subscriptionId !== undefined && (typeof subscriptionId !== 'number' || subscriptionId === 0)) {
    conn.fail('ERR_PROTOCOL', 'invalid subscription identifier')
    return
  }
  const codes: number[] = []
  const withRetained: Subscription[] = []
  const mark = broker.commits.recorded
  for (const s of packet.subscriptions) {
    const key = s.topic
    const shared = parseSharedFilter(key)
    // A filter deeper than maxTopicLevels is refused like a malformed one: 0x8F (3.1.1: 0x80).
    if (shared === null || (shared === undefined && !isValidTopicFilter(key)) || hasMoreLevels(shared?.filter ?? key, broker.limits.maxTopicLevels)) {
      codes.push(ReasonCode.TopicFilterInvalid)
      continue
    }
    if (shared !== undefined && s.nl === true) {
      // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
      conn.fail('ERR_PROTOCOL', 'No Local set on a shared subscription')
      return
    }
    const filter = shared?.filter ?? key
    const qos = (s.qos > 2 ? 2 : s.qos)
    if (!authz.canSubscribe(filter, qos)) {
      broker.stats.authzDenied.subscribe++
      broker.logger.debug({ clientId: conn.clientId, filter: key }, 'subscribe not authorized')
      codes.push(ReasonCode.NotAuthorized)
      continue
    }
    // maxSubscriptionsPerClient: a new filter beyond it is refused, 0x97 (3.1.1: 0x80); a
    // subscription replacing one the session holds is always accepted [MQTT-3.8.4-3].
    if (session.subscriptionCount >= broker.limits.maxSubscriptionsPerClient && !session.subscriptions.has(key)) {
      broker.countLimit('maxSubscriptionsPerClient')
      broker.logger.debug({ clientId: conn.clientId, filter: key }, 'subscription quota exceeded')
      codes.push(toReasonCode('ERR_QUOTA_EXCEEDED'))
      continue
    }
    // maxSubscriptions: the same for all sessions on this node together.
    const nodeMax = broker.limits.maxSubscriptions
    if (nodeMax > 0 && broker.tree.size >= nodeMax && !session.subscriptions.has(key)) {
      broker.countLimit('maxSubscriptions')
      broker.logger.debug({ clientId: conn.clientId, filter: key }, 'subscription quota of the node exceeded')
      codes.push(toReasonCode('ERR_QUOTA_EXCEEDED'))
      continue
    }
    const sub: Subscription = {
      clientId: session.clientId,
      key,
      filter,
      qos,
      noLocal: s.nl === true,
      retainAsPublished: s.rap === true,
      retainHandling: (s.rh ?? 0) as 0 | 1 | 2,
      subscriptionId: subscriptionId,
      group: shared?.group,
    }
    const existed = broker.sessions.addSubscription(session, sub)
    codes.push(qos)
    // Retained messages go to a new non-shared subscription only (MQTT 5 §3.3.1.3, a rule without
    // a statement id); Retain Handling 1 sends them only for a new subscription, 2 never.
    if (shared === undefined && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))) {
      withRetained.push(sub)
    }
  }
  // SUBACK once the subscriptions are stored; a store that cannot write closes the connection instead.
  broker.afterCommit((err) => {
    if (err !== undefined) {
      conn.fail('ERR_STORE_WRITE', 'SUBSCRIBE not stored')
      return
    }
    conn.send({
      cmd: 'suback',
      messageId: packet.messageId,
      granted: conn.v5 ? codes : codes.map(v3SubackCode),
    })
    // Retained messages go out after the SUBACK (Retain Handling [MQTT-3.3.1-9..11]), in slices that share the event loop.
    deliverRetained(conn, withRetained)
  }, mark)
}
