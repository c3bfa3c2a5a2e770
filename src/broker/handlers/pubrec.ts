/** PUBREC from a client for an outgoing QoS 2 message: answer PUBREL [MQTT-4.3.3-4]. */
import type mqtt from 'mqtt-packet'
import { ReasonCode } from '../../protocol/reason-codes.js'
import type { Connection } from '../connection.js'

export function handlePubrec(conn: Connection, packet: mqtt.IPubrecPacket): void {
  const session = conn.session
  const id = packet.messageId
  if (session === undefined || id === undefined) return
  const f = session.inflight.get(id)
  if (f === undefined || f.qos !== 2) {
    // In its place among the PUBRELs still waiting for their commit (broker.release) [MQTT-4.6.0-4].
    if (conn.v5) conn.broker.afterCommit(() => conn.send({ cmd: 'pubrel', messageId: id, reasonCode: ReasonCode.PacketIdentifierNotFound }))
    return
  }
  // Not resent on this connection yet (held after a resume): the resend will be acknowledged.
  if (f.state === 'held') return
  // A v5 PUBREC with a reason code of 0x80 or more ends the exchange (MQTT 5 §4.3.3): no PUBREL.
  if ((packet.reasonCode ?? 0) >= 0x80) {
    conn.broker.completeInflight(session, f)
    conn.broker.drain(session)
    return
  }
  conn.broker.release(session, conn, f)
}
