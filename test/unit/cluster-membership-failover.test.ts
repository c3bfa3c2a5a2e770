/**
 * Node liveness when one master of a Redis Cluster is in trouble (issue 13). The other node here
 * is played by the test (its liveness key written and renewed by hand), so that when it renews is
 * the test's to say; this node is a real one (state, membership, registry).
 *
 * - A master holding part of this node's heartbeat stalls (SIGSTOP): the heartbeat's commit hangs,
 *   while the masters this node's look reads answer at once. The other node's heartbeats are held by the same trouble (on
 *   a Redis Cluster a dead master holds the group commits of every node writing to it, heartbeats
 *   and all) and its key lapses. Judged dead before, though alive: a survivor then takes a live
 *   node's sessions and stream — e2e/cluster-redis-cluster-order's SIGKILL round, about one in 30:
 *   node A judged node B dead, ~100 messages out of order at the subscriber, QoS 1 and 2 twice.
 * - The master of the other node's key fails over (SIGKILL, replica promoted) while this node's
 *   heartbeats go on: the key lapses meanwhile, and the other node renews it only once it reaches
 *   the promoted replica.
 * In both, a node that stays silent once Redis is well is still judged dead.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis, type Cluster } from 'ioredis'
import { NODE_DEAD_AFTER_MS, NODE_KEYS } from '../../src/cluster/membership.js'
import { delay, pollUntil } from '../helpers/broker.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'
import { openRedisNode, type RedisNode } from '../helpers/redis-server.js'

/** A node the test plays: its liveness key renewed every 500 ms while `renewing`. */
class PlayedNode {
  renewing = true
  readonly #r: Cluster
  readonly #id: string
  #stopped = false
  readonly #loop: Promise<void>

  private constructor(r: Cluster, id: string) {
    this.#r = r
    this.#id = id
    this.#loop = (async () => {
      for (let i = 0; i < 200 && !this.#stopped; i++) {
        await delay(500)
        if (this.renewing && !this.#stopped) await this.renew().catch(() => {})
      }
    })()
  }

  static async join(redis: RedisClusterServer, t: TestContext, id: string): Promise<PlayedNode> {
    const r = redis.client()
    await r.sadd(NODE_KEYS.nodes, id)
    await r.hset(NODE_KEYS.node(id), 'at', String(Date.now()), 'stopped', '0')
    const node = new PlayedNode(r, id)
    await node.renew()
    t.after(async () => {
      node.#stopped = true
      await node.#loop
      r.disconnect()
    })
    return node
  }

  async renew(): Promise<void> {
    await this.#r.set(NODE_KEYS.alive(this.#id), 'token', 'PX', NODE_DEAD_AFTER_MS)
  }

  async alive(): Promise<boolean> {
    return await this.#r.exists(NODE_KEYS.alive(this.#id)) === 1
  }
}

/** The first of `ids` whose liveness key is served by none of the masters `avoid`. */
async function idAvoiding(redis: RedisClusterServer, ids: readonly string[], avoid: readonly number[]): Promise<string> {
  for (const id of ids) if (!avoid.includes((await redis.servers(NODE_KEYS.alive(id))).master)) return id
  throw new Error('no node id fits')
}

/** A real node whose `onNodeGone` calls are recorded. */
async function watchingNode(redis: RedisClusterServer, t: TestContext, id: string): Promise<{ node: RedisNode; gone: Array<{ id: string; at: number }> }> {
  const node = await openRedisNode(redis, t, id)
  const gone: Array<{ id: string; at: number }> = []
  node.membership.onNodeGone((n) => gone.push({ id: n, at: Date.now() }))
  return { node, gone }
}

/** The node has looked (one look a second) and sees the other alive; nobody was judged dead. */
async function seenAlive(node: RedisNode, other: string, gone: ReadonlyArray<unknown>): Promise<void> {
  await delay(2500)
  assert.ok((await node.membership.liveNodes()).includes(other), `${other} is alive`)
  assert.equal(gone.length, 0)
}

/** The played node stays silent: it is judged dead once its key lapsed, not before. */
async function silentIsJudgedDead(played: PlayedNode, id: string, gone: ReadonlyArray<{ id: string; at: number }>): Promise<void> {
  played.renewing = false
  const silentFrom = Date.now()
  await pollUntil(() => gone.length > 0, 'a silent node is judged dead', 15_000)
  assert.equal(gone[0]?.id, id)
  assert.ok((gone[0]?.at ?? 0) - silentFrom >= NODE_DEAD_AFTER_MS - 1000, 'not before its key lapsed')
}

test('a master holding this node\'s heartbeat stalls: the others\' keys that lapse meanwhile judge nobody dead while its heartbeat is late', async (t) => {
  // (A long node timeout: the stalled master is not failed over, nor the Redis Cluster marked down.)
  const redis = await startRedisCluster({ nodeTimeoutMs: 20_000 })
  t.after(() => redis.destroy())
  // The master stalled holds a part of this node's heartbeat (its `pc:node:<id>` hash), none of the
  // keys its look reads (the node list, the liveness keys): the heartbeat's commit hangs, the look
  // is answered at once — as when the master that died was the one a node's commits waited on.
  const listed = (await redis.servers(NODE_KEYS.nodes)).master
  let self = ''
  let stalled = 0
  for (const id of ['node-a', 'node-b', 'node-c', 'node-d', 'node-e', 'node-f', 'node-g', 'node-h', 'node-i', 'node-j', 'node-k']) {
    const hash = (await redis.servers(NODE_KEYS.node(id))).master
    if (hash !== listed && hash !== (await redis.servers(NODE_KEYS.alive(id))).master) {
      self = id
      stalled = hash
      break
    }
  }
  assert.ok(stalled !== 0, 'a node id that fits')
  const other = await idAvoiding(redis, ['node-p', 'node-q', 'node-r', 'node-s', 'node-t', 'node-u', 'node-v'], [stalled])
  const played = await PlayedNode.join(redis, t, other)
  const { node, gone } = await watchingNode(redis, t, self)
  await seenAlive(node, other, gone)

  redis.signal(stalled, 'SIGSTOP')
  played.renewing = false
  try {
    // The other's key lapses (3 s); this node looks four times meanwhile, its heartbeat unanswered.
    await delay(NODE_DEAD_AFTER_MS + 1500)
    assert.equal(await played.alive(), false, 'the other node\'s key lapsed during the stall')
  } finally {
    redis.signal(stalled, 'SIGCONT')
  }
  assert.equal(gone.length, 0, `judged ${other} dead while its own heartbeat was unanswered`)
  // The other node's heartbeats get through a second later.
  await delay(1000)
  played.renewing = true
  await played.renew()
  await delay(7000)
  assert.equal(gone.length, 0, `judged ${other} dead though it renewed its key a second after the stall`)

  await silentIsJudgedDead(played, other, gone)
})

test('the master of another node\'s key fails over: that node is not judged dead while it renews its key after the promotion', async (t) => {
  const redis = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 })
  t.after(() => redis.destroy())
  const other = 'node-a'
  // (CLUSTER SLOTS lists a replica once its master knows it synchronised.)
  let served = await redis.servers(NODE_KEYS.alive(other))
  await pollUntil(async () => (served = await redis.servers(NODE_KEYS.alive(other))).replicas.length > 0, 'the master has a replica', 10_000)
  const { master, replicas } = served
  // This node's own key on another master: its heartbeats go on through the failover.
  const self = await idAvoiding(redis, ['node-b', 'node-c', 'node-d', 'node-e', 'node-f', 'node-g'], [master])
  const played = await PlayedNode.join(redis, t, other)
  const { node, gone } = await watchingNode(redis, t, self)
  await seenAlive(node, other, gone)

  played.renewing = false
  await redis.kill(master)
  const replica = replicas[0]
  await pollUntil(() => redis.isMaster(replica).catch(() => false), 'the replica is promoted', 30_000)
  const promotedAt = Date.now()
  // Straight to the promoted replica (the test's cluster client would first have to learn of it).
  const promoted = new Redis({ host: '127.0.0.1', port: replica, lazyConnect: true, maxRetriesPerRequest: 1 })
  t.after(() => promoted.disconnect())
  // Its key lapsed meanwhile (as it does unrenewed, or sooner when the replica lacked the last renewal).
  await promoted.del(NODE_KEYS.alive(other))
  // It reaches the promoted replica 2 s after the promotion (a reconnection's back-off) and renews.
  await delay(Math.max(0, promotedAt + 2000 - Date.now()))
  await promoted.set(NODE_KEYS.alive(other), 'token', 'PX', NODE_DEAD_AFTER_MS)
  const renewedAt = Date.now()
  played.renewing = true
  await delay(6000)
  assert.equal(gone.length, 0, `judged dead ${gone.map((g) => `${g.at - promotedAt} ms after the promotion`).join(', ')} though it renewed its key ${renewedAt - promotedAt} ms after it`)

  await silentIsJudgedDead(played, other, gone)
})
