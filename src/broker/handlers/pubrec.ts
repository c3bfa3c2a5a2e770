/** PUBREC from a client for an outgoing QoS 2 message: answer PUBREL [MQTT-4.3.3-4]. */
import type mqtt from 'mqtt-packet'
import type { Connection } from '../connection.js'

export function handlePubrec(conn: Connection, packet: mqtt.IPubrecPacket): void {
  const session = conn.session
  const id = packet.messageId
  if (session === undefined || id === undefined) return
  const f = session.inflight.get(id)
  if (f === undefined || f.qos !== 2) {
    if (conn.v5) conn.send({ cmd: 'pubrel', messageId: id, reasonCode: 0x92 } as mqtt.IPubrelPacket)
    return
  }
  // A v5 PUBREC with a failure reason ends the exchange [MQTT-4.3.3-?]: no PUBREL.
  if ((packet.reasonCode ?? 0) >= 0x80) {
    session.inflight.delete(id)
    conn.broker.drain(session)
    return
  }
  f.state = 'pubrel'
  conn.send({ cmd: 'pubrel', messageId: id })
}
