/**
 * Broker child processes on one real redis-server (unix socket), for cluster tests: created,
 * not started; everything (clients, nodes, Redis, the folder) goes when the test ends, a
 * paused node resumed first.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { MqttClient } from 'mqtt'
import { delay, withTimeout } from './broker.js'
import { BrokerProcess, freePort } from './broker-process.js'
import { RedisServer, startRedisFixture, type RedisFixture } from './redis-server.js'
import { startSlowLink, type SlowLink } from './slow-link.js'

export interface ClusterNodes {
  readonly redis: RedisFixture
  /** One per node id, in the order given. */
  readonly nodes: BrokerProcess[]
  /** Clients the test opens: ended when it ends. */
  readonly clients: MqttClient[]
}

/** `extra(nodeId)`: configuration merged into each node's (an admin listener, say). */
export async function clusterNodes(
  t: TestContext, nodeIds: readonly string[], extra: (nodeId: string) => Promise<Record<string, unknown>> | Record<string, unknown> = () => ({}),
): Promise<ClusterNodes> {
  const redis = await startRedisFixture()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'))
  const nodes: BrokerProcess[] = []
  for (const nodeId of nodeIds) {
    nodes.push(new BrokerProcess(dir, await freePort(), { cluster: { redis: redis.target, nodeId }, ...await extra(nodeId) }, nodeId))
  }
  const clients: MqttClient[] = []
  t.after(async () => {
    for (const node of nodes) node.signal('SIGCONT')
    for (const c of clients) c.end(true)
    for (const node of nodes) await node.kill()
    await redis.destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  return { redis, nodes, clients }
}

/**
 * Publish QoS 0 probes on `topics` from `pub` (50 ms apart, at most 200 rounds) until `through()`
 * says they got through: the publisher's node has learnt the subscribers' routes. `what` names
 * the route in the assertion.
 */
export async function probeRoutes(pub: MqttClient, topics: readonly string[], through: () => boolean, what: string): Promise<void> {
  for (let tries = 0; !through(); tries++) {
    assert.ok(tries < 200, `${what} (within 200 tries)`)
    for (const t of topics) await withTimeout(pub.publishAsync(t, 'p', { qos: 0 }), 5000, 'probe')
    await delay(50)
  }
}

/**
 * Nodes A and B (created, not started) on one redis-server, B's Redis connections through a slow
 * link (slow-link.ts) that passes everything at once until `link.slow(ms)`.
 */
export interface SlowLinkedPair {
  readonly redis: RedisServer
  readonly a: BrokerProcess
  readonly b: BrokerProcess
  readonly clients: MqttClient[]
  readonly link: SlowLink
}

export async function slowLinkedPair(t: TestContext): Promise<SlowLinkedPair> {
  let socket = ''
  const link = await startSlowLink(() => socket)
  t.after(() => link.close())
  const { redis, nodes: [a, b], clients } = await clusterNodes(t, ['node-a', 'node-b'],
    (nodeId) => nodeId === 'node-b' ? { cluster: { redis: link.url, nodeId } } : {})
  if (a === undefined || b === undefined) throw new Error('two nodes')
  assert.ok(redis instanceof RedisServer, 'one redis-server (the slow link goes to its socket)')
  socket = redis.socket
  return { redis, a, b, clients, link }
}
