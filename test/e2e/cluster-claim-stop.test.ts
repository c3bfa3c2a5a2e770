/**
 * A node stopped cleanly (SIGTERM) while it claims a client delivers nothing twice and loses
 * nothing acknowledged (issue 13; broker child processes, a real redis-server). A persistent
 * QoS 2 subscriber Y on node B is offline: what node A forwards to it queues in its session on
 * B. A persistent subscriber X on A, with a publisher on A streaming QoS 2 to both; X connects
 * again to node B, whose link to Redis is slowed (test/helpers/slow-link.ts) so that its claim
 * takes a while. While the claim runs, B keeps the stream entries it reads (for Y and every
 * subscriber, and what A forwards for X only) unacknowledged until X's session is loaded
 * (commit 7aac84d). B is stopped once it has read some of them, before the claim ends, and
 * started again: an entry still pending then is read again, and Y — which had its copy stored
 * the first time — would get a second one (exactly once broken). Then Y and X connect to B:
 * Y gets every message A acknowledged exactly once, X every one at least once. MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { probeRoutes, slowLinkedPair } from '../helpers/cluster-nodes.js'

/** Each way, on node B's link to Redis once the claim starts. */
const LINK_DELAY_MS = 150
const PUBLISH_EVERY_MS = 5
const MAX_MESSAGES = 2000

for (const version of [4, 5] as const) {
  describe(`cluster: a node stopped cleanly while it claims a client (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('the claim is finished before the node stops: nothing delivered twice, nothing acknowledged lost', async (t) => {
      const { redis, a, b, clients, link } = await slowLinkedPair(t)
      await a.start()
      await b.start()
      const look = new Redis({ path: redis.socket })
      t.after(() => look.disconnect())

      const topic = `claim-stop/${version}`
      /** How many times each number reached each subscriber. */
      const counter = (into: Map<number, number>) => (c: MqttClient): void => {
        c.on('message', (tp, payload) => {
          const n = Number(payload.toString())
          if (tp === topic && Number.isInteger(n)) into.set(n, (into.get(n) ?? 0) + 1)
        })
      }
      const gotX = new Map<number, number>()
      const gotY = new Map<number, number>()
      const persistent = (clientId: string): mqtt.IClientOptions => ({
        clientId,
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      })
      const sessionX = persistent(`claim-stop-x-${version}`)
      const sessionY = persistent(`claim-stop-y-${version}`)

      // Y subscribes on B, A learns the route (probes), then Y goes offline: its messages queue on B.
      let probed = false
      const y = await connectRetry(b.port, sessionY, (c) => c.on('message', (tp) => (probed ||= tp === topic)))
      clients.push(y)
      await y.subscribeAsync(topic, { qos: 2 })
      const pub = await connectRetry(a.port, { clientId: `claim-stop-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      await probeRoutes(pub, [topic], () => probed, 'A forwards to B for Y')
      await y.endAsync()

      const first = await connectRetry(a.port, sessionX, counter(gotX))
      clients.push(first)
      await first.subscribeAsync(topic, { qos: 1 })

      // A numbered QoS 2 stream published on A, bounded in count; what A acknowledged is counted.
      const acked = new Set<number>()
      const sent: Array<Promise<unknown>> = []
      let publishing = true
      const publisher = (async () => {
        for (let n = 0; publishing && n < MAX_MESSAGES; n++) {
          sent.push(pub.publishAsync(topic, String(n), { qos: 2 }).then(() => acked.add(n), () => {}))
          await delay(PUBLISH_EVERY_MS)
        }
      })()
      await until(() => acked.size >= 50, 'the stream flows', 10_000)

      // X connects to B, whose link to Redis is slow from now on (its claim takes several round trips).
      const stream = 'pc:fwd:{node-b}'
      const owner = `pc:{${sessionX.clientId as string}}:owner`
      link.slow(LINK_DELAY_MS)
      const second = mqtt.connect({ host: '127.0.0.1', port: b.port, reconnectPeriod: 0, connectTimeout: 30_000, ...sessionX })
      second.on('error', () => {})
      clients.push(second)

      // B's claim has started (the registry names B), and since then B has read entries and stored
      // Y's copies twice (the first store may be of a read made just before the claim): it holds them.
      const queueY = `pc:{${sessionY.clientId as string}}:d`
      const stores: number[] = []
      for (let polls = 0; polls < 2000 && stores.length < 3; polls++) {
        if (stores.length > 0 || await look.hget(owner, 'node') === 'node-b') {
          const queued = await look.hlen(queueY)
          if (stores.length === 0 || queued > (stores.at(-1) as number)) stores.push(queued)
        }
        await delay(5)
      }
      assert.equal(stores.length, 3, 'B stored messages for Y twice while its claim ran')
      const pendingAtStop = Number((await look.call('XPENDING', stream, 'pc') as unknown[])[0])
      const stopping = Date.now()
      await b.stop(30_000)
      const stopMs = Date.now() - stopping
      const pendingAfterStop = Number((await look.call('XPENDING', stream, 'pc') as unknown[])[0])
      publishing = false
      await publisher
      await withTimeout(Promise.all(sent), 15_000, 'the publisher\'s last messages are answered')
      t.diagnostic(`B stopped in ${stopMs} ms; entries pending when B was stopped: ${pendingAtStop}, after its stop: ${pendingAfterStop}; acknowledged: ${acked.size}`)

      // B starts again (its link fast again): what is pending in its stream is read again.
      link.slow(0)
      first.end(true)
      second.end(true)
      await b.start()
      clients.push(await connectRetry(b.port, sessionY, counter(gotY)))
      clients.push(await connectRetry(b.port, sessionX, counter(gotX)))
      const missing = (got: Map<number, number>): number[] => [...acked].filter((n) => !got.has(n)).sort((p, q) => p - q)
      await until(() => missing(gotY).length === 0 && missing(gotX).length === 0, 'every acknowledged message reaches X and Y', 15_000).catch(() => {})
      // (A second copy would come with the first: B reads its pending entries before it listens.)
      await delay(500)
      const twice = [...gotY].filter(([, times]) => times > 1).map(([n]) => n)
      t.diagnostic(`X got ${gotX.size} (${[...gotX.values()].filter((c) => c > 1).length} more than once: QoS 1), Y got ${gotY.size} (${twice.length} more than once)`)
      assert.deepEqual(missing(gotY), [], `acknowledged messages Y never got (${acked.size} acknowledged)`)
      assert.deepEqual(missing(gotX), [], `acknowledged messages X never got (${acked.size} acknowledged)`)
      assert.deepEqual(twice, [], 'messages Y (QoS 2) got more than once')
    })
  })
}
