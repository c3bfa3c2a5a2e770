/**
 * QoS 0 between nodes over Redis pub/sub (cluster/qos0-channel.ts): two brokers (in this process)
 * with the default `cluster.qos0: pubsub` and a third with `qos0: stream`, on one real
 * redis-server — or a Redis Cluster with PORTCULLIS_TEST_REDIS=cluster (SPUBLISH/SSUBSCRIBE).
 * A QoS 0 message published on A reaches B through B's channel (nothing in B's stream), in order
 * with the retained QoS 0 messages of the same topic (their mirror update alone goes by the
 * stream); a shared group at QoS 0 still gets each message once cluster-wide; a node with
 * `qos0: stream` still sends through the stream; the channel's connection killed, or closed by
 * Redis for its pub/sub output buffer limit, or Redis SIGKILLed and restarted: QoS 0 crosses again
 * without restarting a node. One Redis: the PUBLISHes go out on a connection with no answers
 * (portcullis-qos0-pub), made again when killed, nothing delivered counted lost; a node that is not
 * alive gets QoS 0 in its stream.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { ROUTE_KEYS } from '../../src/cluster/routes.js'
import { streamKey } from '../../src/cluster/streams.js'
import type { Message } from '../../src/mqtt/types.js'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, pollUntil, rawConnected, rawSubscribe, startBroker, subscribe, uid, until, withTimeout,
  type Inbox, type RawClient, type RunningBroker, type Version,
} from '../helpers/broker.js'
import { killConnectionsNamed, startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'
import { busOf, routed } from '../helpers/cluster-bus.js'
import type { MqttClient } from 'mqtt'
import type { IPublishPacket } from 'mqtt-packet'

const vname = (v: Version): string => (v === 5 ? '5.0' : '3.1.1')

let redis: RedisFixture
let dir: string
const nodes = new Map<string, RunningBroker>()

async function startNode(nodeId: string, qos0?: 'pubsub' | 'stream'): Promise<RunningBroker> {
  const node = await startBroker({
    cluster: { redis: redis.target, nodeId, ...(qos0 !== undefined ? { qos0 } : {}) },
    persistence: true,
    dataDir: join(dir, nodeId),
  })
  nodes.set(nodeId, node)
  return node
}

before(async () => {
  redis = await startRedisFixture()
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-qos0-'))
  await startNode('node-a')
  await startNode('node-b')
  await startNode('node-c', 'stream')
})

after(async () => {
  for (const node of nodes.values()) await withTimeout(node.close(), 10_000, 'node close').catch(() => {})
  await redis.destroy()
  rmSync(dir, { recursive: true, force: true })
})

const A = (): RunningBroker => nodes.get('node-a') as RunningBroker
const B = (): RunningBroker => nodes.get('node-b') as RunningBroker
const C = (): RunningBroker => nodes.get('node-c') as RunningBroker

/** Entries ever added to `node`'s stream (XINFO STREAM entries-added: deleted ones count too). */
async function streamAdds(node: string): Promise<number> {
  const client = A().server.redisState?.client
  assert.ok(client !== undefined)
  const info = await client.call('XINFO', 'STREAM', streamKey(node)) as unknown[]
  const at = info.indexOf('entries-added')
  assert.ok(at >= 0, 'XINFO STREAM reports entries-added (Redis 7)')
  return Number(info[at + 1])
}

/** Publish `payloads` at QoS 0 in windows of 50 (each window written before the next). */
async function publishAll(pub: MqttClient, topic: string, payloads: readonly string[], retainedEvery = 0): Promise<void> {
  for (let n = 0; n < payloads.length; n += 50) {
    const sent: Array<Promise<unknown>> = []
    for (let k = n; k < Math.min(n + 50, payloads.length); k++) {
      sent.push(pub.publishAsync(topic, payloads[k], { qos: 0, retain: retainedEvery > 0 && k % retainedEvery === 0 }))
    }
    await withTimeout(Promise.all(sent), 10_000, 'QoS 0 writes')
  }
}

const numbers = (n: number): string[] => [...Array(n).keys()].map(String)

/** Publish QoS 0 on `topic` every 100 ms until one arrives in `inbox` (bounded): QoS 0 crosses again. */
async function crossesAgain(pub: MqttClient, inbox: Inbox, topic: string, what: string): Promise<void> {
  let n = 0
  await pollUntil(async () => {
    await pub.publishAsync(topic, `${what}-${n++}`, { qos: 0 }).catch(() => {})
    await delay(100)
    return inbox.messages.some((m) => m.payload.toString().startsWith(`${what}-`))
  }, `QoS 0 across nodes ${what}`, 20_000, 0)
}

/**
 * A QoS 0 subscriber on node B and a publisher on node A, with QoS 0 on `topic` shown to cross
 * already (the opening of the channel-loss tests).
 */
async function crossing(topic: string): Promise<{ sub: MqttClient; inbox: Inbox; pub: MqttClient }> {
  const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: 5, clientId: uid('sub') })
  const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
  try {
    await subscribe(sub, topic, { qos: 0 })
    await routed(A(), 'node-b', topic)
    await crossesAgain(pub, inbox, topic, 'before')
    return { sub, inbox, pub }
  } catch (err) {
    await end(sub, pub)
    throw err
  }
}

/** Set a config parameter on the Redis (every master of a Redis Cluster). */
async function configSetEverywhere(parameter: string, value: string): Promise<void> {
  const probe = redis.client()
  try {
    await probe.connect()
    for (const r of probe instanceof Redis ? [probe] : probe.nodes('master')) await r.config('SET', parameter, value)
  } finally {
    probe.disconnect()
  }
}

/** The last command of each connection named `name` (CLIENT LIST's cmd=). */
async function lastCommands(name: string): Promise<string[]> {
  const probe = redis.client()
  try {
    await probe.connect()
    const out: string[] = []
    for (const r of probe instanceof Redis ? [probe] : probe.nodes('master')) {
      for (const line of String(await r.call('CLIENT', 'LIST')).split('\n')) {
        const cmd = /(?:^| )cmd=(\S+)/.exec(line)?.[1]
        if (line.includes(`name=${name} `) && cmd !== undefined) out.push(cmd)
      }
    }
    return out
  } finally {
    probe.disconnect()
  }
}

/** Ids of the connections named `name` (every master of a Redis Cluster). */
async function connectionIds(name: string): Promise<Set<string>> {
  const probe = redis.client()
  try {
    await probe.connect()
    const ids = new Set<string>()
    for (const r of probe instanceof Redis ? [probe] : probe.nodes('master')) {
      for (const line of String(await r.call('CLIENT', 'LIST')).split('\n')) {
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1]
        if (line.includes(`name=${name} `) && id !== undefined) ids.add(`${r.options.port ?? ''}:${id}`)
      }
    }
    return ids
  } finally {
    probe.disconnect()
  }
}

for (const version of VERSIONS) {
  describe(`QoS 0 over pub/sub (MQTT ${vname(version)})`, () => {
    test('published on A, received on B through its channel, in order, each once; nothing in B\'s stream', async () => {
      const topic = `${uid('q0')}/n`
      const count = 500
      const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('sub') })
      const pub = await connect(A().port, { protocolVersion: version, clientId: uid('pub') })
      try {
        assert.deepEqual(await subscribe(sub, topic, { qos: 1 }), [1])
        await routed(A(), 'node-b', topic)
        const before = await streamAdds('node-b')
        await publishAll(pub, topic, numbers(count))
        const got = await inbox.count(count, 20_000)
        assert.deepEqual(got.map((m) => m.payload.toString()), numbers(count), 'no gap, no duplicate, in order [MQTT-4.6.0-5]')
        assert.ok(got.every((m) => m.packet.qos === 0), 'delivered at QoS 0 (the publisher\'s QoS) [MQTT-3.8.4-8]')
        await expectNoMessage(sub, 200, topic)
        assert.equal(await streamAdds('node-b'), before, 'none went through B\'s stream')
      } finally {
        await end(sub, pub)
      }
    })

    test('retained and plain QoS 0 messages of one topic arrive in order; B\'s retained mirror follows the last retained one', async () => {
      const topic = `${uid('q0r')}/state`
      const count = 300
      const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('sub') })
      const pub = await connect(A().port, { protocolVersion: version, clientId: uid('pub') })
      try {
        await subscribe(sub, topic, { qos: 0 })
        await routed(A(), 'node-b', topic)
        // Every 7th retained: its delivery by the channel with the rest, its mirror update by the stream.
        await publishAll(pub, topic, numbers(count), 7)
        const got = await inbox.count(count, 20_000)
        assert.deepEqual(got.map((m) => m.payload.toString()), numbers(count), 'retained ones in their place [MQTT-4.6.0-5]')
        const lastRetained = String(Math.floor((count - 1) / 7) * 7)
        await until(() => (B().server.broker.retained.match(topic) as Message[]).some((m) => m.payload.toString() === lastRetained), `B's mirror holds ${lastRetained}`, 5000)
        const late = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('late') })
        await subscribe(late.client, topic, { qos: 0 })
        assert.equal((await late.inbox.next(topic, 5000)).payload.toString(), lastRetained, 'a new subscriber on B gets the last retained message')
        await end(late.client)
        await pub.publishAsync(topic, '', { qos: 0, retain: true })
        await until(() => (B().server.broker.retained.match(topic) as Message[]).length === 0, 'the clearing on B', 5000)
      } finally {
        await end(sub, pub)
      }
    })

    test('MQTT 5 properties of a crossing QoS 0 message arrive on B as a subscriber on A gets them: user properties, content type, expiry, subscription identifier, topic alias', async () => {
      const topic = `${uid('q0p')}/props`
      const properties = {
        userProperties: { site: 'north', tag: ['a', 'b'] },
        contentType: 'application/json',
        payloadFormatIndicator: true,
        responseTopic: `${topic}/reply`,
        correlationData: Buffer.from([0, 1, 2, 0xff]),
        messageExpiryInterval: 600,
      }
      // The same subscriber on each node: a topic alias allowed (MQTT 5), subscription identifier 7.
      const subscriber = async (port: number): Promise<RawClient> => {
        const raw = await rawConnected(port, version, version === 5 ? { properties: { topicAliasMaximum: 4 } } : {})
        assert.deepEqual(await rawSubscribe(raw, topic, 0, 1, {}, version === 5 ? { subscriptionIdentifier: 7 } : undefined), [0])
        return raw
      }
      const local = await subscriber(A().port)
      const remote = await subscriber(B().port)
      const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
      try {
        await routed(A(), 'node-b', topic)
        for (const n of ['one', 'two', 'three']) await pub.publishAsync(topic, n, { qos: 0, properties })
        const got = async (raw: RawClient): Promise<IPublishPacket[]> => {
          const out: IPublishPacket[] = []
          for (let k = 0; k < 3; k++) out.push(await raw.next('publish', 10_000))
          return out
        }
        const here = await got(local)
        const there = await got(remote)
        assert.deepEqual(there.map((p) => p.payload.toString()), ['one', 'two', 'three'])
        for (const [k, p] of there.entries()) {
          const q = here[k]
          assert.equal(p.topic, q.topic, `topic (or the empty topic of an alias) as on A, message ${k}`)
          assert.equal(p.qos, 0)
          assert.equal(p.retain, false)
          if (version === 4) {
            assert.equal(p.properties, undefined, 'no properties to a 3.1.1 subscriber')
            assert.equal(p.topic, topic)
            continue
          }
          // The remaining expiry counts down from 600 on either node (whole seconds).
          const expiry = p.properties?.messageExpiryInterval ?? -1
          assert.ok(expiry > 590 && expiry <= 600, `message expiry ${expiry}`)
          assert.deepEqual({ ...p.properties, messageExpiryInterval: 0 }, { ...q.properties, messageExpiryInterval: 0 }, `properties as on A, message ${k}`)
          assert.deepEqual({ ...p.properties?.userProperties }, properties.userProperties)
          assert.equal(p.properties?.contentType, properties.contentType)
          assert.deepEqual(p.properties?.correlationData, properties.correlationData)
          assert.deepEqual(p.properties?.subscriptionIdentifier, 7)
        }
        if (version === 5) {
          const alias = there[0].properties?.topicAlias
          assert.ok(alias !== undefined, 'B gives the topic an alias (the subscriber allows 4)')
          assert.equal(there[0].topic, topic)
          assert.deepEqual(there.slice(1).map((p) => [p.topic, p.properties?.topicAlias]), [['', alias], ['', alias]], 'then the alias alone')
        }
      } finally {
        local.destroy()
        remote.destroy()
        await end(pub)
      }
    })

    test('a shared group with members on A and B gets each QoS 0 message once in total; a plain subscriber on B gets all, in order [MQTT-4.8.2-2]', async () => {
      const group = uid('g')
      const topic = `${uid('q0jobs')}/run`
      const key = `$share/${group}/${topic}`
      const count = 100
      const m1 = await connectWithInbox(A().port, { protocolVersion: version, clientId: uid('m1') })
      const m2 = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('m2') })
      const plain = await connectWithInbox(B().port, { protocolVersion: version, clientId: uid('plain') })
      const pubA = await connect(A().port, { protocolVersion: version, clientId: uid('pa') })
      try {
        await subscribe(m1.client, key, { qos: 0 })
        await subscribe(m2.client, key, { qos: 0 })
        await subscribe(plain.client, topic, { qos: 0 })
        await routed(A(), 'node-b', topic, key)
        await routed(A(), 'node-b', topic)
        await publishAll(pubA, topic, numbers(count))
        await until(() => m1.inbox.messages.length + m2.inbox.messages.length >= count, `all ${count} to the group`, 10_000)
        const got = await plain.inbox.count(count, 10_000)
        await delay(200)
        const shared = [...m1.inbox.messages, ...m2.inbox.messages].map((m) => Number(m.payload.toString())).sort((x, y) => x - y)
        assert.deepEqual(shared, [...Array(count).keys()], 'each message once across the cluster')
        assert.ok(m1.inbox.messages.length > 0 && m2.inbox.messages.length > 0, `both members served (A ${m1.inbox.messages.length}, B ${m2.inbox.messages.length})`)
        assert.deepEqual(got.map((m) => m.payload.toString()), numbers(count), 'the plain subscription: all, in order')
        assert.equal(plain.inbox.messages.length, count, 'no duplicate')
      } finally {
        await end(m1.client, m2.client, plain.client, pubA)
      }
    })
  })
}

describe('QoS 0 with cluster.qos0: stream', () => {
  test('a node set to "stream" sends QoS 0 through the receiver\'s stream; a "pubsub" node sends to it through its channel', async () => {
    const topic = `${uid('q0s')}/n`
    const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: 5, clientId: uid('sub') })
    const onC = await connectWithInbox(C().port, { protocolVersion: 5, clientId: uid('subc') })
    const pubC = await connect(C().port, { protocolVersion: 5, clientId: uid('pubc') })
    const pubA = await connect(A().port, { protocolVersion: 5, clientId: uid('puba') })
    try {
      await subscribe(sub, topic, { qos: 0 })
      await subscribe(onC.client, topic, { qos: 0 })
      await routed(C(), 'node-b', topic)
      await routed(A(), 'node-c', topic)
      const beforeB = await streamAdds('node-b')
      await publishAll(pubC, topic, numbers(50))
      assert.deepEqual((await inbox.count(50, 10_000)).map((m) => m.payload.toString()), numbers(50))
      assert.ok(await streamAdds('node-b') > beforeB, 'C sent through B\'s stream')
      const beforeC = await streamAdds('node-c')
      await publishAll(pubA, topic, numbers(50))
      assert.deepEqual((await onC.inbox.count(100, 10_000)).slice(50).map((m) => m.payload.toString()), numbers(50), 'C received A\'s through its channel')
      assert.equal(await streamAdds('node-c'), beforeC, 'nothing in C\'s stream')
    } finally {
      await end(sub, onC.client, pubC, pubA)
    }
  })
})

describe('QoS 0 over pub/sub: the channel\'s connection lost', () => {
  test('killed (CLIENT KILL): the node subscribes again by itself and QoS 0 crosses again', async () => {
    const topic = `${uid('q0k')}/n`
    const { sub, inbox, pub } = await crossing(topic)
    try {
      assert.ok(await killConnectionsNamed(redis, 'portcullis-qos0') >= 1, 'the channel connections were killed')
      await crossesAgain(pub, inbox, topic, 'after')
      // A QoS 1 message crosses as ever (its stream never depended on the channel).
      await pub.publishAsync(topic, 'qos1', { qos: 1 })
      await until(() => inbox.messages.some((m) => m.payload.toString() === 'qos1'), 'the QoS 1 message', 5000)
    } finally {
      await end(sub, pub)
    }
  })

  test('closed by Redis for its pub/sub output buffer limit: the node subscribes again and goes on', async () => {
    const topic = `${uid('q0o')}/n`
    const { sub, inbox, pub } = await crossing(topic)
    try {
      const ids = await connectionIds('portcullis-qos0')
      // 1 KiB hard limit: one 256 KiB message overflows a subscriber's output buffer at once.
      await configSetEverywhere('client-output-buffer-limit', 'pubsub 1024 1024 0')
      try {
        await pub.publishAsync(topic, Buffer.alloc(256 * 1024, 0x61), { qos: 0 })
        await pollUntil(async () => {
          const now = await connectionIds('portcullis-qos0')
          return [...ids].some((id) => !now.has(id))
        }, 'Redis closes the channel connection that passed its limit', 10_000, 50)
      } finally {
        await configSetEverywhere('client-output-buffer-limit', 'pubsub 32mb 8mb 60')
      }
      await crossesAgain(pub, inbox, topic, 'after')
    } finally {
      await end(sub, pub)
    }
  })
})

describe('QoS 0 over pub/sub: the publishing connection (no answers, one Redis)', () => {
  test('the QoS 0 PUBLISHes go out on it; killed (CLIENT KILL), it is made again and QoS 0 crosses again; a message delivered is never counted lost', async () => {
    const topic = `${uid('q0p')}/n`
    const { sub, inbox, pub } = await crossing(topic)
    try {
      if (A().server.redisState?.sharded === true) {
        // A Redis Cluster: SPUBLISH on the main client, answered (one at a time per node): no such connection.
        assert.equal((await connectionIds('portcullis-qos0-pub')).size, 0)
        return
      }
      assert.ok((await lastCommands('portcullis-qos0-pub')).includes('publish'), 'A\'s QoS 0 went out on its publishing connection')
      const lostBefore = busOf(A()).stats.qos0Lost
      assert.equal(lostBefore, 0, 'nothing counted lost while every message arrived')
      assert.ok(await killConnectionsNamed(redis, 'portcullis-qos0-pub') >= 1, 'the publishing connections were killed')
      await crossesAgain(pub, inbox, topic, 'after')
      // Made again (not left to the main connection for good): 200 more cross on it, all of them, none counted lost.
      await pollUntil(async () => (await connectionIds('portcullis-qos0-pub')).size > 0, 'the publishing connection made again', 10_000, 50)
      const lostAfter = busOf(A()).stats.qos0Lost
      await publishAll(pub, topic, numbers(200).map((n) => `again-${n}`))
      await until(() => inbox.messages.filter((m) => m.payload.toString().startsWith('again-')).length === 200, 'the 200 QoS 0 messages after the kill', 10_000)
      assert.deepEqual(inbox.messages.map((m) => m.payload.toString()).filter((p) => p.startsWith('again-')), numbers(200).map((n) => `again-${n}`), 'in order, each once')
      assert.equal(busOf(A()).stats.qos0Lost, lostAfter, 'nothing delivered is counted lost')
      // Goes out on the new publishing connection once it is ready and nothing is in flight on the main
      // one (until then the main connection carries it: the 200 may all have gone that way).
      let late = 0
      await pollUntil(async () => {
        await pub.publishAsync(topic, `late-${late++}`, { qos: 0 })
        await delay(20)
        return (await lastCommands('portcullis-qos0-pub')).includes('publish')
      }, 'QoS 0 on the new publishing connection', 10_000, 50)
    } finally {
      await end(sub, pub)
    }
  })

  test('a node that is not alive (its routes left in Redis) gets QoS 0 in its stream, not through its channel', async () => {
    const z = uid('node-z')
    const topic = `${uid('q0z')}/n`
    const client = A().server.redisState?.client
    assert.ok(client !== undefined)
    await client.sadd(ROUTE_KEYS.routes(z), topic)
    await client.set(ROUTE_KEYS.version(z), 'v1')
    await client.hset(ROUTE_KEYS.versions, z, 'v1')
    const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
    const lostBefore = busOf(A()).stats.qos0Lost
    try {
      await routed(A(), z, topic)
      assert.equal(busOf(A()).routes.alive(z), false)
      await pub.publishAsync(topic, 'held-for-z', { qos: 0 })
      let entries: Array<[string, Buffer[]]> = []
      await pollUntil(async () => {
        entries = await client.xrangeBuffer(streamKey(z), '-', '+') as unknown as Array<[string, Buffer[]]>
        return entries.length > 0
      }, 'the QoS 0 message in node-z\'s stream', 5000, 20)
      assert.equal(entries.length, 1)
      assert.ok(Buffer.concat(entries[0][1]).includes('held-for-z'), 'the message is in the entry')
      assert.equal(busOf(A()).stats.qos0Lost, lostBefore, 'held, not lost')
    } finally {
      await end(pub)
      await client.del(ROUTE_KEYS.routes(z), ROUTE_KEYS.version(z), streamKey(z))
      await client.hdel(ROUTE_KEYS.versions, z)
    }
  })
})

// Last: it stops Redis under the running nodes.
describe('QoS 0 over pub/sub: Redis SIGKILLed mid-stream and restarted', () => {
  test('QoS 0 keeps flowing until the kill, nothing crashes or wedges, and it crosses again once Redis is back', async () => {
    const topic = `${uid('q0x')}/n`
    const { client: sub, inbox } = await connectWithInbox(B().port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(A().port, { protocolVersion: 5, clientId: uid('pub') })
    let flowing = true
    // A bounded QoS 0 stream (at most 2,000 messages, one each 5 ms) across the kill and the restart.
    const stream = (async () => {
      for (let n = 0; flowing && n < 2000; n++) {
        await pub.publishAsync(topic, `mid-${n}`, { qos: 0 }).catch(() => {})
        await delay(5)
      }
    })()
    try {
      await subscribe(sub, topic, { qos: 0 })
      await routed(A(), 'node-b', topic)
      await until(() => inbox.messages.length >= 20, 'QoS 0 flows before the kill', 10_000)
      await redis.stop('SIGKILL')
      await delay(500)
      await redis.start()
      flowing = false
      await stream
      await crossesAgain(pub, inbox, topic, 'back')
      // What arrived is in order, with gaps at most (at most once).
      const mids = inbox.messages.map((m) => m.payload.toString()).filter((p) => p.startsWith('mid-')).map((p) => Number(p.slice(4)))
      assert.deepEqual(mids, [...mids].sort((x, y) => x - y), 'in order, nothing twice')
      assert.equal(new Set(mids).size, mids.length, 'nothing twice')
      await pub.publishAsync(topic, 'qos1', { qos: 1 })
      await until(() => inbox.messages.some((m) => m.payload.toString() === 'qos1'), 'a QoS 1 message after the restart', 10_000)
    } finally {
      flowing = false
      await stream
      await end(sub, pub)
    }
  })
})
