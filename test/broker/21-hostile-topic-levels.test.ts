/**
 * Deep topics: `limits.maxTopicLevels` at PUBLISH, SUBSCRIBE and in the CONNECT will, and a
 * broker whose limit is raised to the protocol's own (32,768 levels) that still survives a
 * 16,000-level will published from the close handler (issue 18, defect 1).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  VERSIONS, assertHealthy, connect, connectBytes, connectWithInbox, end, rawSocket, rawSubscribe, subscribe, uid, useBroker, useHealthyClient,
  waitForClose,
} from '../helpers/broker.js'

const broker = useBroker({ limits: { maxTopicLevels: 128 } })
const deep = useBroker({ limits: { maxTopicLevels: 32_768 } })

/** A topic of `levels` levels under a unique first level. */
function topicOf(levels: number, prefix = uid('deep')): string {
  return [prefix, ...Array.from({ length: levels - 1 }, () => 'x')].join('/')
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    const healthy = useHealthyClient(broker, v)

    test('a topic of exactly maxTopicLevels levels is delivered', async () => {
      const topic = topicOf(128)
      const { client, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('sub') })
      assert.deepEqual(await subscribe(client, topic, { qos: 1 }), [1])
      await client.publishAsync(topic, 'deep', { qos: 1 })
      assert.equal((await inbox.next(topic)).payload.toString(), 'deep')
      await end(client)
    })

    test('a QoS 0 PUBLISH deeper than maxTopicLevels closes the connection (v5 DISCONNECT 0x90)', async () => {
      const client = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      client.publish(topicOf(129), 'too deep', { qos: 0 })
      const disconnect = await waitForClose(client)
      if (v === 5) assert.equal(disconnect?.reasonCode, 0x90)
      await assertHealthy(healthy.client)
    })

    test('a QoS 1 PUBLISH deeper than maxTopicLevels: v5 PUBACK 0x90 and the connection stays; 3.1.1 closed', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      raw.send({ cmd: 'publish', topic: topicOf(16_000), payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false })
      if (v === 5) {
        const puback = await raw.next('puback')
        assert.equal(puback.messageId, 7)
        assert.equal(puback.reasonCode, 0x90)
        raw.send({ cmd: 'pingreq' })
        await raw.next('pingresp')
        raw.destroy()
      } else {
        await raw.waitClosed()
        assert.equal(raw.packets.filter((p) => p.cmd !== 'connack').length, 0)
      }
      await assertHealthy(healthy.client)
    })

    test('a deep topic after an accepted one is refused each time it comes (only the name last accepted skips the checks)', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      const ok = uid('ok')
      const tooDeep = topicOf(129)
      const publish = (topic: string, messageId: number): void => raw.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId, retain: false, dup: false })
      publish(ok, 1)
      assert.equal((await raw.next('puback')).messageId, 1)
      publish(tooDeep, 2)
      if (v === 5) {
        publish(tooDeep, 3)
        publish(ok, 4)
        publish(tooDeep, 5)
        const acks = [await raw.next('puback'), await raw.next('puback'), await raw.next('puback'), await raw.next('puback')]
        assert.deepEqual(acks.map((a) => [a.messageId, a.reasonCode ?? 0]), [[2, 0x90], [3, 0x90], [4, 0], [5, 0x90]])
        raw.destroy()
      } else {
        await raw.waitClosed()
        assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 1)
      }
      await assertHealthy(healthy.client)
    })

    test('a SUBSCRIBE filter deeper than maxTopicLevels is refused for that filter (0x8F, 3.1.1 0x80)', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('raw') })
      raw.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'ok/+', qos: 1 }, { topic: `${topicOf(200)}/#`, qos: 1 }, { topic: `$share/g/${topicOf(129)}`, qos: 0 }] })
      const suback = await raw.next('suback')
      assert.deepEqual(suback.granted, v === 5 ? [1, 0x8f, 0x8f] : [1, 0x80, 0x80])
      assert.deepEqual(await rawSubscribe(raw, `${topicOf(127)}/+`, 0, 4), [0])
      raw.destroy()
    })

    test('a CONNECT whose will topic is deeper than maxTopicLevels is refused (v5 CONNACK 0x90; 3.1.1 closed)', async () => {
      const raw = await rawSocket(broker.port, v)
      raw.write(connectBytes({ protocolVersion: v, clientId: uid('raw'), will: { topic: topicOf(129), payload: Buffer.from('w'), qos: 0, retain: false } }))
      await raw.waitClosed()
      if (v === 5) assert.deepEqual(raw.packets.map((p) => p.cmd === 'connack' && p.reasonCode), [0x90])
      else assert.equal(raw.packets.length, 0)
      await assertHealthy(healthy.client)
    })

    test('a 16,000-level will published from the close handler reaches its subscriber; the broker keeps serving', async () => {
      const topic = topicOf(16_000)
      const { client: watcher, inbox } = await connectWithInbox(deep.port, { protocolVersion: v, clientId: uid('watch') })
      await subscribe(watcher, topic, { qos: 0 })
      const raw = await rawSocket(deep.port, v)
      const connack = await raw.connect({ clientId: uid('will'), will: { topic, payload: Buffer.from('gone'), qos: 0, retain: false } })
      assert.equal(v === 5 ? connack.reasonCode : connack.returnCode, 0)
      // the dying client subscribes to its own will topic too (as in the report)
      assert.deepEqual(await rawSubscribe(raw, topic, 0), [0])
      raw.destroy()
      assert.equal((await inbox.next(topic, 5000)).payload.toString(), 'gone')
      await assertHealthy(watcher)
      await end(watcher)
    })
  })
}
