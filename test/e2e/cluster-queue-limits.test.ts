/**
 * A session's queue limits hold across nodes: a persistent subscriber offline on node A, a
 * publisher on node B flooding QoS 1 to it. What Redis keeps for the session is bounded by
 * A's maxQueuedMessages / maxQueuedBytes (the oldest dropped and counted, on A, the node that
 * holds the session), and the subscriber gets the newest messages, in order, when it comes
 * back. Why a test: the queue lives in Redis and is filled from another node, so a limit
 * applied only to a node's memory would let one publisher grow Redis without bound.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { SESSION_KEYS } from '../../src/store/redis/session-store.js'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, startBroker, subscribe, uid, until, withTimeout,
  type RunningBroker, type Version,
} from '../helpers/broker.js'
import { startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'
import { routed } from '../helpers/cluster-bus.js'

const MAX_MESSAGES = 50
const MAX_BYTES = 8192
let redis: RedisFixture
let dir: string
const nodes = new Map<string, RunningBroker>()

before(async () => {
  redis = await startRedisFixture()
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-queue-limits-'))
  for (const nodeId of ['node-a', 'node-b']) {
    nodes.set(nodeId, await startBroker({
      cluster: { redis: redis.target, nodeId },
      persistence: true,
      dataDir: join(dir, nodeId),
      limits: { sysInterval: 0, maxQueuedMessages: MAX_MESSAGES, maxQueuedBytes: MAX_BYTES },
    }))
  }
})

after(async () => {
  for (const node of nodes.values()) await withTimeout(node.close(), 10_000, 'node close').catch(() => {})
  await redis.destroy()
  rmSync(dir, { recursive: true, force: true })
})

const A = (): RunningBroker => nodes.get('node-a') as RunningBroker
const B = (): RunningBroker => nodes.get('node-b') as RunningBroker
const vname = (v: Version): string => (v === 5 ? '5.0' : '3.1.1')

/** Deliveries Redis holds for `clientId`'s session, polled until `expected` (group commits land) or 5 s. */
async function storedDeliveries(clientId: string, expected: number): Promise<number> {
  const client = redis.client()
  try {
    let n = await client.hlen(SESSION_KEYS.deliveries(clientId))
    for (let tries = 0; tries < 50 && n !== expected; tries++) {
      await delay(100)
      n = await client.hlen(SESSION_KEYS.deliveries(clientId))
    }
    return n
  } finally {
    client.disconnect()
  }
}

for (const version of VERSIONS) {
  describe(`offline queue filled from another node (MQTT ${vname(version)})`, () => {
    for (const { what, count, size, kept } of [
      { what: 'maxQueuedMessages', count: 4 * MAX_MESSAGES, size: 10, kept: MAX_MESSAGES },
      { what: 'maxQueuedBytes', count: 40, size: 1024, kept: MAX_BYTES / 1024 },
    ]) {
      test(`${what}: Redis keeps the newest ${kept} of ${count}, the subscriber gets them in order`, async () => {
        const topic = `${uid('q')}/n`
        const clientId = uid('sub')
        const session = version === 5
          ? { clean: false, properties: { sessionExpiryInterval: 600 } }
          : { clean: false }
        const first = await connect(A().port, { protocolVersion: version, clientId, ...session })
        assert.deepEqual(await subscribe(first, topic, { qos: 1 }), [1])
        await end(first)
        await routed(B(), 'node-a', topic)
        const dropped = A().server.broker.stats.messagesDropped
        const bytesHits = A().server.broker.stats.limitsHit.maxQueuedBytes
        const pub = await connect(B().port, { protocolVersion: version, clientId: uid('pub') })
        try {
          for (let n = 0; n < count; n += 20) {
            const sent: Array<Promise<unknown>> = []
            for (let k = n; k < Math.min(count, n + 20); k++) sent.push(pub.publishAsync(topic, String(k).padStart(size, '0'), { qos: 1 }))
            await withTimeout(Promise.all(sent), 10_000, 'acknowledgements')
          }
        } finally {
          await end(pub)
        }
        await until(() => A().server.broker.stats.messagesDropped - dropped === count - kept, `A drops ${count - kept} (the oldest)`, 10_000)
        if (what === 'maxQueuedBytes') assert.ok(A().server.broker.stats.limitsHit.maxQueuedBytes - bytesHits > 0, 'counted under maxQueuedBytes')
        assert.equal(await storedDeliveries(clientId, kept), kept, 'Redis holds no more than the limit')

        const { client: back, inbox } = await connectWithInbox(A().port, { protocolVersion: version, clientId, ...session })
        try {
          const got = await inbox.count(kept, 10_000)
          assert.deepEqual(got.map((m) => Number(m.payload.toString())), Array.from({ length: kept }, (_, i) => count - kept + i), 'the newest, in order')
          await expectNoMessage(back, 300, topic)
        } finally {
          await end(back)
        }
      })
    }
  })
}
