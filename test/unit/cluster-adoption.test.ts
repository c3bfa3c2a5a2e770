/**
 * Adoption of many stored sessions at once (RedisSessionStore.recover and adoptOrphans: on one
 * Redis a script claims a batch of client ids and one MULTI reads their sessions; on a Redis
 * Cluster each id is claimed and read by one script call, pipelined per master), over a real Redis — or a Redis Cluster of three masters
 * with PORTCULLIS_TEST_REDIS=cluster (npm run test:redis-cluster). More sessions than two waves:
 * two nodes that start together share a stopped node's sessions, each taken by exactly one of
 * them, whole (facts, will, subscription, queued and in-flight messages, incoming QoS 2 ids),
 * under a newer epoch; the stopped node's late writes are refused; a live node's sessions stay its own.
 * A node restarting with 2,000 stored sessions takes each back once and whole, with a message
 * queued for all of them, under newer epochs. Two survivors adopting a dead node's 2,000 sessions
 * in batches at the same time (RedisSessionStore.adoptOrphans: in opposite orders, so their
 * batches meet) take each once and whole — its will with it, so it is published once — and leave
 * alone the sessions a live node's client took meanwhile. One batch mixing ids (unowned, a live
 * node's, one the node holds already, one with nothing stored) takes each as a single claim would.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ADOPT_BATCH, ADOPT_IN_FLIGHT } from '../../src/cluster/ownership.js'
import { REGISTRY_KEYS } from '../../src/cluster/registry.js'
import { PortcullisError } from '../../src/errors.js'
import type { Message } from '../../src/mqtt/types.js'
import { RedisSessionStore, SESSION_KEYS } from '../../src/store/redis/session-store.js'
import type { SessionFacts, StoredSession } from '../../src/store/types.js'
import { openRedisNode, openRedisState, startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'

const SESSIONS = 2 * ADOPT_IN_FLIGHT + 88
/** Stored sessions a node takes back at its start (several batches). */
const MANY = 2000

let redis: RedisFixture
before(async () => {
  redis = await startRedisFixture()
})
after(async () => {
  await redis.destroy()
})

/** The outcome of the group holding what was recorded so far, as a waiter whose own changes are those recorded after `since` hears it. */
function committed(state: { afterCommit(done: (err: Error | undefined) => void, since?: number): void }, since?: number): Promise<Error | undefined> {
  return new Promise((r) => state.afterCommit(r, since))
}

const idOf = (i: number): string => `adopt-${i}`

function message(topic: string, payload: string, qos: 0 | 1 | 2): Message {
  return { topic, payload: Buffer.from(payload), qos, retain: false, properties: undefined, expiresAt: undefined, origin: 'test' }
}

/**
 * Session i as written: facts (connected or not, a will on every third), one subscription, one
 * queued message, one in flight on every fifth, an incoming QoS 2 id on every seventh.
 */
function facts(i: number, expiryInterval = 3600): SessionFacts {
  return {
    clientId: idOf(i),
    expiryInterval,
    connected: i % 2 === 0,
    lastConnection: { username: `user-${i}`, usernameIsToken: false, remoteAddress: '127.0.0.1', protocolVersion: i % 2 === 0 ? 5 : 4, disconnectedAt: 1_700_000_000_000 + i },
    will: i % 3 === 0 ? { message: message(`will/${i}`, `gone ${i}`, 1), delay: 5, expiry: undefined, publishAt: undefined } : undefined,
  }
}

function assertWhole(s: StoredSession, i: number, alsoQueued: readonly string[] = []): void {
  const want = facts(i)
  assert.equal(s.expiryInterval, want.expiryInterval, `${s.clientId}: expiry`)
  assert.equal(s.connected, want.connected, `${s.clientId}: connected`)
  assert.deepEqual(s.lastConnection, want.lastConnection, `${s.clientId}: last connection`)
  assert.equal(s.will?.message.payload.toString(), want.will?.message.payload.toString(), `${s.clientId}: will`)
  assert.deepEqual(s.subscriptions.map((x) => [x.key, x.qos]), [[`adopt/${i}/#`, 1]], `${s.clientId}: subscription`)
  assert.deepEqual(s.queue.map((d) => d.message.payload.toString()), [`queued ${i}`, ...alsoQueued], `${s.clientId}: queued messages`)
  assert.deepEqual(s.inflight.map((f) => [f.delivery.message.payload.toString(), f.packetId, f.state]), i % 5 === 0 ? [[`in flight ${i}`, 7, 'publish']] : [], `${s.clientId}: in-flight message`)
  assert.deepEqual(s.incomingQos2, i % 7 === 0 ? [9] : [], `${s.clientId}: incoming QoS 2 ids`)
}

/** Writes sessions `ids` as facts() describes them (what assertWhole checks). */
function storeWhole(store: RedisSessionStore, ids: readonly number[]): void {
  for (const i of ids) {
    store.saveSession(facts(i))
    store.addSubscription(idOf(i), { key: `adopt/${i}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
    if (i % 5 === 0) store.deliverySent(store.queueDelivery(idOf(i), { message: message(`adopt/${i}/m`, `in flight ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined }), 7)
    store.queueDelivery(idOf(i), { message: message(`adopt/${i}/m`, `queued ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined })
    if (i % 7 === 0) store.addIncomingQos2(idOf(i), 9)
  }
}

describe('cluster: a node that starts takes its stored sessions back in batches', () => {
  test(`two nodes starting together share a stopped node's ${SESSIONS} sessions: each taken once and whole, under a newer epoch; the old holder's writes are refused`, async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const x = await openRedisNode(redis, t, 'node-x')
    const storeX = new RedisSessionStore(x.state, x.registry)
    const ids = Array.from({ length: SESSIONS }, (_, i) => i)
    await Promise.all(ids.map((i) => x.registry.claim(idOf(i), false)))
    for (const i of ids) {
      const cid = idOf(i)
      storeX.saveSession(facts(i))
      storeX.addSubscription(cid, { key: `adopt/${i}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
      if (i % 5 === 0) {
        const sent = storeX.queueDelivery(cid, { message: message(`adopt/${i}/m`, `in flight ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined })
        storeX.deliverySent(sent, 7)
      }
      storeX.queueDelivery(cid, { message: message(`adopt/${i}/m`, `queued ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined })
      if (i % 7 === 0) storeX.addIncomingQos2(cid, 9)
    }
    assert.equal(await committed(x.state), undefined, 'the sessions are stored')
    const before = new Map(ids.map((i) => [idOf(i), Number(x.registry.epochOf(idOf(i)))]))
    // node-x stops (its liveness key goes); its registry still holds the old epochs.
    x.membership.leave()
    assert.equal(await committed(x.state), undefined)

    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    const storeA = new RedisSessionStore(a.state, a.registry)
    const storeB = new RedisSessionStore(b.state, b.registry)
    const [gotA, gotB] = await Promise.all([storeA.recover(), storeB.recover()])

    const taken = [...gotA, ...gotB].map((s) => s.clientId)
    assert.equal(new Set(taken).size, taken.length, 'no session taken by both nodes')
    assert.deepEqual([...taken].sort(), ids.map(idOf).sort(), 'every stored session taken')
    for (const [node, got] of [[a, gotA], [b, gotB]] as const) {
      for (const s of got) {
        assertWhole(s, Number(s.clientId.slice('adopt-'.length)))
        assert.ok(Number(node.registry.epochOf(s.clientId)) > (before.get(s.clientId) ?? Infinity), `${s.clientId}: claimed under a newer epoch`)
      }
    }
    const owners = await Promise.all(ids.map((i) => a.state.client.hget(REGISTRY_KEYS.owner(idOf(i)), 'node')))
    assert.deepEqual(owners.filter((n) => n === 'node-a').length, gotA.length, 'the registry names node-a for what it took')
    assert.deepEqual(owners.filter((n) => n === 'node-b').length, gotB.length, 'the registry names node-b for what it took')

    // The stopped node writes late with its old epoch: refused, the session as the new owner holds it.
    const mine = x.state.recorded
    storeX.saveSession(facts(0, 1))
    const refused = await committed(x.state, mine)
    assert.ok(refused instanceof PortcullisError && refused.code === 'ERR_SESSION_TAKEN_OVER', 'the old holder\'s write is fenced off')
    assert.equal(await a.state.client.hget(SESSION_KEYS.facts(idOf(0)), 'expiry'), '3600')

    // Started again while both hold them: a live node's sessions are not taken.
    const c = await openRedisNode(redis, t, 'node-c')
    assert.deepEqual(await new RedisSessionStore(c.state, c.registry).recover(), [], 'nothing taken from live nodes')
  })

  test(`a node restarting with its own id takes back ${MANY} stored sessions: each once and whole, under a newer epoch, nothing lost`, async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const first = await openRedisNode(redis, t, 'node-m')
    const store = new RedisSessionStore(first.state, first.registry)
    const ids = Array.from({ length: MANY }, (_, i) => i)
    // One message queued for every session (stored once, counted per session), and one of its own each.
    const everyone = message('adopt/all', 'for everyone', 1)
    await Promise.all(ids.map((i) => first.registry.claim(idOf(i), false)))
    for (const i of ids) {
      const cid = idOf(i)
      store.saveSession(facts(i))
      store.addSubscription(cid, { key: `adopt/${i}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
      if (i % 5 === 0) store.deliverySent(store.queueDelivery(cid, { message: message(`adopt/${i}/m`, `in flight ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined }), 7)
      store.queueDelivery(cid, { message: message(`adopt/${i}/m`, `queued ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined })
      store.queueDelivery(cid, { message: everyone, qos: 1, retain: false, subscriptionIds: undefined })
      if (i % 7 === 0) store.addIncomingQos2(cid, 9)
    }
    assert.equal(await committed(first.state), undefined)
    const before = new Map(ids.map((i) => [idOf(i), Number(first.registry.epochOf(idOf(i)))]))
    await first.close()

    const again = await openRedisNode(redis, t, 'node-m')
    const storeAgain = new RedisSessionStore(again.state, again.registry)
    const got = await storeAgain.recover()
    assert.deepEqual(got.map((s) => s.clientId).sort(), ids.map(idOf).sort(), 'each session once')
    for (const s of got) {
      assertWhole(s, Number(s.clientId.slice('adopt-'.length)), ['for everyone'])
      assert.ok(Number(again.registry.epochOf(s.clientId)) > (before.get(s.clientId) ?? Infinity), `${s.clientId}: claimed under a newer epoch`)
    }
    const owners = await Promise.all(ids.map((i) => again.state.client.hget(REGISTRY_KEYS.owner(idOf(i)), 'node')))
    assert.equal(owners.filter((n) => n === 'node-m').length, MANY, 'the registry names the node for every session')
    // Held here, and written to under the new epochs: a delivery done is applied (not fenced off).
    assert.equal(await committed(again.state), undefined)
    assert.equal(await again.state.client.scard(SESSION_KEYS.held('node-m')), MANY, 'every session in the node\'s held set')
    const mine = again.state.recorded
    const sample = got[0]
    assert.ok(sample !== undefined)
    storeAgain.deliveryDone(sample.queue[0]?.stored as number)
    assert.equal(await committed(again.state, mine), undefined, 'a write under the new epoch is applied')
    assert.equal(await again.state.client.hlen(SESSION_KEYS.deliveries(sample.clientId)), sample.queue.length + sample.inflight.length - 1)
  })

  test('one batch of mixed ids: each claimed and read as a single claim would, a live node\'s and this node\'s own left alone, only stored sessions held', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const gone = await openRedisNode(redis, t, 'node-x')
    const store = new RedisSessionStore(gone.state, gone.registry)
    const ids = [0, 1, 2, 3]
    // (Id 5: an entry of the dead node's with nothing stored.)
    await Promise.all([...ids, 5].map((i) => gone.registry.claim(idOf(i), false)))
    storeWhole(store, ids)
    assert.equal(await committed(gone.state), undefined)
    await gone.close()
    // A live node's client took session 1; this node holds session 2 already (its session is in
    // its memory), and id 4 (nothing stored).
    const live = await openRedisNode(redis, t, 'node-live')
    await live.registry.claim(idOf(1), false)
    const liveEpoch = live.registry.epochOf(idOf(1))
    const survivor = await openRedisNode(redis, t, 'node-s')
    await survivor.registry.claim(idOf(2), false)
    await survivor.registry.claim(idOf(4), false)
    const heldBefore = survivor.registry.epochOf(idOf(2))
    const got = await new RedisSessionStore(survivor.state, survivor.registry).adoptOrphans([0, 1, 2, 3, 4, 5].map(idOf), ['node-live'])
    got.sort((x, y) => x.session.clientId.localeCompare(y.session.clientId))
    assert.deepEqual(got.map((a) => a.session.clientId), [0, 3].map(idOf), 'the stored sessions no node holds')
    for (const a of got) assertWhole(a.session, Number(a.session.clientId.slice('adopt-'.length)))
    assert.deepEqual(got.map((a) => a.previous), ['node-x', 'node-x'], 'each with the node that held it')
    assert.equal(survivor.registry.epochOf(idOf(2)), heldBefore, 'the id held here: not claimed again')
    assert.equal(survivor.registry.holds(idOf(1)), false, 'the live node\'s session is not claimed')
    assert.deepEqual(await survivor.state.client.hmget(REGISTRY_KEYS.owner(idOf(1)), 'node', 'epoch'), ['node-live', liveEpoch ?? null], 'its entry untouched')
    assert.equal(await survivor.state.client.hget(REGISTRY_KEYS.owner(idOf(5)), 'node'), 'node-s', 'the entry with nothing stored is claimed')
    assert.equal(await committed(survivor.state), undefined)
    assert.deepEqual((await survivor.state.client.smembers(SESSION_KEYS.held('node-s'))).sort(), [0, 3].map(idOf), 'held: the stored sessions taken, not the id without one')
  })

  test('a node restarting with its own id takes back its sessions (each once), more than one wave of them', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const first = await openRedisNode(redis, t, 'node-r')
    const store = new RedisSessionStore(first.state, first.registry)
    const ids = Array.from({ length: ADOPT_IN_FLIGHT + 1 }, (_, i) => i)
    await Promise.all(ids.map((i) => first.registry.claim(idOf(i), false)))
    storeWhole(store, ids)
    assert.equal(await committed(first.state), undefined)
    await first.close()

    const again = await openRedisNode(redis, t, 'node-r')
    const got = await new RedisSessionStore(again.state, again.registry).recover()
    assert.deepEqual(got.map((s) => s.clientId).sort(), ids.map(idOf).sort(), 'each session once')
    for (const s of got) assertWhole(s, Number(s.clientId.slice('adopt-'.length)))
  })

  test(`two survivors adopting a dead node's ${MANY} sessions at once: each taken once and whole, wills with them; what a live node took is left alone`, async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const x = await openRedisNode(redis, t, 'node-x')
    const storeX = new RedisSessionStore(x.state, x.registry)
    const ids = Array.from({ length: MANY }, (_, i) => i)
    await Promise.all(ids.map((i) => x.registry.claim(idOf(i), false)))
    for (const i of ids) {
      const cid = idOf(i)
      storeX.saveSession(facts(i))
      storeX.addSubscription(cid, { key: `adopt/${i}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined })
      if (i % 5 === 0) storeX.deliverySent(storeX.queueDelivery(cid, { message: message(`adopt/${i}/m`, `in flight ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined }), 7)
      storeX.queueDelivery(cid, { message: message(`adopt/${i}/m`, `queued ${i}`, 1), qos: 1, retain: false, subscriptionIds: undefined })
      if (i % 7 === 0) storeX.addIncomingQos2(cid, 9)
    }
    assert.equal(await committed(x.state), undefined)
    x.membership.leave()
    assert.equal(await committed(x.state), undefined)

    // A client of the dead node connected to live node L before the survivors came to it.
    const l = await openRedisNode(redis, t, 'node-l')
    const takenByL = ids.filter((i) => i % 97 === 1).map(idOf)
    for (const cid of takenByL) await l.registry.claim(cid, false)

    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    const storeA = new RedisSessionStore(a.state, a.registry)
    const storeB = new RedisSessionStore(b.state, b.registry)
    const batches = (order: readonly string[]): string[][] => {
      const out: string[][] = []
      for (let i = 0; i < order.length; i += ADOPT_BATCH) out.push(order.slice(i, i + ADOPT_BATCH))
      return out
    }
    const adoptAll = async (store: RedisSessionStore, order: readonly string[], live: readonly string[]): Promise<string[]> => {
      const got: string[] = []
      for (const batch of batches(order)) {
        for (const s of await store.adoptOrphans(batch, live)) {
          assert.equal(s.previous, 'node-x', `${s.session.clientId}: taken from the dead node`)
          assertWhole(s.session, Number(s.session.clientId.slice('adopt-'.length)))
          got.push(s.session.clientId)
        }
      }
      return got
    }
    const all = ids.map(idOf)
    const [gotA, gotB] = await Promise.all([adoptAll(storeA, all, ['node-b', 'node-l']), adoptAll(storeB, [...all].reverse(), ['node-a', 'node-l'])])
    t.diagnostic(`taken by A: ${gotA.length}, by B: ${gotB.length}`)
    const taken = [...gotA, ...gotB]
    assert.equal(new Set(taken).size, taken.length, 'no session taken by both survivors')
    assert.deepEqual([...taken].sort(), all.filter((cid) => !takenByL.includes(cid)).sort(), 'every session taken, but those the live node holds')
    const wills = taken.filter((cid) => Number(cid.slice('adopt-'.length)) % 3 === 0)
    assert.equal(wills.length, ids.filter((i) => i % 3 === 0 && i % 97 !== 1).length, 'each will taken (to be published) by one survivor')
    const owners = await Promise.all(takenByL.map((cid) => a.state.client.hget(REGISTRY_KEYS.owner(cid), 'node')))
    assert.deepEqual(owners, takenByL.map(() => 'node-l'), 'the live node keeps what its clients took')
    assert.equal(await committed(a.state), undefined)
    assert.equal(await committed(b.state), undefined)
    assert.equal(await a.state.client.scard(SESSION_KEYS.held('node-a')) + await b.state.client.scard(SESSION_KEYS.held('node-b')), taken.length, 'each in its taker\'s held set')
  })
})
