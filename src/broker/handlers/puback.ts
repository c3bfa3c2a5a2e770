/** PUBACK (QoS 1) and PUBCOMP (QoS 2) from a client end an outgoing message's flight. */
import type mqtt from 'mqtt-packet'
import type { Connection } from '../connection.js'

function complete(conn: Connection, packetId: number | undefined, expected: 'publish' | 'pubrel'): void {
  const session = conn.session
  if (session === undefined || packetId === undefined) return
  const f = session.inflight.get(packetId)
  // An unknown id is ignored: it may be a late duplicate after redelivery.
  if (f === undefined) return
  // A held message (not resent on this connection yet) is ignored too: its resend will be acknowledged.
  if (expected === 'publish' && (f.qos !== 1 || f.state !== 'publish')) return
  if (expected === 'pubrel' && f.state !== 'pubrel') return
  conn.broker.completeInflight(session, f)
  conn.broker.drain(session)
}

export function handlePuback(conn: Connection, packet: mqtt.IPubackPacket): void {
  complete(conn, packet.messageId, 'publish')
}

export function handlePubcomp(conn: Connection, packet: mqtt.IPubcompPacket): void {
  complete(conn, packet.messageId, 'pubrel')
}
