/**
 * Retained delivery under load [MQTT-3.3.1-9, MQTT-3.3.4-2]: with 100,000 retained messages
 * stored, one SUBSCRIBE listing `#` 200 times must not stall other clients (delivery in slices
 * that yield to the event loop and wait for the subscriber's socket to drain), and the
 * subscriber gets each retained message exactly once, after the SUBACK, none dropped.
 *
 * The write buffer limit is set to its minimum (64 KiB) so that a broker which produced
 * copies faster than the subscriber reads would drop QoS 0 copies: the "exactly once" check
 * catches that. The round-trip bound is generous (CI machines are loaded); the README gives
 * the measured figures.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { VERSIONS, delay, rawSocket, rawSubscribe, uid, until, useBroker, withTimeout, type RawClient } from '../helpers/broker.js'

const RETAINED = 100_000
const COPIES = 200
const broker = useBroker({ limits: { maxWriteBuffer: 65_536 } })

/** Load RETAINED retained QoS 0 messages through one raw client, in one write. */
async function loadRetained(prefix: string): Promise<void> {
  const raw = await rawSocket(broker.port, 4)
  await raw.connect({ clientId: uid('loader') })
  const chunks: Buffer[] = []
  for (let i = 0; i < RETAINED; i++) {
    // three levels, 100 per level, so wildcards have a tree to walk
    const topic = `${prefix}/${Math.floor(i / 1000)}/${Math.floor(i / 10) % 100}/${i % 10}-${i}`
    chunks.push(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(`v${i}`), qos: 0, retain: true, dup: false }))
  }
  raw.write(Buffer.concat(chunks))
  raw.send({ cmd: 'pingreq' })
  await raw.next('pingresp', 30_000)
  raw.destroy()
}

/** PINGREQ → PINGRESP round trips (ms) of a second client, measured until `stop()` is true. */
async function measureRoundTrips(raw: RawClient, stop: () => boolean): Promise<number[]> {
  const times: number[] = []
  while (!stop() && times.length < 2000) {
    const t0 = performance.now()
    raw.send({ cmd: 'pingreq' })
    await raw.next('pingresp', 20_000)
    times.push(performance.now() - t0)
    await delay(5)
  }
  return times
}

describe('100,000 retained messages, one SUBSCRIBE with # 200 times', () => {
  const prefix = uid('flood')

  test('load', async () => {
    await loadRetained(prefix)
    assert.ok(broker.server.broker.retained.size >= RETAINED, `retained store holds ${broker.server.broker.retained.size}`)
  })

  for (const v of VERSIONS) {
    test(`v${v}: other clients keep their round trip, the subscriber gets every retained message once after the SUBACK [MQTT-3.3.1-9, MQTT-3.3.4-2]`, async () => {
      const other = await rawSocket(broker.port, v)
      await other.connect({ clientId: uid('other'), protocolVersion: v })
      const sub = await rawSocket(broker.port, v)
      await sub.connect({ clientId: uid('sub'), protocolVersion: v })

      const seen = new Map<string, number>()
      let publishes = 0
      let subackAt = -1
      let firstPublishBeforeSuback = false
      let badFlags = 0
      sub.parser.on('packet', (p: mqttPacket.Packet) => {
        if (p.cmd === 'suback') subackAt = publishes
        if (p.cmd !== 'publish') return
        if (subackAt === -1) firstPublishBeforeSuback = true
        publishes++
        if (!p.retain || p.qos !== 0) badFlags++
        if (p.topic.startsWith(`${prefix}/`)) seen.set(p.topic, (seen.get(p.topic) ?? 0) + 1)
      })

      const started = performance.now()
      sub.send({
        cmd: 'subscribe',
        messageId: 7,
        subscriptions: Array.from({ length: COPIES }, () => ({ topic: '#', qos: 0 as const })),
      })
      let done = false
      const trips = measureRoundTrips(other, () => done)
      await withTimeout(
        (async () => {
          while (seen.size < RETAINED) await delay(20)
        })(),
        60_000,
        `the # subscriber got ${seen.size} of ${RETAINED} retained messages`,
      ).finally(() => {
        done = true
      })
      const elapsed = performance.now() - started
      // a little longer: any duplicate still on its way arrives
      await delay(200)
      const rtt = (await trips).sort((a, b) => a - b)

      const suback = sub.packets.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket
      assert.equal(suback.granted.length, COPIES)
      assert.equal(firstPublishBeforeSuback, false, 'retained messages come after the SUBACK')
      assert.equal(seen.size, RETAINED)
      const duplicated = [...seen.values()].filter((n) => n !== 1).length
      assert.equal(duplicated, 0, `${duplicated} retained messages were sent more than once`)
      assert.equal(badFlags, 0, 'every retained copy has RETAIN set and the QoS granted')
      assert.ok(rtt.length >= 3, `round trips measured: ${rtt.length}`)
      const median = rtt[Math.floor(rtt.length / 2)]
      const max = rtt[rtt.length - 1]
      // Reported for the README's figures; the bound asserted is generous (shared CI machines).
      console.log(`v${v}: delivered ${RETAINED} in ${elapsed.toFixed(0)} ms; other client round trip median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${rtt.length}`)
      assert.ok(max < 500, `another client's PINGREQ waited ${max.toFixed(0)} ms (median ${median.toFixed(1)} ms)`)
      other.destroy()
      sub.destroy()
    })
  }
})

for (const v of VERSIONS) {
  describe(`v${v}: overlapping filters and flow control`, () => {
    test('overlapping filters in one SUBSCRIBE send each retained message once, at the highest QoS granted, with the Subscription Identifier [MQTT-3.3.4-2, MQTT-3.3.4-4]', async () => {
      const base = uid('overlap')
      const pub = await rawSocket(broker.port, 4)
      await pub.connect({ clientId: uid('pub') })
      for (const [t, qos] of [['a/x', 2], ['a/y', 0], ['b/x', 2], ['a', 1]] as const) {
        pub.send({ cmd: 'publish', topic: `${base}/${t}`, payload: Buffer.from(t), qos, retain: true, dup: false, messageId: qos === 0 ? undefined : 1 })
        if (qos === 1) await pub.next('puback')
        if (qos === 2) {
          await pub.next('pubrec')
          pub.send({ cmd: 'pubrel', messageId: 1 })
          await pub.next('pubcomp')
        }
      }
      const sub = await rawSocket(broker.port, v)
      await sub.connect({ clientId: uid('sub'), protocolVersion: v })
      sub.send({
        cmd: 'subscribe',
        messageId: 3,
        subscriptions: [
          { topic: `${base}/#`, qos: 0 },
          { topic: `${base}/a/+`, qos: 1 },
          { topic: `${base}/+/x`, qos: 2 },
          { topic: `${base}/#`, qos: 0 },
        ],
        properties: v === 5 ? { subscriptionIdentifier: 42 } : undefined,
      })
      const suback = await sub.next('suback')
      assert.deepEqual(suback.granted, [0, 1, 2, 0])
      const got = new Map<string, mqttPacket.IPublishPacket>()
      for (let i = 0; i < 4; i++) {
        const p = await sub.next('publish')
        assert.equal(got.has(p.topic), false, `${p.topic} sent twice`)
        got.set(p.topic, p)
        if (p.qos === 1) sub.send({ cmd: 'puback', messageId: p.messageId })
        if (p.qos === 2) sub.send({ cmd: 'pubrec', messageId: p.messageId })
      }
      await delay(150)
      assert.deepEqual(sub.unread().filter((p) => p.cmd === 'publish'), [], 'no copy beyond one per topic')
      // a/x: published 2, matched by # (0), a/+ (1), +/x (2) → 2; a/y: published 0 → 0;
      // b/x: # (0), +/x (2) → 2; a: only # matches it ('a/#' matches the parent level) → 0.
      assert.equal(got.get(`${base}/a/x`)?.qos, 2)
      assert.equal(got.get(`${base}/a/y`)?.qos, 0)
      assert.equal(got.get(`${base}/b/x`)?.qos, 2)
      assert.equal(got.get(`${base}/a`)?.qos, 0)
      for (const p of got.values()) {
        assert.equal(p.retain, true)
        if (v === 5) assert.equal(p.properties?.subscriptionIdentifier, 42)
      }
      pub.destroy()
      sub.destroy()
    })

    test('QoS 1 retained copies wait for the window and the queue instead of overflowing it: none dropped', async () => {
      const base = uid('qos1')
      const count = 3000 // three times the default maxQueuedMessages (1000)
      const pub = await rawSocket(broker.port, 4)
      await pub.connect({ clientId: uid('pub') })
      const chunks: Buffer[] = []
      for (let i = 0; i < count; i++) {
        chunks.push(mqttPacket.generate({ cmd: 'publish', topic: `${base}/${i}`, payload: Buffer.from(String(i)), qos: 1, messageId: (i % 60000) + 1, retain: true, dup: false }))
      }
      pub.write(Buffer.concat(chunks))
      pub.send({ cmd: 'pingreq' })
      await pub.next('pingresp', 10_000)
      const sub = await rawSocket(broker.port, v)
      await sub.connect({ clientId: uid('sub'), protocolVersion: v })
      const seen = new Set<string>()
      sub.parser.on('packet', (p: mqttPacket.Packet) => {
        if (p.cmd !== 'publish') return
        seen.add(p.topic)
        // acknowledge a little later, as a real client would
        setTimeout(() => sub.send({ cmd: 'puback', messageId: p.messageId }), 1)
      })
      assert.deepEqual(await rawSubscribe(sub, `${base}/#`, 1), [1])
      await until(() => seen.size === count, `the QoS 1 subscriber got ${seen.size} of ${count}`, 20_000)
      pub.destroy()
      sub.destroy()
    })
  })
}
