/**
 * Splits a client's byte stream into whole MQTT packets (fixed header + remaining length
 * [MQTT-2.1]). The declared size is checked against the limit as soon as the fixed header
 * is complete, before any of the body is buffered. Bytes of a packet that spans several
 * chunks are kept as a list and joined once, when the packet is complete.
 */

export interface FrameSink {
  /** One whole packet (a view into the received bytes). Return false to stop framing. */
  onFrame(frame: Buffer): boolean
  /** The stream cannot be framed: the caller closes the connection. */
  onFrameError(code: 'ERR_MALFORMED_PACKET' | 'ERR_PACKET_TOO_LARGE', detail: string): void
}

/** Result of reading a fixed header at `off`: total packet size, 0 when more bytes are needed, -1 when malformed. */
function frameSize(buf: Buffer, off: number): number {
  let len = 0
  let mul = 1
  for (let i = off + 1; i < off + 5; i++) {
    if (i >= buf.length) return 0
    const b = buf[i]
    len += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return i + 1 - off + len
    mul *= 128
  }
  return -1 // a fifth length byte: malformed [MQTT-1.5.5]
}

/**
 * The bytes of a packet that is not complete yet: one buffer, or several chunks waiting to be
 * joined. Only a connection in the middle of a packet has one (an idle connection holds none).
 */
export interface PartialFrame {
  readonly chunks: Buffer[]
  length: number
  /** Total size of the packet being collected, once its fixed header is known (else 0). */
  need: number
}

/**
 * Frame `chunk` (after the partial packet a previous call returned, if any): every whole packet
 * goes to the sink; what is left of an incomplete one is returned, to be passed to the next call.
 */
export function pushFrames(partial: PartialFrame | undefined, chunk: Buffer, sink: FrameSink, maxPacketSize: number): PartialFrame | undefined {
  let buf = chunk
  if (partial !== undefined) {
    partial.chunks.push(chunk)
    partial.length += chunk.length
    // still short of a packet whose size is known: keep collecting without copying
    if (partial.need > 0 && partial.length < partial.need) return partial
    buf = partial.chunks.length === 1 ? partial.chunks[0] : Buffer.concat(partial.chunks, partial.length)
  }
  let off = 0
  while (off < buf.length) {
    const size = buf.length - off < 2 ? 0 : frameSize(buf, off)
    if (size < 0) {
      sink.onFrameError('ERR_MALFORMED_PACKET', 'remaining length longer than 4 bytes')
      return undefined
    }
    if (size > maxPacketSize) {
      sink.onFrameError('ERR_PACKET_TOO_LARGE', `packet of ${size} bytes exceeds the maximum packet size`)
      return undefined
    }
    if (size === 0 || buf.length - off < size) {
      // keep the rest (copied when small, so a large read buffer is not held for a few bytes)
      const rest = buf.subarray(off)
      return { chunks: [rest.length < 4096 ? Buffer.from(rest) : rest], length: rest.length, need: size }
    }
    // A read that is exactly one packet (a device's PUBLISH, a PUBACK: most reads in the fleet
    // regime) is the frame itself: no view object made per packet.
    const frame = size === buf.length ? buf : buf.subarray(off, off + size)
    off += size
    if (!sink.onFrame(frame)) return undefined
  }
  return undefined
}

/** A byte stream's framing state with its size limit (pushFrames() with the partial packet kept). */
export class Framer {
  readonly #maxPacketSize: number
  #partial: PartialFrame | undefined

  constructor(maxPacketSize: number) {
    this.#maxPacketSize = maxPacketSize
  }

  push(chunk: Buffer, sink: FrameSink): void {
    this.#partial = pushFrames(this.#partial, chunk, sink, this.#maxPacketSize)
  }
}
