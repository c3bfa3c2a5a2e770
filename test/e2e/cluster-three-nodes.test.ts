/**
 * Three broker child processes on one real redis-server: node A is SIGKILLed while a publisher
 * on B goes on publishing numbered QoS 1 messages for A's two persistent subscribers (the
 * forwards wait in A's Redis Stream, acknowledged). One subscriber resumes on B, the other on C,
 * both at once (before A counts as dead): each gets every message acknowledged for it. Once A
 * counts as dead and both took their part, A's stream and routes are gone (nothing forwards to a
 * dead node for ever) — MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { test, describe } from 'node:test'
import type mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { NODE_DEAD_AFTER_MS } from '../../src/cluster/membership.js'
import { ROUTE_KEYS } from '../../src/cluster/routes.js'
import { streamKey } from '../../src/cluster/streams.js'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes, probeRoutes } from '../helpers/cluster-nodes.js'

const MESSAGES = 200
const KILL_AT = 60

for (const version of [4, 5] as const) {
  describe(`cluster of three: a dead node's subscribers resume on two survivors (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('node A SIGKILLed: one subscriber resumes on B, one on C; each gets every acknowledged message; A\'s stream and routes go', async (t) => {
      const { redis, nodes: [a, b, c], clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'])
      const look = redis.client()
      t.after(() => look.disconnect())
      await look.connect()
      await Promise.all([a.start(), b.start(), c.start()])

      const topic = `three/${version}`
      const got = [new Map<number, number>(), new Map<number, number>()]
      const session = (i: number): mqtt.IClientOptions => ({
        clientId: `three-sub${i}-${version}`, clean: false, protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      })
      const count = (i: number) => (client: MqttClient): void => {
        client.on('message', (tp, payload) => {
          if (tp !== `${topic}/${i}`) return
          const n = Number(payload.toString())
          got[i].set(n, (got[i].get(n) ?? 0) + 1)
        })
      }
      const probed = [false, false]
      for (const i of [0, 1]) {
        const sub = await connectRetry(a.port, session(i), count(i))
        clients.push(sub)
        sub.on('message', (tp) => { if (tp === `${topic}/${i}/probe`) probed[i] = true })
        await sub.subscribeAsync([`${topic}/${i}`, `${topic}/${i}/probe`], { qos: 1 })
      }
      const pub = await connectRetry(b.port, { clientId: `three-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      await probeRoutes(pub, [`${topic}/0/probe`, `${topic}/1/probe`], () => probed[0] && probed[1], "B forwards to A's subscribers")

      const acked: number[] = []
      for (let n = 0; n < MESSAGES; n++) {
        if (n === KILL_AT) await a.kill()
        await withTimeout(pub.publishAsync(`${topic}/${n % 2}`, String(n), { qos: 1 }), 10_000, `PUBACK ${n}`)
        acked.push(n)
      }
      // Both resume at once, on two different survivors (A's liveness key still lasts).
      clients.push(await connectRetry(b.port, session(0), count(0)), await connectRetry(c.port, session(1), count(1)))
      const missing = (): number[] => acked.filter((n) => !got[n % 2].has(n))
      await until(() => missing().length === 0, 'every acknowledged message', 15_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: ${missing().join(',')} missing`) })
      assert.deepEqual(missing(), [], 'no acknowledged message lost, on B or on C')

      // A counts as dead after its liveness key lapses; its stream and routes go then.
      await delay(NODE_DEAD_AFTER_MS)
      const deadline = Date.now() + 10_000
      while (await withTimeout(look.exists(streamKey('node-a'), ROUTE_KEYS.routes('node-a'), ROUTE_KEYS.version('node-a')), 5000, 'EXISTS') > 0) {
        assert.ok(Date.now() < deadline, "A's stream and routes deleted within 10 s")
        await delay(100)
      }
      assert.equal(await look.hexists(ROUTE_KEYS.versions, 'node-a'), 0, 'A no longer listed in the route versions')
    })
  })
}
