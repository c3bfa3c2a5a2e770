/**
 * The moment a persistent client moves between live nodes while messages keep flowing (three
 * broker child processes, a real redis-server on a unix socket): client X, persistent, is on
 * node A; a publisher on node C sends a numbered QoS 1 stream and a numbered QoS 2 stream at a
 * steady pace; mid-stream X connects to B while A's socket is still open, then back to A, then to
 * B again (each time session present [MQTT-3.2.2-3], the old connection taken over
 * [MQTT-3.1.4-3]). Every acknowledged QoS 1 message reaches X (no gap, [MQTT-4.3.2]); every
 * acknowledged QoS 2 message reaches X exactly once [MQTT-4.3.3] — MQTT 3.1.1 and 5.0.
 *
 * X keeps its session state across its connections as the spec asks of a client (one MQTT.js
 * incoming store, kept when a connection closes: a QoS 2 message it received but whose PUBREL comes on the next connection is
 * still delivered once).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt, { Store, type MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'

/** Publishing ticks (each one QoS 1 and one QoS 2 message), their pace, and when X moves. */
const TICKS = 360
const PACE_MS = 4
const MOVES = [90, 180, 270]

for (const version of [4, 5] as const) {
  describe(`cluster: a client moves between live nodes mid-stream (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('X moves A → B → A → B while C publishes QoS 1 and QoS 2: no gap at QoS 1, exactly once at QoS 2 [MQTT-4.3.2] [MQTT-4.3.3]', async (t) => {
      const { nodes: [a, b, c], clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'])
      await Promise.all([a.start(), b.start(), c.start()])

      const topic = `move/${version}`
      const got1 = new Map<number, number>()
      const got2 = new Map<number, number>()
      let probed = false
      const incomingStore = new Store({ clean: false })
      const session: mqtt.IClientOptions = {
        clientId: `move-x-${version}`, clean: false, protocolVersion: version, incomingStore,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const presents: boolean[] = []
      const count = (client: MqttClient): void => {
        client.on('connect', (p) => presents.push(p.sessionPresent))
        client.on('message', (tp, payload) => {
          if (tp === `${topic}/probe`) probed = true
          const into = tp === `${topic}/q1` ? got1 : tp === `${topic}/q2` ? got2 : undefined
          if (into === undefined) return
          const n = Number(payload.toString())
          into.set(n, (into.get(n) ?? 0) + 1)
        })
      }
      const x = await connectRetry(a.port, session, count)
      clients.push(x)
      await withTimeout(x.subscribeAsync({ [`${topic}/q1`]: { qos: 1 }, [`${topic}/q2`]: { qos: 2 }, [`${topic}/probe`]: { qos: 0 } }), 5000, 'SUBACK')

      const pub = await connectRetry(c.port, { clientId: `move-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      for (let tries = 0; !probed; tries++) {
        assert.ok(tries < 200, 'C forwards to X on A (within 200 tries)')
        await withTimeout(pub.publishAsync(`${topic}/probe`, 'p', { qos: 0 }), 5000, 'probe')
        await delay(50)
      }

      // The streams go on at a steady pace while X moves (the moves are not awaited by the publisher).
      const acked1 = new Set<number>()
      const acked2 = new Set<number>()
      const sent: Array<Promise<unknown>> = []
      const moves: Array<Promise<void>> = []
      const path = [b, a, b]
      for (let n = 0; n < TICKS; n++) {
        const at = MOVES.indexOf(n)
        if (at >= 0) {
          const to = path[at]
          moves.push(connectRetry(to.port, session, count).then((next) => { clients.push(next) }))
        }
        sent.push(pub.publishAsync(`${topic}/q1`, String(n), { qos: 1 }).then(() => acked1.add(n)))
        sent.push(pub.publishAsync(`${topic}/q2`, String(n), { qos: 2 }).then(() => acked2.add(n)))
        await delay(PACE_MS)
      }
      await withTimeout(Promise.all(moves), 10_000, 'X connected on each node in turn')
      await withTimeout(Promise.allSettled(sent), 20_000, 'every publish answered')
      assert.equal(acked1.size, TICKS, 'every QoS 1 message acknowledged by C')
      assert.equal(acked2.size, TICKS, 'every QoS 2 message acknowledged by C')
      assert.deepEqual(presents, [false, true, true, true], 'session present on each move [MQTT-3.2.2-3]')

      const missing = (got: Map<number, number>, acked: Set<number>): number[] => [...acked].filter((n) => !got.has(n))
      await until(() => missing(got1, acked1).length === 0 && missing(got2, acked2).length === 0, 'every acknowledged message reaches X', 15_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: QoS 1 missing ${missing(got1, acked1).join(',')}; QoS 2 missing ${missing(got2, acked2).join(',')}`) })
      // Late copies (a duplicate would come after the original): a bounded look.
      await delay(1000)
      assert.deepEqual(missing(got1, acked1), [], 'no acknowledged QoS 1 message lost')
      assert.deepEqual(missing(got2, acked2), [], 'no acknowledged QoS 2 message lost')
      assert.deepEqual([...got2].filter(([, k]) => k > 1).map(([n]) => n), [], 'no QoS 2 message delivered twice')
    })
  })
}
