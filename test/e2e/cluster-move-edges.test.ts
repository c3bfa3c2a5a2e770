/**
 * Two edges of a client moving between live nodes (three broker child processes, a real
 * redis-server on a unix socket), MQTT 3.1.1 and 5.0:
 * - a client that takes its id over with Clean Start gets a new session [MQTT-3.1.2-4]: nothing
 *   of the old session's reaches it — no message the node it left still had or still received
 *   for the old session is forwarded to it;
 * - a node whose write for a client was refused (another node took the client over while this
 *   one was paused) fails only the changes of that write: a publisher on that node whose PUBLISH
 *   went to the same group commit, but not to that client, is acknowledged and stays connected.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes, probeRoutes } from '../helpers/cluster-nodes.js'
import { killConnectionsNamed } from '../helpers/redis-server.js'

const TICKS = 300
const PACE_MS = 3

for (const version of [4, 5] as const) {
  const persistent = version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}
  describe(`cluster: the edges of a move (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('a Clean Start connection that takes the id over gets nothing of the old session: no message forwarded for it, none twice [MQTT-3.1.2-4]', async (t) => {
      const { nodes: [a, b, c], clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'])
      await Promise.all([a.start(), b.start(), c.start()])
      const topic = `clean/${version}`
      let probed = false
      const old = await connectRetry(a.port, { clientId: `clean-x-${version}`, clean: false, protocolVersion: version, ...persistent }, (cl) => {
        cl.on('message', (tp) => { if (tp === `${topic}/probe`) probed = true })
      })
      clients.push(old)
      await withTimeout(old.subscribeAsync({ [`${topic}/n`]: { qos: 1 }, [`${topic}/probe`]: { qos: 0 } }), 5000, 'SUBACK on A')
      const pub = await connectRetry(c.port, { clientId: `clean-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      await probeRoutes(pub, [`${topic}/probe`], () => probed, 'C forwards to the client on A')

      // A numbered QoS 1 stream from C; mid-stream the id connects to B with Clean Start and subscribes again.
      const acked = new Set<number>()
      const sent: Array<Promise<unknown>> = []
      const got = new Map<number, number>()
      let fresh: MqttClient | undefined
      let ackedBeforeSubscribe: Set<number> | undefined
      for (let n = 0; n < TICKS; n++) {
        if (n === TICKS / 3) {
          fresh = await connectRetry(b.port, { clientId: `clean-x-${version}`, clean: true, protocolVersion: version }, (cl) => {
            cl.on('message', (tp, payload) => {
              if (tp !== `${topic}/n`) return
              const k = Number(payload.toString())
              got.set(k, (got.get(k) ?? 0) + 1)
            })
          })
          clients.push(fresh)
          // Everything C had acknowledged by now was published before the new subscription existed.
          ackedBeforeSubscribe = new Set(acked)
          await withTimeout(fresh.subscribeAsync(`${topic}/n`, { qos: 1 }), 5000, 'SUBACK on B')
        }
        sent.push(pub.publishAsync(`${topic}/n`, String(n), { qos: 1 }).then(() => acked.add(n)))
        await delay(PACE_MS)
      }
      await withTimeout(Promise.allSettled(sent), 20_000, 'every publish answered')
      assert.equal(acked.size, TICKS, 'every message acknowledged by C')
      const last = TICKS - 1
      await until(() => got.has(last), 'the last message reaches the new session', 10_000)
      // Forwarded copies would come within the old node's grace period (3 s): a bounded look past it.
      await delay(3500)
      assert.ok(ackedBeforeSubscribe !== undefined && ackedBeforeSubscribe.size > 0)
      assert.deepEqual([...got.keys()].filter((k) => ackedBeforeSubscribe?.has(k) === true), [], 'no message published before the new session subscribed reaches it')
      assert.deepEqual([...got].filter(([, k]) => k > 1).map(([n]) => n), [], 'no message twice')
      assert.equal(fresh?.connected, true)
    })

    test('a write refused on a paused node fails only its own changes: another publisher in the same group commit is acknowledged and stays connected', async (t) => {
      const { redis, nodes: [a, b, c], clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'])
      await Promise.all([a.start(), b.start(), c.start()])
      const topic = `fenced/${version}`
      // X (moves), Y (stays on A) and Z (on C) subscribe; P and Q publish on A.
      const x = await connectRetry(a.port, { clientId: `fx-${version}`, clean: false, protocolVersion: version, ...persistent })
      const y = await connectRetry(a.port, { clientId: `fy-${version}`, clean: false, protocolVersion: version, ...persistent })
      const yGot: string[] = []
      y.on('message', (_tp, payload) => yGot.push(payload.toString()))
      clients.push(x, y)
      await withTimeout(x.subscribeAsync(`${topic}/x`, { qos: 1 }), 5000, 'SUBACK X')
      await withTimeout(y.subscribeAsync(`${topic}/y`, { qos: 1 }), 5000, 'SUBACK Y')
      const p = await connectRetry(a.port, { clientId: `fp-${version}`, protocolVersion: version })
      const q = await connectRetry(a.port, { clientId: `fq-${version}`, protocolVersion: version })
      clients.push(p, q)
      // (A stored publish is acknowledged only once its group commit answered: both wait for the same one below.)
      await withTimeout(p.publishAsync(`${topic}/y`, 'warm-up', { qos: 1 }), 5000, 'warm-up PUBACK')

      // A pauses; its takeover-signal connection is closed, so the signal of X's move is lost, and
      // B takes X over as from a node that does not answer: A's writes for X are refused from now on.
      a.signal('SIGSTOP')
      try {
        assert.ok(await killConnectionsNamed(redis, 'portcullis-signals') >= 1, 'A\'s takeover-signal connection closed')
        const moved = await connectRetry(b.port, { clientId: `fx-${version}`, clean: false, protocolVersion: version, ...persistent })
        clients.push(moved)
        // X's old connection reads nothing more (a PUBACK before A's commit would spare A the write).
        x.stream.pause()
        // While A is paused: Q publishes to X's topic, P to Y's only (both read in one turn when A runs again).
        const pOutcome = outcomeOf(p, p.publishAsync(`${topic}/y`, 'innocent', { qos: 1 }))
        const qOutcome = outcomeOf(q, q.publishAsync(`${topic}/x`, 'for-x', { qos: 1 }))
        await delay(200)
        a.signal('SIGCONT')
        const [pGot, qGot] = await withTimeout(Promise.all([pOutcome, qOutcome]), 10_000, 'P and Q answered')
        // Q's message was stored for no one it was for (X's copy refused): no false acknowledgement.
        assert.notEqual(qGot, 'acknowledged', 'the publisher whose own message hit the refused write is not acknowledged')
        assert.equal(pGot, 'acknowledged', 'the publisher whose message went elsewhere is acknowledged')
        await until(() => yGot.includes('innocent'), 'Y receives P\'s message', 5000)
        await delay(300)
        assert.equal(p.connected, true, 'P stays connected')
      } finally {
        a.signal('SIGCONT')
      }
    })
  })
}

/** How a QoS 1 publish ended: acknowledged (reason code 0), refused (a reason code of 0x80 or more), or its connection closed first. */
function outcomeOf(client: MqttClient, publish: Promise<unknown>): Promise<'acknowledged' | 'refused' | 'closed'> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('closed'))
    publish.then(() => resolve('acknowledged'), (err: unknown) => resolve(err instanceof Error && /close|disconnect/i.test(err.message) ? 'closed' : 'refused'))
  })
}
