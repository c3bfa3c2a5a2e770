/**
 * mqtt-packet's parser, keeping pending bytes in a plain BufferList instead of a `bl`
 * BufferListStream (a full Duplex stream; the parser only uses BufferList's read API:
 * append, consume, readUInt*, slice, length), and starting truly clean after an error.
 * The broker frames packets itself (framer.ts) and hands mqtt-packet whole packets only
 * (decode.ts). Both classes come from mqtt-packet's own dependency tree.
 *
 * Every UTF-8 string mqtt-packet reads (topics, filters, client id, username, will topic,
 * string properties) goes through its `_parseString`, which decodes without keeping the
 * bytes; the override below marks ill-formed UTF-8 in the result while those bytes are
 * still in the parser's list (utf8.ts says why and how).
 *
 * mqtt-packet reads a one-byte flag property (Payload Format Indicator, Request Problem
 * Information, Request Response Information, …) as `byte !== 0`, so a 2 would pass as true; the
 * protocol allows only 0 and 1, and anything else is a Protocol Error (MQTT 5.0 §3.1.2.11.6,
 * §3.1.2.11.7; §3.3.2.3.2 defines only the two values), as Mosquitto answers it.
 */
import { createRequire } from 'node:module'
import type mqtt from 'mqtt-packet'
import { markIllFormedUtf8 } from './utf8.js'
import { PortcullisError } from '../errors.js'
import type { ProtocolVersion } from '../mqtt/types.js'

const requireFromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))

interface BufferListReader {
  slice(start: number, end: number): Buffer
}

interface ParserInternals {
  packet: { length: number; cmd: string }
  error: Error | null
  _list: BufferListReader
  _stateCounter: number
  _pos: number
  settings: { protocolVersion: number }
  parser(options: { protocolVersion: number }): mqtt.Parser
  /** A two-byte length, then that many bytes decoded as UTF-8; null when the packet is short. */
  _parseString(): string | null
  /** Decode the body of the packet whose header was read; true once the whole body was there. */
  _parsePayload(): boolean
  /** One property value of the given type (mqtt-packet's names: 'byte', 'int16', 'string', …). */
  _parseByType(type: string): unknown
  /** The next byte, or undefined when the packet is short. */
  _parseByte(): number | undefined
  _emitError(err: Error): void
}

const MqttPacketParser = requireFromMqttPacket('./parser.js') as new () => ParserInternals
const Packet = requireFromMqttPacket('./packet.js') as new () => { length: number; cmd: string }
const BufferList = requireFromMqttPacket('bl/BufferList.js') as new () => BufferListReader

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

  /**
   * mqtt-packet's decoding, and then no byte left over: mqtt-packet reads the fields a packet
   * has and ignores whatever follows them (a PINGREQ with a body got a PINGRESP). A packet
   * whose remaining length runs past its last field is malformed [MQTT-2.1.4, MQTT-1.5.5];
   * PUBLISH is the exception: its payload is the rest of the packet.
   */
  override _parsePayload(): boolean {
    const done = super._parsePayload()
    if (done && this.error === null && this.packet.cmd !== 'publish' && this._pos !== this.packet.length) {
      this._emitError(new Error(`${this.packet.cmd.toUpperCase()} has ${this.packet.length - this._pos} bytes beyond its last field`))
    }
    return done
  }

  /** A flag property's byte: 0 or 1, anything else refused (see the top of this file). */
  override _parseByType(type: string): unknown {
    if (type !== 'byte') return super._parseByType(type)
    const value = this._parseByte()
    if (value !== undefined && value > 1) {
      this._emitError(new PortcullisError('ERR_PROTOCOL', `a one-byte flag property has the value ${value} (only 0 and 1 are allowed)`))
    }
    return value !== 0
  }

  /** mqtt-packet's string, with ill-formed UTF-8 marked (only a string holding U+FFFD is re-checked). */
  override _parseString(): string | null {
    const lengthAt = this._pos
    const s = super._parseString()
    if (s === null || !s.includes('\uFFFD')) return s
    // the string's bytes follow its two-byte length and end where the parser now stands
    return markIllFormedUtf8(s, this._list.slice(lengthAt + 2, this._pos))
  }
}

/** The parser's state-machine step names: never changed, so one array serves every parser. */
const STATES = Object.freeze(['_parseHeader', '_parseLength', '_parsePayload', '_newPacket'])

export function createParser(protocolVersion: ProtocolVersion): mqtt.Parser {
  const parser = new LeanParser().parser({ protocolVersion })
  ;(parser as unknown as { _states: readonly string[] })._states = STATES
  return parser
}

/** Switch the parser to the protocol version a CONNECT announced (v5 properties etc.). */
export function setParserVersion(parser: mqtt.Parser, protocolVersion: number): void {
  ;(parser as unknown as ParserInternals).settings.protocolVersion = protocolVersion
}
