/**
 * Cross-node delivery: two brokers (in this process) on one real redis-server (unix socket)
 * act as one broker. A message published on node A reaches subscribers on node B through
 * B's Redis Stream (QoS 0, 1, 2; MQTT 3.1.1 and 5.0), a shared group with members on both
 * nodes gets each message once in total, a retained message set on A is there for a new
 * subscriber on B, and a QoS 1 PUBACK goes out only once the forward is in Redis.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import type { Message } from '../../src/mqtt/types.js'
import { recordForward, streamKey } from '../../src/cluster/streams.js'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, pollUntil, startBroker, subscribe, uid, until, withTimeout,
  type RunningBroker, type Version,
} from '../helpers/broker.js'
import { startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'
import { routed } from '../helpers/cluster-bus.js'
import { RedisClusterServer } from '../helpers/redis-cluster.js'


const vname = (v: Version): string => (v === 5 ? '5.0' : '3.1.1')

const API_KEY = 'cluster-delivery-test-key'
let redis: RedisFixture
let dir: string
const nodes = new Map<string, RunningBroker>()

async function startNode(nodeId: string): Promise<RunningBroker> {
  const node = await startBroker({
    cluster: { redis: redis.target, nodeId },
    persistence: true,
    dataDir: join(dir, nodeId),
    admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY },
  })
  nodes.set(nodeId, node)
  return node
}

before(async () => {
  redis = await startRedisFixture()
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-delivery-'))
  await startNode('node-a')
  await startNode('node-b')
})

after(async () => {
  for (const node of nodes.values()) await withTimeout(node.close(), 10_000, 'node close').catch(() => {})
  await redis.destroy()
  rmSync(dir, { recursive: true, force: true })
})

const A = (): RunningBroker => nodes.get('node-a') as RunningBroker
const B = (): RunningBroker => nodes.get('node-b') as RunningBroker

for (const version of VERSIONS) {
  describe(`cross-node delivery (MQTT ${vname(version)})`, () => {
    for (const qos of [0, 1, 2] as const) {
      test(`QoS ${qos}: published on A, received on B in order, each once`, async () => {
        const topic = `${uid('x')}/n`
        const count = qos === 1 ? 1000 : 200
        const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('sub') })
        const pub = await connect(A().port, { protocolVersion: version, clientId: uid('pub') })
        try {
          assert.deepEqual(await subscribe(sub, topic, { qos }), [qos])
          await routed(A(), 'node-b', topic)
          // In windows of 50: within the broker's Receive Maximum for QoS 2 [MQTT-3.3.4-7].
          for (let n = 0; n < count; n += 50) {
            const sent: Array<Promise<unknown>> = []
            for (let k = n; k < n + 50; k++) sent.push(pub.publishAsync(topic, String(k), { qos }))
            await withTimeout(Promise.all(sent), 10_000, 'acknowledgements')
          }
          const got = await inbox.count(count, 20_000)
          assert.deepEqual(got.map((m) => Number(m.payload.toString())), [...Array(count).keys()], 'no gap, no duplicate, in order [MQTT-4.6.0-5]')
          assert.ok(got.every((m) => m.packet.qos === qos), `delivered at QoS ${qos}`)
          await expectNoMessage(sub, 200, topic)
        } finally {
          await end(sub, pub)
        }
      })
    }

    test('a shared group with members on A and B gets every message exactly once in total [MQTT-4.8.2-2]', async () => {
      const group = uid('g')
      const topic = `${uid('jobs')}/run`
      const key = `$share/${group}/${topic}`
      const m1 = await connectWithInbox(A().port, { protocolVersion: version, clientId: uid('m1') })
      const m2 = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('m2') })
      const pubA = await connect(A().port, { protocolVersion: version, clientId: uid('pa') })
      const pubB = await connect(B().port, { protocolVersion: version, clientId: uid('pb') })
      try {
        await subscribe(m1.client, key, { qos: 1 })
        await subscribe(m2.client, key, { qos: 1 })
        await routed(A(), 'node-b', topic, key)
        await routed(B(), 'node-a', topic, key)
        const sent: Array<Promise<unknown>> = []
        for (let n = 0; n < 100; n++) sent.push((n % 2 === 0 ? pubA : pubB).publishAsync(topic, String(n), { qos: 1 }))
        await withTimeout(Promise.all(sent), 10_000, 'acknowledgements')
        await until(() => m1.inbox.messages.length + m2.inbox.messages.length >= 100, 'all 100 delivered', 10_000)
        await delay(200)
        const all = [...m1.inbox.messages, ...m2.inbox.messages].map((m) => Number(m.payload.toString())).sort((x, y) => x - y)
        assert.deepEqual(all, [...Array(100).keys()], 'each message once across the cluster')
        assert.ok(m1.inbox.messages.length > 0 && m2.inbox.messages.length > 0, `both members served (A ${m1.inbox.messages.length}, B ${m2.inbox.messages.length})`)
      } finally {
        await end(m1.client, m2.client, pubA, pubB)
      }
    })

    test('a shared message sent to a node whose last member has just left goes to a member on another node', async () => {
      const group = uid('g')
      const topic = `${uid('left')}/run`
      const key = `$share/${group}/${topic}`
      const m1 = await connectWithInbox(A().port, { protocolVersion: version, clientId: uid('m1') })
      try {
        await subscribe(m1.client, key, { qos: 1 })
        await routed(B(), 'node-a', topic, key)
        // As if A had picked B for the group just before B's last member left: B has none.
        const state = A().server.redisState
        assert.ok(state !== undefined)
        const message: Message = { topic, payload: Buffer.from('passed'), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: undefined }
        recordForward(state, 'node-b', message, { all: false, groups: [key] }, false)
        const m = await m1.inbox.next(topic, 5000)
        assert.equal(m.payload.toString(), 'passed', 'B passed it on to the member on A')
        await expectNoMessage(m1.client, 300, topic)
      } finally {
        await end(m1.client)
      }
    })

    test('a retained message set on A reaches a new subscriber on B; cleared on A, it is gone on B [MQTT-3.3.1-6]', async () => {
      const topic = `${uid('ret')}/state`
      const pub = await connect(A().port, { protocolVersion: version, clientId: uid('pub') })
      try {
        await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
        await until(() => (B().server.broker.retained.match(topic) as Message[]).length === 1, 'the retained message on B', 5000)
        const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('sub') })
        await subscribe(sub, topic, { qos: 1 })
        const m = await inbox.next(topic, 5000)
        assert.equal(m.payload.toString(), 'kept')
        assert.equal(m.packet.retain, true, 'sent because retained: RETAIN 1 [MQTT-3.3.1-8]')
        await end(sub)

        await pub.publishAsync(topic, '', { qos: 1, retain: true })
        await until(() => (B().server.broker.retained.match(topic) as Message[]).length === 0, 'the clearing on B', 5000)
        const late = await connect(B().port, { protocolVersion: version, clientId: uid('late') })
        await subscribe(late, topic, { qos: 1 })
        await expectNoMessage(late, 300, topic)
        await end(late)
      } finally {
        await end(pub)
      }
    })
  })
}

/** One metric's value from a node's /metrics (undefined when absent). */
async function metric(node: RunningBroker, name: string): Promise<number | undefined> {
  const admin = node.server.admin
  assert.ok(admin !== undefined)
  const res = await fetch(`${admin.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })
  const text = await res.text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('cross-node delivery: the Redis under it', () => {
  // PORTCULLIS_TEST_REDIS=cluster (npm run test:redis-cluster) runs this file on a Redis Cluster.
  test('one redis-server: one MULTI per group; a Redis Cluster: one per hash slot, the keys spread over its masters', async () => {
    const state = A().server.redisState
    assert.ok(state !== undefined)
    assert.equal(state.sharded, redis instanceof RedisClusterServer, 'commits per hash slot exactly when the Redis is a Redis Cluster')
    if (!(redis instanceof RedisClusterServer)) return
    const sizes = await Promise.all(redis.ports.map(async (port) => {
      const master = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 })
      try {
        await withTimeout(master.connect(), 5000, 'connect to a master')
        return await withTimeout(master.dbsize(), 5000, 'DBSIZE')
      } finally {
        master.disconnect()
      }
    }))
    assert.ok(sizes.filter((n) => n > 0).length >= 2, `the cluster's keys sit on several masters (keys per master: ${sizes.join(', ')})`)
  })
})

describe('cross-node delivery: metrics', () => {
  test('/metrics counts forwarded and received messages, the stream backlog, routes and peer nodes', async () => {
    const topic = `${uid('metrics')}/n`
    const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
    try {
      await subscribe(sub, topic, { qos: 1 })
      await routed(A(), 'node-b', topic)
      const forwarded = (await metric(A(), 'portcullis_cluster_forwarded_total')) ?? NaN
      const received = (await metric(B(), 'portcullis_cluster_received_total')) ?? NaN
      for (let n = 0; n < 5; n++) await pub.publishAsync(topic, String(n), { qos: 1 })
      await inbox.count(5, 5000)
      assert.equal(await metric(A(), 'portcullis_cluster_forwarded_total'), forwarded + 5)
      assert.equal(await metric(B(), 'portcullis_cluster_received_total'), received + 5)
      // Entries whose delivery stored nothing are acknowledged with B's next stream read, sent as soon as
      // the delivery is done: the backlog is 0 once that read is out (bounded wait, then the same assertion).
      let entries = await metric(B(), 'portcullis_cluster_stream_entries')
      for (let i = 0; i < 40 && entries !== 0; i++) {
        await delay(50)
        entries = await metric(B(), 'portcullis_cluster_stream_entries')
      }
      assert.equal(entries, 0, 'nothing waits in B\'s stream')
      assert.ok(((await metric(B(), 'portcullis_cluster_routes')) ?? 0) >= 1, 'B has routes')
      assert.equal(await metric(A(), 'portcullis_cluster_peer_nodes'), 1, 'A knows B, alive')
    } finally {
      await end(sub, pub)
    }
  })
})

describe('cross-node delivery: durability', () => {
  test('a QoS 1 PUBACK goes out only once the forward is in Redis; a restarted node delivers what waited in its stream', async () => {
    const topic = `${uid('dur')}/n`
    const clientId = uid('durable')
    const session = { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
    const sub = await connect(B().port, session)
    await subscribe(sub, topic, { qos: 1 })
    await end(sub)
    await routed(A(), 'node-b', topic)
    // Node B stops; its route set stays in Redis, so A keeps forwarding into B's stream.
    await B().close()
    nodes.delete('node-b')
    const client = A().server.redisState?.client
    assert.ok(client !== undefined)
    const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
    let inStream = await client.xlen(streamKey('node-b'))
    for (let n = 0; n < 50; n++) {
      await pub.publishAsync(topic, String(n), { qos: 1 })
      const now: number = await client.xlen(streamKey('node-b'))
      assert.equal(now, inStream + 1, `message ${n}: in B's stream when its PUBACK arrived`)
      inStream = now
    }
    await end(pub)

    await startNode('node-b')
    const { client: back, inbox } = await connectWithInbox(B().port, { ...session })
    try {
      const got = await inbox.count(50, 10_000)
      assert.deepEqual(got.map((m) => Number(m.payload.toString())), [...Array(50).keys()], 'every acknowledged message, in order')
      await delay(200)
      assert.equal(inbox.messages.length, 50, 'no duplicate')
    } finally {
      await end(back)
    }
    assert.equal(await client.xlen(streamKey('node-b')), 0, 'handled entries are acknowledged and deleted')
  })
})

// Last: it stops Redis under the running nodes.
describe('cross-node delivery: Redis SIGKILLed and restarted (appendonly)', () => {
  test('no false acknowledgement while Redis is down; cross-node delivery resumes by itself once it is back', async () => {
    const topic = `${uid('outage')}/n`
    const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
    try {
      await subscribe(sub, topic, { qos: 1 })
      await routed(A(), 'node-b', topic)
      await pub.publishAsync(topic, 'before', { qos: 1 })
      assert.equal((await inbox.next(topic, 5000)).payload.toString(), 'before')

      await redis.stop('SIGKILL')
      // The forwards cannot be stored: MQTT 5 PUBACK 0x97, never a success — also for messages
      // that share one stream entry (published together, in one turn of the node).
      const answer = (payload: string): Promise<string> => withTimeout(pub.publishAsync(topic, payload, { qos: 1 }).then(
        (p) => `acknowledged ${String((p as { reasonCode?: number } | undefined)?.reasonCode ?? 0)}`,
        (err: unknown) => `refused: ${String(err)}`,
      ), 5000, 'an answer to the PUBLISH while Redis is down').catch(() => 'no answer')
      const answers = await Promise.all([answer('during'), answer('during'), answer('during')])
      for (const during of answers) assert.ok(!during.startsWith('acknowledged 0'), `no false acknowledgement (got ${answers.join(', ')})`)

      await redis.start()
      // The nodes reconnect (back-off ≤ 2 s): a QoS 1 message crosses again.
      let n = 0
      await pollUntil(async () => {
        const ok = await pub.publishAsync(topic, `after-${n++}`, { qos: 1 }).then(
          (p) => ((p as { reasonCode?: number } | undefined)?.reasonCode ?? 0) === 0, () => false)
        return ok && inbox.messages.some((m) => m.payload.toString().startsWith('after-'))
      }, 'cross-node delivery after Redis is back', 20_000, 250)
      assert.ok(!inbox.messages.some((m) => m.payload.toString() === 'during'), 'the refused message was not delivered')
    } finally {
      await end(sub, pub)
    }
  })
})
