/**
 * Framing and the direct decoder: packets split at every byte, several in one chunk, the
 * size limit applied at the fixed header, malformed lengths, and the direct decoder
 * agreeing with mqtt-packet on the packets it handles.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt from 'mqtt-packet'
import { decodePacket, packetFault } from '../../src/protocol/decode.js'
import { Framer, pushFrames, type FrameSink } from '../../src/protocol/framer.js'
import { createParser } from '../../src/protocol/parser.js'
import { isValidUtf8Field } from '../../src/protocol/utf8.js'

class Collect implements FrameSink {
  readonly frames: Buffer[] = []
  error: string | undefined
  onFrame(frame: Buffer): boolean {
    this.frames.push(Buffer.from(frame))
    return true
  }
  onFrameError(code: string, detail: string): void {
    this.error = `${code}: ${detail}`
  }
}

const gen = (p: object, v: 4 | 5 = 4): Buffer => mqtt.generate(p as mqtt.Packet, { protocolVersion: v })
const publish = (topic: string, payload: Buffer, qos: 0 | 1 | 2, v: 4 | 5 = 4, properties?: object): Buffer =>
  gen({ cmd: 'publish', topic, payload, qos, retain: qos === 1, dup: qos === 2, messageId: qos > 0 ? 7 : undefined, properties }, v)

describe('Framer: cutting the byte stream into packets', () => {
  const packets = [
    publish('a/b', Buffer.from('x'), 0),
    publish('big', Buffer.alloc(300, 1), 1),
    gen({ cmd: 'pingreq' }),
    gen({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'x/#', qos: 1 }] }),
  ]
  const stream = Buffer.concat(packets)

  test('nothing is kept between whole packets; only a packet cut short is (idle memory, issue 19)', () => {
    const c = new Collect()
    assert.equal(pushFrames(undefined, stream, c, 1024), undefined)
    const cut = packets[0].length + 2
    const partial = pushFrames(undefined, stream.subarray(0, cut), c, 1024)
    assert.equal(partial?.length, 2)
    assert.equal(pushFrames(partial, stream.subarray(cut), c, 1024), undefined)
    assert.deepEqual(c.frames, [...packets, ...packets])
  })

  test('a read that is exactly one packet is that packet: no view is made of it (issue 19, allocation per message)', () => {
    const one = publish('fleet/g001/d7', Buffer.alloc(64, 2), 1)
    const seen: Buffer[] = []
    const sink: FrameSink = { onFrame: (frame) => { seen.push(frame); return true }, onFrameError: () => assert.fail('no error') }
    assert.equal(pushFrames(undefined, one, sink, 1024), undefined)
    assert.equal(seen.length, 1)
    assert.equal(seen[0], one)
    // two packets in one read: each is its own view, with its own bytes
    pushFrames(undefined, Buffer.concat([one, one]), sink, 1024)
    assert.equal(seen.length, 3)
    assert.deepEqual([seen[1].length, seen[2].length], [one.length, one.length])
    assert.deepEqual(Buffer.from(seen[2]), one)
  })

  test('every split point yields the same packets', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const f = new Framer(1024)
      const c = new Collect()
      f.push(stream.subarray(0, cut), c)
      f.push(stream.subarray(cut), c)
      assert.deepEqual(c.frames, packets, `cut at ${cut}`)
    }
  })

  test('fed one byte at a time, the same packets come out (TCP keeps no packet boundaries)', () => {
    const f = new Framer(1024)
    const c = new Collect()
    for (let i = 0; i < stream.length; i++) f.push(stream.subarray(i, i + 1), c)
    assert.deepEqual(c.frames, packets)
    assert.equal(c.error, undefined)
  })

  test('a packet over the limit is refused as soon as its fixed header is known', () => {
    const f = new Framer(100)
    const c = new Collect()
    const big = publish('t', Buffer.alloc(200), 0)
    f.push(big.subarray(0, 3), c)
    assert.match(c.error ?? '', /ERR_PACKET_TOO_LARGE/)
    assert.equal(c.frames.length, 0)
  })

  test('a fifth remaining-length byte is malformed (four at most, §2.2.3 / §1.5.5)', () => {
    const f = new Framer(1 << 28)
    const c = new Collect()
    f.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), c)
    assert.match(c.error ?? '', /ERR_MALFORMED_PACKET/)
  })

  test('the largest remaining length, 268,435,455 in four bytes, is framed (and limited) (§2.2.3)', () => {
    const f = new Framer(1024)
    const c = new Collect()
    f.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), c)
    assert.match(c.error ?? '', /268435460 bytes/)
  })
})

describe('direct decoder agrees with mqtt-packet', () => {
  const reference = (frame: Buffer, v: 4 | 5): mqtt.Packet => {
    let out: mqtt.Packet | undefined
    const p = mqtt.parser({ protocolVersion: v })
    p.on('packet', (x: mqtt.Packet) => (out = x))
    p.parse(frame)
    return out as mqtt.Packet
  }
  const cases: Array<[string, Buffer, 4 | 5]> = [
    ['publish qos0 v4', publish('a/b/c', Buffer.from('hello'), 0), 4],
    ['publish qos1 retain v4', publish('ü/ß', Buffer.from('x'), 1), 4],
    ['publish qos2 dup v5', publish('t', Buffer.alloc(0), 2, 5), 5],
    ['publish v5 with properties (mqtt-packet path)', publish('t', Buffer.from('p'), 1, 5, { contentType: 'text/plain', userProperties: { a: 'b' } }), 5],
    ['puback', gen({ cmd: 'puback', messageId: 9 }), 4],
    ['pubrec v5', gen({ cmd: 'pubrec', messageId: 9 }, 5), 5],
    ['pubrel', gen({ cmd: 'pubrel', messageId: 65535 }), 4],
    ['pubcomp', gen({ cmd: 'pubcomp', messageId: 1 }), 4],
    ['pingreq', gen({ cmd: 'pingreq' }), 4],
    ['disconnect v4', gen({ cmd: 'disconnect' }), 4],
    ['disconnect v5, no reason code (0x00)', Buffer.from([0xe0, 0x00]), 5],
    ['disconnect v5 with a reason code (mqtt-packet path)', gen({ cmd: 'disconnect', reasonCode: 0x04 }, 5), 5],
    ['unsubscribe', gen({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a'] }), 4],
  ]
  for (const [name, frame, v] of cases) {
    test(name, () => {
      const ours = decodePacket(frame, v) as unknown as Record<string, unknown>
      const ref = reference(frame, v) as unknown as Record<string, unknown>
      assert.ok(!(ours instanceof Error))
      // qos/retain/dup are header fields of PUBLISH only (mqtt-packet sets defaults on every packet)
      const keys = ref['cmd'] === 'publish' ? ['cmd', 'topic', 'qos', 'retain', 'dup', 'messageId', 'properties'] : ['cmd', 'messageId', 'unsubscriptions', 'reasonCode']
      for (const key of keys) {
        if (ref[key] === undefined || ref[key] === null) continue
        assert.deepEqual(ours[key], ref[key], key)
      }
      if (ref['payload'] !== undefined && ref['payload'] !== null) assert.deepEqual(Buffer.from(ours['payload'] as Buffer), Buffer.from(ref['payload'] as Buffer))
    })
  }

  test('QoS 3 and reserved flags are errors; a bad CONNECT does not spoil the next one', () => {
    assert.ok(decodePacket(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]), 4) instanceof Error)
    assert.ok(decodePacket(Buffer.from([0x80, 0x02, 0x00, 0x01]), 4) instanceof Error, 'SUBSCRIBE with flags 0000')
    const good = gen({ cmd: 'connect', clientId: 'abc', protocolVersion: 4, protocolId: 'MQTT', clean: true, keepalive: 0 })
    const bad = Buffer.from(good)
    bad[8] = 2 // protocol level 2
    assert.equal((decodePacket(bad, 4) as Error).message, 'Invalid protocol version')
    assert.equal((decodePacket(good, 4) as mqtt.IConnectPacket).clientId, 'abc')
    assert.equal((decodePacket(good, 4) as mqtt.IConnectPacket).clientId, 'abc')
  })
})

describe('CONNECT: the direct decoder and mqtt-packet agree on every packet', () => {
  /**
   * mqtt-packet's verdict on one frame, from a fresh parser as the broker builds it, and the
   * broker's checks after it (packetFault)
   * (parser.ts: ill-formed UTF-8 in a string is marked the way the direct decoder marks it).
   */
  const reference = (frame: Buffer, v: 4 | 5): mqtt.Packet | Error | undefined => {
    let out: mqtt.Packet | Error | undefined
    const p = createParser(v)
    p.on('packet', (x: mqtt.Packet) => (out ??= x))
    p.on('error', (e: Error) => (out ??= e))
    p.parse(frame)
    // the checks the broker makes on every packet mqtt-packet decodes
    return out instanceof Error || out === undefined ? out : (packetFault(out) ?? out)
  }
  const FIELDS = ['cmd', 'protocolId', 'protocolVersion', 'clean', 'keepalive', 'clientId', 'username', 'password', 'will', 'properties', 'bridgeMode', 'length'] as const
  const agree = (frame: Buffer, v: 4 | 5, what: string): void => {
    const ref = reference(frame, v)
    const ours = decodePacket(frame, v)
    if (ref instanceof Error || ref === undefined) {
      assert.ok(ours instanceof Error, `${what}: mqtt-packet refuses (${ref?.message ?? 'incomplete'}), so must we`)
      if (ref !== undefined) assert.equal(ours.message, ref.message, what)
      return
    }
    assert.ok(!(ours instanceof Error), `${what}: ${ours instanceof Error ? ours.message : ''}`)
    const a = ours as unknown as Record<string, unknown>
    const b = ref as unknown as Record<string, unknown>
    for (const k of FIELDS) {
      const x = Buffer.isBuffer(a[k]) ? Buffer.from(a[k]) : a[k]
      const y = Buffer.isBuffer(b[k]) ? Buffer.from(b[k]) : b[k]
      assert.deepEqual(x, y, `${what}: ${k}`)
    }
  }
  const variants: Array<[string, Record<string, unknown>]> = []
  for (const v of [4, 5] as const) {
    for (const clientId of ['', 'c', 'dévice-ü-✓', 'x'.repeat(300)]) {
      for (const clean of [true, false]) {
        for (const creds of [{}, { username: 'u' }, { username: 'ü'.repeat(200), password: Buffer.from('p\u0000w') }, { username: '', password: Buffer.alloc(0) }, { password: Buffer.from('only') }]) {
          // mqtt-packet will not generate these (the byte changes below still reach them)
          if (('password' in creds && !('username' in creds)) || (clientId === '' && !clean)) continue
          variants.push([`v${v} id=${clientId.slice(0, 12)} clean=${clean} ${Object.keys(creds).join('+')}`,
            { cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean, keepalive: clientId.length * 7 % 65536, clientId, ...creds }])
        }
      }
    }
    // what the direct path leaves to mqtt-packet: a will, properties, MQIsdp
    variants.push([`v${v} will`, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, keepalive: 5, clientId: 'w', will: { topic: 'a/b', payload: Buffer.from('bye'), qos: 1, retain: true } }])
  }
  variants.push(['v5 properties', { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 5, clientId: 'p', properties: { sessionExpiryInterval: 60, receiveMaximum: 5 } }])
  variants.push(['v3.1 MQIsdp', { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 5, clientId: 'old' }])

  test('generated CONNECTs decode to the same packet', () => {
    for (const [what, p] of variants) {
      const v = p['protocolVersion'] === 5 ? 5 : 4
      agree(mqtt.generate(p as unknown as mqtt.Packet, { protocolVersion: v }), v, what)
    }
  })

  test('every single-byte change, and every truncation, gets the same verdict', () => {
    let checked = 0
    for (const [what, p] of variants.filter(([w]) => !w.includes('x'.repeat(12)))) {
      const v = p['protocolVersion'] === 5 ? 5 : 4
      const frame = mqtt.generate(p as unknown as mqtt.Packet, { protocolVersion: v })
      const head = frame.length - (frame.length > 129 ? 3 : 2) // body bytes only; the framer owns the length
      for (let i = frame.length - head; i < frame.length; i++) {
        for (const value of [0x00, 0x01, 0x02, 0x04, 0x40, 0x80, 0xc2, 0xff, (frame[i] + 1) & 0xff]) {
          const changed = Buffer.from(frame)
          changed[i] = value
          agree(changed, v, `${what} byte ${i} = ${value}`)
          checked++
        }
      }
      // a frame whose body is cut short (remaining length rewritten to match)
      for (let cut = 1; cut < Math.min(head, 40); cut++) {
        const body = frame.subarray(frame.length - head, frame.length - cut)
        if (body.length > 127) continue
        agree(Buffer.concat([Buffer.from([0x10, body.length]), body]), v, `${what} cut ${cut}`)
        checked++
      }
    }
    assert.ok(checked > 3000, `checked ${checked} frames`)
  })
})

describe('PUBLISH encoder: the same bytes as mqtt-packet', () => {
  test('every QoS, flag, version, topic and payload size around the length boundaries', async () => {
    const { encodePublish } = await import('../../src/protocol/encode.js')
    let checked = 0
    for (const version of [3, 4, 5] as const) {
      for (const qos of [0, 1, 2] as const) {
        for (const [retain, dup] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          for (const topic of ['t', 'a/b/c', 'ü/✓/\u{1F600}', 'abc/é', 'y'.repeat(256), 'x'.repeat(300)]) {
            for (const size of [0, 1, 100, 121, 122, 123, 127, 128, 16_370, 16_383, 16_384, 2_097_151 - 20, 2_097_152]) {
              const payload = Buffer.alloc(size, size % 251)
              const packetId = qos === 0 ? 0 : 1 + ((size + checked) % 65535)
              const ours = encodePublish(topic, payload, qos, retain, dup, packetId, version)
              const ref = mqtt.generate({ cmd: 'publish', topic, payload, qos, retain, dup, ...(qos > 0 ? { messageId: packetId } : {}) }, { protocolVersion: version })
              assert.ok(ours.equals(ref), `v${version} qos${qos} retain=${retain} dup=${dup} topic=${topic.slice(0, 8)} size=${size}`)
              checked++
            }
          }
        }
      }
    }
    assert.equal(checked, 3 * 3 * 4 * 6 * 13)
  })
})

describe('isQos0Encoding: a received PUBLISH that is its own QoS 0 encoding', () => {
  test('true for what encodePublish writes at QoS 0 without RETAIN or DUP, false for any other bytes', async () => {
    const { encodePublish, isQos0Encoding } = await import('../../src/protocol/encode.js')
    for (const version of [3, 4, 5] as const) {
      for (const size of [0, 100, 122, 127, 128, 16_383, 16_384]) {
        const payload = Buffer.alloc(size, 7)
        for (const topic of ['t', 'a/b/c', 'ü/✓']) {
          const own = encodePublish(topic, payload, 0, false, false, 0, version)
          assert.ok(isQos0Encoding(own, version), `v${version} ${topic} ${size}`)
          for (const [qos, retain, dup] of [[0, true, false], [0, false, true], [1, false, false], [2, false, false]] as const) {
            assert.ok(!isQos0Encoding(encodePublish(topic, payload, qos, retain, dup, 1, version), version), `v${version} qos${qos} retain=${retain} dup=${dup}`)
          }
          // the same packet with a Remaining Length one byte longer than needed
          let h = 1
          while ((own[h] & 0x80) !== 0) h++
          const longer = Buffer.concat([own.subarray(0, h), Buffer.from([own[h] | 0x80, 0x00]), own.subarray(h + 1)])
          assert.ok(!(decodePacket(longer, version) instanceof Error), 'a longer Remaining Length is read')
          assert.ok(!isQos0Encoding(longer, version), `v${version} longer length`)
        }
      }
    }
    // MQTT 5 with properties (a topic alias, a content type): not the broker's encoding
    for (const properties of [{ topicAlias: 1 }, { contentType: 'x' }]) {
      const frame = mqtt.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('p'), qos: 0, dup: false, retain: false, properties }, { protocolVersion: 5 })
      assert.ok(!isQos0Encoding(frame, 5))
    }
    // a frame shorter or longer than its Remaining Length says
    const own = encodePublish('a/b', Buffer.from('payload'), 0, false, false, 0, 4)
    assert.ok(!isQos0Encoding(own.subarray(0, own.length - 1), 4))
    assert.ok(!isQos0Encoding(Buffer.concat([own, Buffer.from([0])]), 4))
  })
})

describe('framer: the sink decides', () => {
  test('a sink that answers false stops framing: the packets after it are not delivered', () => {
    const packets = [gen({ cmd: 'pingreq' }), gen({ cmd: 'pingreq' }), gen({ cmd: 'pingreq' })]
    const f = new Framer(1024)
    const seen: Buffer[] = []
    f.push(Buffer.concat(packets), {
      onFrame: (frame) => { seen.push(Buffer.from(frame)); return false },
      onFrameError: () => assert.fail('no error'),
    })
    assert.deepEqual(seen, [packets[0]])
  })
})

describe('decodePacket: the previous topic given back (issue 19, a device keeps to its topic)', () => {
  const topicOf = (frame: Buffer, last?: string): string => {
    const p = decodePacket(frame, 4, last)
    assert.ok(!(p instanceof Error) && p.cmd === 'publish')
    return p.topic
  }

  test('the same ASCII bytes give back the very string; other bytes of the same length do not', () => {
    const first = topicOf(publish('fleet/g001/d7', Buffer.from('x'), 1))
    assert.equal(topicOf(publish('fleet/g001/d7', Buffer.from('y'), 1), first), first)
    assert.equal(topicOf(publish('fleet/g001/d8', Buffer.from('y'), 0), first), 'fleet/g001/d8')
    assert.equal(topicOf(publish('fleet/g001/d77', Buffer.from('y'), 0), first), 'fleet/g001/d77')
  })

  test('a non-ASCII byte is decoded and checked as ever, whatever the previous topic [MQTT-1.5.4-1]', () => {
    // 'caf\u00e9' decoded, then a frame whose topic is the single Latin-1 byte E9 in its place:
    // ill-formed UTF-8, which must not pass for the previous (well-formed) topic
    const good = topicOf(publish('caf\u00e9', Buffer.from('x'), 0))
    assert.equal(good, 'caf\u00e9')
    const bad = Buffer.from(publish('cafe', Buffer.from('x'), 0))
    bad[bad.indexOf('cafe') + 3] = 0xe9
    const t = topicOf(bad, 'caf\u00e9')
    assert.notEqual(t, 'caf\u00e9')
    assert.equal(isValidUtf8Field(t), false)
    // the same non-ASCII bytes again are decoded again: equal text, checked as before
    assert.equal(topicOf(publish('caf\u00e9', Buffer.from('y'), 0), good), 'caf\u00e9')
  })
})
