/** Hand-made frames for decoder tests: packets encoded by mqtt-packet, then given raw bytes where a string was. */
import mqtt from 'mqtt-packet'

/** Ill-formed UTF-8 sequences [MQTT-1.5.4-1]; Node's decoder turns each into U+FFFD. */
export const ILL_FORMED: ReadonlyArray<readonly [string, number[]]> = [
  ['overlong C0 AF', [0xc0, 0xaf]],
  ['overlong NUL C0 80', [0xc0, 0x80]],
  ['encoded high surrogate ED A0 80', [0xed, 0xa0, 0x80]],
  ['encoded low surrogate ED B0 80', [0xed, 0xb0, 0x80]],
  ['truncated E2 82', [0xe2, 0x82]],
  ['stray continuation byte 80', [0x80]],
  ['FF', [0xff]],
  ['U+FFFD then overlong C0 AF', [0xef, 0xbf, 0xbd, 0xc0, 0xaf]],
]

/**
 * `packet` encoded by mqtt-packet, with every `@` in its strings (keys included) standing for
 * `bytes`: a placeholder as long as `bytes` is encoded, then overwritten, so lengths hold.
 */
export function frameWith(packet: object, version: 4 | 5, bytes: number[]): Buffer {
  const placeholder = 'Z'.repeat(bytes.length)
  const frame = mqtt.generate(JSON.parse(JSON.stringify(packet).replaceAll('@', placeholder)) as mqtt.Packet, { protocolVersion: version })
  for (let at = frame.indexOf(placeholder); at !== -1; at = frame.indexOf(placeholder, at)) frame.set(bytes, at)
  return frame
}
