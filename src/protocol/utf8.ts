/**
 * MQTT UTF-8 strings [MQTT-1.5.4] (3.1.1 §1.5.3): decoding from the wire and the check
 * that a decoded string was well-formed.
 *
 * The spec forbids ill-formed UTF-8 (overlongs, encoded surrogates, truncated or stray
 * bytes) [MQTT-1.5.4-1] and U+0000 [MQTT-1.5.4-2]; every other code point, U+FFFD included,
 * is allowed. Node's decoder turns each ill-formed sequence into U+FFFD, the very character
 * a client may send on purpose, so the decoded text alone cannot tell the two apart. The
 * verdict is therefore taken on the bytes, at decode time, and carried in the string:
 * a string decoded from ill-formed bytes has its U+FFFD replaced by an unpaired surrogate,
 * which no well-formed UTF-8 can produce (and which the spec forbids anyway). Checks on the
 * decoded string — isValidUtf8Field here, the topic checks in topic.ts — then only look for
 * U+0000 and unpaired surrogates. Only a decoded string that contains U+FFFD costs a look at
 * its bytes.
 */
import { isUtf8 } from 'node:buffer'

const REPLACEMENT = '\uFFFD'
/** Stands for ill-formed input in a decoded string: a lone high surrogate. */
const ILL_FORMED = '\uD800'

/**
 * `decoded` is `bytes` decoded by Node (ill-formed sequences became U+FFFD). Returns it as
 * is when the bytes are well-formed UTF-8, else with its U+FFFD turned into the mark of
 * ill-formed input. Call it only for a string that contains U+FFFD (see decodeUtf8Field).
 */
export function markIllFormedUtf8(decoded: string, bytes: Uint8Array): string {
  return isUtf8(bytes) ? decoded : decoded.replaceAll(REPLACEMENT, ILL_FORMED)
}

/** Decode the string field at `buf[start, end)`; ill-formed UTF-8 is marked (see the module comment). */
export function decodeUtf8Field(buf: Buffer, start: number, end: number): string {
  const s = buf.toString('utf8', start, end)
  return s.includes(REPLACEMENT) ? markIllFormedUtf8(s, buf.subarray(start, end)) : s
}

/**
 * A UTF-8 string field sent by a client is well-formed: no U+0000 [MQTT-1.5.4-2] and no
 * surrogate code point, which is how ill-formed input shows in a decoded string
 * [MQTT-1.5.4-1]. A high surrogate followed by a low one is a single supplementary
 * character (an emoji, say) and allowed.
 */
export function isValidUtf8Field(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0) return false
    if ((c & 0xf800) === 0xd800) {
      if (c > 0xdbff || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return false
      i++
    }
  }
  return true
}
