/**
 * U+FFFD REPLACEMENT CHARACTER sent on purpose (EF BF BD) is an ordinary character in MQTT
 * UTF-8 strings [MQTT-1.5.4-1]: topic names, topic filters (SUBSCRIBE and UNSUBSCRIBE), client
 * ids, usernames, will topics and MQTT 5 string properties and User Properties that hold it (or
 * an emoji) are accepted, routed and forwarded unchanged. Ill-formed UTF-8, which a decoder also
 * turns into U+FFFD, is still refused: see 13-malformed.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { IUnsubackPacket } from 'mqtt-packet'
import { VERSIONS, connect, end, nextMessage, rawSocket, subscribe, uid, useBroker } from '../helpers/broker.js'

const R = '\uFFFD'
const EMOJI = '\u{1F600}'

const broker = useBroker()

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    for (const qos of [0, 1, 2] as const) {
      test(`a topic with U+FFFD is published and delivered at QoS ${qos} [MQTT-1.5.4-1]`, async () => {
        const topic = `${uid('fffd')}/${R}/b`
        const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        assert.deepEqual(await subscribe(sub, topic, { qos: 2 }), [2])
        const got = nextMessage(sub, topic)
        await pub.publishAsync(topic, 'x', { qos })
        const m = await got
        assert.equal(m.topic, topic)
        assert.equal(m.payload.toString(), 'x')
        assert.equal(m.packet.qos, qos)
        assert.equal(pub.connected, true)
        await end(sub, pub)
      })
    }

    test('a wildcard filter with U+FFFD levels matches topics with U+FFFD [MQTT-1.5.4-1, MQTT-4.7.1-3]', async () => {
      const base = uid('fffd')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      assert.deepEqual(await subscribe(sub, `${base}/+/${R}${R}/#`, { qos: 1 }), [1])
      const got = nextMessage(sub)
      const topic = `${base}/${R}/${R}${R}/c`
      await sub.publishAsync(topic, 'y', { qos: 1 })
      assert.equal((await got).topic, topic)
      await end(sub)
    })

    test('an UNSUBSCRIBE of a filter with U+FFFD and an emoji removes it [MQTT-1.5.4-1, MQTT-3.10.4-1]', async () => {
      const filter = `${uid('fffd')}/${R}${EMOJI}/+`
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      assert.deepEqual(await subscribe(sub, filter, { qos: 1 }), [1])
      const unsuback = (await sub.unsubscribeAsync(filter)) as IUnsubackPacket | undefined
      if (v === 5) assert.deepEqual(unsuback?.granted, [0])
      assert.equal(broker.server.broker.sessions.get(sub.options.clientId as string)?.subscriptions.has(filter), false)
      await end(sub)
    })

    test('a client id and username with U+FFFD connect, and a will topic with U+FFFD is published [MQTT-1.5.4-1]', async () => {
      const topic = `${uid('will')}/${R}`
      const watcher = await connect(broker.port, { protocolVersion: v, clientId: uid('watch') })
      await subscribe(watcher, topic, { qos: 1 })
      const will = nextMessage(watcher, topic)
      const raw = await rawSocket(broker.port, v)
      const connack = await raw.connect({
        clientId: `${uid('raw')}${R}`, username: `user${R}`, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false },
      })
      assert.equal(v === 5 ? connack.reasonCode : connack.returnCode, 0)
      raw.destroy()
      assert.equal((await will).payload.toString(), 'gone')
      await end(watcher)
    })
  })
}

describe('v5 with properties (decoded by mqtt-packet)', () => {
  test('a PUBLISH with user properties on a topic with U+FFFD is delivered with them [MQTT-1.5.4-1]', async () => {
    const topic = `${uid('fffd')}/${R}/b`
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await subscribe(sub, topic, { qos: 1 })
    const got = nextMessage(sub, topic)
    await pub.publishAsync(topic, 'z', { qos: 1, properties: { userProperties: { k: `v${R}` }, contentType: `text/${R}` } })
    const m = await got
    assert.deepEqual({ ...m.packet.properties?.userProperties }, { k: `v${R}` })
    assert.equal(m.packet.properties?.contentType, `text/${R}`)
    await end(sub, pub)
  })

  test('string properties and User Properties holding U+FFFD and emoji are delivered unchanged [MQTT-1.5.4-1, MQTT-3.3.2-15..20]', async () => {
    const topic = `${uid('props')}/${R}`
    const text = `${R}${EMOJI}x${R}`
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await subscribe(sub, topic, { qos: 2 })
    const got = nextMessage(sub, topic)
    const userProperties = { [`k${text}`]: `v${text}`, [EMOJI]: [R, EMOJI, `${EMOJI}${R}`], plain: 'ascii' }
    await pub.publishAsync(topic, 'p', {
      qos: 2,
      properties: { contentType: `text/${text}`, responseTopic: `reply/${text}`, correlationData: Buffer.from([0xc0, 0xaf]), userProperties },
    })
    const m = await got
    assert.equal(m.payload.toString(), 'p')
    assert.equal(m.packet.properties?.contentType, `text/${text}`)
    assert.equal(m.packet.properties?.responseTopic, `reply/${text}`)
    assert.deepEqual(m.packet.properties?.correlationData, Buffer.from([0xc0, 0xaf]))
    assert.deepEqual({ ...m.packet.properties?.userProperties }, userProperties)
    assert.equal(pub.connected, true)
    await end(sub, pub)
  })

  test('will properties holding U+FFFD and emoji are published unchanged [MQTT-1.5.4-1]', async () => {
    const topic = `${uid('will')}/${EMOJI}`
    const text = `${EMOJI}${R}`
    const watcher = await connect(broker.port, { protocolVersion: 5, clientId: uid('watch') })
    await subscribe(watcher, topic, { qos: 1 })
    const will = nextMessage(watcher, topic)
    const client = await connect(broker.port, {
      protocolVersion: 5,
      clientId: uid('willer'),
      properties: { userProperties: { [`c${text}`]: text } },
      will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { contentType: text, responseTopic: `r/${text}`, userProperties: { [text]: text } } },
    })
    client.stream.destroy()
    const m = await will
    assert.equal(m.payload.toString(), 'gone')
    assert.equal(m.packet.properties?.contentType, text)
    assert.equal(m.packet.properties?.responseTopic, `r/${text}`)
    assert.deepEqual({ ...m.packet.properties?.userProperties }, { [text]: text })
    await end(watcher, client)
  })
})
