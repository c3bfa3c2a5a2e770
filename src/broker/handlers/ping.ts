import type { Connection } from '../connection.js'

/** PINGREQ → PINGRESP [MQTT-3.12.4-1]. */
export function handlePingreq(conn: Connection): void {
  conn.send({ cmd: 'pingresp' })
}
