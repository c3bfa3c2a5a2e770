/**
 * A node that crashes while it claims a client loses nothing that was acknowledged (issue 13;
 * broker child processes, a real redis-server): a persistent QoS 1 subscriber on node A, a
 * publisher on A streaming to it; the client connects again to node B, whose link to Redis is
 * slowed (test/helpers/slow-link.ts) so that its claim takes a while. Once A has answered B's
 * claim, A forwards each new message for that client to B's stream, for that client only, and B
 * holds them until the session is loaded. B is SIGKILLed after it has read some of them (and,
 * before the fix, acknowledged and deleted them) and before the claim ends. The client resumes
 * on A: every message A acknowledged to the publisher reaches it, from the session or from B's
 * stream, which keeps an entry until what it held is stored. MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry } from '../helpers/broker-process.js'
import { slowLinkedPair } from '../helpers/cluster-nodes.js'

/** Each way, on node B's link to Redis once the claim starts. */
const LINK_DELAY_MS = 250
const PUBLISH_EVERY_MS = 5
const MAX_MESSAGES = 2000

/** A Redis reply of field/value pairs as an object. */
function fields(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const list = reply as unknown[]
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1]
  return out
}

for (const version of [4, 5] as const) {
  describe(`cluster: a node crashes while it claims a client (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('what the node it claimed from forwarded for the client and it held is not lost', async (t) => {
      const { redis, a, b, clients, link } = await slowLinkedPair(t)
      await a.start()
      await b.start()
      const look = new Redis({ path: redis.socket })
      t.after(() => look.disconnect())

      const topic = `claim-crash/${version}`
      const got = new Set<number>()
      const count = (c: MqttClient): void => {
        c.on('message', (tp, payload) => {
          if (tp === topic) got.add(Number(payload.toString()))
        })
      }
      const session: mqtt.IClientOptions = {
        clientId: `claim-crash-${version}`,
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const first = await connectRetry(a.port, session, count)
      clients.push(first)
      await first.subscribeAsync(topic, { qos: 1 })

      // A numbered QoS 1 stream published on A, bounded in count; what A acknowledged is counted.
      const pub = await connectRetry(a.port, { clientId: `claim-crash-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      const acked = new Set<number>()
      const sent: Array<Promise<unknown>> = []
      let publishing = true
      const publisher = (async () => {
        for (let n = 0; publishing && n < MAX_MESSAGES; n++) {
          sent.push(pub.publishAsync(topic, String(n), { qos: 1 }).then(() => acked.add(n), () => {}))
          await delay(PUBLISH_EVERY_MS)
        }
      })()
      await until(() => acked.size >= 50, 'the stream flows', 10_000)

      // The client on B, whose link to Redis is slow from now on (its claim takes several round trips).
      const stream = 'pc:fwd:{node-b}'
      const addedBefore = Number(fields(await look.call('XINFO', 'STREAM', stream))['entries-added'])
      link.slow(LINK_DELAY_MS)
      const second = mqtt.connect({ host: '127.0.0.1', port: b.port, reconnectPeriod: 0, connectTimeout: 30_000, ...session })
      second.on('error', () => {})
      count(second)
      clients.push(second)

      // B has read what A forwarded for the client; then either it deleted some of it (the loss
      // this test is about) or the time that takes has passed: B is killed before its claim ends.
      let readAt = 0
      let deleted = 0
      for (let polls = 0; polls < 2000; polls++) {
        const group = fields((await look.call('XINFO', 'GROUPS', stream) as unknown[][])[0])
        const info = fields(await look.call('XINFO', 'STREAM', stream))
        deleted = Number(info['entries-added']) - addedBefore - Number(info['length'])
        if (readAt === 0 && Number(group['entries-read']) > addedBefore) readAt = Date.now()
        if (readAt > 0 && (deleted > 0 || Date.now() - readAt > 3 * LINK_DELAY_MS)) break
        await delay(5)
      }
      assert.ok(readAt > 0, 'B read what A forwarded for the client')
      await b.kill()
      publishing = false
      await publisher
      await withTimeout(Promise.all(sent), 15_000, 'the publisher\'s last messages are answered')
      t.diagnostic(`entries B had deleted when killed: ${deleted}; acknowledged: ${acked.size}`)

      // The client resumes on A.
      first.end(true)
      second.end(true)
      const third = await connectRetry(a.port, session, count)
      clients.push(third)
      const missing = (): number[] => [...acked].filter((n) => !got.has(n)).sort((x, y) => x - y)
      await until(() => missing().length === 0, 'every acknowledged message reaches the client', 15_000).catch(() => {})
      assert.deepEqual(missing(), [], `acknowledged messages lost (${acked.size} acknowledged)`)
    })
  })
}
