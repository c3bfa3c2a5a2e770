/**
 * MQTT UTF-8 strings [MQTT-1.5.4]: a client's own U+FFFD (EF BF BD) is an ordinary
 * character, while ill-formed UTF-8 (which Node's decoder also turns into U+FFFD) and U+0000
 * are refused — in the string check, the topic checks, and in every decoder that produces
 * the strings: the direct one (decode.ts) and mqtt-packet's (parser.ts).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type mqtt from 'mqtt-packet'
import { PortcullisError } from '../../src/errors.js'
import { decodePacket } from '../../src/protocol/decode.js'
import { isValidTopicFilter, isValidTopicName } from '../../src/protocol/topic.js'
import { decodeUtf8Field, isValidUtf8Field } from '../../src/protocol/utf8.js'
import { ILL_FORMED, frameWith } from '../helpers/frames.js'
import { inspect } from 'node:util'

const WELL_FORMED: ReadonlyArray<readonly [string, number[], string]> = [
  ['U+FFFD (EF BF BD)', [0xef, 0xbf, 0xbd], '\uFFFD'],
  ['two U+FFFD', [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd], '\uFFFD\uFFFD'],
  ['U+1F600 (a surrogate pair in JS)', [0xf0, 0x9f, 0x98, 0x80], '\u{1F600}'],
  ['U+FFFD next to U+1F600', [0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80], '\uFFFD\u{1F600}'],
  ['U+FFFF', [0xef, 0xbf, 0xbf], '\uFFFF'],
]

/** `a/<bytes>/b` as bytes. */
const topicBytes = (bytes: number[]): Buffer => Buffer.from([0x61, 0x2f, ...bytes, 0x2f, 0x62])

describe('decodeUtf8Field + isValidUtf8Field', () => {
  for (const [name, bytes, text] of WELL_FORMED) {
    test(`well-formed: ${name} decodes to itself and is valid [MQTT-1.5.4-1]`, () => {
      const buf = topicBytes(bytes)
      const s = decodeUtf8Field(buf, 0, buf.length)
      assert.equal(s, `a/${text}/b`)
      assert.equal(isValidUtf8Field(s), true)
      assert.equal(isValidTopicName(s), true)
      assert.equal(isValidTopicFilter(s), true)
    })
  }
  for (const [name, bytes] of ILL_FORMED) {
    test(`ill-formed: ${name} is refused [MQTT-1.5.4-1]`, () => {
      const buf = topicBytes(bytes)
      const s = decodeUtf8Field(buf, 0, buf.length)
      assert.equal(isValidUtf8Field(s), false)
      assert.equal(isValidTopicName(s), false)
      assert.equal(isValidTopicFilter(s), false)
    })
  }
  test('ill-formed at the very end of the field (truncated E2 82) is refused [MQTT-1.5.4-1]', () => {
    const buf = Buffer.from([0x61, 0xe2, 0x82, 0x7a])
    assert.equal(isValidUtf8Field(decodeUtf8Field(buf, 0, 3)), false)
  })
  test('only the field is judged, not the bytes around it', () => {
    const buf = Buffer.from([0xc0, 0x61, 0xef, 0xbf, 0xbd, 0xc0])
    assert.equal(decodeUtf8Field(buf, 1, 5), 'a\uFFFD')
    assert.equal(isValidUtf8Field(decodeUtf8Field(buf, 1, 5)), true)
  })
  test('U+0000 is refused [MQTT-1.5.4-2]', () => {
    const buf = topicBytes([0x00])
    assert.equal(isValidUtf8Field(decodeUtf8Field(buf, 0, buf.length)), false)
  })
  test('strings not from the wire: U+FFFD and surrogate pairs are valid, lone surrogates and U+0000 are not', () => {
    for (const s of ['\uFFFD', 'a/\uFFFD/b', '\u{1F600}', 'x\u{10FFFF}']) assert.equal(isValidUtf8Field(s), true, JSON.stringify(s))
    for (const s of ['\uD800', 'a\uDC00', '\uD83D', '\uDE00\uD83D', 'a\u0000']) assert.equal(isValidUtf8Field(s), false, JSON.stringify(s))
  })
})

/** The UTF-8 strings the broker validates, taken from a decoded packet. */
function validatedStrings(p: mqtt.Packet): string[] {
  switch (p.cmd) {
    case 'publish':
      return [p.topic]
    case 'subscribe':
      return p.subscriptions.map((s) => s.topic)
    case 'connect':
      return [p.clientId, ...(p.username === undefined ? [] : [p.username]), ...(p.will === undefined ? [] : [p.will.topic])]
    default:
      return []
  }
}

// '@' marks where the bytes go. Each packet is decoded by the direct decoder or mqtt-packet.
const PACKETS: ReadonlyArray<readonly [string, 4 | 5, object]> = [
  ['PUBLISH v4 (direct decoder)', 4, { cmd: 'publish', topic: 'a/@/b', payload: 'x', qos: 1, messageId: 1 }],
  ['PUBLISH v5 without properties (direct decoder)', 5, { cmd: 'publish', topic: 'a/@/b', payload: 'x', qos: 0 }],
  ['PUBLISH v5 with properties (mqtt-packet)', 5, { cmd: 'publish', topic: 'a/@/b', payload: 'x', qos: 0, properties: { contentType: 'text/plain' } }],
  ['SUBSCRIBE (mqtt-packet)', 4, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/@/#', qos: 0 }] }],
  ['CONNECT client id and username (direct decoder)', 4, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'c@', username: 'u@' }],
  ['CONNECT will topic (mqtt-packet)', 5, {
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'c@',
    will: { topic: 'w/@', payload: 'x', qos: 0, retain: false },
  }],
]

describe('decoded packets keep a literal U+FFFD and mark ill-formed UTF-8', () => {
  for (const [name, version, packet] of PACKETS) {
    test(`${name}: EF BF BD is U+FFFD, valid [MQTT-1.5.4-1]`, () => {
      const p = decodePacket(frameWith(packet, version, [0xef, 0xbf, 0xbd]), version)
      assert.ok(!(p instanceof Error), inspect(p))
      const strings = validatedStrings(p)
      assert.ok(strings.length > 0)
      for (const s of strings) {
        assert.ok(s.includes('\uFFFD'), JSON.stringify(s))
        assert.equal(isValidUtf8Field(s), true, JSON.stringify(s))
      }
    })
    for (const [bad, bytes] of ILL_FORMED) {
      test(`${name}: ${bad} is refused [MQTT-1.5.4-1]`, () => {
        const p = decodePacket(frameWith(packet, version, bytes), version)
        if ((packet as { cmd: string }).cmd === 'subscribe') {
          // a filter is refused by the decoder itself: the whole packet is malformed
          assert.ok(p instanceof PortcullisError && p.code === 'ERR_MALFORMED_PACKET', inspect(p))
          return
        }
        assert.ok(!(p instanceof Error), inspect(p))
        const strings = validatedStrings(p)
        assert.ok(strings.length > 0)
        for (const s of strings) assert.equal(isValidUtf8Field(s), false, JSON.stringify(s))
      })
    }
  }
  test('a SUBSCRIBE with an ill-formed filter beside a literal U+FFFD filter is malformed; the U+FFFD filter alone is fine', () => {
    const both = decodePacket(frameWith(
      { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/@', qos: 0 }, { topic: 'a/\uFFFD\uFFFD', qos: 0 }] }, 5, [0xc0, 0xaf],
    ), 5)
    assert.ok(both instanceof PortcullisError && both.code === 'ERR_MALFORMED_PACKET', inspect(both))
    const alone = decodePacket(frameWith({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/\uFFFD\uFFFD', qos: 0 }] }, 5, [0x61]), 5)
    assert.ok(!(alone instanceof Error) && alone.cmd === 'subscribe', inspect(alone))
    assert.deepEqual(alone.subscriptions.map((s) => isValidTopicFilter(s.topic)), [true])
  })
})
