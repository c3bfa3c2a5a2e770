/**
 * Retained messages [MQTT-3.3.1-5..12]: set, replace, clear with an empty payload, delivery
 * on subscribe, Retain Handling and Retain As Published (5.0), none for shared subscriptions.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { VERSIONS, connect, connectWithInbox, end, expectNoMessage, nextMessage, subscribe, uid, useBroker } from '../helpers/broker.js'

const broker = useBroker()

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('a retained message is sent to a later subscriber with the RETAIN flag [MQTT-3.3.1-6, MQTT-3.3.1-8]', async () => {
      const topic = uid('ret')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      const got = nextMessage(sub, topic)
      await subscribe(sub, topic, { qos: 1 })
      const m = await got
      assert.equal(m.payload.toString(), 'kept')
      assert.equal(m.packet.retain, true)
      assert.equal(m.packet.qos, 1)
      await end(pub, sub)
    })

    test('a retained message reaches a wildcard subscriber, at min(published, granted) QoS', async () => {
      const base = uid('retwild')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(`${base}/a`, 'A', { qos: 2, retain: true })
      await pub.publishAsync(`${base}/b`, 'B', { qos: 0, retain: true })
      const { client: sub, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, `${base}/+`, { qos: 1 })
      const got = await inbox.count(2)
      const byTopic = new Map(got.map((m) => [m.topic, m]))
      assert.equal(byTopic.get(`${base}/a`)?.packet.qos, 1)
      assert.equal(byTopic.get(`${base}/b`)?.packet.qos, 0)
      await end(pub, sub)
    })

    test('a new retained message replaces the old one [MQTT-3.3.1-5]', async () => {
      const topic = uid('replace')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'old', { qos: 1, retain: true })
      await pub.publishAsync(topic, 'new', { qos: 1, retain: true })
      const { client: sub, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      assert.equal((await inbox.next(topic)).payload.toString(), 'new')
      await expectNoMessage(sub, 150)
      await end(pub, sub)
    })

    test('an empty retained payload clears the retained message and is not stored [MQTT-3.3.1-10, MQTT-3.3.1-11]', async () => {
      const topic = uid('clear')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'soon gone', { qos: 1, retain: true })
      await pub.publishAsync(topic, '', { qos: 1, retain: true })
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      await expectNoMessage(sub, 200)
      await end(pub, sub)
    })

    test('a live message to an existing subscriber has RETAIN 0 [MQTT-3.3.1-9]', async () => {
      const topic = uid('live')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      const got = nextMessage(sub, topic)
      await pub.publishAsync(topic, 'live', { qos: 1, retain: true })
      assert.equal((await got).packet.retain, false)
      await end(pub, sub)
    })

    test('a non-retained publish does not replace the retained message [MQTT-3.3.1-12]', async () => {
      const topic = uid('notret')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'retained', { qos: 1, retain: true })
      await pub.publishAsync(topic, 'transient', { qos: 1 })
      const { client: sub, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      assert.equal((await inbox.next(topic)).payload.toString(), 'retained')
      await end(pub, sub)
    })

    test('retained messages are not sent to a shared subscription [MQTT-3.8.4-?]', async () => {
      const topic = uid('retshared')
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'not for groups', { qos: 1, retain: true })
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, `$share/g/${topic}`, { qos: 1 })
      await expectNoMessage(sub, 200)
      await end(pub, sub)
    })
  })
}

describe('v5 retain options', () => {
  test('Retain Handling 0 sends retained messages on every subscribe [MQTT-3.3.1-9]', async () => {
    const topic = uid('rh0')
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'r', { qos: 1, retain: true })
    const { client: sub, inbox } = await connectWithInbox(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    await subscribe(sub, topic, { qos: 1, rh: 0 })
    await inbox.next(topic)
    await subscribe(sub, topic, { qos: 1, rh: 0 })
    await inbox.next(topic)
    await end(pub, sub)
  })

  test('Retain Handling 1 sends retained messages only for a new subscription [MQTT-3.3.1-10]', async () => {
    const topic = uid('rh1')
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'r', { qos: 1, retain: true })
    const { client: sub, inbox } = await connectWithInbox(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    await subscribe(sub, topic, { qos: 1, rh: 1 })
    await inbox.next(topic)
    await subscribe(sub, topic, { qos: 1, rh: 1 })
    await expectNoMessage(sub, 200)
    assert.equal(inbox.messages.length, 1)
    await end(pub, sub)
  })

  test('Retain Handling 2 never sends retained messages [MQTT-3.3.1-11]', async () => {
    const topic = uid('rh2')
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'r', { qos: 1, retain: true })
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    await subscribe(sub, topic, { qos: 1, rh: 2 })
    await expectNoMessage(sub, 200)
    await end(pub, sub)
  })

  test('Retain As Published keeps the RETAIN flag on live messages; without it RETAIN is 0 [MQTT-3.3.1-12, MQTT-3.3.1-13]', async () => {
    const topic = uid('rap')
    const rap = await connect(broker.port, { protocolVersion: 5, clientId: uid('rap') })
    const plain = await connect(broker.port, { protocolVersion: 5, clientId: uid('plain') })
    await subscribe(rap, topic, { qos: 1, rap: true })
    await subscribe(plain, topic, { qos: 1, rap: false })
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    const a = nextMessage(rap, topic)
    const b = nextMessage(plain, topic)
    await pub.publishAsync(topic, 'flagged', { qos: 1, retain: true })
    assert.equal((await a).packet.retain, true)
    assert.equal((await b).packet.retain, false)
    const c = nextMessage(rap, topic)
    await pub.publishAsync(topic, 'unflagged', { qos: 1, retain: false })
    assert.equal((await c).packet.retain, false)
    await pub.publishAsync(topic, '', { qos: 1, retain: true })
    await end(rap, plain, pub)
  })
})
