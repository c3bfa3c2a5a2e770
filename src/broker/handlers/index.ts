/**
 * The one dispatcher: CONNECT first and only once [MQTT-3.1.0-1, MQTT-3.1.0-2]; every
 * other packet goes to its handler; packets a client may not send close the connection.
 */
import type mqtt from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { handleAuth } from './auth.js'
import { handleConnect } from './connect.js'
import { handleDisconnect } from './disconnect.js'
import { handlePingreq } from './ping.js'
import { handlePuback, handlePubcomp } from './puback.js'
import { handlePublish } from './publish.js'
import { handlePubrec } from './pubrec.js'
import { handlePubrel } from './pubrel.js'
import { handleSubscribe } from './subscribe.js'
import { handleUnsubscribe } from './unsubscribe.js'

export function dispatch(conn: Connection, packet: mqtt.Packet): void {
  if (conn.state === 'new') {
    if (packet.cmd !== 'connect') {
      conn.fail('ERR_PROTOCOL', `${packet.cmd} before CONNECT`)
      return
    }
    handleConnect(conn, packet)
    return
  }
  switch (packet.cmd) {
    case 'publish':
      handlePublish(conn, packet)
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
