/**
 * A device import on a node whose copy of the cluster's device registry is behind (a change made
 * through another node less than a second ago): what it counts as replaced, the creation dates it
 * keeps, and which rows are "already registered" come from the registry in Redis, not the
 * node's copy. Two broker child processes on one real redis-server (or a Redis Cluster under
 * PORTCULLIS_TEST_REDIS=cluster).
 *
 * A node applies another node's change within about a second (at once when the notice comes). To
 * hold node B's copy behind for as long as the test needs, the "change through another node" is
 * written straight into the registry hash in Redis, without the version bump and notice a change
 * carries: B's copy stays as it was, exactly as during the moment before it applies a real one.
 * The last case is the real thing: a change through node A, and at once an import through B.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SHARED_DEVICES_KEY } from '../../src/cluster/shared-devices.js'
import type { StoredDevice } from '../../src/auth/devices/device.js'
import { within } from '../helpers/broker.js'
import { BrokerProcess, freePort } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import { DEVICES_CONFIG } from '../helpers/devices.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'

const API_KEY = 'cluster-devices-import-test-key'
/** The creation date of the devices registered "through another node" (2021-01-01). */
const LONG_AGO = Date.UTC(2021, 0, 1)

test('cluster: a device import counts and keeps what Redis holds, not a copy behind', { timeout: 120_000 }, async (t) => {
  const adminPorts = new Map<string, number>()
  const { redis, nodes } = await clusterNodes(t, ['node-a', 'node-b'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port, apiKey: API_KEY }, ...DEVICES_CONFIG }
  })
  const [a, b] = nodes as [BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()
  const api = (node: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> =>
    adminCall(`http://127.0.0.1:${adminPorts.get(node) ?? 0}/api/v1`, API_KEY, method, path, body)
  const look = redis.client()
  t.after(() => look.disconnect())
  await look.connect()

  /** Registered through node A, then held by node B too. */
  async function registeredEverywhere(id: string): Promise<string> {
    const res = await api('node-a', 'POST', '/devices', { id, keys: [] })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const inB = await within(3000, async () => (await api('node-b', 'GET', `/devices/${id}`)).status === 200)
    assert.ok(inB <= 3000, `node B holds ${id}`)
    return res.body.createdAt as string
  }
  /** A change node B has not applied yet: registered (created long ago) in Redis only. */
  async function registeredElsewhere(id: string): Promise<void> {
    const device: StoredDevice = { id, enabled: true, keys: [], createdAt: LONG_AGO, updatedAt: LONG_AGO }
    await look.hset(SHARED_DEVICES_KEY, id, JSON.stringify(device))
    assert.equal((await api('node-b', 'GET', `/devices/${id}`)).status, 404, `node B does not hold ${id} yet`)
  }
  /** A change node B has not applied yet: deleted in Redis only. */
  async function deletedElsewhere(id: string): Promise<void> {
    await look.hdel(SHARED_DEVICES_KEY, id)
    assert.equal((await api('node-b', 'GET', `/devices/${id}`)).status, 200, `node B still holds ${id}`)
  }

  await t.test('replace=true: the devices Redis holds are the replaced ones, their creation dates kept', async () => {
    const gone = await registeredEverywhere('gone-1')
    await registeredElsewhere('fresh-1')
    await registeredElsewhere('fresh-2')
    await deletedElsewhere('gone-1')
    const res = await api('node-b', 'POST', '/devices/import?replace=true', [{ id: 'fresh-1', keys: [] }, { id: 'fresh-2', keys: [] }, { id: 'gone-1', keys: [] }])
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual({ created: res.body.created, replaced: res.body.replaced }, { created: 1, replaced: 2 })
    for (const node of ['node-a', 'node-b']) {
      for (const id of ['fresh-1', 'fresh-2']) {
        // node A applies B's import within about a second (as any change made through another node)
        const seen = await within(3000, async () => (await api(node, 'GET', `/devices/${id}`)).status === 200)
        assert.ok(seen <= 3000, `${node} holds ${id}`)
        const d = await api(node, 'GET', `/devices/${id}`)
        assert.equal(d.body.createdAt, new Date(LONG_AGO).toISOString(), `${id} keeps its creation date (${node})`)
      }
    }
    const again = await api('node-b', 'GET', '/devices/gone-1')
    assert.notEqual(again.body.createdAt, gone, 'gone-1 was deleted: the import registered it anew')
    const stored = JSON.parse(await look.hget(SHARED_DEVICES_KEY, 'fresh-1') ?? '{}') as StoredDevice
    assert.equal(stored.createdAt, LONG_AGO, 'Redis holds the creation date kept')
  })

  await t.test('replace=false: a device deleted elsewhere is imported; one registered elsewhere is the row in error', async () => {
    await registeredEverywhere('gone-2')
    await deletedElsewhere('gone-2')
    const res = await api('node-b', 'POST', '/devices/import', [{ id: 'gone-2', keys: [] }])
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.created, 1)
    await registeredElsewhere('fresh-3')
    const partial = await api('node-b', 'POST', '/devices/import?partial=true', [{ id: 'fresh-3', keys: [] }, { id: 'new-3', keys: [] }])
    assert.equal(partial.status, 200, JSON.stringify(partial.body))
    assert.equal(partial.body.created, 1, 'new-3 imported')
    assert.equal(partial.body.errors.length, 1)
    assert.match(partial.body.errors[0].message, /'fresh-3' is already registered/)
  })

  await t.test('a device registered through node A, then at once imported with replace=true through node B', async () => {
    for (let i = 0; i < 5; i++) {
      const id = `race-${i}`
      const created = await api('node-a', 'POST', '/devices', { id, keys: [] })
      assert.equal(created.status, 201, JSON.stringify(created.body))
      const res = await api('node-b', 'POST', '/devices/import?replace=true', [{ id, keys: [], description: 'imported' }])
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual({ created: res.body.created, replaced: res.body.replaced }, { created: 0, replaced: 1 }, id)
      const seen = await within(3000, async () => (await api('node-a', 'GET', `/devices/${id}`)).body.description === 'imported')
      assert.ok(seen <= 3000, `node A holds the import of ${id}`)
      assert.equal((await api('node-a', 'GET', `/devices/${id}`)).body.createdAt, created.body.createdAt, `${id} keeps the creation date node A gave it`)
    }
  })
})
