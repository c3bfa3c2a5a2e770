/**
 * MQTT 5 properties [MQTT-3.3.2]: forwarded application properties, Message Expiry,
 * Topic Aliases both ways, Maximum Packet Size both ways, Receive Maximum from the client.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  connect, connectWithInbox, delay, end, expectNoMessage, Inbox, nextMessage, rawSocket, rawSubscribe, startBroker, subscribe, uid, useBroker,
} from '../helpers/broker.js'

const broker = useBroker()

describe('v5 application properties', () => {
  test('user properties, payload format, content type, response topic and correlation data are forwarded [MQTT-3.3.2-15..20]', async () => {
    const topic = uid('props')
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    await subscribe(sub, topic, { qos: 1 })
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    const got = nextMessage(sub, topic)
    await pub.publishAsync(topic, 'hello', {
      qos: 1,
      properties: {
        payloadFormatIndicator: true,
        contentType: 'text/plain; charset=utf-8',
        responseTopic: 'replies/1',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { a: '1', b: ['x', 'y'] },
      },
    })
    const p = (await got).packet.properties ?? {}
    assert.equal(p.payloadFormatIndicator, true)
    assert.equal(p.contentType, 'text/plain; charset=utf-8')
    assert.equal(p.responseTopic, 'replies/1')
    assert.deepEqual(p.correlationData, Buffer.from([1, 2, 3]))
    assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['x', 'y'] })
    await end(sub, pub)
  })

  test('a payload that is not UTF-8 despite Payload Format Indicator 1 gets PUBACK 0x99 [MQTT-3.3.2-?]', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw') })
    raw.send({
      cmd: 'publish', topic: uid('pfi'), payload: Buffer.from([0xff, 0xfe]), qos: 1, messageId: 4, retain: false, dup: false,
      properties: { payloadFormatIndicator: true },
    })
    const ack = await raw.next('puback')
    assert.equal(ack.messageId, 4)
    assert.equal(ack.reasonCode, 0x99)
    raw.destroy()
  })
})

describe('v5 message expiry', () => {
  test('Message Expiry Interval counts down while queued, and expired messages are dropped [MQTT-3.3.2-5, MQTT-3.3.2-6]', async () => {
    const id = uid('expiry')
    const topic = `${id}/t`
    const persist = { clean: false, properties: { sessionExpiryInterval: 60 } }
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, ...persist })
    await subscribe(a, topic, { qos: 1 })
    await end(a)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync(topic, 'long', { qos: 1, properties: { messageExpiryInterval: 10 } })
    await delay(1100)
    const { client: b, inbox } = await connectWithInbox(broker.port, { protocolVersion: 5, clientId: id, ...persist })
    const m = await inbox.next(topic)
    assert.equal(m.payload.toString(), 'long')
    const left = m.packet.properties?.messageExpiryInterval
    assert.ok(left !== undefined && left <= 9 && left >= 8, `expiry forwarded as ${String(left)}, expected 8..9`)
    await expectNoMessage(b, 150)
    assert.equal(inbox.messages.length, 1)
    await end(b, pub)
  })

  test('a v5 message that expires while queued for a 3.1.1 subscriber is dropped too [MQTT-3.3.2-5]', async () => {
    const id = uid('expiry-v4')
    const topic = `${id}/t`
    const a = await connect(broker.port, { protocolVersion: 4, clientId: id, clean: false })
    await subscribe(a, topic, { qos: 1 })
    await end(a)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync(topic, 'forever', { qos: 1 })
    await delay(1100)
    const { client: b, inbox } = await connectWithInbox(broker.port, { protocolVersion: 4, clientId: id, clean: false })
    assert.equal((await inbox.next(topic)).payload.toString(), 'forever')
    await expectNoMessage(b, 150)
    assert.equal(inbox.messages.length, 1)
    await end(b, pub)
  })

  test('an expired retained message is not sent to a new subscriber', async () => {
    const topic = uid('retexp')
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'brief', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    await delay(1100)
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    await subscribe(sub, topic, { qos: 1 })
    await expectNoMessage(sub, 200)
    await end(pub, sub)
  })
})

describe('v5 topic aliases', () => {
  test('an inbound alias set with a topic is used for later publishes with an empty topic [MQTT-3.3.2-12]', async () => {
    const topic = uid('alias')
    const sub = await connect(broker.port, { protocolVersion: 5, clientId: uid('sub') })
    const inbox = new Inbox(sub)
    await subscribe(sub, topic, { qos: 1 })
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw') })
    raw.send({ cmd: 'publish', topic, payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 3 } })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 3 } })
    await raw.next('puback')
    await raw.next('puback')
    const got = await inbox.count(2)
    assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [[topic, '1'], [topic, '2']])
    raw.destroy()
    await end(sub)
  })

  for (const [alias, what] of [[0, 'alias 0'], [65, 'an alias above Topic Alias Maximum (64)']] as const) {
    test(`${what} gets DISCONNECT 0x94 [MQTT-3.3.2-8, MQTT-3.3.2-9]`, async () => {
      const raw = await rawSocket(broker.port, 5)
      await raw.connect({ clientId: uid('raw') })
      // PUBLISH QoS 0 "t", properties: Topic Alias (0x23) = alias; hand-made since mqtt-packet refuses alias 0
      raw.write([0x30, 0x08, 0x00, 0x01, 0x74, 0x03, 0x23, 0x00, alias, 0x78])
      assert.equal((await raw.next('disconnect')).reasonCode, 0x94)
      await raw.waitClosed()
    })
  }

  test('an unknown alias with an empty topic gets DISCONNECT 0x82 [MQTT-3.3.4-?]', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw') })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 7 } })
    assert.equal((await raw.next('disconnect')).reasonCode, 0x82)
    await raw.waitClosed()
  })

  test('outbound: a client with Topic Alias Maximum gets aliased publishes [MQTT-3.3.2-?]', async () => {
    const topic = uid('outalias')
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw'), properties: { topicAliasMaximum: 2 } })
    await rawSubscribe(raw, topic, 0)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, 'one', { qos: 1 })
    await pub.publishAsync(topic, 'two', { qos: 1 })
    const first = await raw.next('publish')
    const second = await raw.next('publish')
    const alias = first.properties?.topicAlias
    assert.ok(alias !== undefined && alias >= 1 && alias <= 2, `first publish carries an alias (${String(alias)})`)
    assert.equal(first.topic, topic)
    assert.equal(second.topic, '')
    assert.equal(second.properties?.topicAlias, alias)
    raw.destroy()
    await end(pub)
  })

  test('a publish dropped for the client Maximum Packet Size does not leave an alias the client never learnt', async () => {
    const topic = uid('aliasdrop')
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw'), properties: { topicAliasMaximum: 4, maximumPacketSize: 128 } })
    await rawSubscribe(raw, topic, 0)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, Buffer.alloc(300, 0x62), { qos: 1 }) // too large: dropped
    await pub.publishAsync(topic, 'fits', { qos: 1 })
    const p = await raw.next('publish')
    assert.equal(p.payload.toString(), 'fits')
    assert.equal(p.topic, topic, 'the first publish the client sees on a topic names the topic')
    raw.destroy()
    await end(pub)
  })

  test('outbound aliases hold at most 64 KiB of topics per connection, whatever Topic Alias Maximum the client allows', async () => {
    // A client allowing 65,535 aliases and receiving distinct long topics (its own, say) made
    // the broker keep every topic for as long as the connection lived: 4,000 topics of 60 KB
    // held 270 MiB in one connection, 65,535 of them would have held 4 GiB.
    const base = uid('aliasbytes')
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw'), properties: { topicAliasMaximum: 65535 } })
    await rawSubscribe(raw, `${base}/#`, 0)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    const topics = Array.from({ length: 12 }, (_, i) => `${base}/${i}/${'x'.repeat(10_000)}`)
    for (const t of [...topics, topics[0], topics[11]]) await pub.publishAsync(t, 'p', { qos: 1 })
    const got = []
    for (let i = 0; i < 14; i++) got.push(await raw.next('publish'))
    const aliased = got.slice(0, 12).filter((p) => p.properties?.topicAlias !== undefined)
    // 10,000-character topics: six fit in 64 KiB, the others go out with their topic and no alias
    assert.equal(aliased.length, 6, 'aliases were given to the first six topics only')
    assert.deepEqual(got.slice(0, 12).map((p) => p.topic), topics, 'every publish names its topic the first time')
    assert.equal(got[12].topic, '', 'a topic given an alias is sent by its alias again')
    assert.equal(got[12].properties?.topicAlias, got[0].properties?.topicAlias)
    assert.equal(got[13].topic, topics[11], 'a topic left without an alias is sent in full again')
    assert.equal(got[13].properties?.topicAlias, undefined)
    raw.destroy()
    await end(pub)
  })

  test('outbound aliases never exceed the client Topic Alias Maximum, and MQTT.js reads them', async () => {
    const base = uid('outalias2')
    const { client: sub, inbox } = await connectWithInbox(broker.port, {
      protocolVersion: 5, clientId: uid('sub'), properties: { topicAliasMaximum: 1 },
    })
    await subscribe(sub, `${base}/+`, { qos: 0 })
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    const order = ['a', 'b', 'a', 'b', 'a'].map((x) => `${base}/${x}`)
    for (const t of order) await pub.publishAsync(t, t, { qos: 1 })
    const got = await inbox.count(5)
    assert.deepEqual(got.map((m) => m.topic), order)
    for (const m of got) {
      const a = m.packet.properties?.topicAlias
      assert.ok(a === undefined || a === 1, `alias ${String(a)} above the client maximum 1`)
    }
    await end(sub, pub)
  })
})

describe('v5 flow limits', () => {
  test('a publish larger than the client Maximum Packet Size is not sent to it [MQTT-3.1.2-25]', async () => {
    const topic = uid('maxpkt')
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('raw'), properties: { maximumPacketSize: 128 } })
    await rawSubscribe(raw, topic, 1)
    const pub = await connect(broker.port, { protocolVersion: 5, clientId: uid('pub') })
    const dropped = broker.server.broker.stats.messagesDropped
    await pub.publishAsync(topic, Buffer.alloc(300, 0x61), { qos: 1 })
    await pub.publishAsync(topic, 'small', { qos: 1 })
    const p = await raw.next('publish')
    assert.equal(p.payload.toString(), 'small')
    assert.ok(broker.server.broker.stats.messagesDropped > dropped)
    raw.send({ cmd: 'puback', messageId: p.messageId })
    raw.destroy()
    await end(pub)
  })

  test('a packet over the broker maximum packet size gets DISCONNECT 0x95 [MQTT-3.2.2-?]', async () => {
    const small = await startBroker({ limits: { maxPacketSize: 1024 } })
    try {
      const raw = await rawSocket(small.port, 5)
      const connack = await raw.connect({ clientId: uid('raw') })
      assert.equal(connack.properties?.maximumPacketSize, 1024)
      raw.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(2000), qos: 0, retain: false, dup: false })
      assert.equal((await raw.next('disconnect')).reasonCode, 0x95)
      await raw.waitClosed()
    } finally {
      await small.close()
    }
  })

  test('a client exceeding the broker Receive Maximum gets DISCONNECT 0x93 [MQTT-3.3.4-7]', async () => {
    const small = await startBroker({ limits: { receiveMaximum: 2 } })
    try {
      const raw = await rawSocket(small.port, 5)
      const connack = await raw.connect({ clientId: uid('raw') })
      assert.equal(connack.properties?.receiveMaximum, 2)
      for (let id = 1; id <= 2; id++) {
        raw.send({ cmd: 'publish', topic: 'rm', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false })
        await raw.next('pubrec')
      }
      raw.send({ cmd: 'publish', topic: 'rm', payload: Buffer.from('x'), qos: 2, messageId: 3, retain: false, dup: false })
      assert.equal((await raw.next('disconnect')).reasonCode, 0x93)
      await raw.waitClosed()
    } finally {
      await small.close()
    }
  })

  test('QoS 1 publishes within Receive Maximum are acknowledged and delivered', async () => {
    const small = await startBroker({ limits: { receiveMaximum: 2 } })
    try {
      const topic = uid('rm1')
      const sub = await connect(small.port, { protocolVersion: 5, clientId: uid('sub') })
      const inbox = new Inbox(sub)
      await subscribe(sub, topic, { qos: 1 })
      const pub = await connect(small.port, { protocolVersion: 5, clientId: uid('pub') })
      await Promise.all(Array.from({ length: 6 }, (_, i) => pub.publishAsync(topic, `m${i}`, { qos: 1 })))
      await inbox.count(6)
      await end(sub, pub)
    } finally {
      await small.close()
    }
  })
})
