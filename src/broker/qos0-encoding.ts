/**
 * QoS 0 PUBLISH bytes are the same for every subscriber of a protocol version (no packet
 * identifier, no per-subscriber properties): a message carries them, made once, in four slots —
 * MQTT 3.1/3.1.1 and 5, each without and with RETAIN.
 */
import type { Buffer } from 'node:buffer'
import type { Message, ProtocolVersion } from '../mqtt/types.js'
import { encodePublish, isQos0Encoding } from '../protocol/encode.js'

function slotOf(version: ProtocolVersion, retain: boolean): number {
  return (version === 5 ? 2 : 0) + (retain ? 1 : 0)
}

/**
 * The encodings of a message published with `frame` by a client of `version`, as far as they are
 * known on arrival: when the frame is what encodePublish would write (isQos0Encoding), it is that
 * version's encoding without RETAIN, and subscribers of that version are sent the received bytes
 * (no encoding, no copy: the message's payload is a view of the same bytes anyway); undefined
 * otherwise (each is encoded at its first use, encodedQos0).
 */
export function receivedQos0Encoding(frame: Buffer, version: ProtocolVersion): Buffer[] | undefined {
  if (!isQos0Encoding(frame, version)) return undefined
  // the four slots made at once: an empty array grown by setting an index gets storage for many
  // more elements than four
  const slots = new Array<Buffer>(4)
  slots[slotOf(version, false)] = frame
  return slots
}

/** The message's QoS 0 PUBLISH for subscribers of `version`, encoded at its first use. */
export function encodedQos0(m: Message, retain: boolean, version: ProtocolVersion): Buffer {
  const slots = (m.encoded ??= new Array<Buffer>(4))
  const i = slotOf(version, retain)
  let buf = slots[i]
  if (buf === undefined) {
    buf = encodePublish(m.topic, m.payload, 0, retain, false, 0, version)
    slots[i] = buf
  }
  return buf
}
