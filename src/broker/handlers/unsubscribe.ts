/** UNSUBSCRIBE [MQTT-3.10]: remove each filter; v5 says which did not exist (0x11). Ill-formed UTF-8 never gets here (decode.ts). */
import type mqtt from 'mqtt-packet'
import { ReasonCode } from '../../protocol/reason-codes.js'
import type { Connection } from '../connection.js'

export function handleUnsubscribe(conn: Connection, packet: mqtt.IUnsubscribePacket): void {
  const session = conn.session
  if (session === undefined) return
  if (packet.messageId === 0) {
    // An UNSUBSCRIBE carries a non-zero packet identifier [MQTT-2.2.1-3].
    conn.fail('ERR_PROTOCOL', 'UNSUBSCRIBE with packet identifier 0')
    return
  }
  if (packet.unsubscriptions.length === 0) {
    // An UNSUBSCRIBE carries at least one filter [MQTT-3.10.3-2].
    conn.fail('ERR_PROTOCOL', 'UNSUBSCRIBE without a topic filter')
    return
  }
  const mark = conn.broker.commits.recorded
  const codes = packet.unsubscriptions.map((key) =>
    conn.broker.sessions.removeSubscription(session, key) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted,
  )
  // UNSUBACK once the removal is stored; a store that cannot write closes the connection instead.
  conn.broker.afterCommit((err) => {
    if (err !== undefined) conn.fail('ERR_STORE_WRITE', 'UNSUBSCRIBE not stored')
    else if (conn.v5) conn.send({ cmd: 'unsuback', messageId: packet.messageId, granted: codes } as unknown as mqtt.IUnsubackPacket)
    else conn.send({ cmd: 'unsuback', messageId: packet.messageId } as mqtt.IUnsubackPacket)
  }, mark)
}
