/**
 * Management cluster-wide (issue 13 item 6): authenticators, policies and authorization
 * settings live in Redis; a change made through node B's admin API is enforced on node A's
 * next CONNECT within a second, a node that starts later runs the cluster's copy (not its
 * own file), and a change worked out from an older copy than Redis holds is made again on
 * the newer one (neither lost nor refused; e2e/cluster-lost-update: both nodes at once). Two brokers in
 * this process on one real redis-server (unix socket), or on a Redis Cluster of three masters
 * with PORTCULLIS_TEST_REDIS=cluster (npm run test:redis-cluster); MQTT 3.1.1 and 5.0 clients.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mqtt from 'mqtt'
import { SHARED_CONFIG_KEY } from '../../src/cluster/shared-config.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'
import { VERSIONS, startBroker, withTimeout, within, type RunningBroker, type Version } from '../helpers/broker.js'
import { startRedisFixture, type RedisFixture } from '../helpers/redis-server.js'

const API_KEY = 'cluster-config-test-key'
let redis: RedisFixture
let dir: string
const nodes: RunningBroker[] = []

async function startNode(nodeId: string, authorization: Record<string, unknown> = {}): Promise<RunningBroker> {
  const node = await startBroker({
    cluster: { redis: redis.target, nodeId },
    persistence: true,
    dataDir: join(dir, nodeId),
    admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY },
    authorization,
  })
  nodes.push(node)
  return node
}

function api(node: RunningBroker, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  return adminCall(`${node.server.admin!.url}/api/v1`, API_KEY, method, path, body)
}

/** The CONNACK return/reason code a client gets (0: accepted). */
function connack(node: RunningBroker, clientId: string, protocolVersion: Version): Promise<number> {
  return withTimeout(new Promise<number>((resolve) => {
    const c = mqtt.connect({ host: '127.0.0.1', port: node.port, protocolVersion, clientId, reconnectPeriod: 0, connectTimeout: 5000 })
    c.once('connect', () => { c.end(true); resolve(0) })
    c.once('error', (err) => { c.end(true); resolve((err as { code?: number }).code ?? -1) })
  }), 8000, 'CONNACK')
}


describe('cluster: one configuration for every node', () => {
  before(async () => {
    redis = await startRedisFixture()
    dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-config-'))
    await startNode('node-a')
    await startNode('node-b', { noMatch: 'deny' }) // its file differs: the copy node A shared wins
  })
  after(async () => {
    for (const node of nodes) await withTimeout(node.close(), 10_000, 'node close').catch(() => {})
    await redis.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  test('a node that starts later runs the shared copy, not its own file', async () => {
    const settings = await api(nodes[1], 'GET', '/authorization/settings')
    assert.equal(settings.status, 200)
    assert.equal(settings.body.noMatch, 'allow', "node A's settings, shared first")
  })

  for (const v of VERSIONS) {
    test(`MQTT ${v === 5 ? '5.0' : '3.1.1'}: a policy created through node B is enforced on node A's next CONNECT within a second`, async () => {
      const name = `no-banned-v${v}`
      const clientId = `banned-v${v}-1`
      assert.equal(await connack(nodes[0], clientId, v), 0, 'accepted before the policy')
      const created = await api(nodes[1], 'POST', '/policies', { name, priority: 1 + v, effect: 'deny', actions: ['connect'], clientId: `^banned-v${v}-` })
      assert.equal(created.status, 201, JSON.stringify(created.body))
      const took = await within(1000, async () => (await connack(nodes[0], clientId, v)) !== 0)
      assert.ok(took <= 1000, `refused on node A within 1 s (took ${took} ms)`)
      assert.equal(await connack(nodes[0], clientId, v), v === 5 ? 0x87 : 5)
      assert.ok((await api(nodes[0], 'GET', '/policies')).body.some((p: { name: string }) => p.name === name), "node A's API lists it")
      // …and its removal through node A reaches node B
      assert.equal((await api(nodes[0], 'DELETE', `/policies/${name}`)).status, 204)
      const gone = await within(1000, async () => !(await api(nodes[1], 'GET', '/policies')).body.some((p: { name: string }) => p.name === name))
      assert.ok(gone <= 1000, 'gone on node B within 1 s')
      assert.equal(await connack(nodes[1], clientId, v), 0)
    })
  }

  test('GET /cluster/nodes: every node up, stopped or down, with its clients at the last heartbeat', async () => {
    const c = await startNode('node-c')
    await c.close()
    nodes.pop()
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: nodes[1].port, clientId: 'nodes-view-1', reconnectPeriod: 0, connectTimeout: 5000 })
    try {
      type NodeView = { nodeId: string; state: string; self: boolean; lastHeartbeat?: string; report: Record<string, number> }
      let view: NodeView[] = []
      const took = await within(4000, async () => {
        const r = await api(nodes[0], 'GET', '/cluster/nodes')
        assert.equal(r.status, 200)
        view = r.body as NodeView[]
        return view.find((n) => n.nodeId === 'node-b')?.report['clients'] === 1
      })
      assert.ok(took <= 4000, `node B's client count reaches node A (${JSON.stringify(view)})`)
      assert.deepEqual(view.map((n) => [n.nodeId, n.state, n.self]), [['node-a', 'up', true], ['node-b', 'up', false], ['node-c', 'stopped', false]])
      assert.ok(view.every((n) => n.lastHeartbeat !== undefined))
      assert.equal(typeof view[0].report['messagesInPerSecond'], 'number')
    } finally {
      await client.endAsync(true)
    }
    const single = await startBroker({ admin: { host: '127.0.0.1', port: 0, apiKey: API_KEY } })
    try {
      assert.equal((await api(single, 'GET', '/cluster/nodes')).status, 404, 'not a cluster')
    } finally {
      await single.close()
    }
  })

  test('an authenticator created through node A applies on node B; a change based on an old copy is made again on the newer one, not lost', async () => {
    const created = await api(nodes[0], 'POST', '/authenticators', { type: 'jwt', name: 'shared-hmac', from: 'password', algorithm: 'hmac-based', secret: 'shared-secret-0123456789-0123456789-abcdef' })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const seen = await within(1000, async () => (await api(nodes[1], 'GET', '/authenticators')).body.some((a: { name: string }) => a.name === 'shared-hmac'))
    assert.ok(seen <= 1000, 'node B runs it within 1 s')

    // Another node changed the copy (a policy added) and node B has not seen it yet (no notice sent):
    // B's change is refused by Redis, B applies the newer copy and makes its change on it.
    const r = redis.client()
    try {
      const stored = await r.hgetall(SHARED_CONFIG_KEY)
      const state = JSON.parse(stored['state'] ?? '{}') as { authorization: { policies: unknown[] } }
      state.authorization.policies.push({ name: 'elsewhere', priority: 49, effect: 'allow', actions: ['subscribe'], topics: ['elsewhere/#'] })
      await r.hset(SHARED_CONFIG_KEY, 'state', JSON.stringify(state), 'version', Number(stored['version']) + 1)
      const late = await api(nodes[1], 'POST', '/policies', { name: 'late', priority: 50, effect: 'allow', actions: ['publish'], topics: ['late/#'] })
      assert.equal(late.status, 201, JSON.stringify(late.body))
      const names = (await api(nodes[1], 'GET', '/policies')).body.map((p: { name: string }) => p.name)
      assert.ok(names.includes('late') && names.includes('elsewhere'), `both on B: ${names.join()}`)
      const onA = await within(1000, async () => {
        const there = (await api(nodes[0], 'GET', '/policies')).body.map((p: { name: string }) => p.name)
        return there.includes('late') && there.includes('elsewhere')
      })
      assert.ok(onA <= 1000, 'and both reach node A')
    } finally {
      r.disconnect()
    }
  })
})
