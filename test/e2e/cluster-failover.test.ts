/**
 * Cluster over Redis, with broker child processes and a real redis-server (unix socket):
 * - failover: nodes A and B both run on one Redis; A holds a persistent session with queued
 *   QoS 1 messages (and a retained message); A is SIGKILLed; the client reconnects to B, which
 *   claims the client id, resumes the session (session present [MQTT-3.2.2-3]) and delivers
 *   every message A acknowledged, for 3.1.1 and 5.0;
 * - Redis unreachable: new CONNECTs get 0x88 (3.1.1: 3), a QoS 1 PUBLISH gets no false
 *   acknowledgement; once Redis is back, the node recovers by itself.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt from 'mqtt'
import { delay, pollUntil, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'

const MESSAGES = 300

for (const version of [4, 5] as const) {
  describe(`cluster failover (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('node A killed with a queued persistent session: node B, running beside it, delivers every acknowledged message', async (t) => {
      const { nodes: [a, b], clients } = await clusterNodes(t, ['node-a', 'node-b'])
      if (a === undefined || b === undefined) throw new Error('two nodes')
      await a.start()
      const session: mqtt.IClientOptions = {
        clientId: `sub-${version}`,
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const sub = await connectRetry(a.port, session)
      await sub.subscribeAsync('fo/#', { qos: 1 })
      await sub.endAsync()

      const pub = await connectRetry(a.port, { clientId: `pub-${version}`, protocolVersion: version })
      clients.push(pub)
      for (let n = 0; n < MESSAGES; n++) await pub.publishAsync('fo/n', String(n), { qos: 1 })
      await pub.publishAsync('fo/retained', 'kept', { qos: 1, retain: true })
      pub.end(true)
      // A second node on the same Redis starts beside A (it loads the retained messages; the
      // session stays A's while A lives), then A dies.
      await b.start()
      await a.kill()

      // The client comes back on B: B claims its id and loads the session A stored.
      const got = new Map<number, number>()
      let present: boolean | undefined
      const resumed = await connectRetry(b.port, session, (c) => {
        c.on('connect', (p) => (present = p.sessionPresent))
        c.on('message', (topic, payload) => {
          if (topic !== 'fo/n') return
          const n = Number(payload.toString())
          got.set(n, (got.get(n) ?? 0) + 1)
        })
      })
      clients.push(resumed)
      assert.equal(present, true, 'session present on node B [MQTT-3.2.2-3]')
      await until(() => !(got.size < MESSAGES), `all ${MESSAGES} messages on B`, 15_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: ${got.size} of ${MESSAGES} arrived`) })
      assert.deepEqual([...Array(MESSAGES).keys()].filter((n) => !got.has(n)), [])

      // The retained message set on A is served by B.
      const fresh = await connectRetry(b.port, { clientId: `fresh-${version}`, protocolVersion: version })
      clients.push(fresh)
      const retained = new Promise<string>((r) => fresh.on('message', (topic, p) => { if (topic === 'fo/retained') r(p.toString()) }))
      await fresh.subscribeAsync('fo/retained', { qos: 1 })
      assert.equal(await withTimeout(retained, 5000, 'retained message on B'), 'kept')
    })
  })
}

describe('cluster: Redis unreachable', () => {
  test('new CONNECTs get 0x88 (3.1.1: 3), QoS 1 gets no false acknowledgement; recovers when Redis is back', async (t) => {
    const { redis, nodes: [node], clients } = await clusterNodes(t, ['solo'])
    if (node === undefined) throw new Error('one node')
    await node.start()
    const sub = await connectRetry(node.port, { clientId: 'durable-sub', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } })
    clients.push(sub)
    await sub.subscribeAsync('down/#', { qos: 1 })
    const pub = await connectRetry(node.port, { clientId: 'pub', protocolVersion: 5 })
    clients.push(pub)
    await pub.publishAsync('down/before', 'ok', { qos: 1 })

    await redis.stop('SIGKILL')
    // A QoS 1 message for a persistent session cannot be stored: no positive PUBACK.
    const outcome = await Promise.race([
      pub.publishAsync('down/during', 'x', { qos: 1 }).then(() => 'acknowledged', (err: unknown) => `refused: ${String(err)}`),
      delay(3000).then(() => 'no ack'),
    ])
    assert.notEqual(outcome, 'acknowledged', 'no false acknowledgement while Redis is down')

    const refusedWith = async (protocolVersion: 4 | 5): Promise<number | undefined> => {
      const c = mqtt.connect({ host: '127.0.0.1', port: node.port, clientId: `new-${protocolVersion}`, protocolVersion, reconnectPeriod: 0 })
      clients.push(c)
      return withTimeout(new Promise<number | undefined>((r) => {
        c.on('error', (err) => r((err as Error & { code?: number }).code))
        c.on('connect', () => r(0))
      }), 5000, 'CONNACK')
    }
    assert.equal(await refusedWith(5), 0x88, 'MQTT 5: Server unavailable')
    assert.equal(await refusedWith(4), 3, 'MQTT 3.1.1: server unavailable')

    await redis.start()
    // ioredis reconnects with back-off (at most 2 s apart): CONNECTs succeed again.
    await pollUntil(async () => await refusedWith(5) === 0, 'CONNECT accepted after Redis is back', 15_000, 200)
  })
})
