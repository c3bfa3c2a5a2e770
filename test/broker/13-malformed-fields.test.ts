/**
 * Malformed fields the decoder used to let through (issue 18, defect 5), in hand-made bytes
 * over raw sockets: a Will QoS of 3, properties a packet type may not carry, and bytes beyond
 * a packet's last field. Each closes only the offender; a healthy client keeps working.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { IConnectPacket } from 'mqtt-packet'
import {
  VERSIONS, assertHealthy, connectBytes, encodeLength, expectNoMessage, nextMessage, rawConnected, rawSocket, subscribe, uid, useBroker,
  useHealthyClient,
  type RawClient,
} from '../helpers/broker.js'

const broker = useBroker()

/** CONNECT bytes with one extra byte appended to the body (remaining length fixed up). */
function withTrailingByte(frame: Buffer): Buffer {
  let i = 1
  while (((frame[i]) & 0x80) !== 0) i++
  const body = Buffer.concat([frame.subarray(i + 1), Buffer.from([0x00])])
  return Buffer.concat([frame.subarray(0, 1), encodeLength(body.length), body])
}

/** The CONNECT flags byte of a frame made by connectBytes (protocol name "MQTT"). */
function connectFlagsOffset(frame: Buffer): number {
  let i = 1
  while (((frame[i]) & 0x80) !== 0) i++
  return i + 1 + 2 + 4 + 1
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    const healthy = useHealthyClient(broker, v)

    /** The offender is closed without a CONNACK or any other answer; the healthy client still works. */
    async function refusedSilently(raw: RawClient): Promise<void> {
      await raw.waitClosed()
      assert.deepEqual(raw.packets.map((p) => p.cmd), [])
      await assertHealthy(healthy.client)
    }

    test('a CONNECT with Will QoS 3 is malformed: closed, no CONNACK, no will [MQTT-3.1.2-14]', async () => {
      const topic = uid('will3')
      await subscribe(healthy.client, topic, { qos: 2 })
      const frame = connectBytes({ protocolVersion: v, clientId: uid('raw'), will: { topic, payload: Buffer.from('w'), qos: 2, retain: true } })
      const at = connectFlagsOffset(frame)
      frame[at] = (frame[at]) | 0x18
      const raw = await rawSocket(broker.port, v)
      raw.write(frame)
      await refusedSilently(raw)
      await expectNoMessage(healthy.client, 200, topic)
      assert.equal((await broker.server.broker.retained.match(topic)).length, 0, 'the will was not retained')
    })

    test('a CONNECT with a byte beyond its last field is malformed: closed, no CONNACK', async () => {
      const raw = await rawSocket(broker.port, v)
      raw.write(withTrailingByte(connectBytes({ protocolVersion: v, clientId: uid('raw') })))
      await refusedSilently(raw)
    })

    test('a PINGREQ with a body is malformed: closed (v5 DISCONNECT 0x81), no PINGRESP [MQTT-3.12.1]', async () => {
      const raw = await rawConnected(broker.port, v)
      raw.write([0xc0, 0x01, 0x00])
      await raw.waitClosed()
      assert.deepEqual(raw.packets.map((p) => p.cmd), v === 5 ? ['connack', 'disconnect'] : ['connack'])
      if (v === 5) assert.equal(raw.packets[1]?.cmd === 'disconnect' && raw.packets[1].reasonCode, 0x81)
      await assertHealthy(healthy.client)
    })

    test('a DISCONNECT with a byte beyond its last field is malformed: the will is published', async () => {
      const topic = uid('disc')
      await subscribe(healthy.client, topic, { qos: 0 })
      const raw = await rawConnected(broker.port, v, { will: { topic, payload: Buffer.from('malformed disconnect'), qos: 0, retain: false } })
      const will = nextMessage(healthy.client, topic)
      raw.write(v === 5 ? [0xe0, 0x03, 0x00, 0x00, 0x00] : [0xe0, 0x01, 0x00])
      assert.equal((await will).payload.toString(), 'malformed disconnect')
      await raw.waitClosed()
      await assertHealthy(healthy.client)
    })

    if (v === 5) {
      test('a Topic Alias property in a CONNECT is a protocol error: closed, no CONNACK', async () => {
        const raw = await rawSocket(broker.port, v)
        raw.write(connectBytes({ protocolVersion: 5, clientId: uid('raw'), properties: { topicAlias: 1 } } as Partial<IConnectPacket>))
        await refusedSilently(raw)
      })

      test('a Topic Alias in the will properties is a protocol error: closed, no CONNACK', async () => {
        const raw = await rawSocket(broker.port, v)
        const will = { topic: uid('w'), payload: Buffer.from('w'), qos: 0, retain: false, properties: { topicAlias: 2 } }
        raw.write(connectBytes({ protocolVersion: 5, clientId: uid('raw'), will } as Partial<IConnectPacket>))
        await refusedSilently(raw)
      })

      test('a property a SUBSCRIBE may not carry (Topic Alias) is a protocol error: DISCONNECT 0x82', async () => {
        const raw = await rawConnected(broker.port, v)
        // SUBSCRIBE id 1, properties: Topic Alias (0x23) = 1, filter "a" QoS 0
        raw.write([0x82, 0x0a, 0x00, 0x01, 0x03, 0x23, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00])
        await raw.waitClosed()
        assert.deepEqual(raw.packets.map((p) => p.cmd === 'disconnect' ? p.reasonCode : p.cmd), ['connack', 0x82])
        await assertHealthy(healthy.client)
      })
    }
  })
}
