/**
 * The bytes of one stream entry (streams.ts): the messages one group commit of a node had for
 * another node, one after another, in a compact binary form — no JSON and no text conversion
 * of payloads per message, and one Buffer per entry that the receiver slices without copying.
 *
 *   entry    = version (u8 = 1), then messages until the end
 *   message  = flags (u8), topic (u16 length + UTF-8), [origin (u16 + UTF-8)], [expiresAt (f64)],
 *              properties (u32 length + JSON, 0 = none), groups (u16 count, each u16 + UTF-8),
 *              payload (u32 length + bytes)
 *   flags    = bits 0–1 QoS, 2 retain, 3 deliver to all non-shared subscriptions, 4 update the
 *              retained mirror, 5 passed on once already, 6 has expiresAt, 7 has origin
 *
 * MQTT 5 properties (rare, and nested: user properties, correlation data) stay JSON, as in the
 * stores. Lengths fit their fields: MQTT limits topics, client ids and filters to 65,535 bytes.
 */
import type { Message, QoS } from '../mqtt/types.js'
import { propertiesFromJson, propertiesToJson } from '../store/sqlite/properties-json.js'
import type { Forwarded } from './bus.js'

const VERSION = 1
const RETAIN = 1 << 2
const ALL = 1 << 3
const MIRROR = 1 << 4
const PASSED_ON = 1 << 5
const EXPIRES = 1 << 6
const ORIGIN = 1 << 7

/** One message of an entry, as the sender records it. */
export interface ForwardEntry {
  readonly message: Message
  readonly forwarded: Forwarded
  /** The retained mirror should take this message. */
  readonly mirror: boolean
  /** Already passed on once (shared groups whose members left): not again. */
  readonly passedOn: boolean
}

/** The bytes of an entry holding `entries`, in order. */
export function encodeEntry(entries: readonly ForwardEntry[]): Buffer {
  // An upper bound (a UTF-16 code unit is at most 3 UTF-8 bytes), filled once, cut to size.
  const props = entries.map((e) => propertiesToJson(e.message.properties))
  let size = 1
  for (const [i, { message, forwarded }] of entries.entries()) {
    size += 1 + 2 + 3 * message.topic.length + 2 + 3 * (message.origin?.length ?? 0) + 8 + 4 + 3 * (props[i]?.length ?? 0) + 2 + 4 + message.payload.length
    for (const g of forwarded.groups) size += 2 + 3 * g.length
  }
  const buf = Buffer.allocUnsafe(size)
  let at = buf.writeUInt8(VERSION, 0)
  const text = (s: string, lengthBytes: 2 | 4): void => {
    const n = buf.write(s, at + lengthBytes)
    if (lengthBytes === 2) buf.writeUInt16BE(n, at)
    else buf.writeUInt32BE(n, at)
    at += lengthBytes + n
  }
  for (const [i, { message, forwarded, mirror, passedOn }] of entries.entries()) {
    const { origin, expiresAt } = message
    const flags = message.qos | (message.retain ? RETAIN : 0) | (forwarded.all ? ALL : 0) | (mirror ? MIRROR : 0) |
      (passedOn ? PASSED_ON : 0) | (expiresAt !== undefined ? EXPIRES : 0) | (origin !== undefined ? ORIGIN : 0)
    at = buf.writeUInt8(flags, at)
    text(message.topic, 2)
    if (origin !== undefined) text(origin, 2)
    if (expiresAt !== undefined) at = buf.writeDoubleBE(expiresAt, at)
    const p = props[i]
    if (p === null) at = buf.writeUInt32BE(0, at)
    else text(p, 4)
    at = buf.writeUInt16BE(forwarded.groups.length, at)
    for (const g of forwarded.groups) text(g, 2)
    at = buf.writeUInt32BE(message.payload.length, at)
    at += message.payload.copy(buf, at)
  }
  return buf.subarray(0, at)
}

/**
 * The messages of an entry, in order. Payloads are slices of `buf` (no copy). Throws on bytes
 * that are not an entry of this version (the reader logs and acknowledges it, never loops).
 */
export function decodeEntry(buf: Buffer): ForwardEntry[] {
  if (buf.length === 0 || buf[0] !== VERSION) throw new Error(`stream entry of unknown version ${buf[0] ?? 'none'}`)
  const out: ForwardEntry[] = []
  let at = 1
  const need = (n: number): void => {
    if (at + n > buf.length) throw new Error('stream entry cut short')
  }
  const text = (lengthBytes: 2 | 4): string => {
    need(lengthBytes)
    const n = lengthBytes === 2 ? buf.readUInt16BE(at) : buf.readUInt32BE(at)
    at += lengthBytes
    need(n)
    const s = buf.toString('utf8', at, at + n)
    at += n
    return s
  }
  while (at < buf.length) {
    const flags = buf[at++]
    const topic = text(2)
    const origin = (flags & ORIGIN) !== 0 ? text(2) : undefined
    let expiresAt: number | undefined
    if ((flags & EXPIRES) !== 0) {
      need(8)
      expiresAt = buf.readDoubleBE(at)
      at += 8
    }
    need(4)
    const properties = buf.readUInt32BE(at) === 0 ? (at += 4, undefined) : propertiesFromJson(text(4))
    need(2)
    const count = buf.readUInt16BE(at)
    at += 2
    const groups: string[] = []
    for (let k = 0; k < count; k++) groups.push(text(2))
    need(4)
    const n = buf.readUInt32BE(at)
    at += 4
    need(n)
    const payload = buf.subarray(at, at + n)
    at += n
    out.push({
      message: { topic, payload, qos: (flags & 3) as QoS, retain: (flags & RETAIN) !== 0, properties, expiresAt, origin },
      forwarded: { all: (flags & ALL) !== 0, groups },
      mirror: (flags & MIRROR) !== 0,
      passedOn: (flags & PASSED_ON) !== 0,
    })
  }
  return out
}
