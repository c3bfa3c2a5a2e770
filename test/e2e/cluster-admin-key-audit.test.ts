/**
 * The admin API key and the audit trail cluster-wide (issue 13 item 6). Nodes without
 * `admin.apiKey`: the first node generates one key for the cluster (in Redis), the next node
 * reads it, and both write it to their own `dataDir/admin-api-key` — the key of one node works
 * on the other. Deleting it in Redis rotates it on every node within a few seconds. `GET /audit` on any
 * node shows every node's changes, in order, each naming its node. Redis unreachable: the trail
 * cannot be read (503). Two broker child processes on one real redis-server (unix socket).
 */
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'
import { within } from '../helpers/broker.js'

const SECRET = 'cluster-admin-key-audit-secret-0123456789abcdef'

function keyOf(node: BrokerProcess): string {
  return readFileSync(join(node.dataDir, 'admin-api-key'), 'utf8').trim()
}

test('cluster: one generated admin API key and one audit trail for every node', { timeout: 120_000 }, async (t) => {
  const adminPorts = new Map<string, number>()
  const { redis, nodes } = await clusterNodes(t, ['node-a', 'node-b'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port } }
  })
  const [a, b] = nodes as [BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()
  const A = adminPorts.get('node-a') ?? 0
  const B = adminPorts.get('node-b') ?? 0
  const api = (port: number, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> =>
    adminCall(`http://127.0.0.1:${port}/api/v1`, key, method, path, body)

  const key = keyOf(a)
  await t.test('the key node A generated is the one node B uses (each node keeps it in its own file, mode 0600)', async () => {
    assert.match(key, /^pc_[A-Za-z0-9_-]{43}$/)
    assert.equal(keyOf(b), key, "node B's file holds the cluster's key")
    assert.equal(statSync(join(b.dataDir, 'admin-api-key')).mode & 0o777, 0o600)
    assert.equal((await api(B, key, 'GET', '/stats')).status, 200, "node A's key signs in on node B")
    assert.equal((await api(B, 'pc_not-the-key-0123456789', 'GET', '/stats')).status, 401)
  })

  await t.test("GET /audit on either node shows both nodes' changes in order, each naming its node", async () => {
    const created = await api(A, key, 'POST', '/authenticators', { type: 'jwt', name: 'made-on-a', from: 'password', algorithm: 'hmac-based', secret: SECRET })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.equal((await api(B, key, 'POST', '/revocations', { sub: 'mallory' })).status, 201)
    assert.equal((await api(A, key, 'DELETE', '/authenticators/made-on-a')).status, 204)
    for (const port of [A, B]) {
      const page = await api(port, key, 'GET', '/audit?limit=3')
      assert.equal(page.status, 200, JSON.stringify(page.body))
      const seen = page.body.entries.map((e: { node: string; operation: string }) => `${e.node} ${e.operation}`)
      assert.deepEqual(seen, ['node-a DELETE /api/v1/authenticators/made-on-a', 'node-b POST /api/v1/revocations', 'node-a POST /api/v1/authenticators'], `as node ${port === A ? 'A' : 'B'} shows it`)
      const ids = page.body.entries.map((e: { id: number }) => e.id)
      assert.ok(ids[0] > ids[1] && ids[1] > ids[2], `newest first, ids increasing across nodes: ${ids.join(', ')}`)
      // The secret never reaches the trail.
      assert.doesNotMatch(JSON.stringify(page.body), new RegExp(SECRET))
      const older = await api(port, key, 'GET', `/audit?before=${ids[1]}&limit=10`)
      assert.deepEqual(older.body.entries.map((e: { id: number }) => e.id), [ids[2]], 'the next page goes on from `before`')
    }
  })

  await t.test('Redis unreachable: the trail cannot be read (503)', async () => {
    await redis.stop('SIGKILL')
    try {
      const page = await api(A, key, 'GET', '/audit')
      assert.equal(page.status, 503, JSON.stringify(page.body))
      assert.equal(page.body.error, 'ERR_UNAVAILABLE')
    } finally {
      await redis.start()
    }
  })

  await t.test('rotation: the key deleted in Redis, every node takes a new one within a few seconds (no restart), the old one refused; a key set in Redis is taken too', async () => {
    const client = redis.client()
    try {
      await client.del('pc:admin-api-key')
      const rotatedIn = await within(3000, () => keyOf(a) !== key && keyOf(a) === keyOf(b))
      assert.ok(rotatedIn <= 3000, `both nodes hold one new key within 3 s (took ${rotatedIn} ms)`)
      const rotated = keyOf(a)
      for (const port of [A, B]) {
        assert.equal((await api(port, rotated, 'GET', '/stats')).status, 200)
        assert.equal((await api(port, key, 'GET', '/stats')).status, 401, 'the old key is refused')
      }
      // The trail is still there.
      assert.ok((await api(B, rotated, 'GET', '/audit')).body.entries.length >= 3)
      // An operator's own key, set in Redis.
      const chosen = 'pc_chosen-by-the-operator-0123456789'
      await client.set('pc:admin-api-key', chosen)
      const takenIn = await within(3000, async () => (await api(A, chosen, 'GET', '/stats')).status === 200 && (await api(B, chosen, 'GET', '/stats')).status === 200)
      assert.ok(takenIn <= 3000, `both nodes take it within 3 s (took ${takenIn} ms)`)
      assert.equal(keyOf(b), chosen)
    } finally {
      client.disconnect()
    }
  })
})
