/**
 * The per-connection MQTT parser: mqtt-packet's, keeping pending bytes in a plain
 * BufferList. mqtt-packet's own parser keeps them in a `bl` BufferListStream — a full
 * Duplex stream built for every connection (and again after each parse error): ~0.9 KB
 * per idle connection and stream set-up on every connect. The parser only uses
 * BufferList's read API (append, consume, readUInt*, slice, length), which the plain class
 * has. Both classes come from mqtt-packet's own dependency tree.
 */
import { createRequire } from 'node:module'
import type mqtt from 'mqtt-packet'

const requireFromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))

interface ParserInternals {
  packet: { length: number }
  error: Error | null
  _list: unknown
  _stateCounter: number
  settings: { protocolVersion: number }
  parser(options: { protocolVersion: number }): mqtt.Parser
}

const MqttPacketParser = requireFromMqttPacket('./parser.js') as new () => ParserInternals
const Packet = requireFromMqttPacket('./packet.js') as new () => { length: number }
const BufferList = requireFromMqttPacket('bl/BufferList.js') as new () => unknown

class LeanParser extends MqttPacketParser {
  /** Same state as mqtt-packet's, with the plain BufferList. */
  _resetState(): void {
    this.packet = new Packet()
    this.error = null
    this._list = new BufferList()
    this._stateCounter = 0
  }
}

/** The parser's state-machine step names: never changed, so one array serves every parser. */
const STATES = Object.freeze(['_parseHeader', '_parseLength', '_parsePayload', '_newPacket'])

export function createParser(protocolVersion: 3 | 4 | 5): mqtt.Parser {
  const parser = new LeanParser().parser({ protocolVersion })
  ;(parser as unknown as { _states: readonly string[] })._states = STATES
  return parser
}

/** Switch the parser to the protocol version a CONNECT announced (v5 properties etc.). */
export function setParserVersion(parser: mqtt.Parser, protocolVersion: number): void {
  ;(parser as unknown as ParserInternals).settings.protocolVersion = protocolVersion
}

/** Declared remaining length of the packet being received, -1 before its header is read. */
export function pendingPacketLength(parser: mqtt.Parser): number {
  return (parser as unknown as ParserInternals).packet.length
}
