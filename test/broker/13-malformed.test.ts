/**
 * Malformed and out-of-order input, in HAND-MADE BYTES over raw sockets [MQTT-1.5.4, MQTT-2.2,
 * MQTT-3.1.0, MQTT-4.8]: each case closes only the offending connection; a healthy MQTT.js
 * client stays connected throughout and must still publish and receive afterwards.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import type { IConnectPacket } from 'mqtt-packet'
import {
  VERSIONS, assertHealthy, connectBytes, nextMessage, rawConnected, rawSocket, subscribe, uid, until, useBroker, useHealthyClient,
  type RawClient,
} from '../helpers/broker.js'

const MAX_PACKET = 4096
const broker = useBroker({ limits: { maxPacketSize: MAX_PACKET, connectTimeoutMs: 500 } })

/** The v5 DISCONNECT reason the broker sent before closing, if any. */
function disconnectReason(raw: RawClient): number | undefined {
  const d = raw.packets.find((p) => p.cmd === 'disconnect')
  return d?.cmd === 'disconnect' ? d.reasonCode : undefined
}

/** A PUBLISH QoS 0 with a topic given as raw bytes. */
function publishWithTopicBytes(topic: number[], payload = [0x78]): number[] {
  return [0x30, 2 + topic.length + payload.length, 0x00, topic.length, ...topic, ...payload]
}

/** Watches `client` for messages on `topic`; the returned function stops watching and says whether one came. */
function watchTopic(client: MqttClient, topic: string): () => boolean {
  let seen = false
  const on = (t: string): void => {
    if (t === topic) seen = true
  }
  client.on('message', on)
  return () => {
    client.off('message', on)
    return seen
  }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    const healthy = useHealthyClient(broker, v)

    /** Open a raw connection; `connected` sends a valid CONNECT first. */
    const open = (connected: boolean): Promise<RawClient> => (connected ? rawConnected(broker.port, v) : rawSocket(broker.port, v))

    /** The offender is closed (with `reason` in v5 when given); the healthy client still works. */
    async function closedAlone(raw: RawClient, reason?: number, timeout?: number): Promise<void> {
      await raw.waitClosed(timeout)
      if (v === 5 && reason !== undefined) assert.equal(disconnectReason(raw), reason)
      if (v === 4) assert.equal(raw.packets.filter((p) => p.cmd !== 'connack').length, 0, 'v4 gets no answer, only the close')
      await assertHealthy(healthy.client)
    }

    test('garbage bytes instead of CONNECT close the connection [MQTT-2.2.2-2]', async () => {
      const raw = await open(false)
      raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
      await closedAlone(raw)
      assert.equal(raw.packets.length, 0)
    })

    test('garbage bytes after CONNECT close the connection (v5 DISCONNECT 0x81)', async () => {
      const raw = await open(true)
      raw.write([0xf7, 0x03, 0x01, 0x02, 0x03])
      await closedAlone(raw, 0x81)
    })

    for (const [name, bytes] of [
      ['SUBSCRIBE with header flags 0000 [MQTT-3.8.1-1]', [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x78, 0x00]],
      ['PUBREL with header flags 0000 [MQTT-3.6.1-1]', [0x60, 0x02, 0x00, 0x01]],
      ['PINGREQ with header flags 0001 [MQTT-2.2.2-1]', [0xc1, 0x00]],
      ['PUBLISH with QoS 3 [MQTT-3.3.1-4]', [0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]],
    ] as const) {
      test(`reserved header flags: ${name} close the connection`, async () => {
        const raw = await open(true)
        raw.write([...bytes])
        await closedAlone(raw, 0x81)
      })
    }

    test('a truncated frame followed by the client closing ends the session and publishes the will', async () => {
      const topic = uid('trunc')
      await subscribe(healthy.client, topic, { qos: 0 })
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw'), will: { topic, payload: Buffer.from('truncated'), qos: 0, retain: false } })
      const before = broker.server.broker.connectionCount
      const will = nextMessage(healthy.client, topic)
      raw.write([0x30, 0x20, 0x00, 0x05, 0x61, 0x2f, 0x62]) // PUBLISH announcing 32 bytes, 5 sent
      raw.socket.end()
      assert.equal((await will).payload.toString(), 'truncated')
      await until(() => broker.server.broker.connectionCount === before - 1, 'connection forgotten')
      await closedAlone(raw)
    })

    test('a remaining length of 5 bytes is malformed [MQTT-1.5.5-1]', async () => {
      const raw = await open(true)
      raw.write([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00])
      await closedAlone(raw, 0x81)
    })

    test('a remaining length over the maximum packet size closes the connection before the body arrives', async () => {
      const raw = await open(true)
      // PUBLISH announcing 100,000 bytes; only the header and 4 bytes are ever sent
      raw.write([0x30, 0xa0, 0x8d, 0x06, 0x00, 0x01, 0x74, 0x78])
      await closedAlone(raw, 0x95, 1000)
    })

    test('a CONNECT announcing more than the maximum packet size is refused before it is buffered', async () => {
      const raw = await open(false)
      raw.write([0x10, 0xa0, 0x8d, 0x06, 0x00, 0x04, 0x4d, 0x51])
      await closedAlone(raw, undefined, 1000)
      assert.equal(raw.packets.length, 0)
    })

    /** Ill-formed UTF-8 (Node decodes each to U+FFFD, which a client may also send on purpose: see 19-utf8) and U+0000. */
    const BAD_TOPICS = [
      ['0xC0 0x80 (overlong NUL)', [0x61, 0xc0, 0x80]],
      ['0xC0 0xAF (overlong /)', [0x61, 0x2f, 0xc0, 0xaf, 0x2f, 0x62]],
      ['0xED 0xA0 0x80 (surrogate U+D800)', [0x61, 0x2f, 0xed, 0xa0, 0x80, 0x2f, 0x62]],
      ['0xE2 0x82 (truncated) mid-topic', [0x61, 0x2f, 0xe2, 0x82, 0x2f, 0x62]],
      ['0xE2 0x82 (truncated) at the end', [0x61, 0x2f, 0xe2, 0x82]],
      ['0xEF 0xBF 0xBD (U+FFFD) then 0xC0 0xAF', [0x61, 0xef, 0xbf, 0xbd, 0xc0, 0xaf]],
      ['0xFF', [0x61, 0xff]],
      ['U+0000', [0x61, 0x00]],
    ] as const
    for (const [name, topic] of BAD_TOPICS) {
      test(`a topic with ill-formed UTF-8 (${name}) is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, async () => {
        const raw = await open(true)
        const topicBytes = [...topic]
        raw.write(v === 5 ? [0x30, 3 + topicBytes.length + 1, 0x00, topicBytes.length, ...topicBytes, 0x00, 0x78] : publishWithTopicBytes(topicBytes))
        await closedAlone(raw, 0x81)
      })
    }

    if (v === 5) {
      for (const [name, topic] of BAD_TOPICS) {
        test(`a PUBLISH with properties and a topic with ill-formed UTF-8 (${name}) is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, async () => {
          const raw = await open(true)
          // property block: Payload Format Indicator 0 (decoded by mqtt-packet, not the direct decoder)
          raw.write([0x30, 2 + topic.length + 3 + 1, 0x00, topic.length, ...topic, 0x02, 0x01, 0x00, 0x78])
          await closedAlone(raw, 0x81)
        })
      }
    }

    if (v === 5) {
      /** Ill-formed UTF-8 and U+0000 for the string properties (every sequence is covered in test/unit/protocol-property-check). */
      const BAD_STRINGS = [
        ['0xC0 0xAF (overlong /)', [0xc0, 0xaf]],
        ['0xED 0xA0 0x80 (surrogate U+D800)', [0xed, 0xa0, 0x80]],
        ['U+0000', [0x61, 0x00]],
      ] as const
      /** A UTF-8 string field: two-byte length, then the bytes. */
      const str = (bytes: readonly number[]): number[] => [bytes.length >> 8, bytes.length & 0xff, ...bytes]
      /** A v5 PUBLISH on `topic` with a hand-made property block (its length fits one byte). */
      const publishWithProperties = (props: number[], qos: 0 | 1 = 0, topic = 't'): number[] => {
        const body = [...str([...Buffer.from(topic)]), ...(qos === 1 ? [0x00, 0x01] : []), props.length, ...props, 0x78]
        return [0x30 | (qos << 1), body.length, ...body]
      }
      const PROPERTIES: ReadonlyArray<readonly [string, (bad: readonly number[]) => number[]]> = [
        ['Content Type', (bad) => [0x03, ...str(bad)]],
        ['Response Topic', (bad) => [0x08, ...str([0x72, 0x2f, ...bad])]],
        ['User Property name', (bad) => [0x26, ...str(bad), ...str([0x76])]],
        ['User Property value', (bad) => [0x26, ...str([0x6b]), ...str(bad)]],
      ]
      for (const [property, encode] of PROPERTIES) {
        for (const [name, bad] of BAD_STRINGS) {
          test(`a PUBLISH ${property} with ill-formed UTF-8 (${name}) is a malformed packet (DISCONNECT 0x81) [MQTT-1.5.4-1, MQTT-1.5.4-2]`, async () => {
            const raw = await open(true)
            raw.write(publishWithProperties(encode(bad)))
            await closedAlone(raw, 0x81)
          })
        }
      }

      test('a QoS 1 PUBLISH with an ill-formed Content Type is neither acknowledged nor routed [MQTT-1.5.4-1]', async () => {
        const topic = uid('props')
        await subscribe(healthy.client, topic, { qos: 0 })
        const leaked = watchTopic(healthy.client, topic)
        const raw = await open(true)
        raw.write(publishWithProperties([0x03, ...str([0xc0, 0xaf])], 1, topic))
        await closedAlone(raw, 0x81)
        assert.equal(leaked(), false)
        assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 0)
      })

      test('a PUBLISH with a property sent twice (Content Type) is a protocol error (DISCONNECT 0x82)', async () => {
        const raw = await open(true)
        raw.write(publishWithProperties([0x03, ...str([0x61]), 0x03, ...str([0x62])]))
        await closedAlone(raw, 0x82)
      })

      test('a Payload Format Indicator other than 0 or 1 is a protocol error (DISCONNECT 0x82), not routed [MQTT 5.0 §3.3.2.3.2]', async () => {
        const topic = uid('props')
        await subscribe(healthy.client, topic, { qos: 0 })
        const leaked = watchTopic(healthy.client, topic)
        const raw = await open(true)
        raw.write(publishWithProperties([0x01, 0x02], 0, topic))
        await closedAlone(raw, 0x82)
        assert.equal(leaked(), false)
        // 1 (UTF-8) is delivered as the indicator it is
        const good = await open(true)
        const got = nextMessage(healthy.client, topic)
        good.write(publishWithProperties([0x01, 0x01], 0, topic))
        const { packet } = await got
        assert.equal(packet.properties?.payloadFormatIndicator, true)
        good.destroy()
      })

      for (const [name, id, field] of [['Request Problem Information', 0x17, 'requestProblemInformation'], ['Request Response Information', 0x19, 'requestResponseInformation']] as const) {
        test(`a CONNECT with ${name} 2 is a protocol error: closed, no CONNACK (as any property fault in a CONNECT) [MQTT-3.1.2.11.6, MQTT-3.1.2.11.7]`, async () => {
          const frame = connectBytes({ protocolVersion: 5, clientId: uid('raw'), properties: { [field]: true } })
          const at = frame.indexOf(Buffer.from([id, 0x01]))
          assert.ok(at > 0)
          frame[at + 1] = 2
          const raw = await open(false)
          raw.write(frame)
          await closedAlone(raw)
          assert.equal(raw.packets.length, 0)
          // the same CONNECT with 1 is accepted
          frame[at + 1] = 1
          const ok = await open(false)
          ok.write(frame)
          assert.equal((await ok.next('connack')).reasonCode, 0)
          ok.destroy()
        })
      }

      test('a PUBLISH from a client with a Subscription Identifier is a protocol error (DISCONNECT 0x82) [MQTT-3.3.4-6]', async () => {
        const raw = await open(true)
        raw.write(publishWithProperties([0x0b, 0x05]))
        await closedAlone(raw, 0x82)
      })

      test('User Property may repeat, even under one name: the message is delivered with both', async () => {
        const topic = uid('props')
        await subscribe(healthy.client, topic, { qos: 0 })
        const got = new Promise<Record<string, unknown> | undefined>((resolve) => {
          const on = (t: string, _p: Buffer, packet: { properties?: { userProperties?: Record<string, unknown> } }): void => {
            if (t !== topic) return
            healthy.client.off('message', on)
            resolve(packet.properties?.userProperties)
          }
          healthy.client.on('message', on)
        })
        const raw = await open(true)
        raw.write(publishWithProperties([0x26, ...str([0x6b]), ...str([0x31]), 0x26, ...str([0x6b]), ...str([0x32])], 0, topic))
        assert.deepEqual({ ...(await got) }, { k: ['1', '2'] })
        raw.destroy()
      })

      for (const responseTopic of ['r/+', 'r/#', '#', '']) {
        test(`a PUBLISH Response Topic that is not a topic name (${JSON.stringify(responseTopic)}) is a protocol error (DISCONNECT 0x82) [MQTT-3.3.2-14, MQTT-4.7.3-1]`, async () => {
          const raw = await open(true)
          raw.write(publishWithProperties([0x08, ...str([...Buffer.from(responseTopic)])]))
          await closedAlone(raw, 0x82)
        })
      }

      const CONNECT_PROPERTIES: ReadonlyArray<readonly [string, (placeholder: string) => Partial<IConnectPacket>]> = [
        ['a User Property name', (z) => ({ properties: { userProperties: { [z]: 'v' } } })],
        ['a User Property value', (z) => ({ properties: { userProperties: { k: z } } })],
        ['a will User Property', (z) => ({ will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { userProperties: { k: z } } } })],
        ['the will Content Type', (z) => ({ will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { contentType: z } } })],
      ]
      for (const [where, fields] of CONNECT_PROPERTIES) {
        for (const [name, bytes] of BAD_STRINGS) {
          test(`a CONNECT with ill-formed UTF-8 (${name}) in ${where} closes the connection without CONNACK [MQTT-1.5.4-1, MQTT-1.5.4-2]`, async () => {
            const raw = await open(false)
            const placeholder = 'Z'.repeat(bytes.length)
            const frame = connectBytes({ protocolVersion: 5, clientId: uid('raw'), ...fields(placeholder) })
            frame.set(bytes, frame.indexOf(placeholder))
            raw.write(frame)
            await closedAlone(raw)
            assert.equal(raw.packets.length, 0)
          })
        }
      }
    }

    for (const [name, filter] of BAD_TOPICS) {
      test(`a SUBSCRIBE filter with ill-formed UTF-8 (${name}) is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2]`, async () => {
        const raw = await open(true)
        const ok = [...Buffer.from('ok/+')]
        const body = [0x00, 0x01, ...(v === 5 ? [0x00] : []), 0x00, ok.length, ...ok, 0x00, 0x00, filter.length, ...filter, 0x00]
        raw.write([0x82, body.length, ...body])
        await closedAlone(raw, 0x81)
        assert.equal(raw.packets.filter((p) => p.cmd === 'suback').length, 0, 'no SUBACK for a malformed SUBSCRIBE')
      })
    }

    for (const [name, filter] of BAD_TOPICS) {
      test(`an UNSUBSCRIBE filter with ill-formed UTF-8 (${name}) is a malformed packet [MQTT-1.5.4-1, MQTT-1.5.4-2, MQTT-3.10.3-1]`, async () => {
        const raw = await open(true)
        const ok = [...Buffer.from('ok/+')]
        const body = [0x00, 0x02, ...(v === 5 ? [0x00] : []), 0x00, ok.length, ...ok, 0x00, filter.length, ...filter]
        raw.write([0xa2, body.length, ...body])
        await closedAlone(raw, 0x81)
        assert.equal(raw.packets.filter((p) => p.cmd === 'unsuback').length, 0, 'no UNSUBACK for a malformed UNSUBSCRIBE')
      })
    }

    for (const [name, bytes] of BAD_TOPICS) {
      test(`a CONNECT client id with ill-formed UTF-8 (${name}) closes the connection without CONNACK [MQTT-1.5.4-1]`, async () => {
        const raw = await open(false)
        const frame = connectBytes({ protocolVersion: v, clientId: 'Z'.repeat(bytes.length) })
        frame.set(bytes, frame.indexOf('Z'.repeat(bytes.length)))
        raw.write(frame)
        await closedAlone(raw)
        assert.equal(raw.packets.length, 0)
      })
    }

    for (const topic of ['a/+', 'a/#', '#']) {
      test(`a wildcard in a PUBLISH topic (${topic}) closes the connection (v5 DISCONNECT 0x90) [MQTT-3.3.2-2]`, async () => {
        const raw = await open(true)
        const bytes = [...Buffer.from(topic)]
        raw.write(v === 5 ? [0x30, 3 + bytes.length + 1, 0x00, bytes.length, ...bytes, 0x00, 0x78] : publishWithTopicBytes(bytes))
        await closedAlone(raw, 0x90)
      })
    }

    test('a PUBLISH with an empty topic and no alias is a protocol error [MQTT-3.3.2-1]', async () => {
      const raw = await open(true)
      raw.write(v === 5 ? [0x30, 0x04, 0x00, 0x00, 0x00, 0x78] : [0x30, 0x03, 0x00, 0x00, 0x78])
      await closedAlone(raw, 0x82)
    })

    test('a QoS 1 PUBLISH with packet identifier 0 closes the connection [MQTT-2.2.1-3]', async () => {
      const raw = await open(true)
      raw.write(v === 5 ? [0x32, 0x07, 0x00, 0x01, 0x74, 0x00, 0x00, 0x00, 0x78] : [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x00, 0x78])
      await closedAlone(raw)
      assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 0)
    })

    test('a SUBSCRIBE or UNSUBSCRIBE with packet identifier 0 is a protocol error (v5 DISCONNECT 0x82), not answered [MQTT-2.2.1-3]', async () => {
      // (Both were answered, SUBACK / UNSUBACK with packet identifier 0, and the filter subscribed.)
      const sub = await open(true)
      sub.write(v === 5 ? [0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 0x74, 0x00] : [0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x74, 0x00])
      await closedAlone(sub, 0x82)
      assert.equal(sub.packets.filter((p) => p.cmd === 'suback').length, 0)
      const unsub = await open(true)
      unsub.write(v === 5 ? [0xa2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x74] : [0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, 0x74])
      await closedAlone(unsub, 0x82)
      assert.equal(unsub.packets.filter((p) => p.cmd === 'unsuback').length, 0)
    })

    for (const [name, first] of [['PUBACK', 0x40], ['PUBREC', 0x50], ['PUBREL', 0x62], ['PUBCOMP', 0x70]] as const) {
      test(`a ${name} with packet identifier 0 is a protocol error (v5 DISCONNECT 0x82), not answered [MQTT-2.2.1-3]`, async () => {
        // (A PUBREL with 0 was answered with PUBCOMP; the others were ignored as an unknown identifier.)
        const raw = await open(true)
        raw.write([first, 0x02, 0x00, 0x00])
        await closedAlone(raw, 0x82)
        assert.equal(raw.packets.filter((p) => p.cmd === 'pubcomp' || p.cmd === 'pubrel').length, 0)
        if (v === 5) {
          // the long form (reason code and properties), decoded by mqtt-packet, likewise
          const long = await open(true)
          long.write([first, 0x04, 0x00, 0x00, 0x00, 0x00])
          await closedAlone(long, 0x82)
        }
      })
    }

    test('a SUBSCRIBE without any filter closes the connection [MQTT-3.8.3-3]', async () => {
      const raw = await open(true)
      raw.write(v === 5 ? [0x82, 0x03, 0x00, 0x01, 0x00] : [0x82, 0x02, 0x00, 0x01])
      await closedAlone(raw)
      assert.equal(raw.packets.filter((p) => p.cmd === 'suback').length, 0)
    })

    test('a second CONNECT is a protocol error (v5 DISCONNECT 0x82) [MQTT-3.1.0-2]', async () => {
      const raw = await open(true)
      raw.write(connectBytes({ protocolVersion: v, clientId: uid('again') }))
      await closedAlone(raw, 0x82)
    })

    test('a packet before CONNECT closes the connection without an answer [MQTT-3.1.0-1]', async () => {
      const raw = await open(false)
      raw.write([0xc0, 0x00]) // PINGREQ
      await closedAlone(raw)
      assert.equal(raw.packets.length, 0)
    })

    test('a PUBLISH before CONNECT is not routed [MQTT-3.1.0-1]', async () => {
      const topic = uid('early')
      await subscribe(healthy.client, topic, { qos: 0 })
      const leaked = watchTopic(healthy.client, topic)
      const raw = await open(false)
      raw.write(publishWithTopicBytes([...Buffer.from(topic)]))
      await closedAlone(raw)
      assert.equal(leaked(), false)
    })

    test('packets only a server sends (CONNACK, SUBACK) close the connection', async () => {
      const raw = await open(true)
      raw.write([0x20, 0x02, 0x00, 0x00])
      await closedAlone(raw)
      const raw2 = await open(true)
      raw2.write([0x90, 0x03, 0x00, 0x01, 0x00])
      await closedAlone(raw2)
    })

    test('a CONNECT with the wrong protocol name closes the connection [MQTT-3.1.2-1]', async () => {
      const raw = await open(false)
      raw.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78])
      await closedAlone(raw)
    })

    test('a CONNECT with the reserved flag set closes the connection [MQTT-3.1.2-3]', async () => {
      const raw = await open(false)
      const bytes = connectBytes({ protocolVersion: v, clientId: 'reserved' })
      bytes[9] = (bytes[9]) | 0x01 // connect flags of a short CONNECT
      raw.write(bytes)
      await closedAlone(raw)
      assert.equal(raw.packets.filter((p) => p.cmd === 'connack' && (p.returnCode ?? p.reasonCode) === 0).length, 0)
    })

    test('a client that never finishes CONNECT is closed after connectTimeoutMs', async () => {
      const raw = await open(false)
      const start = Date.now()
      raw.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51]) // the first 6 bytes of a CONNECT, then silence
      await closedAlone(raw, undefined, 2500)
      const elapsed = Date.now() - start
      assert.ok(elapsed >= 450, `closed after ${elapsed} ms, before the 500 ms connect timeout`)
    })

    test('a client that sends nothing is closed after connectTimeoutMs', async () => {
      const raw = await open(false)
      await closedAlone(raw, undefined, 2500)
    })
  })
}
