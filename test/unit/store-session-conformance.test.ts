/**
 * One conformance suite for the SessionStore interface, run against every durable backend
 * (SQLite, Redis): what is recorded and committed is what a restart (or another node on the
 * same Redis) recovers — facts, subscriptions, queued messages in order, messages in flight
 * with their packet ids and PUBREL state, incoming QoS 2 ids; a message is stored once for
 * every session it is queued for and goes with its last delivery; afterCommit runs after the
 * commit, in order.
 *
 * The memory store (`persistence: false`) runs the part of the contract that applies to it: the
 * CommitBarrier (afterCommit in the order given, nothing ever pending, `available`) and every
 * recording call accepted without effect. The recovery cases do not apply, by design: it says
 * `durable: false`, so the broker never calls it to record (the SessionManager alone holds the
 * sessions, and the memory-only path pays nothing per message), and a restart recovers nothing
 * — there is no data a second store could reopen, so `recover()` is [] and `queueDelivery`
 * hands out no id (0).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { silentLogger } from '../../src/log.js'
import type { Delivery, Message } from '../../src/mqtt/types.js'
import { MemorySessionStore, NO_COMMITS } from '../../src/store/memory/session-store.js'
import { RedisSessionStore } from '../../src/store/redis/session-store.js'
import { SqliteSessionStore } from '../../src/store/sqlite/session-store.js'
import { StateDatabase } from '../../src/store/sqlite/state-database.js'
import type { SessionFacts, SessionStore, StoredSession } from '../../src/store/types.js'
import { openRedisNode, openRedisState, type RedisFixture, type RedisServer, startRedis } from '../helpers/redis-server.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'

let redis: RedisServer
let redisCluster: RedisClusterServer
before(async () => {
  redis = await startRedis()
  redisCluster = await startRedisCluster()
})
after(async () => {
  await redis.destroy()
  await redisCluster.destroy()
})

type CountingStore = SessionStore & { counts(): { deliveries: number; messages: number } }

interface Backend {
  readonly store: CountingStore
  /** A cluster store writes only the sessions of client ids its node has claimed. */
  own(...clientIds: string[]): Promise<void>
  /** The state as a restarted broker (or another node) sees it: a new store over the same data. */
  reopen(): Promise<CountingStore>
}

const BACKENDS: Array<[string, (t: TestContext) => Promise<Backend>]> = [
  ['sqlite', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-session-conf-'))
    let state = new StateDatabase(dir, 'normal', silentLogger())
    t.after(() => {
      state.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return Promise.resolve({
      store: new SqliteSessionStore(state),
      own: () => Promise.resolve(),
      reopen: async () => {
        await new Promise((r) => state.afterCommit(r))
        state.close()
        state = new StateDatabase(dir, 'normal', silentLogger())
        return new SqliteSessionStore(state)
      },
    })
  }],
  ['redis', (t) => redisBackend(redis, t)],
  // Every key of a fenced write in its client's slot; one MULTI per slot (state.sharded).
  ['redis cluster (three masters)', (t) => redisBackend(redisCluster, t)],
]

async function redisBackend(server: RedisFixture, t: TestContext): Promise<Backend> {
  const flush = await openRedisState(server, t, 'flush')
  await flush.close()
  const a = await openRedisNode(server, t, 'node-a')
  return {
    store: new RedisSessionStore(a.state, a.registry),
    own: async (...ids) => {
      for (const id of ids) await a.registry.claim(id, false)
    },
    // Node A stops; node B on the same Redis takes its sessions.
    reopen: async () => {
      await a.close()
      const b = await openRedisNode(server, t, 'node-b')
      return new RedisSessionStore(b.state, b.registry)
    },
  }
}

function message(topic: string, payload: string): Message {
  return { topic, payload: Buffer.from(payload), qos: 2, retain: false, properties: { userProperties: { k: 'v' }, correlationData: Buffer.from([1, 2]) }, expiresAt: undefined, origin: 'pub' }
}

function delivery(m: Message, qos: 1 | 2 = 1): Delivery {
  return { message: m, qos, retain: false, subscriptionIds: [3], stored: undefined }
}

function facts(clientId: string, over: Partial<SessionFacts> = {}): SessionFacts {
  return { clientId, expiryInterval: 3600, connected: true, lastConnection: undefined, will: undefined, ...over }
}

async function recovered(store: SessionStore, clientId: string): Promise<StoredSession> {
  const s = (await store.recover()).find((x) => x.clientId === clientId)
  assert.ok(s !== undefined, `session ${clientId} recovered`)
  return s
}

for (const [name, open] of BACKENDS) {
  describe(`SessionStore: ${name}`, () => {
    test('facts, will, subscriptions and incoming QoS 2 ids are recovered as last recorded', async (t) => {
      const b = await open(t)
      const s = b.store
      await b.own('c1')
      assert.equal(s.durable, true)
      const will = { message: message('w/t', 'bye'), delay: 5, expiry: 60, publishAt: undefined }
      s.saveSession(facts('c1', { will, lastConnection: { username: 'u', usernameIsToken: false, remoteAddress: '127.0.0.1', protocolVersion: 5, disconnectedAt: 1 } }))
      s.addSubscription('c1', { key: 'a/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0, subscriptionId: 3 })
      s.addSubscription('c1', { key: 'b', qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: undefined })
      s.removeSubscription('c1', 'b')
      s.addIncomingQos2('c1', 7)
      s.addIncomingQos2('c1', 8)
      s.removeIncomingQos2('c1', 7)
      const r = await recovered(await b.reopen(), 'c1')
      assert.equal(r.expiryInterval, 3600)
      assert.equal(r.connected, true)
      assert.equal(r.lastConnection?.username, 'u')
      assert.equal(r.will?.message.payload.toString(), 'bye')
      assert.deepEqual(r.will?.message.properties?.correlationData, Buffer.from([1, 2]))
      assert.equal(r.will?.delay, 5)
      assert.deepEqual(r.subscriptions.map((x) => [x.key, x.qos, x.subscriptionId]), [['a/#', 1, 3]])
      assert.deepEqual(r.incomingQos2, [8])
    })

    test('queued and in-flight messages come back in order with packet ids and PUBREL state [MQTT-4.4.0-1]', async (t) => {
      const b = await open(t)
      const s = b.store
      await b.own('c1')
      s.saveSession(facts('c1'))
      const m = [message('t/1', 'one'), message('t/2', 'two'), message('t/3', 'three'), message('t/4', 'four')]
      const ids = m.map((x) => s.queueDelivery('c1', delivery(x, 2)))
      s.deliverySent(ids[0], 10)
      s.deliverySent(ids[1], 11)
      s.deliveryReleased(ids[0]) // PUBREC for the first: its PUBREL is resent after the second's PUBLISH
      s.deliveryDone(ids[2])
      const r = await recovered(await b.reopen(), 'c1')
      assert.deepEqual(r.inflight.map((x) => [x.delivery.message.topic, x.packetId, x.state]), [['t/2', 11, 'publish'], ['t/1', 10, 'pubrel']])
      assert.deepEqual(r.queue.map((x) => x.message.topic), ['t/4'])
      assert.deepEqual(r.queue[0]?.subscriptionIds, [3])
      assert.equal(r.queue[0]?.qos, 2)
      assert.deepEqual(r.queue[0]?.message.properties?.userProperties, { k: 'v' })
    })

    test('a message queued for several sessions is stored once and goes with its last delivery', async (t) => {
      const b = await open(t)
      const s = b.store
      const shared = message('fan/out', 'x')
      await b.own('c1', 'c2')
      s.saveSession(facts('c1'))
      s.saveSession(facts('c2'))
      const d1 = s.queueDelivery('c1', delivery(shared))
      s.queueDelivery('c2', delivery(shared))
      assert.deepEqual(s.counts(), { deliveries: 2, messages: 1 })
      s.deliveryDone(d1)
      assert.deepEqual(s.counts(), { deliveries: 1, messages: 1 })
      const again = await b.reopen()
      const all = await again.recover()
      assert.deepEqual(all.map((x) => [x.clientId, x.queue.length]).sort(), [['c1', 0], ['c2', 1]])
      assert.deepEqual(again.counts(), { deliveries: 1, messages: 1 })
    })

    test('a message sent at once and acknowledged before or after its commit is gone after a restart; one still in flight keeps its packet id', async (t) => {
      const b = await open(t)
      const s = b.store
      await b.own('c1')
      s.saveSession(facts('c1'))
      const early = s.queueDelivery('c1', delivery(message('t/early', 'a')))
      const late = s.queueDelivery('c1', delivery(message('t/late', 'b')))
      const open1 = s.queueDelivery('c1', delivery(message('t/open', 'c')))
      s.deliverySent(early, 1, true)
      s.deliverySent(late, 2, true)
      s.deliverySent(open1, 3, true)
      s.deliveryDone(early) // PUBACK before the commit
      await new Promise((r) => s.commits.afterCommit(r))
      s.deliveryDone(late) // PUBACK after it
      assert.deepEqual(s.counts(), { deliveries: 1, messages: 1 })
      const r = await recovered(await b.reopen(), 'c1')
      assert.deepEqual(r.queue, [])
      assert.deepEqual(r.inflight.map((x) => [x.delivery.message.topic, x.packetId, x.state]), [['t/open', 3, 'publish']])
    })

    test('endSession removes the session, its subscriptions, messages and ids', async (t) => {
      const b = await open(t)
      const s = b.store
      await b.own('gone', 'kept')
      s.saveSession(facts('gone'))
      s.saveSession(facts('kept'))
      s.addSubscription('gone', { key: 'x', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
      const d = s.queueDelivery('gone', delivery(message('x', 'y')))
      s.addIncomingQos2('gone', 1)
      s.endSession('gone', [d])
      assert.deepEqual(s.counts(), { deliveries: 0, messages: 0 })
      const again = await b.reopen()
      assert.deepEqual((await again.recover()).map((x) => x.clientId), ['kept'])
      assert.deepEqual(again.counts(), { deliveries: 0, messages: 0 })
    })

    test('afterCommit runs after the commit of what was recorded before it, in order', async (t) => {
      const b = await open(t)
      const s = b.store
      const order: string[] = []
      await b.own('c1')
      await new Promise((r) => s.commits.afterCommit(r)) // what opening the store recorded
      s.commits.afterCommit(() => order.push('nothing pending: at once'))
      assert.deepEqual(order, ['nothing pending: at once'])
      s.saveSession(facts('c1'))
      assert.equal(s.commits.pending, true)
      s.commits.afterCommit((err) => order.push(`first ${String(err)}`))
      s.commits.afterCommit((err) => order.push(`second ${String(err)}`))
      assert.equal(order.length, 1)
      await new Promise((r) => s.commits.afterCommit(r))
      assert.deepEqual(order, ['nothing pending: at once', 'first undefined', 'second undefined'])
      assert.equal(s.commits.pending, false)
    })
  })
}

describe('SessionStore: memory', () => {
  test('every change is accepted; nothing is pending, recorded or recovered', async () => {
    const s: SessionStore = new MemorySessionStore()
    assert.equal(s.durable, false)
    assert.equal(s.commits.available, true)
    const will = { message: message('w/t', 'bye'), delay: 5, expiry: 60, publishAt: undefined }
    s.saveSession(facts('c1', { will }))
    s.addSubscription('c1', { key: 'a/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0, subscriptionId: 3 })
    s.removeSubscription('c1', 'a/#')
    const id = s.queueDelivery('c1', delivery(message('t/1', 'one'), 2))
    assert.equal(id, 0, 'no stored id: the delivery is not stored')
    s.deliverySent(id, 10, true)
    s.deliveryReleased(id)
    s.deliveryDone(id)
    s.addIncomingQos2('c1', 7)
    s.removeIncomingQos2('c1', 7)
    s.endSession('c1', [id])
    assert.equal(s.commits.pending, false)
    assert.equal(s.commits.recorded, 0)
    assert.deepEqual(await s.recover(), [])
    await s.close()
  })

  for (const [what, barrier] of [['MemorySessionStore', new MemorySessionStore().commits], ['NO_COMMITS (persistence: false)', NO_COMMITS]] as const) {
    test(`afterCommit runs at once, in the order given, without an error: ${what}`, () => {
      const order: string[] = []
      barrier.afterCommit((err) => order.push(`first ${String(err)}`))
      barrier.afterCommit((err) => order.push(`second ${String(err)}`))
      assert.deepEqual(order, ['first undefined', 'second undefined'], 'synchronously, nothing pending')
      assert.equal(barrier.pending, false)
      assert.equal(barrier.available, true)
    })
  }
})
