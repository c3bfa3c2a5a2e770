/**
 * Per-client and per-address limits (limits: maxSubscriptionsPerClient, maxQueuedBytes,
 * maxInflightBytes, connectRatePerAddress, publishRate), each over real sockets for MQTT 3.1.1
 * and 5.0, and each counted in the stats and in /metrics (portcullis_limit_hits_total).
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import type { CountedLimit } from '../../src/broker/limits.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import {
  VERSIONS, connect, delay, end, rawSocket, startBroker, uid, useBroker, waitForClose, type RawClient, type RunningBroker,
} from '../helpers/broker.js'

const broker = useBroker({
  limits: { maxSubscriptionsPerClient: 3, maxQueuedBytes: 4096, maxInflightBytes: 2048 },
})

function hits(b: RunningBroker, limit: CountedLimit): number {
  return b.server.brokerAdmin.stats().limitsHit[limit]
}

async function publishQos1(raw: RawClient, topic: string, payload: Buffer, messageId: number): Promise<void> {
  raw.send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false })
  await raw.next('puback')
}

test('/metrics counts limit hits by limit (portcullis_limit_hits_total)', async () => {
  const metrics = createMetrics(broker.server.brokerAdmin)
  const text = await metrics.registry.metrics()
  metrics.close()
  for (const limit of ['maxSubscriptionsPerClient', 'maxInflightBytes', 'maxQueuedBytes', 'connectRatePerAddress', 'publishRate', 'maxRetainedMessages', 'maxRetainedBytes', 'maxSubscriptions']) {
    assert.match(text, new RegExp(`portcullis_limit_hits_total\\{limit="${limit}"\\} \\d+`))
  }
})

for (const v of VERSIONS) {
  const quota = v === 5 ? 0x97 : 0x80

  describe(`v${v}`, () => {
    test(`maxSubscriptionsPerClient: filters beyond it get ${quota === 0x97 ? '0x97 Quota exceeded' : '0x80'} in the SUBACK; replacing one still works`, async () => {
      const before = hits(broker, 'maxSubscriptionsPerClient')
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('subs'), protocolVersion: v })
      const base = uid('q')
      raw.send({
        cmd: 'subscribe', messageId: 1,
        subscriptions: ['a', 'b', 'c', 'd', 'e'].map((t) => ({ topic: `${base}/${t}`, qos: 1 as const })),
      })
      assert.deepEqual((await raw.next('suback')).granted, [1, 1, 1, quota, quota])
      assert.equal(hits(broker, 'maxSubscriptionsPerClient') - before, 2)
      // The same filter again replaces the subscription [MQTT-3.8.4-3]: no new one, no quota.
      raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: `${base}/a`, qos: 0 }] })
      assert.deepEqual((await raw.next('suback')).granted, [0])
      // After an UNSUBSCRIBE there is room again.
      raw.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: [`${base}/b`] })
      await raw.next('unsuback')
      raw.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: `${base}/d`, qos: 2 }] })
      assert.deepEqual((await raw.next('suback')).granted, [2])
      // The subscriptions granted work; the one refused does not deliver.
      const pub = await rawSocket(broker.port, 4)
      await pub.connect({ clientId: uid('pub') })
      await publishQos1(pub, `${base}/e`, Buffer.from('refused'), 1)
      await publishQos1(pub, `${base}/d`, Buffer.from('granted'), 2)
      const got = await raw.next('publish')
      assert.equal(got.topic, `${base}/d`)
      pub.destroy()
      raw.destroy()
    })

    test('maxQueuedBytes: an offline session keeps the newest messages within the byte limit, the oldest are dropped and counted', async () => {
      const before = hits(broker, 'maxQueuedBytes')
      const clientId = uid('queued')
      const topic = uid('qb')
      const sub = await rawSocket(broker.port, v)
      const persistent = v === 5 ? { clean: true, properties: { sessionExpiryInterval: 300 } } : { clean: false }
      await sub.connect({ clientId, protocolVersion: v, ...persistent })
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
      await sub.next('suback')
      sub.destroy()
      await delay(50)
      const pub = await rawSocket(broker.port, 4)
      await pub.connect({ clientId: uid('pub') })
      // ten 1,000-byte messages against 4,096 bytes: the last four fit
      for (let i = 0; i < 10; i++) await publishQos1(pub, topic, Buffer.alloc(1000, 48 + i), i + 1)
      assert.equal(hits(broker, 'maxQueuedBytes') - before, 6)
      const again = await rawSocket(broker.port, v)
      const connack = await again.connect({ clientId, protocolVersion: v, clean: false, properties: v === 5 ? { sessionExpiryInterval: 0 } : undefined })
      assert.equal(connack.sessionPresent, true)
      const got: number[] = []
      for (let i = 0; i < 4; i++) {
        const p = await again.next('publish')
        got.push((p.payload as Buffer)[0])
        again.send({ cmd: 'puback', messageId: p.messageId })
      }
      assert.deepEqual(got, [54, 55, 56, 57], 'the four newest, in order')
      await delay(100)
      assert.equal(again.unread().filter((p) => p.cmd === 'publish').length, 0)
      pub.destroy()
      again.destroy()
    })

    test('maxInflightBytes: unacknowledged payload stays within the limit; the rest waits and follows as acks free room', async () => {
      const before = hits(broker, 'maxInflightBytes')
      const topic = uid('ib')
      const sub = await rawSocket(broker.port, v)
      await sub.connect({ clientId: uid('inflight'), protocolVersion: v })
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
      await sub.next('suback')
      const pub = await rawSocket(broker.port, 4)
      await pub.connect({ clientId: uid('pub') })
      for (let i = 0; i < 5; i++) await publishQos1(pub, topic, Buffer.alloc(1000, 48 + i), i + 1)
      // 2 × 1,000 bytes fit in 2,048; the third waits (the window of 100 messages is not the limit here)
      const first = await sub.next('publish')
      const second = await sub.next('publish')
      await delay(150)
      assert.equal(sub.unread().filter((p) => p.cmd === 'publish').length, 0, 'no third message while 2,000 bytes are unacknowledged')
      assert.ok(hits(broker, 'maxInflightBytes') > before)
      sub.send({ cmd: 'puback', messageId: first.messageId })
      const third = await sub.next('publish')
      assert.equal((third.payload as Buffer)[0], 50)
      sub.send({ cmd: 'puback', messageId: second.messageId })
      sub.send({ cmd: 'puback', messageId: third.messageId })
      const rest = [await sub.next('publish'), await sub.next('publish')]
      assert.deepEqual(rest.map((p) => (p.payload as Buffer)[0]), [51, 52])
      pub.destroy()
      sub.destroy()
    })
  })
}

describe('connectRatePerAddress', () => {
  const running: RunningBroker[] = []
  after(async () => {
    for (const b of running) await b.close()
  })

  for (const v of VERSIONS) {
    test(`v${v}: beyond the burst, a CONNECT from the same address is refused before authentication (${v === 5 ? 'CONNACK 0x9F' : 'closed, no CONNACK'}); counted`, async () => {
      const b = await startBroker({ limits: { connectRatePerAddress: 1, connectBurstPerAddress: 3 } })
      running.push(b)
      const ok: RawClient[] = []
      for (let i = 0; i < 3; i++) {
        const raw = await rawSocket(b.port, v)
        assert.equal((await raw.connect({ clientId: uid('rate'), protocolVersion: v })).reasonCode ?? 0, 0)
        ok.push(raw)
      }
      const over = await rawSocket(b.port, v)
      over.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId: uid('over'), keepalive: 0 }, { protocolVersion: v }))
      await over.waitClosed()
      const packets = over.packets
      if (v === 5) {
        assert.equal(packets.length, 1)
        assert.equal((packets[0] as mqttPacket.IConnackPacket).reasonCode, 0x9f)
      } else {
        assert.deepEqual(packets, [], '3.1.1 has no code for it: the connection is closed')
      }
      assert.equal(hits(b, 'connectRatePerAddress'), 1)
      assert.equal(b.server.brokerAdmin.stats().authFailures.total, 0, 'refused before authentication')
      // The bucket refills at 1 per second: a second later the address may connect again.
      await delay(1100)
      const later = await rawSocket(b.port, v)
      assert.equal((await later.connect({ clientId: uid('later'), protocolVersion: v })).reasonCode ?? 0, 0)
      // The clients connected within the rate were not touched.
      for (const raw of ok) assert.equal(raw.closed, false)
      for (const raw of [...ok, later]) raw.destroy()
    })
  }
})

describe('publishRate', () => {
  const running: RunningBroker[] = []
  after(async () => {
    for (const b of running) await b.close()
  })

  for (const v of VERSIONS) {
    const outcome = v === 5 ? 'DISCONNECT 0x97 Quota exceeded' : 'closed'
    test(`v${v}: a client over publishRate.messages is ${outcome}; messages within the rate are delivered; counted`, async () => {
      const b = await startBroker({ limits: { publishRate: { messages: 5 } } })
      running.push(b)
      const topic = uid('pr')
      const watcher = await connect(b.port, { protocolVersion: 5, clientId: uid('watch') })
      let received = 0
      watcher.on('message', () => received++)
      await watcher.subscribeAsync(topic, { qos: 0 })
      const flooder = await connect(b.port, { protocolVersion: v, clientId: uid('flood') })
      for (let i = 0; i < 10; i++) flooder.publish(topic, `m${i}`, { qos: 0 })
      const disconnect = await waitForClose(flooder)
      if (v === 5) assert.equal(disconnect?.reasonCode, 0x97)
      await delay(100)
      assert.equal(received, 5, 'the first second’s five messages were delivered')
      assert.ok(hits(b, 'publishRate') >= 1)
      await end(watcher)
    })

    test(`v${v}: a client over publishRate.bytes is ${outcome}; other clients are not`, async () => {
      const b = await startBroker({ limits: { publishRate: { bytes: 1000 } } })
      running.push(b)
      const quiet = await connect(b.port, { protocolVersion: v, clientId: uid('quiet') })
      const flooder = await connect(b.port, { protocolVersion: v, clientId: uid('bytes') })
      const topic = uid('pb')
      await quiet.publishAsync(topic, Buffer.alloc(900), { qos: 1 })
      await flooder.publishAsync(topic, Buffer.alloc(900), { qos: 1 })
      flooder.publish(topic, Buffer.alloc(900), { qos: 1 })
      const disconnect = await waitForClose(flooder)
      if (v === 5) assert.equal(disconnect?.reasonCode, 0x97)
      assert.equal(quiet.connected, true)
      await quiet.publishAsync(topic, Buffer.alloc(50), { qos: 1 })
      assert.equal(hits(b, 'publishRate'), 1)
      await end(quiet)
    })
  }
})

describe('maxWriteBuffer: a client that does not read its answers', () => {
  for (const v of VERSIONS) {
    test(`v${v}: is not read while more than maxWriteBuffer waits for it, and is read again once it reads; others carry on`, async (t) => {
      // A client writing PINGREQs without reading made the broker buffer every PINGRESP, with no
      // end (128 MiB of them: 97 -> 256 MiB RSS). Its packets now wait in its own socket.
      const b = await startBroker({ limits: { maxWriteBuffer: 65_536 } })
      t.after(() => b.close())
      const raw = await rawSocket(b.port, v)
      await raw.connect({ clientId: uid('deaf'), protocolVersion: v })
      raw.socket.pause()
      const start = b.server.broker.stats.bytesIn
      const read = (): number => b.server.broker.stats.bytesIn - start
      const offered = 16 * 1024 * 1024
      raw.write(Buffer.alloc(offered).fill(Buffer.from([0xc0, 0x00]))) // PINGREQs
      // Reading stops: what the broker has read stays put for a second.
      let last = -1
      const deadline = performance.now() + 30_000
      while (read() !== last && performance.now() < deadline) {
        last = read()
        await delay(1000)
      }
      assert.ok(read() < offered / 2, `the broker stopped reading (${read()} of ${offered} bytes read)`)
      const other = await connect(b.port, { protocolVersion: v, clientId: uid('other') })
      await other.subscribeAsync('rt', { qos: 1 })
      const echoed = new Promise((r) => other.once('message', r))
      await other.publishAsync('rt', 'x', { qos: 1 })
      await echoed
      await end(other)
      // Once the client reads, the broker reads again.
      const stalled = read()
      raw.socket.resume()
      const until2 = performance.now() + 10_000
      while (read() <= stalled && performance.now() < until2) await delay(50)
      assert.ok(read() > stalled, 'the broker reads the client again once it reads its answers')
      assert.equal(raw.closed, false)
      raw.destroy()
    })
  }
})

for (const v of VERSIONS) {
  test(`v${v}: maxSubscriptions: all sessions of the node together; a new filter past it gets ${v === 5 ? '0x97' : '0x80'}, replacing works, an UNSUBSCRIBE makes room`, async () => {
    const quota = v === 5 ? 0x97 : 0x80
    const b = await startBroker({ limits: { maxSubscriptions: 4 } })
    try {
      const base = uid('ns')
      const a = await rawSocket(b.port, v)
      await a.connect({ clientId: uid('a'), protocolVersion: v })
      a.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['1', '2', '3'].map((t) => ({ topic: `${base}/${t}`, qos: 1 as const })) })
      assert.deepEqual((await a.next('suback')).granted, [1, 1, 1])
      const c = await rawSocket(b.port, v)
      await c.connect({ clientId: uid('c'), protocolVersion: v })
      const before = hits(b, 'maxSubscriptions')
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/1`, qos: 0 }, { topic: `${base}/x`, qos: 0 }] })
      assert.deepEqual((await c.next('suback')).granted, [0, quota], 'the same filter as another client counts too: the node holds a fourth subscription')
      assert.equal(hits(b, 'maxSubscriptions') - before, 1)
      c.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: `${base}/1`, qos: 1 }] })
      assert.deepEqual((await c.next('suback')).granted, [1], 'replacing a subscription the session holds always works')
      a.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`${base}/2`] })
      await a.next('unsuback')
      c.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: `${base}/x`, qos: 0 }] })
      assert.deepEqual((await c.next('suback')).granted, [0], 'room again')
      a.destroy()
      c.destroy()
    } finally {
      await b.close()
    }
  })
}
