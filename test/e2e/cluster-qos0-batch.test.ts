/**
 * QoS 0 between nodes, held while more comes (`cluster.qos0BatchMs`, qos0-channel.ts): a node
 * that published to another node's channel less than qos0BatchMs ago holds what comes next for
 * it, so one PUBLISH carries the messages of several turns; the first message after a pause goes
 * at the end of its turn; with 0 each turn's messages go at its end; a node that stops sends what
 * it holds. Three brokers (in this process) on one real redis-server — or a Redis Cluster with
 * PORTCULLIS_TEST_REDIS=cluster: `hold` (qos0BatchMs 1000, the largest allowed: a slow machine
 * cannot easily make the test pass or fail by chance), `each` (0) and `recv` (the default), whose QoS 0 channel
 * counts the PUBLISHes it receives (stats.qos0Entries).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { connect, connectWithInbox, delay, end, startBroker, subscribe, uid, withTimeout, type RunningBroker } from '../helpers/broker.js'
import { busOf, routed } from '../helpers/cluster-bus.js'
import { startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'

const HOLD_MS = 1000

let redis: RedisFixture
let dir: string
const nodes = new Map<string, RunningBroker>()

async function startNode(nodeId: string, qos0BatchMs?: number): Promise<RunningBroker> {
  const node = await startBroker({
    cluster: { redis: redis.target, nodeId, ...(qos0BatchMs !== undefined ? { qos0BatchMs } : {}) },
    persistence: true,
    dataDir: join(dir, nodeId),
  })
  nodes.set(nodeId, node)
  return node
}

const node = (id: string): RunningBroker => nodes.get(id) as RunningBroker
const entries = (): number => busOf(node('recv')).stats.qos0Entries

before(async () => {
  redis = await startRedisFixture()
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-qos0-batch-'))
  await startNode('hold', HOLD_MS)
  await startNode('each', 0)
  await startNode('recv')
})

after(async () => {
  for (const n of nodes.values()) await withTimeout(n.close(), 10_000, 'node close').catch(() => {})
  await redis.destroy()
  rmSync(dir, { recursive: true, force: true })
})

/** Publish `payloads` at QoS 0, each in a turn of its own on the broker (written, then a pause of `pauseMs`). */
async function oneByOne(pub: MqttClient, topic: string, payloads: readonly string[], pauseMs: number): Promise<void> {
  for (const p of payloads) {
    await pub.publishAsync(topic, p, { qos: 0 })
    await delay(pauseMs)
  }
}

const numbered = (prefix: string, n: number): string[] => [...Array(n).keys()].map((k) => `${prefix}${k}`)

describe('QoS 0 across nodes, held while more comes (cluster.qos0BatchMs)', () => {
  test('held: the first message after a pause goes at once; the next ones, each in a turn of its own, go in one PUBLISH, in order, each once', async () => {
    const topic = `${uid('q0b')}/held`
    const { client: sub, inbox } = await connectWithInbox(node('recv').port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(node('hold').port, { protocolVersion: 5, clientId: uid('pub') })
    try {
      await subscribe(sub, topic, { qos: 0 })
      await routed(node('hold'), 'recv', topic)
      // A pause longer than the hold: nothing went to recv lately.
      await delay(HOLD_MS + 200)
      const before = entries()
      await pub.publishAsync(topic, 'first', { qos: 0 })
      // Not held: it arrives long before the hold would have let it go.
      assert.equal((await inbox.next(topic, HOLD_MS / 2)).payload.toString(), 'first', 'the first message after a pause is not held')
      assert.equal(entries(), before + 1)
      const rest = numbered('m', 20)
      await oneByOne(pub, topic, rest, 5)
      const got = await inbox.count(21, HOLD_MS * 3)
      assert.deepEqual(got.map((m) => m.payload.toString()), ['first', ...rest], 'in order, each once [MQTT-4.6.0-5]')
      const used = entries() - before - 1
      assert.ok(used >= 1 && used <= 2, `20 messages in 20 turns went in ${used} PUBLISHes (held together)`)
      await delay(200)
      assert.equal(inbox.messages.length, 21, 'no duplicate')
    } finally {
      await end(sub, pub)
    }
  })

  test('qos0BatchMs: 0 — each turn\'s messages go at its end', async () => {
    const topic = `${uid('q0b')}/each`
    const { client: sub, inbox } = await connectWithInbox(node('recv').port, { protocolVersion: 4, clientId: uid('sub') })
    const pub = await connect(node('each').port, { protocolVersion: 4, clientId: uid('pub') })
    try {
      await subscribe(sub, topic, { qos: 0 })
      await routed(node('each'), 'recv', topic)
      const before = entries()
      const sent = numbered('e', 20)
      await oneByOne(pub, topic, sent, 15)
      const got = await inbox.count(20, 10_000)
      assert.deepEqual(got.map((m) => m.payload.toString()), sent)
      // (A stalled broker may read two of them in one turn now and then: most go alone.)
      const used = entries() - before
      assert.ok(used >= 10 && used <= 20, `20 messages in 20 turns went in ${used} PUBLISHes`)
    } finally {
      await end(sub, pub)
    }
  })

  test('a node that stops sends what it holds', async () => {
    const topic = `${uid('q0b')}/stop`
    const { client: sub, inbox } = await connectWithInbox(node('recv').port, { protocolVersion: 5, clientId: uid('sub') })
    const pub = await connect(node('hold').port, { protocolVersion: 5, clientId: uid('pub') })
    try {
      await subscribe(sub, topic, { qos: 0 })
      await routed(node('hold'), 'recv', topic)
      // The first goes at once (after the previous test's pause, or not: either way the rest is held).
      const sent = numbered('s', 10)
      await oneByOne(pub, topic, sent, 5)
      await withTimeout(node('hold').close(), 10_000, 'hold node close')
      nodes.delete('hold')
      const got = await inbox.count(10, HOLD_MS / 2)
      assert.deepEqual(got.map((m) => m.payload.toString()), sent, 'what was held arrives, in order')
    } finally {
      await end(sub, pub)
    }
  })
})
