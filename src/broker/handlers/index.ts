/**
 * The one dispatcher: CONNECT first and only once [MQTT-3.1.0-1, MQTT-3.1.0-2]; every
 * other packet goes to its handler; packets a client may not send close the connection.
 */
import type { Buffer } from 'node:buffer'
import type mqtt from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { handleAuth } from './auth.js'
import { handleConnect, refuseBeforeAuthentication } from './connect.js'
import { handleDisconnect } from './disconnect.js'
import { handlePingreq } from './ping.js'
import { handlePuback, handlePubcomp } from './puback.js'
import { handlePublish } from './publish.js'
import { handlePubrec } from './pubrec.js'
import { handlePubrel } from './pubrel.js'
import { handleSubscribe } from './subscribe.js'
import { handleUnsubscribe } from './unsubscribe.js'

/** `frame`: the packet's bytes as received, when at hand (handlers/publish.ts may forward them as they are). */
export function dispatch(conn: Connection, packet: mqtt.Packet, frame?: Buffer): void {
  if (conn.state === 'new') {
    if (packet.cmd !== 'connect') {
      conn.fail('ERR_PROTOCOL', `${packet.cmd} before CONNECT`)
      return
    }
    if (conn.overConnectRate) {
      refuseOverConnectRate(conn, packet)
      return
    }
    handleConnect(conn, packet)
    return
  }
  switch (packet.cmd) {
    case 'publish':
      handlePublish(conn, packet, frame)
      return
    case 'puback':
      handlePuback(conn, packet)
      return
    case 'pubrec':
      handlePubrec(conn, packet)
      return
    case 'pubrel':
      handlePubrel(conn, packet)
      return
    case 'pubcomp':
      handlePubcomp(conn, packet)
      return
    case 'subscribe':
      handleSubscribe(conn, packet)
      return
    case 'unsubscribe':
      handleUnsubscribe(conn, packet)
      return
    case 'pingreq':
      handlePingreq(conn)
      return
    case 'disconnect':
      handleDisconnect(conn, packet)
      return
    case 'auth':
      handleAuth(conn, packet)
      return
    case 'connect':
      conn.fail('ERR_PROTOCOL', 'second CONNECT')
      return
    default:
      conn.fail('ERR_PROTOCOL', `unexpected ${packet.cmd} from a client`)
  }
}

/**
 * A connection opened beyond limits.connectRatePerAddress: refused before any other work
 * (no authentication, no session). MQTT 5: CONNACK 0x9F Connection rate exceeded; 3.1.1 has
 * no such return code, so the connection is just closed.
 */
function refuseOverConnectRate(conn: Connection, packet: mqtt.IConnectPacket): void {
  conn.broker.countLimit('connectRatePerAddress')
  conn.broker.logger.debug({ remote: conn.remoteAddress }, 'connection rate exceeded')
  conn.protocolVersion = packet.protocolVersion === 5 ? 5 : (packet.protocolVersion ?? 4)
  conn.clientId = packet.clientId ?? ''
  refuseBeforeAuthentication(conn, 'ERR_CONNECTION_RATE_EXCEEDED', 'more connections from this address than limits.connectRatePerAddress allows', packet.protocolVersion !== 5)
}
