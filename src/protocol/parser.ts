/**
 * mqtt-packet's parser, keeping pending bytes in a plain BufferList instead of a `bl`
 * BufferListStream (a full Duplex stream; the parser only uses BufferList's read API:
 * append, consume, readUInt*, slice, length), and starting truly clean after an error.
 * The broker frames packets itself (framer.ts) and hands mqtt-packet whole packets only
 * (decode.ts). Both classes come from mqtt-packet's own dependency tree.
 */
import { createRequire } from 'node:module'
import type mqtt from 'mqtt-packet'

const requireFromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))

interface ParserInternals {
  packet: { length: number }
  error: Error | null
  _list: unknown
  _stateCounter: number
  _pos: number
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
    // mqtt-packet leaves its read offset where an error stopped it; start clean
    this._pos = 0
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
