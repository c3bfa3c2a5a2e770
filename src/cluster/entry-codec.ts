/**
 * The bytes of one stream entry (streams.ts): the messages one group commit of a node had for
 * another node, one after another, in a compact binary form — no JSON and no text conversion
 * of payloads per message, and one Buffer per entry that the receiver slices without copying.
 *
 *   entry    = version (u8 = 2), then messages until the end
 *   message  = flags (u8), more (u8), [id (f64)], [clients (u16 count, each u16 + UTF-8)],
 *              topic (u16 length + UTF-8), [origin (u16 + UTF-8)], [expiresAt (f64)],
 *              properties (u32 length + JSON, 0 = none), groups (u16 count, each u16 + UTF-8),
 *              payload (u32 length + bytes)
 *   flags    = bits 0–1 QoS, 2 retain, 3 deliver to all non-shared subscriptions, 4 update the
 *              retained mirror, 5 passed on once already, 6 has expiresAt, 7 has origin
 *   more     = bit 0 has the message's cluster id, bit 1 only for these clients (a client that
 *              moved to the receiving node)
 * Version 1 entries (no `more` byte: written before an upgrade) are still read.
 *
 * MQTT 5 properties (rare, and nested: user properties, correlation data) stay JSON, as in the
 * stores. Lengths fit their fields: MQTT limits topics, client ids and filters to 65,535 bytes.
 *
 * Per message nothing but the bytes is kept on the sending side (EntryWriter writes each message
 * as it is recorded) and nothing but the Message on the receiving side (readEntry hands each one
 * to a visitor; the common "every matching subscription" target is one shared object).
 */
import type { Message, QoS } from '../mqtt/types.js'
import { propertiesFromJson, propertiesToJson } from '../store/sqlite/properties-json.js'
import type { Forwarded } from './bus.js'

const VERSION = 2
/** Entries written by nodes before cluster ids (no `more` byte). */
const VERSION_1 = 1
const RETAIN = 1 << 2
const ALL = 1 << 3
const MIRROR = 1 << 4
const PASSED_ON = 1 << 5
const EXPIRES = 1 << 6
const ORIGIN = 1 << 7
const HAS_ID = 1 << 0
const HAS_CLIENTS = 1 << 1
/** First size of an entry's buffer; it doubles as messages come. */
const FIRST_SIZE = 4096

/** Every matching non-shared subscription, no shared group: what most forwarded messages carry. */
export const TO_ALL: Forwarded = Object.freeze({ all: true, groups: Object.freeze([]) })
const TO_NONE: Forwarded = Object.freeze({ all: false, groups: Object.freeze([]) })

/** One message of an entry. */
export interface ForwardEntry {
  readonly message: Message
  readonly forwarded: Forwarded
  /** The retained mirror should take this message. */
  readonly mirror: boolean
  /** Already passed on once (shared groups whose members left): not again. */
  readonly passedOn: boolean
}

/** Called with each message of an entry, in order. */
export type EntryVisitor = (message: Message, forwarded: Forwarded, mirror: boolean, passedOn: boolean) => void

/** The bytes of one entry, written message by message as they are recorded. */
export class EntryWriter {
  #buf = Buffer.allocUnsafe(FIRST_SIZE)
  #at: number
  /** Messages added. */
  count = 0

  constructor() {
    this.#at = this.#buf.writeUInt8(VERSION, 0)
  }

  /** Messages' bytes written so far, version byte included. */
  get length(): number {
    return this.#at
  }

  /** Bytes of the buffer it holds (what keeping it for reuse keeps). */
  get capacity(): number {
    return this.#buf.length
  }

  /** Empty again, keeping its buffer: only once nothing holds the bytes taken from it (bytes()). */
  reset(): void {
    this.#at = 1
    this.count = 0
  }

  add(message: Message, forwarded: Forwarded, mirror: boolean, passedOn: boolean): void {
    const { topic, origin, expiresAt, payload } = message
    const props = propertiesToJson(message.properties)
    const groups = forwarded.groups
    // An upper bound (a UTF-16 code unit is at most 3 UTF-8 bytes).
    // (flags, more, id, clients count: 1 + 1 + 8 + 2)
    let size = 12 + 2 + 3 * topic.length + 2 + 3 * (origin?.length ?? 0) + 8 + 4 + 3 * (props?.length ?? 0) + 2 + 4 + payload.length
    for (let k = 0; k < groups.length; k++) size += 2 + 3 * groups[k].length
    const { clusterId } = message
    const clients = forwarded.clients
    if (clients !== undefined) for (const c of clients) size += 2 + 3 * c.length
    this.#room(size)
    const buf = this.#buf
    const flags = message.qos | (message.retain ? RETAIN : 0) | (forwarded.all ? ALL : 0) | (mirror ? MIRROR : 0) |
      (passedOn ? PASSED_ON : 0) | (expiresAt !== undefined ? EXPIRES : 0) | (origin !== undefined ? ORIGIN : 0)
    buf[this.#at++] = flags
    buf[this.#at++] = (clusterId !== undefined ? HAS_ID : 0) | (clients !== undefined ? HAS_CLIENTS : 0)
    if (clusterId !== undefined) this.#at = buf.writeDoubleBE(clusterId, this.#at)
    if (clients !== undefined) {
      this.#at = buf.writeUInt16BE(clients.size, this.#at)
      for (const c of clients) this.#text(c, 2)
    }
    this.#text(topic, 2)
    if (origin !== undefined) this.#text(origin, 2)
    if (expiresAt !== undefined) this.#at = buf.writeDoubleBE(expiresAt, this.#at)
    if (props === null) this.#at = buf.writeUInt32BE(0, this.#at)
    else this.#text(props, 4)
    this.#at = buf.writeUInt16BE(groups.length, this.#at)
    for (let k = 0; k < groups.length; k++) this.#text(groups[k], 2)
    this.#at = buf.writeUInt32BE(payload.length, this.#at)
    this.#at += payload.copy(buf, this.#at)
    this.count++
  }

  /** The entry's bytes (a view of the writer's buffer: add nothing more once taken). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#at)
  }

  #room(size: number): void {
    if (this.#at + size <= this.#buf.length) return
    let n = this.#buf.length * 2
    while (n < this.#at + size) n *= 2
    const bigger = Buffer.allocUnsafe(n)
    this.#buf.copy(bigger, 0, 0, this.#at)
    this.#buf = bigger
  }

  #text(s: string, lengthBytes: 2 | 4): void {
    const buf = this.#buf
    const at = this.#at + lengthBytes
    const n = buf.write(s, at)
    if (lengthBytes === 2) buf.writeUInt16BE(n, this.#at)
    else buf.writeUInt32BE(n, this.#at)
    this.#at = at + n
  }
}

/**
 * Writers kept for reuse, up to 1 MiB of buffers together, instead of a new 4 KiB buffer per
 * entry. Why: V8 counts ArrayBuffer memory made since its last full collection against the old
 * generation's limit, so a buffer per entry at thousands of entries a second made a node run a
 * full mark-compact every few seconds (see replyless-publisher.ts, OUT_FIRST_SIZE). Whoever gives
 * a writer back says that nothing holds its bytes any more.
 */
export class SpareWriters {
  static readonly MAX_BYTES = 1024 * 1024
  readonly #spare: EntryWriter[] = []
  #bytes = 0

  take(): EntryWriter {
    const w = this.#spare.pop()
    if (w === undefined) return new EntryWriter()
    this.#bytes -= w.capacity
    return w
  }

  /** Keep `w` for the next entries: only once nothing holds its bytes. */
  give(w: EntryWriter): void {
    if (this.#bytes + w.capacity > SpareWriters.MAX_BYTES) return
    w.reset()
    this.#bytes += w.capacity
    this.#spare.push(w)
  }
}

/** The bytes of an entry holding `entries`, in order. */
export function encodeEntry(entries: readonly ForwardEntry[]): Buffer {
  const w = new EntryWriter()
  for (const e of entries) w.add(e.message, e.forwarded, e.mirror, e.passedOn)
  return w.bytes()
}

/**
 * Hand each message of an entry to `visit`, in order; payloads are slices of `buf` (no copy).
 * Throws on bytes that are not an entry of this version, or cut short (the messages before the
 * cut were visited; the reader logs and acknowledges such an entry, never loops on it).
 */
export function readEntry(buf: Buffer, visit: EntryVisitor): void {
  const version = buf[0]
  if (version !== VERSION && version !== VERSION_1) throw new Error(`stream entry of unknown version ${version ?? 'none'}`)
  let at = 1
  const end = buf.length
  const need = (n: number): void => {
    if (at + n > end) throw new Error('stream entry cut short')
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
  while (at < end) {
    const flags = buf[at++]
    let more = 0
    if (version !== VERSION_1) {
      need(1)
      more = buf[at++]
    }
    let clusterId: number | undefined
    if ((more & HAS_ID) !== 0) {
      need(8)
      clusterId = buf.readDoubleBE(at)
      at += 8
    }
    let clients: Set<string> | undefined
    if ((more & HAS_CLIENTS) !== 0) {
      need(2)
      const n = buf.readUInt16BE(at)
      at += 2
      clients = new Set()
      for (let k = 0; k < n; k++) clients.add(text(2))
    }
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
    let forwarded: Forwarded
    if (count === 0 && clients === undefined) forwarded = (flags & ALL) !== 0 ? TO_ALL : TO_NONE
    else {
      const groups: string[] = []
      for (let k = 0; k < count; k++) groups.push(text(2))
      forwarded = clients === undefined ? { all: (flags & ALL) !== 0, groups } : { all: (flags & ALL) !== 0, groups, clients }
    }
    need(4)
    const n = buf.readUInt32BE(at)
    at += 4
    need(n)
    const payload = buf.subarray(at, at + n)
    at += n
    // The shape of a message published on this node (handlers/publish.ts), its QoS 0 encoding slot included.
    const message: Message = {
      topic, payload, qos: (flags & 3) as QoS, retain: (flags & RETAIN) !== 0, properties, expiresAt, origin, encoded: undefined, clusterId,
    }
    visit(message, forwarded, (flags & MIRROR) !== 0, (flags & PASSED_ON) !== 0)
  }
}

/** The messages of an entry, in order (see readEntry); nothing when any byte is wrong. */
export function decodeEntry(buf: Buffer): ForwardEntry[] {
  const out: ForwardEntry[] = []
  readEntry(buf, (message, forwarded, mirror, passedOn) => out.push({ message, forwarded, mirror, passedOn }))
  return out
}
