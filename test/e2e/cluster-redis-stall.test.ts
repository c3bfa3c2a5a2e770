/**
 * Redis stalls or is away for longer than the nodes' liveness keys last (issue 13; broker child
 * processes, a real redis-server paused with SIGSTOP as a stuck Redis would be, or stopped and
 * started again as in a slow restart or failover, when the nodes reconnect one after the other):
 * every node's key lapses meanwhile, though every node is alive. Node B's link to Redis is slow
 * (test/helpers/slow-link.ts), so B renews its key a moment after A has Redis back, as a node
 * whose reconnection comes later would. Once Redis runs again no node
 * counts another dead: no session is taken over, no client that stayed where it was is
 * disconnected (no 0x8E), each client id keeps its owner, and every QoS 1 message acknowledged
 * to its publisher reaches its persistent subscriber on the other node. MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { delay, until } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { probeRoutes, slowLinkedPair } from '../helpers/cluster-nodes.js'
import { NODE_DEAD_AFTER_MS } from '../../src/cluster/membership.js'
import { REGISTRY_KEYS } from '../../src/cluster/registry.js'

/** Longer than a liveness key lasts, and than a heartbeat more. */
const STALL_MS = NODE_DEAD_AFTER_MS + 2000
const PUBLISH_EVERY_MS = 20
/** Each way on node B's link once both nodes run: B's commands reach Redis that much later than A's. */
const LINK_DELAY_MS = 400

for (const version of [4, 5] as const) {
  describe(`cluster: Redis stalls longer than the liveness keys last (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    for (const outage of ['paused (SIGSTOP)', 'stopped and started again'] as const) test(`Redis ${outage}: no node counts the other dead: no takeover, no disconnect, nothing acknowledged lost`, async (t) => {
      const { redis, a, b, clients, link } = await slowLinkedPair(t)
      const pid = redis.pid
      assert.ok(pid !== undefined, 'one redis-server, paused by its PID')
      t.after(() => {
        try {
          process.kill(pid, 'SIGCONT')
        } catch {
          // gone already (or stopped by the test)
        }
      })
      await a.start()
      await b.start()
      link.slow(LINK_DELAY_MS)

      // A persistent subscriber on each node, fed by a publisher on the other.
      const got = { a: new Set<number>(), b: new Set<number>() }
      const probed = { a: false, b: false }
      const closed: string[] = []
      const subscriber = async (node: 'a' | 'b', port: number): Promise<MqttClient> => {
        const session: mqtt.IClientOptions = {
          clientId: `stall-${node}-${version}`,
          clean: false,
          protocolVersion: version,
          keepalive: 60,
          ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
        }
        const c = await connectRetry(port, session, (client) => {
          client.on('message', (tp, payload) => {
            if (tp !== `stall/${node}`) return
            if (payload.toString() === 'p') probed[node] = true
            else got[node].add(Number(payload.toString()))
          })
        })
        clients.push(c)
        c.on('disconnect', (p) => closed.push(`${node}: DISCONNECT 0x${(p.reasonCode ?? 0).toString(16)}`))
        c.on('close', () => closed.push(`${node}: connection closed`))
        await c.subscribeAsync(`stall/${node}`, { qos: 1 })
        return c
      }
      await subscriber('a', a.port)
      await subscriber('b', b.port)
      const pubOnB = await connectRetry(b.port, { clientId: `stall-pub-b-${version}`, protocolVersion: version, keepalive: 60 })
      const pubOnA = await connectRetry(a.port, { clientId: `stall-pub-a-${version}`, protocolVersion: version, keepalive: 60 })
      clients.push(pubOnA, pubOnB)
      await probeRoutes(pubOnB, ['stall/a'], () => probed.a, 'B knows A\'s route')
      await probeRoutes(pubOnA, ['stall/b'], () => probed.b, 'A knows B\'s route')
      // (An MQTT 3.1.1 publisher whose message cannot be stored while Redis is away is disconnected:
      // what it had in flight is never answered, and counts as not acknowledged.)
      const acked = { a: new Set<number>(), b: new Set<number>() }
      let unanswered = 0
      const publish = (pub: MqttClient, node: 'a' | 'b', n: number): void => {
        if (!pub.connected) return
        unanswered++
        void pub.publishAsync(`stall/${node}`, String(n), { qos: 1 }).then(() => acked[node].add(n), () => {}).finally(() => unanswered--)
      }
      let publishing = true
      const publisher = (async () => {
        for (let n = 0; publishing && n < 2000; n++) {
          publish(pubOnB, 'a', n)
          publish(pubOnA, 'b', n)
          await delay(PUBLISH_EVERY_MS)
        }
      })()
      await until(() => got.a.size >= 20 && got.b.size >= 20, 'the streams flow across nodes', 15_000)

      // Redis stalls (or is away) longer than the keys last, then runs again; the nodes get time to misjudge.
      if (outage === 'paused (SIGSTOP)') {
        process.kill(pid, 'SIGSTOP')
        await delay(STALL_MS)
        process.kill(pid, 'SIGCONT')
      } else {
        await redis.stop('SIGTERM')
        await delay(STALL_MS)
        await redis.start()
      }
      // (Longer than the grace a node gives the others after Redis trouble, membership.ts, and a key's life more.)
      await delay(3 * NODE_DEAD_AFTER_MS + 1000)
      publishing = false
      await publisher
      await until(() => unanswered === 0 || !pubOnA.connected || !pubOnB.connected, 'every publish is answered', 15_000)

      const look = new Redis({ path: redis.socket })
      t.after(() => look.disconnect())
      const owners = await Promise.all(['a', 'b'].map((n) => look.hget(REGISTRY_KEYS.owner(`stall-${n}-${version}`), 'node')))
      const died = [a, b].filter((n) => n.output.includes('a node died')).length
      const missing = (node: 'a' | 'b'): number[] => [...acked[node]].filter((n) => !got[node].has(n))
      await until(() => missing('a').length === 0 && missing('b').length === 0, 'every acknowledged message arrives', 10_000).catch(() => {})
      t.diagnostic(`acknowledged: ${acked.a.size} to A's subscriber, ${acked.b.size} to B's; nodes that counted another dead: ${died}; closed: ${closed.join(', ') || 'none'}; owners: ${owners.join(', ')}`)
      assert.equal(died, 0, 'no node counted another dead')
      assert.deepEqual(closed, [], 'no subscriber was disconnected')
      assert.deepEqual(owners, ['node-a', 'node-b'], 'each client id keeps its owner')
      assert.deepEqual(missing('a'), [], 'nothing acknowledged lost (A\'s subscriber)')
      assert.deepEqual(missing('b'), [], 'nothing acknowledged lost (B\'s subscriber)')
    })
  })
}
