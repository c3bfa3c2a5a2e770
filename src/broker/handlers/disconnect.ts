/** DISCONNECT from a client [MQTT-3.14]: 0x00 discards the will, 0x04 keeps it. */
import type mqtt from 'mqtt-packet'
import { ReasonCode } from '../../protocol/reason-codes.js'
import type { Connection } from '../connection.js'

export function handleDisconnect(conn: Connection, packet: mqtt.IDisconnectPacket): void {
  const session = conn.session
  const expiry = packet.properties?.sessionExpiryInterval
  if (conn.v5 && expiry !== undefined && session !== undefined) {
    // A client that connected with Session Expiry 0 may not set it now [MQTT-3.14.2-2].
    if (conn.connectSessionExpiry === 0 && expiry !== 0) {
      conn.fail('ERR_PROTOCOL', 'session expiry set in DISCONNECT after 0 at CONNECT')
      return
    }
    session.expiryInterval = Math.min(expiry, conn.broker.limits.maxSessionExpiry)
  }
  conn.cleanDisconnect = !(conn.v5 && packet.reasonCode === ReasonCode.DisconnectWithWill)
  conn.close(true)
}
