/**
 * PUBLISH and the QoS flows [MQTT-4.3]: QoS 0/1/2 both ways, downgrade to the granted QoS,
 * packet identifiers, the in-flight window, redelivery with DUP, QoS 2 duplicates, and the
 * offline queue of persistent sessions with its drop-oldest overflow.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, Inbox, nextMessage, rawConnected, rawSocket, rawSubscribe, startBroker, subscribe, uid,
  until, useBroker,
  type Version,
} from '../helpers/broker.js'

const broker = useBroker()

function persistentConnect(v: Version, clientId: string): Partial<mqttPacket.IConnectPacket> {
  return v === 5 ? { clientId, clean: false, properties: { sessionExpiryInterval: 60 } } : { clientId, clean: false }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    for (const qos of [0, 1, 2] as const) {
      test(`QoS ${qos} publish is delivered at QoS ${qos} to a QoS 2 subscriber [MQTT-3.3.1-?]`, async () => {
        const topic = uid('qos')
        const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        assert.deepEqual(await subscribe(sub, topic, { qos: 2 }), [2])
        const got = nextMessage(sub, topic)
        await pub.publishAsync(topic, `qos${qos}`, { qos })
        const m = await got
        assert.equal(m.payload.toString(), `qos${qos}`)
        assert.equal(m.packet.qos, qos)
        await end(sub, pub)
      })
    }

    for (const [granted, published] of [[0, 2], [1, 2], [0, 1]] as const) {
      test(`a QoS ${published} message goes to a QoS ${granted} subscription at QoS ${granted} [MQTT-3.8.4-8]`, async () => {
        const topic = uid('down')
        const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        await subscribe(sub, topic, { qos: granted })
        const got = nextMessage(sub, topic)
        await pub.publishAsync(topic, 'x', { qos: published })
        assert.equal((await got).packet.qos, granted)
        await end(sub, pub)
      })
    }

    test('QoS 1 publishes get PUBACK and outgoing QoS 1/2 carry distinct non-zero packet ids [MQTT-2.2.1-3]', async () => {
      const topic = uid('ids')
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      await rawSubscribe(raw, topic, 2)
      raw.send({ cmd: 'publish', topic, payload: Buffer.from('a'), qos: 1, messageId: 11, retain: false, dup: false })
      raw.send({ cmd: 'publish', topic, payload: Buffer.from('b'), qos: 2, messageId: 12, retain: false, dup: false })
      const ids = new Set<number>()
      let acked = false
      while (ids.size < 2 || !acked) {
        const p = await raw.next()
        if (p.cmd === 'publish') {
          assert.ok((p.messageId ?? 0) > 0)
          ids.add(p.messageId as number)
        } else if (p.cmd === 'puback') {
          assert.equal(p.messageId, 11)
          acked = true
        }
      }
      assert.equal(ids.size, 2)
      raw.destroy()
    })

    test('outgoing QoS 2 runs PUBLISH, PUBREC, PUBREL, PUBCOMP [MQTT-4.3.3-?]', async () => {
      const topic = uid('q2out')
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      await rawSubscribe(raw, topic, 2)
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'exactly once', { qos: 2 })
      const p = await raw.next('publish')
      assert.equal(p.qos, 2)
      raw.send({ cmd: 'pubrec', messageId: p.messageId })
      const rel = await raw.next('pubrel')
      assert.equal(rel.messageId, p.messageId)
      raw.send({ cmd: 'pubcomp', messageId: p.messageId })
      raw.send({ cmd: 'pingreq' })
      await raw.next('pingresp')
      assert.equal(raw.unread().length, 0)
      raw.destroy()
      await end(pub)
    })

    test('a duplicate QoS 2 PUBLISH before PUBREL is acknowledged but delivered once [MQTT-4.3.3-10]', async () => {
      const topic = uid('q2dup')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 2 })
      const inbox = new Inbox(sub)
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      const publish: mqttPacket.IPublishPacket = { cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false }
      raw.send(publish)
      assert.equal((await raw.next('pubrec')).messageId, 7)
      raw.send({ ...publish, dup: true })
      assert.equal((await raw.next('pubrec')).messageId, 7)
      raw.send({ cmd: 'pubrel', messageId: 7 })
      assert.equal((await raw.next('pubcomp')).messageId, 7)
      await inbox.count(1)
      await expectNoMessage(sub, 200)
      assert.equal(inbox.messages.length, 1)
      // once released, the packet id is free: the same id carries a new message
      raw.send({ ...publish, payload: Buffer.from('again') })
      await raw.next('pubrec')
      const [, second] = await inbox.count(2)
      assert.equal(second?.payload.toString(), 'again')
      raw.destroy()
      await end(sub)
    })

    test('unacknowledged QoS 1 messages are resent with DUP after reconnect [MQTT-4.4.0-1]', async () => {
      const id = uid('redeliver')
      const topic = `${id}/t`
      const raw = await rawSocket(broker.port, v)
      await raw.connect(persistentConnect(v, id))
      await rawSubscribe(raw, topic, 1)
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'redeliver me', { qos: 1 })
      const first = await raw.next('publish')
      assert.equal(first.dup, false)
      raw.destroy() // no PUBACK
      await raw.waitClosed()
      const again = await rawSocket(broker.port, v)
      const connack = await again.connect(persistentConnect(v, id))
      assert.equal(connack.sessionPresent, true)
      const resent = await again.next('publish')
      assert.equal(resent.dup, true)
      assert.equal(resent.messageId, first.messageId)
      assert.equal(resent.payload.toString(), 'redeliver me')
      again.send({ cmd: 'puback', messageId: resent.messageId })
      again.destroy()
      await end(pub)
    })

    test('a QoS 2 message acknowledged with PUBREC gets PUBREL (not the PUBLISH) after reconnect [MQTT-4.4.0-1]', async () => {
      const id = uid('redeliver2')
      const topic = `${id}/t`
      const raw = await rawSocket(broker.port, v)
      await raw.connect(persistentConnect(v, id))
      await rawSubscribe(raw, topic, 2)
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'q2', { qos: 2 })
      const p = await raw.next('publish')
      raw.send({ cmd: 'pubrec', messageId: p.messageId })
      await raw.next('pubrel')
      raw.destroy()
      await raw.waitClosed()
      const again = await rawSocket(broker.port, v)
      await again.connect(persistentConnect(v, id))
      const first = await again.next()
      assert.equal(first.cmd, 'pubrel')
      assert.equal((first).messageId, p.messageId)
      again.send({ cmd: 'pubcomp', messageId: p.messageId })
      again.destroy()
      await end(pub)
    })

    test('messages for an offline persistent session are queued and delivered in order on reconnect [MQTT-3.1.2-5]', async () => {
      const id = uid('offline')
      const topic = `${id}/t`
      const persist = v === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false }
      const a = await connect(broker.port, { protocolVersion: v, clientId: id, ...persist })
      await subscribe(a, topic, { qos: 1 })
      await end(a)
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      for (let i = 1; i <= 3; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
      await pub.publishAsync(topic, 'qos0 is not queued', { qos: 0 })
      const { client: b, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: id, ...persist })
      const got = await inbox.count(3)
      assert.deepEqual(got.map((m) => m.payload.toString()), ['m1', 'm2', 'm3'])
      await expectNoMessage(b, 200)
      assert.equal(inbox.messages.length, 3)
      await end(b, pub)
    })

    test('a full offline queue drops the oldest message and counts it in messagesDropped', async () => {
      const small = await startBroker({ limits: { maxQueuedMessages: 2 } })
      try {
        const id = uid('overflow')
        const topic = `${id}/t`
        const persist = v === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false }
        const a = await connect(small.port, { protocolVersion: v, clientId: id, ...persist })
        await subscribe(a, topic, { qos: 1 })
        await end(a)
        const before = small.server.broker.stats.messagesDropped
        const pub = await connect(small.port, { protocolVersion: v, clientId: uid('pub') })
        for (let i = 1; i <= 5; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
        assert.equal(small.server.broker.stats.messagesDropped - before, 3)
        const { client: b, inbox } = await connectWithInbox(small.port, { protocolVersion: v, clientId: id, ...persist })
        const got = await inbox.count(2)
        assert.deepEqual(got.map((m) => m.payload.toString()), ['m4', 'm5'])
        await end(b, pub)
      } finally {
        await small.close()
      }
    })

    test(`the broker never has more than ${v === 5 ? "the client's Receive Maximum" : 'maxInflight'} (2) QoS 1 messages unacknowledged [MQTT-3.3.4-9]`, async () => {
      const b = v === 5 ? broker : await startBroker({ limits: { maxInflight: 2 } })
      try {
        const topic = uid('window')
        const raw = await rawSocket(b.port, v)
        await raw.connect(v === 5 ? { clientId: uid('raw'), properties: { receiveMaximum: 2 } } : { clientId: uid('raw') })
        await rawSubscribe(raw, topic, 1)
        const pub = await connect(b.port, { protocolVersion: v, clientId: uid('pub') })
        for (let i = 1; i <= 5; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
        const p1 = await raw.next('publish')
        const p2 = await raw.next('publish')
        await delay(200)
        assert.equal(raw.unread().filter((p) => p.cmd === 'publish').length, 0, 'a third message was sent before any PUBACK')
        raw.send({ cmd: 'puback', messageId: p1.messageId })
        const p3 = await raw.next('publish')
        assert.equal(p3.payload.toString(), 'm3')
        await delay(100)
        assert.equal(raw.unread().filter((p) => p.cmd === 'publish').length, 0, 'window exceeded after one PUBACK')
        raw.send({ cmd: 'puback', messageId: p2.messageId })
        raw.send({ cmd: 'puback', messageId: p3.messageId })
        const p4 = await raw.next('publish')
        const p5 = await raw.next('publish')
        assert.deepEqual([p1, p2, p3, p4, p5].map((p) => p.payload.toString()), ['m1', 'm2', 'm3', 'm4', 'm5'])
        raw.destroy()
        await end(pub)
      } finally {
        if (b !== broker) await b.close()
      }
    })

    test(`with no limit configured, a client ${v === 5 ? 'that gives no Receive Maximum ' : ''}has up to 1,000 QoS 1 messages unacknowledged, no more`, async () => {
      // The default outgoing window (limits.maxInflight): 100 made a subscriber fed at 20,000
      // messages/s wait for its round trips whenever the broker fell behind (issue 19's QoS 1 tail).
      const topic = uid('default-window')
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      await rawSubscribe(raw, topic, 1)
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      await Promise.all(Array.from({ length: 1002 }, (_, i) => pub.publishAsync(topic, `m${i + 1}`, { qos: 1 })))
      const first = await raw.next('publish')
      assert.equal(first.payload.toString(), 'm1')
      for (let i = 2; i <= 1000; i++) assert.equal((await raw.next('publish')).payload.toString(), `m${i}`)
      await delay(200)
      assert.equal(raw.unread().filter((p) => p.cmd === 'publish').length, 0, 'a 1,001st message was sent before any PUBACK')
      raw.send({ cmd: 'puback', messageId: first.messageId })
      assert.equal((await raw.next('publish')).payload.toString(), 'm1001')
      await delay(100)
      assert.equal(raw.unread().filter((p) => p.cmd === 'publish').length, 0, 'window exceeded after one PUBACK')
      raw.destroy()
      await end(pub)
    })

    test('a QoS 0 PUBLISH reaches each subscriber in the encoding of its protocol version, whatever bytes carried it [MQTT-1.5.5]', async () => {
      const topic = uid('bytes')
      const subs = [await rawConnected(broker.port, 4), await rawConnected(broker.port, 5)]
      for (const s of subs) assert.deepEqual(await rawSubscribe(s, topic, 0), [0])
      const pub = await rawConnected(broker.port, v)
      const before = subs.map((s) => Buffer.concat(s.received).length)
      // the received bytes as they are (the broker may forward them), then with a Remaining Length
      // one byte longer than needed (0x80 continuing into a 0x00 high byte): read the same, sent shortest
      pub.send({ cmd: 'publish', topic, payload: Buffer.from('as is'), qos: 0, dup: false, retain: false })
      const plain = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from('long'), qos: 0, dup: false, retain: false }, { protocolVersion: v })
      pub.write(Buffer.concat([plain.subarray(0, 1), Buffer.from([plain[1] | 0x80, 0x00]), plain.subarray(2)]))
      for (const [i, s] of subs.entries()) {
        await s.next('publish')
        await s.next('publish')
        const want = ['as is', 'long'].map((text) =>
          mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(text), qos: 0, dup: false, retain: false }, { protocolVersion: s.version }))
        assert.deepEqual(Buffer.concat(s.received).subarray(before[i]), Buffer.concat(want), `v${s.version} subscriber`)
      }
      for (const c of [...subs, pub]) c.destroy()
    })

    test('messagesReceived and messagesSent count application messages', async () => {
      const stats = broker.server.broker.stats
      const topic = uid('stats')
      const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      const received = stats.messagesReceived
      const sent = stats.messagesSent
      const got = nextMessage(sub, topic)
      await sub.publishAsync(topic, 'count me', { qos: 1 })
      await got
      await until(() => stats.messagesSent > sent, 'messagesSent counted')
      assert.equal(stats.messagesReceived - received, 1)
      assert.equal(stats.messagesSent - sent, 1)
      await end(sub)
    })
  })
}
