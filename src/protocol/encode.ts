/**
 * PUBLISH encoding for the packets that make up steady traffic: no MQTT 5 properties (an
 * empty property block for v5). Everything else is encoded by mqtt-packet (encodePacket). One Buffer per
 * packet, written in one pass (mqtt-packet's generator builds several pieces and concatenates
 * them, and calls its debug logger for every packet).
 */
import { Buffer } from 'node:buffer'
import mqtt from 'mqtt-packet'
import type { ProtocolVersion, QoS } from '../mqtt/types.js'

// mqtt-packet's generator writes two-byte numbers from a cache of all 65,536 of them, built at
// its first use: 65,536 Buffers, 6.3 MB of heap for the life of the process. The cache is off
// (mqtt-packet's documented `writeToStream.cacheNumbers`, set before any packet is generated):
// what mqtt-packet encodes here is the rarer packets (CONNACK, SUBACK, PUBLISH with properties,
// …), for which a two-byte Buffer made per number costs a few nanoseconds.
mqtt.writeToStream.cacheNumbers = false

/** Any packet, by mqtt-packet, for this protocol version. */
export function encodePacket(packet: mqtt.Packet, version: ProtocolVersion): Buffer {
  return mqtt.generate(packet, { protocolVersion: version })
}

/** Bytes of a Remaining Length varint [MQTT-1.5.5]. */
function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4
}

/**
 * Bytes of `s` when it is all ASCII (one byte per character), else -1. Topic names mostly are:
 * they are then measured and written here, where Buffer.byteLength and buf.write each cross
 * into C++ (about a third of encodePublish's time for a short topic).
 */
function asciiLength(s: string): number {
  const n = s.length
  if (n > ASCII_SCAN_LIMIT) return -1
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return -1
  return n
}

/** Longer topic names are left to Buffer's own UTF-8 code (one scan and copy in C++). */
const ASCII_SCAN_LIMIT = 256

/**
 * PUBLISH without properties. `packetId` is used for QoS 1 and 2 only. The caller keeps the
 * topic and payload within the protocol's limits (the broker checks them on the way in).
 */
export function encodePublish(topic: string, payload: Buffer, qos: QoS, retain: boolean, dup: boolean, packetId: number, version: ProtocolVersion): Buffer {
  const ascii = asciiLength(topic)
  const topicBytes = ascii >= 0 ? ascii : Buffer.byteLength(topic, 'utf8')
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payload.length
  const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining)
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0)
  let p = 1
  let n = remaining
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n > 0) byte |= 0x80
    buf[p++] = byte
  } while (n > 0)
  buf[p++] = topicBytes >> 8
  buf[p++] = topicBytes & 0xff
  if (ascii >= 0) {
    for (let i = 0; i < ascii; i++) buf[p + i] = topic.charCodeAt(i)
    p += ascii
  } else {
    p += buf.write(topic, p, 'utf8')
  }
  if (qos > 0) {
    buf[p++] = packetId >> 8
    buf[p++] = packetId & 0xff
  }
  if (version === 5) buf[p++] = 0
  buf.set(payload, p)
  return buf
}

/**
 * True when `frame`, a PUBLISH as received, is byte for byte what encodePublish writes for its
 * topic and payload at QoS 0, RETAIN and DUP clear, for `version`: a fixed header of 0x30 with
 * the shortest Remaining Length, and for MQTT 5 an empty property block (one zero byte; no topic
 * alias). A broker forwarding such a packet to a subscriber of the same encoding can send the
 * bytes it received (a QoS 0 message at QoS 0 to a subscriber without properties or aliases).
 */
export function isQos0Encoding(frame: Buffer, version: ProtocolVersion): boolean {
  if (frame[0] !== 0x30) return false
  let remaining = 0
  let mul = 1
  let h = 1
  for (;;) {
    const b = frame[h++]
    if (b === undefined || h > 5) return false
    remaining += (b & 0x7f) * mul
    if ((b & 0x80) === 0) break
    mul *= 128
  }
  // a longer Remaining Length than needed (0x80 0x00 for 0) is read the same, but not written so
  if (h - 1 !== varintLength(remaining) || frame.length !== h + remaining) return false
  if (version !== 5) return true
  const topicEnd = h + 2 + ((frame[h] << 8) | frame[h + 1])
  return topicEnd < frame.length && frame[topicEnd] === 0
}

/** Packet types of the two-byte-identifier acknowledgements. */
export type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'

const ACK_HEADER: Readonly<Record<AckType, number>> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 }

/**
 * PUBACK, PUBREC, PUBREL (flags 0010 [MQTT-3.6.1-1]) or PUBCOMP with reason Success and no
 * properties: Remaining Length 2, the packet identifier only. MQTT 5 allows the short form when
 * the reason is 0x00 and there are no properties [MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-3.6.2-1, MQTT-3.7.2-1].
 */
export function encodeAck(type: AckType, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  buf[0] = ACK_HEADER[type]
  buf[1] = 2
  buf[2] = packetId >> 8
  buf[3] = packetId & 0xff
  return buf
}
