/**
 * Node membership and the client registry with its fencing epoch, over a real redis-server:
 * several nodes on one Redis; one owner per client id; a stale owner's session writes are
 * refused once another node claimed the id, and it is told.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { NodeMembership } from '../../src/cluster/membership.js'
import { REGISTRY_KEYS } from '../../src/cluster/registry.js'
import { PortcullisError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { RedisSessionStore, SESSION_KEYS } from '../../src/store/redis/session-store.js'
import type { SessionFacts } from '../../src/store/types.js'
import { openRedisNode, openRedisState, type RedisServer, startRedis } from '../helpers/redis-server.js'

let redis: RedisServer
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.destroy()
})

function facts(clientId: string, expiryInterval = 60): SessionFacts {
  return { clientId, expiryInterval, connected: true, lastConnection: undefined, will: undefined }
}

/** The outcome of the group holding what was recorded so far, as a waiter whose own changes are those recorded after `since` hears it. */
function committed(state: { afterCommit(done: (err: Error | undefined) => void, since?: number): void }, since?: number): Promise<Error | undefined> {
  return new Promise((r) => state.afterCommit(r, since))
}

describe('cluster membership', () => {
  test('several nodes join one Redis; a stopped node is no longer live', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    assert.deepEqual((await a.membership.liveNodes()).sort(), ['node-a', 'node-b'])
    await b.close()
    assert.deepEqual(await a.membership.liveNodes(), ['node-a'])
  })

  test('a node with the id of a live node refuses to start', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    await openRedisNode(redis, t, 'twin')
    const state = await RedisState.open({ path: redis.socket }, 'twin', silentLogger())
    t.after(() => state.close())
    await assert.rejects(NodeMembership.join(state, silentLogger()), /cluster\.nodeId: a live node already uses the id "twin"/)
  })
})

describe('client registry and fencing', () => {
  test('a claim by another node fences the stale owner: its session writes are refused, it is told', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    const storeA = new RedisSessionStore(a.state, a.registry)
    const storeB = new RedisSessionStore(b.state, b.registry)
    const told: Array<[string, boolean]> = []
    a.registry.onTakenOver((cid, ends) => told.push([cid, ends]))

    assert.deepEqual(await a.registry.claim('dev', false), { current: false, previousAlive: false, unowned: true }, 'nobody held it: nothing stored to load')
    const first = a.registry.epochOf('dev')
    assert.deepEqual(await a.registry.claim('dev', false), { current: true, previousAlive: false }, 'claiming an id it holds changes nothing')
    assert.equal(a.registry.epochOf('dev'), first)
    storeA.saveSession(facts('dev', 60))
    assert.equal(await committed(storeA.commits), undefined)

    assert.deepEqual(await b.registry.claim('dev', false), { current: false, previousAlive: true, previous: 'node-a' }, 'the previous owner is named (its stream is caught up from)')
    assert.ok(Number(b.registry.epochOf('dev')) > Number(first), 'the epoch grows with every claim')
    const loaded = await storeB.load('dev')
    assert.equal(loaded?.expiryInterval, 60, 'B reads the session A stored')
    // A has not heard of the takeover yet (or is paused): its write is refused all the same.
    const mine = storeA.commits.recorded
    storeA.saveSession(facts('dev', 99))
    const err = await committed(storeA.commits, mine)
    assert.ok(err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER', 'the stale owner learns its write failed')
    assert.equal(await a.state.client.hget(SESSION_KEYS.facts('dev'), 'expiry'), '60', 'the new owner\'s session is unchanged')
    storeB.saveSession(facts('dev', 120))
    assert.equal(await committed(storeB.commits), undefined, 'the new owner writes')
    assert.equal(await b.state.client.hget(SESSION_KEYS.facts('dev'), 'expiry'), '120')
    const deadline = Date.now() + 5000
    while (told.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(told, [['dev', false]], 'A is told (signal or refused write), once')
    assert.equal(a.registry.epochOf('dev'), undefined)
  })

  test('a write Redis refuses (a stale epoch) fails only its client: the rest of the group commits, only that client\'s waiters hear ERR_SESSION_TAKEN_OVER, the node is told', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    await a.registry.claim('moved', false)
    const stale = a.registry.epochOf('moved')
    await b.registry.claim('moved', false)
    const told: string[] = []
    a.state.onFenced = (cid) => told.push(cid)
    // One group: another client's change, the stale write (A has not let the id go yet), and a third change.
    a.state.record((m) => m.set('pc:test:before', '1'))
    const mine = a.state.recorded
    a.state.recordFenced('moved', SESSION_KEYS.owner('moved'), stale, [SESSION_KEYS.facts('moved')], [['HSET', SESSION_KEYS.facts('moved'), 'expiry', '1']])
    const refusedOutcome = committed(a.state, mine)
    const others = a.state.recorded
    a.state.record((m) => m.set('pc:test:after', '1'))
    const [err, other, unscoped] = await Promise.all([refusedOutcome, committed(a.state, others), committed(a.state)])
    assert.ok(err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER', `refused, not a Redis failure: ${String(err)}`)
    assert.equal(other, undefined, 'a waiter whose own change is another one of the same group is not told of a refusal that is not its own')
    assert.equal(unscoped, undefined, 'nor is a waiter with no change of its own')
    assert.deepEqual(told, ['moved'], 'the node hears which client it lost')
    assert.equal(a.state.stats.failures, 0, 'not counted as a failed commit')
    assert.equal(await a.state.client.get('pc:test:before'), '1')
    assert.equal(await a.state.client.get('pc:test:after'), '1')
    assert.equal(await a.state.client.hexists(SESSION_KEYS.facts('moved'), 'expiry'), 0, 'the stale write did not land')
  })

  test('a claim overtaken by another node\'s claim while it waits for the previous owner\'s answer fails: that node holds nothing', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const z = await openRedisNode(redis, t, 'node-z')
    const a = await openRedisNode(redis, t, 'node-a')
    const b = await openRedisNode(redis, t, 'node-b')
    await z.registry.claim('race', false)
    // Z still receives takeover signals but never answers (paused): A's claim waits up to 1 s.
    await z.registry.close()
    const mute = z.state.connection('portcullis-mute', true)
    t.after(() => mute.disconnect())
    await mute.subscribe(REGISTRY_KEYS.takeover('node-z'))
    const slow = a.registry.claim('race', false)
    slow.catch(() => {})
    await new Promise((r) => setTimeout(r, 200))
    // Meanwhile the client connects to B: B claims it from A (A answers at once).
    assert.deepEqual(await b.registry.claim('race', false), { current: false, previousAlive: true, previous: 'node-a' })
    await assert.rejects(slow, (err: unknown) => err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER', 'A\'s older claim lost')
    assert.equal(a.registry.holds('race'), false)
    assert.equal(b.registry.holds('race'), true)
  })

  test('a write for a client id the node never claimed is refused', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    const store = new RedisSessionStore(a.state, a.registry)
    const mine = store.commits.recorded
    store.saveSession(facts('unclaimed'))
    const err = await committed(store.commits, mine)
    assert.ok(err instanceof PortcullisError && err.code === 'ERR_SESSION_TAKEN_OVER')
    assert.equal(await a.state.client.exists(SESSION_KEYS.facts('unclaimed')), 0)
  })

  test('released ids are claimed again with a larger epoch (a stale epoch never matches again)', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    await a.registry.claim('x', true)
    const first = Number(a.registry.epochOf('x'))
    a.registry.release('x')
    assert.equal(await committed(a.state), undefined)
    assert.equal(await a.state.client.exists(SESSION_KEYS.owner('x')), 0, 'the entry goes with the session')
    await a.registry.claim('x', true)
    assert.ok(Number(a.registry.epochOf('x')) > first)
  })

  test('start-up claims only sessions no live node owns', async (t) => {
    await (await openRedisState(redis, t, 'flush')).close()
    const a = await openRedisNode(redis, t, 'node-a')
    const storeA = new RedisSessionStore(a.state, a.registry)
    await a.registry.claim('held', false)
    storeA.saveSession(facts('held'))
    assert.equal(await committed(storeA.commits), undefined)
    const b = await openRedisNode(redis, t, 'node-b')
    assert.deepEqual(await new RedisSessionStore(b.state, b.registry).recover(), [], 'node A is alive: its sessions stay with it')
    await a.close()
    const c = await openRedisNode(redis, t, 'node-c')
    assert.deepEqual((await new RedisSessionStore(c.state, c.registry).recover()).map((s) => s.clientId), ['held'], 'node A stopped: its sessions are taken')
    assert.equal(await c.state.client.hget(SESSION_KEYS.owner('held'), 'node'), 'node-c')
    const epoch = c.registry.epochOf('held')
    assert.equal(await c.registry.claimOrphan('held', []), false, 'a later look for orphans leaves the sessions a node holds alone')
    assert.equal(c.registry.epochOf('held'), epoch)
  })
})
