/** PUBREL for an incoming QoS 2 message: forget the packet id and answer PUBCOMP [MQTT-4.3.3-11]. */
import type mqtt from 'mqtt-packet'
import { ReasonCode } from '../../protocol/reason-codes.js'
import type { Connection } from '../connection.js'

export function handlePubrel(conn: Connection, packet: mqtt.IPubrelPacket): void {
  const session = conn.session
  const id = packet.messageId
  if (session === undefined || id === undefined) return
  const known = conn.broker.sessions.releaseIncomingQos2(session, id)
  // After the release is stored: else a restart could take the id's reuse for a duplicate.
  if (conn.broker.commits.pending) conn.broker.afterCommit(() => sendPubcomp(conn, id, known))
  else sendPubcomp(conn, id, known)
}

function sendPubcomp(conn: Connection, id: number, known: boolean): void {
  if (conn.v5 && !known) conn.send({ cmd: 'pubcomp', messageId: id, reasonCode: ReasonCode.PacketIdentifierNotFound })
  else conn.sendAck('pubcomp', id)
}
