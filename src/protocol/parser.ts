/**
 * The per-connection MQTT parser: mqtt-packet's, with its input buffer swapped for the
 * plain BufferList. mqtt-packet keeps pending bytes in a `bl` BufferListStream, a full
 * Duplex stream (~0.9 KB per idle connection, and stream bookkeeping on every append);
 * the parser only uses BufferList's read API (append, consume, readUInt*, slice, length),
 * which the plain class has. The BufferList is the one mqtt-packet itself depends on.
 */
import { createRequire } from 'node:module'
import mqtt from 'mqtt-packet'

const requireFromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))
const BufferList = requireFromMqttPacket('bl/BufferList.js') as new () => unknown

export function createParser(protocolVersion: 3 | 4 | 5): mqtt.Parser {
  const parser = mqtt.parser({ protocolVersion })
  ;(parser as unknown as { _list: unknown })._list = new BufferList()
  return parser
}

/** Switch the parser to the protocol version a CONNECT announced (v5 properties etc.). */
export function setParserVersion(parser: mqtt.Parser, protocolVersion: number): void {
  ;(parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = protocolVersion
}

/** Declared remaining length of the packet being received, -1 before its header is read. */
export function pendingPacketLength(parser: mqtt.Parser): number {
  return (parser as unknown as { packet: { length: number } }).packet.length
}
