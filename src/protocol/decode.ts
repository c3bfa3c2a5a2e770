/**
 * Turns one whole packet into a packet object. The packets that make up steady traffic —
 * PUBLISH without MQTT 5 properties, the QoS acknowledgements, PINGREQ — and those of a short
 * device session — the common CONNECT, a DISCONNECT without reason code — are decoded here
 * directly; every other packet goes to mqtt-packet's parser. Frames are complete, so one
 * mqtt-packet parser per protocol version serves every connection (its state is back at the
 * start after each packet). Strings are decoded here and in parser.ts the same way (utf8.ts):
 * ill-formed UTF-8 is told from a client's own U+FFFD on the bytes. An Error returned is a
 * malformed packet unless it is a PortcullisError, whose code says what it is.
 */
import type mqtt from 'mqtt-packet'
import { createParser, setParserVersion } from './parser.js'
import { checkPacketProperties } from './property-check.js'
import { decodeUtf8Field, isValidUtf8Field } from './utf8.js'
import { PortcullisError } from '../errors.js'
import type { ProtocolVersion } from '../mqtt/types.js'


const shared = new Map<ProtocolVersion, { parser: mqtt.Parser; packet: mqtt.Packet | undefined; error: Error | undefined }>()

function sharedParser(version: ProtocolVersion): { parser: mqtt.Parser; packet: mqtt.Packet | undefined; error: Error | undefined } {
  let s = shared.get(version)
  if (s === undefined) {
    const entry = { parser: createParser(version), packet: undefined as mqtt.Packet | undefined, error: undefined as Error | undefined }
    entry.parser.on('packet', (p: mqtt.Packet) => {
      entry.packet = p
    })
    entry.parser.on('error', (e: Error) => {
      entry.error ??= e
    })
    shared.set(version, entry)
    s = entry
  }
  return s
}

/**
 * Decode with mqtt-packet (CONNECT, SUBSCRIBE, v5 properties, …). Only packets decoded here can
 * carry MQTT 5 properties, so their check (property-check.ts) is made here, once, and costs the
 * packets decoded directly nothing; a fault comes back as a PortcullisError with its code.
 */
function decodeWithMqttPacket(frame: Buffer, version: ProtocolVersion): mqtt.Packet | Error {
  const s = sharedParser(version)
  s.packet = undefined
  s.error = undefined
  // mqtt-packet adopts a parsed CONNECT as its settings: put the version back every time.
  setParserVersion(s.parser, version)
  s.parser.parse(frame)
  const { packet, error } = s
  s.packet = undefined
  s.error = undefined
  if (error !== undefined) {
    // never let a failed packet's state reach the next one: a fresh parser for this version
    shared.delete(version)
    return error
  }
  if (packet === undefined) return new Error('incomplete packet')
  return packetFault(packet) ?? packet
}

/**
 * What mqtt-packet lets through and the protocol does not: property faults, ill-formed
 * filters, a Will QoS of 3. Every packet mqtt-packet decodes for the broker passes here.
 */
export function packetFault(packet: mqtt.Packet): PortcullisError | undefined {
  return checkPacketProperties(packet) ?? illFormedFilter(packet) ?? willQosFault(packet) ?? ackIdFault(packet)
}

/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP carry the identifier of the PUBLISH they answer
 * [MQTT-2.2.1-5, MQTT-2.2.1-6], which is never 0 [MQTT-2.2.1-3]: one with 0 answers nothing
 * either side sent, a Protocol Error (as Mosquitto treats it), not an unknown identifier.
 */
function ackIdZero(cmd: string): PortcullisError {
  return new PortcullisError('ERR_PROTOCOL', `${cmd.toUpperCase()} with packet identifier 0`)
}

function ackIdFault(packet: mqtt.Packet): PortcullisError | undefined {
  const { cmd } = packet
  if (cmd !== 'puback' && cmd !== 'pubrec' && cmd !== 'pubrel' && cmd !== 'pubcomp') return undefined
  return packet.messageId === 0 ? ackIdZero(cmd) : undefined
}

/** A will QoS of 3 (both bits set) makes the CONNECT malformed [MQTT-3.1.2-14]. */
function willQosFault(packet: mqtt.Packet): PortcullisError | undefined {
  if (packet.cmd !== 'connect' || packet.will === undefined || (packet.will.qos as number) !== 3) return undefined
  return new PortcullisError('ERR_MALFORMED_PACKET', 'CONNECT with Will QoS 3')
}

/**
 * SUBSCRIBE and UNSUBSCRIBE filters are UTF-8 string fields: one that is ill-formed or holds
 * U+0000 makes the packet malformed [MQTT-1.5.4-1, MQTT-1.5.4-2], as anywhere else in a packet
 * (a well-formed filter that breaks the wildcard rules is the handler's 0x8F, per filter).
 */
function illFormedFilter(packet: mqtt.Packet): PortcullisError | undefined {
  const filters = packet.cmd === 'subscribe' ? packet.subscriptions.map((s) => s.topic) : packet.cmd === 'unsubscribe' ? packet.unsubscriptions : undefined
  if (filters === undefined || filters.every(isValidUtf8Field)) return undefined
  return new PortcullisError('ERR_MALFORMED_PACKET', `${packet.cmd.toUpperCase()} with a topic filter that is not well-formed UTF-8`)
}

/** Offset just past the fixed header (1 byte + remaining-length bytes). */
function bodyStart(frame: Buffer): number {
  let i = 1
  while (((frame[i]) & 0x80) !== 0) i++
  return i + 1
}

/**
 * The topic name field at `frame[start, end)`: `last` itself when those bytes are its text and
 * it is all ASCII (a device publishes to the same topic again and again), else the field
 * decoded. Giving back the same string spares decoding a new one per message, and the Map
 * lookups that follow (match cache, authorization cache) find its hash already computed.
 * Only ASCII is compared (every character < 0x80, one byte each), so a non-ASCII or ill-formed
 * field is always decoded and checked as before (utf8.ts).
 */
function topicField(frame: Buffer, start: number, end: number, last: string | undefined): string {
  if (last !== undefined && last.length === end - start) {
    let i = 0
    for (; i < last.length; i++) {
      const c = last.charCodeAt(i)
      if (c >= 0x80 || frame[start + i] !== c) break
    }
    if (i === last.length) return last
  }
  return decodeUtf8Field(frame, start, end)
}

/**
 * One whole packet. `lastTopic`: the topic of the previous PUBLISH on this connection, given
 * back as the topic of this one when its bytes are the same (topicField).
 */
export function decodePacket(frame: Buffer, version: ProtocolVersion, lastTopic?: string): mqtt.Packet | Error {
  const first = frame[0]
  const type = first >> 4
  const flags = first & 0x0f
  switch (type) {
    case 3: {
      // PUBLISH
      const qos = (flags >> 1) & 3
      if (qos === 3) return new Error('Packet must not have both QoS bits set to 1')
      let p = bodyStart(frame)
      if (frame.length - p < 2) break
      const topicLength = frame.readUInt16BE(p)
      p += 2
      if (frame.length - p < topicLength) break
      const topicEnd = p + topicLength
      let messageId: number | undefined
      if (qos > 0) {
        if (frame.length - topicEnd < 2) break
        messageId = frame.readUInt16BE(topicEnd)
      }
      let payloadStart = topicEnd + (qos > 0 ? 2 : 0)
      if (version === 5) {
        // only an empty property block is decoded here
        if (frame[payloadStart] !== 0) break
        payloadStart++
        if (payloadStart > frame.length) break
      }
      return {
        cmd: 'publish',
        retain: (flags & 1) !== 0,
        qos: qos as 0 | 1 | 2,
        dup: (flags & 8) !== 0,
        length: frame.length - bodyStart(frame),
        topic: topicField(frame, p, topicEnd, lastTopic),
        payload: frame.subarray(payloadStart),
        messageId,
      }
    }
    case 4:
    case 5:
    case 6:
    case 7: {
      // PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP: the two-byte form only
      if (flags !== (type === 6 ? 2 : 0)) break
      const p = bodyStart(frame)
      if (frame.length - p !== 2) break
      const cmd = type === 4 ? 'puback' : type === 5 ? 'pubrec' : type === 6 ? 'pubrel' : 'pubcomp'
      const messageId = frame.readUInt16BE(p)
      if (messageId === 0) return ackIdZero(cmd)
      return { cmd, messageId, length: 2 }
    }
    case 1: {
      const connect = decodeCommonConnect(frame, flags)
      if (connect !== undefined) return connect
      break
    }
    case 12:
      // PINGREQ
      if (flags === 0 && frame.length === 2) return { cmd: 'pingreq', length: 0 }
      break
    case 14:
      // DISCONNECT with no variable header: MQTT 5 reads it as reason code 0x00 [MQTT-3.14.2.1]
      if (flags === 0 && frame.length === 2) return version === 5 ? { cmd: 'disconnect', length: 0, reasonCode: 0 } : { cmd: 'disconnect', length: 0 }
      break
  }
  return decodeWithMqttPacket(frame, version)
}

/**
 * Where the field at `p` ends: a two-byte length, then that many bytes (a UTF-8 string §1.5.4
 * or binary data §1.5.6); -1 when it does not fit before `end`.
 */
function fieldEnd(frame: Buffer, p: number, end: number): number {
  if (end - p < 2) return -1
  const e = p + 2 + frame.readUInt16BE(p)
  return e <= end ? e : -1
}

/**
 * The common CONNECT: protocol name `MQTT`, level 4 (3.1.1) or 5 with no properties, no will,
 * and fields that end exactly where the frame does. It yields the very packet mqtt-packet
 * would; anything else (a will, MQTT 5 properties, MQIsdp, bridge mode, a malformed or
 * unusual packet) returns undefined and goes to mqtt-packet, whose checks and messages stay
 * the only ones.
 */
function decodeCommonConnect(frame: Buffer, headerFlags: number): mqtt.IConnectPacket | undefined {
  if (headerFlags !== 0) return undefined
  const start = bodyStart(frame)
  let p = start
  const end = frame.length
  // 00 04 'M' 'Q' 'T' 'T', level, connect flags, keep alive (2)
  // Protocol name: length 4, 'MQTT'.
  if (end - p < 10 || frame[p] !== 0 || frame[p + 1] !== 4) return undefined
  if (frame[p + 2] !== 0x4d || frame[p + 3] !== 0x51 || frame[p + 4] !== 0x54 || frame[p + 5] !== 0x54) return undefined
  const level = frame[p + 6]
  if (level !== 4 && level !== 5) return undefined
  const connectFlags = frame[p + 7]
  // reserved bit, will flag, will QoS, will retain: all zero here
  if ((connectFlags & 0x3f) !== (connectFlags & 0x02)) return undefined
  const keepalive = frame.readUInt16BE(p + 8)
  p += 10
  if (level === 5) {
    if (frame[p] !== 0) return undefined
    p++
  }
  const idEnd = fieldEnd(frame, p, end)
  if (idEnd < 0) return undefined
  const clientId = decodeUtf8Field(frame, p + 2, idEnd)
  p = idEnd
  let username: string | undefined
  if ((connectFlags & 0x80) !== 0) {
    const e = fieldEnd(frame, p, end)
    if (e < 0) return undefined
    username = decodeUtf8Field(frame, p + 2, e)
    p = e
  }
  let password: Buffer | undefined
  if ((connectFlags & 0x40) !== 0) {
    const e = fieldEnd(frame, p, end)
    if (e < 0) return undefined
    password = frame.subarray(p + 2, e)
    p = e
  }
  if (p !== end) return undefined
  const packet: mqtt.IConnectPacket = {
    cmd: 'connect', retain: false, qos: 0, dup: false, length: end - start,
    protocolId: 'MQTT', protocolVersion: level, clean: (connectFlags & 0x02) !== 0, keepalive, clientId,
  } as mqtt.IConnectPacket
  if (username !== undefined) packet.username = username
  if (password !== undefined) packet.password = password
  return packet
}

/**
 * The protocol level of a CONNECT frame that names the protocol (MQTT, or MQIsdp for 3.1)
 * but asks for a level this broker does not speak (3, 4 or 5, the bridge bit aside), to be
 * answered with a CONNACK [MQTT-3.1.2-2]; undefined for any other frame. Decided on the
 * bytes, as mqtt-packet decides it, rather than on its error message.
 */
export function unsupportedProtocolLevel(frame: Buffer): number | undefined {
  if ((frame[0]) >> 4 !== 1) return undefined
  const p = bodyStart(frame)
  if (frame.length < p + 2) return undefined
  const nameLength = frame.readUInt16BE(p)
  const level = frame[p + 2 + nameLength]
  if (level === undefined) return undefined
  const name = frame.toString('latin1', p + 2, p + 2 + nameLength)
  if (name !== 'MQTT' && name !== 'MQIsdp') return undefined
  const spoken = level & 0x7f
  return spoken === 3 || spoken === 4 || spoken === 5 ? undefined : level
}
