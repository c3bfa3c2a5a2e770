/**
 * A shared group whose member's node dies (broker child processes, a real redis-server): group
 * `$share/workers/...` has a persistent member on node A and one on node B; a publisher on B
 * sends numbered QoS 1 messages, A is SIGKILLed in the middle of them and its member never comes
 * back. What A's member had not acknowledged (in its stored session, or still waiting in A's
 * stream) goes to the member on B once the survivors took A's session [MQTT-4.8.2-4]: every
 * acknowledged message reached one member of the group — MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'

const MESSAGES = 200
const KILL_AT = 80

for (const version of [4, 5] as const) {
  describe(`cluster: a shared group member's node dies (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('node A SIGKILLed mid-stream: what A\'s member had not acknowledged goes to the member on B; every acknowledged message reaches the group', async (t) => {
      const { nodes: [a, b], clients } = await clusterNodes(t, ['node-a', 'node-b'])
      await Promise.all([a.start(), b.start()])
      const topic = `shared-death/${version}`
      const filter = `$share/workers/${topic}`
      const persistent = (clientId: string): mqtt.IClientOptions => ({
        clientId, clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      })
      const got = { a: new Set<number>(), b: new Set<number>() }
      const count = (into: Set<number>) => (client: MqttClient): void => {
        client.on('message', (tp, payload) => { if (tp === topic) into.add(Number(payload.toString())) })
      }
      const onA = await connectRetry(a.port, persistent(`member-a-${version}`), count(got.a))
      const onB = await connectRetry(b.port, persistent(`member-b-${version}`), count(got.b))
      clients.push(onA, onB)
      await onA.subscribeAsync(filter, { qos: 1 })
      await onB.subscribeAsync(filter, { qos: 1 })
      const pub = await connectRetry(b.port, { clientId: `shared-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      // B learns A's member within a route poll: until then every message stays on B.
      for (let n = -1; got.a.size === 0; n--) {
        assert.ok(n > -200, 'B sends a share to the member on A (within 200 tries)')
        await withTimeout(pub.publishAsync(topic, String(n), { qos: 1 }), 5000, 'PUBACK (probe)')
        await delay(50)
      }
      got.a.clear()
      got.b.clear()

      const acked: number[] = []
      for (let n = 0; n < MESSAGES; n++) {
        if (n === KILL_AT) await a.kill()
        await withTimeout(pub.publishAsync(topic, String(n), { qos: 1 }), 10_000, `PUBACK ${n}`)
        acked.push(n)
      }
      assert.ok(got.a.size > 0 && got.a.size < MESSAGES, `A's member had a share before A died (${got.a.size})`)
      // A counts as dead after 3 s; a survivor takes its member's session and passes its shares on.
      const missing = (): number[] => acked.filter((n) => !got.a.has(n) && !got.b.has(n))
      await until(() => missing().length === 0, 'every acknowledged message at a member', 20_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: ${missing().length} of ${acked.length} missing: ${missing().join(',')}`) })
      assert.deepEqual(missing(), [])
      assert.ok([...got.b].some((n) => n >= KILL_AT), 'the member on B took over the group\'s messages')
    })
  })
}
