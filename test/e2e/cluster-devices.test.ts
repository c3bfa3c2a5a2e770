/**
 * Per-device keys cluster-wide (issue 13 item 6): the device registry (`type: devices`) is one
 * registry in Redis. A device registered through node B connects on node A (3.1.1 and 5.0)
 * within a second; disabling it through A closes its live connections on B (MQTT 5 DISCONNECT
 * 0x98, 3.1.1 closed) and B refuses it (0x8A / 5); a key removed on one node cuts its clients
 * off on the other; a deleted device is unknown everywhere; 1,000 devices imported through A
 * are all usable on B; a node started later reads the registry from Redis. While Redis cannot
 * be reached a device change is refused (503) and nothing is in force anywhere. Nodes that ran
 * alone before: the first to join shares its devices, the next one's are replaced (logged). Two (then
 * three) broker child processes on one real redis-server (unix socket); MQTT.js clients and
 * raw CONNECTs.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { VERSIONS, withTimeout, within, type Version } from '../helpers/broker.js'
import { BrokerProcess, freePort } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import { AUDIENCE, DEVICES_CONFIG, ecPair, type Pair } from '../helpers/devices.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'
import { startRedisFixture } from '../helpers/redis-server.js'
import { cli } from '../helpers/cli.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const API_KEY = 'cluster-devices-test-key'
const BANNED: Readonly<Record<Version, number>> = { 4: 5, 5: 0x8a }
/** Imported devices (the figure). */
const IMPORTED = 1000

function deviceToken(pair: Pair): string {
  return mintToken({ privateKey: pair.privateKey, alg: 'ES256', expiresIn: 600, claims: { aud: AUDIENCE } })
}

function api(adminPort: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  return adminCall(`http://127.0.0.1:${adminPort}/api/v1`, API_KEY, method, path, body)
}


interface Live {
  disconnectReason: number | undefined
  closed: boolean
}

test('cluster: the device registry is one registry for every node', { timeout: 180_000 }, async (t) => {
  const adminPorts = new Map<string, number>()
  const { redis, nodes, clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port, apiKey: API_KEY }, ...DEVICES_CONFIG }
  })
  const [a, b, c] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()
  const A = adminPorts.get('node-a') ?? 0
  const B = adminPorts.get('node-b') ?? 0

  /** A device client connected to `port` with its token; its fate recorded. */
  async function live(port: number, v: Version, id: string, pair: Pair): Promise<Live> {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: v, clientId: id, username: 'device', password: deviceToken(pair), reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(client)
    const state: Live = { disconnectReason: undefined, closed: false }
    client.on('error', () => {})
    client.on('disconnect', (packet) => { state.disconnectReason = packet.reasonCode })
    client.on('close', () => { state.closed = true })
    await withTimeout(new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('close', () => reject(new Error(`${id} not accepted on port ${port}`)))
    }), 8000, 'CONNACK')
    return state
  }

  const pair = ecPair()
  const pairs = new Map<Version, Pair>(VERSIONS.map((v) => [v, ecPair()]))

  await t.test('a device registered through node B connects on node A within a second (3.1.1 and 5.0)', async () => {
    for (const v of VERSIONS) {
      const res = await api(B, 'POST', '/devices', { id: `meter-v${v}`, keys: [{ id: 'k1', pem: pairs.get(v)?.pem }] })
      assert.equal(res.status, 201, JSON.stringify(res.body))
    }
    for (const v of VERSIONS) {
      const inIn = await within(1000, async () => (await connackCode(a.port, v, deviceToken(pairs.get(v) as Pair), { clientId: `meter-v${v}` })) === 0)
      assert.ok(inIn <= 1000, `MQTT ${v}: accepted on node A within 1 s (took ${inIn} ms)`)
    }
    const listed = await api(A, 'GET', '/devices?prefix=meter-')
    assert.deepEqual(listed.body.devices.map((d: { id: string }) => d.id), ['meter-v4', 'meter-v5'], "node A's API lists them")
    // Registering the same id through the other node is a conflict there too.
    assert.equal((await api(A, 'POST', '/devices', { id: 'meter-v4', keys: [{ pem: pair.pem }] })).status, 409)
  })

  await t.test('disabled through node A: its live connections on node B are closed and B refuses it; enabled on B, A takes it again', async () => {
    const onB = new Map<Version, Live>()
    for (const v of VERSIONS) onB.set(v, await live(b.port, v, `meter-v${v}`, pairs.get(v) as Pair))
    for (const v of VERSIONS) {
      const res = await api(A, 'POST', `/devices/meter-v${v}/disable`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    const closedIn = await within(1000, () => VERSIONS.every((v) => onB.get(v)?.closed === true))
    assert.ok(closedIn <= 1000, `the device's connections on node B closed within 1 s (took ${closedIn} ms)`)
    assert.equal(onB.get(5)?.disconnectReason, 0x98, 'MQTT 5: DISCONNECT 0x98 Administrative action')
    for (const v of VERSIONS) {
      assert.equal(await connackCode(b.port, v, deviceToken(pairs.get(v) as Pair), { clientId: `meter-v${v}` }), BANNED[v], `MQTT ${v}: refused as banned on node B`)
    }
    for (const v of VERSIONS) assert.equal((await api(B, 'POST', `/devices/meter-v${v}/enable`)).status, 200)
    for (const v of VERSIONS) {
      const backIn = await within(1000, async () => (await connackCode(a.port, v, deviceToken(pairs.get(v) as Pair), { clientId: `meter-v${v}` })) === 0)
      assert.ok(backIn <= 1000, `MQTT ${v}: accepted again on node A within 1 s (took ${backIn} ms)`)
    }
  })

  await t.test('re-keyed through node B: the client that connected on node A with the removed key is closed; the new key works on A', async () => {
    const next = ecPair()
    const old = await live(a.port, 5, 'meter-v5', pairs.get(5) as Pair)
    assert.equal((await api(B, 'POST', '/devices/meter-v5/keys', { id: 'k2', pem: next.pem })).status, 201)
    assert.equal((await api(B, 'DELETE', '/devices/meter-v5/keys/k1')).status, 200)
    const closedIn = await within(1000, () => old.closed)
    assert.ok(closedIn <= 1000, `closed on node A within 1 s (took ${closedIn} ms)`)
    assert.equal(old.disconnectReason, 0x98)
    assert.equal(await connackCode(a.port, 5, deviceToken(pairs.get(5) as Pair), { clientId: 'meter-v5' }), REFUSED[5], 'the removed key is refused on A')
    assert.equal(await connackCode(a.port, 4, deviceToken(next), { clientId: 'meter-v5' }), 0, 'the new key connects on A')
    pairs.set(5, next)
  })

  await t.test('deleted through node A: its connection on node B is closed and B no longer knows it', async () => {
    const onB = await live(b.port, 4, 'meter-v4', pairs.get(4) as Pair)
    assert.equal((await api(A, 'DELETE', '/devices/meter-v4')).status, 204)
    const closedIn = await within(1000, () => onB.closed)
    assert.ok(closedIn <= 1000, `closed on node B within 1 s (took ${closedIn} ms)`)
    for (const v of VERSIONS) assert.equal(await connackCode(b.port, v, deviceToken(pairs.get(4) as Pair), { clientId: 'meter-v4' }), REFUSED[v])
    assert.equal((await api(B, 'GET', '/devices/meter-v4')).status, 404)
  })

  await t.test(`${IMPORTED} devices imported through node A are all usable on node B`, async () => {
    const fleet = Array.from({ length: IMPORTED }, (_, i) => ({ id: `fleet-${String(i).padStart(4, '0')}`, pair: ecPair() }))
    const res = await api(A, 'POST', '/devices/import', fleet.map((d) => ({ id: d.id, keys: [{ pem: d.pair.pem }] })))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.created, IMPORTED)
    const listedIn = await within(2000, async () => (await api(B, 'GET', '/devices?prefix=fleet-&limit=1000')).body.devices.length === IMPORTED)
    assert.ok(listedIn <= 2000, `node B lists all ${IMPORTED} within 2 s (took ${listedIn} ms)`)
    // Every one connects on node B (eight CONNECTs at a time, alternating 3.1.1 and 5.0).
    const refused: string[] = []
    for (let i = 0; i < fleet.length; i += 8) {
      const batch = fleet.slice(i, i + 8)
      const codes = await Promise.all(batch.map((d, j) => connackCode(b.port, VERSIONS[(i + j) % 2], deviceToken(d.pair), { clientId: d.id })))
      codes.forEach((code, j) => { if (code !== 0) refused.push(`${batch[j].id}: ${code}`) })
    }
    assert.deepEqual(refused, [], 'every imported device connects on node B')
  })

  await t.test('a node started later holds the registry from Redis', async () => {
    await c.start()
    const C = adminPorts.get('node-c') ?? 0
    assert.equal(await connackCode(c.port, 5, deviceToken(pairs.get(5) as Pair), { clientId: 'meter-v5' }), 0)
    assert.equal(await connackCode(c.port, 4, deviceToken(pairs.get(4) as Pair), { clientId: 'meter-v4' }), REFUSED[4], 'the deleted device is unknown there')
    assert.equal((await api(C, 'GET', '/devices?limit=1')).body.total, IMPORTED + 1)
    assert.doesNotMatch(c.output, /differed from the cluster's registry/, 'a new node with no devices of its own has nothing replaced')
  })

  await t.test('Redis unreachable: a device change is refused (503) and nothing is in force', async () => {
    await redis.stop('SIGKILL')
    try {
      const res = await api(A, 'POST', '/devices', { id: 'late-meter', keys: [{ pem: pair.pem }] })
      assert.equal(res.status, 503, JSON.stringify(res.body))
      assert.equal(res.body.error, 'ERR_UNAVAILABLE')
      assert.match(res.body.message, /Redis/)
      assert.equal((await api(A, 'GET', '/devices/late-meter')).status, 404, 'not registered on node A')
      const disabled = await api(B, 'POST', '/devices/meter-v5/disable')
      assert.equal(disabled.status, 503)
      assert.equal((await api(B, 'GET', '/devices/meter-v5')).body.enabled, true, 'still enabled on node B')
    } finally {
      await redis.start()
    }
    // Back: the registry each node held is still the cluster's.
    const backIn = await within(10_000, async () => (await connackCode(a.port, 5, deviceToken(pairs.get(5) as Pair), { clientId: 'meter-v5' })) === 0)
    assert.ok(backIn <= 10_000, `the device connects on node A once Redis is back (took ${backIn} ms)`)
    // Node B may take a moment longer to reconnect (a Redis Cluster's three masters): 503 until then, nothing written.
    let status = 0
    await within(10_000, async () => (status = (await api(B, 'POST', '/devices', { id: 'late-meter', keys: [{ pem: pair.pem }] })).status) !== 503)
    assert.equal(status, 201)
    const inIn = await within(1000, async () => (await api(A, 'GET', '/devices/late-meter')).status === 200)
    assert.ok(inIn <= 1000, `a change after Redis is back reaches node A within 1 s (took ${inIn} ms)`)
  })
})

test("cluster: the first node's stored devices become the cluster's; a node joining later has its own replaced (and says so)", { timeout: 120_000 }, async (t) => {
  const redis = await startRedisFixture()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'))
  const running: BrokerProcess[] = []
  t.after(async () => {
    for (const n of running) await n.kill()
    await redis.destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  const ports = { a: await freePort(), b: await freePort(), adminA: await freePort(), adminB: await freePort() }
  /** Node `name` as it runs alone (no `cluster`), or in the cluster: same data directory, same ports. */
  const node = (name: 'a' | 'b', clustered: boolean): BrokerProcess => {
    const admin = name === 'a' ? ports.adminA : ports.adminB
    const p = new BrokerProcess(dir, ports[name], {
      admin: { host: '127.0.0.1', port: admin, apiKey: API_KEY }, ...DEVICES_CONFIG,
      ...(clustered ? { cluster: { redis: redis.target, nodeId: `node-${name}` } } : {}),
    }, `node-${name}`)
    running.push(p)
    return p
  }
  const own = { a: ecPair(), b: ecPair() }
  // Each node alone first, with a device of its own.
  for (const name of ['a', 'b'] as const) {
    const alone = node(name, false)
    await alone.start()
    const res = await api(name === 'a' ? ports.adminA : ports.adminB, 'POST', '/devices', { id: `own-${name}`, keys: [{ pem: own[name].pem }] })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    await alone.stop()
  }
  const a = node('a', true)
  await a.start()
  const b = node('b', true)
  await b.start()
  for (const v of VERSIONS) {
    assert.equal(await connackCode(b.port, v, deviceToken(own.a), { clientId: 'own-a' }), 0, `MQTT ${v}: node A's device (shared when A started the cluster) connects on B`)
    assert.equal(await connackCode(b.port, v, deviceToken(own.b), { clientId: 'own-b' }), REFUSED[v], `MQTT ${v}: node B's own device is not the cluster's`)
  }
  assert.match(a.output, /no node had shared its devices yet/)
  assert.match(b.output, /devices stored on this node differed from the cluster's registry in Redis and are replaced by it/)
  assert.doesNotMatch(a.output, /differed from the cluster's registry/, 'not said by the node whose devices became the cluster\'s')
  assert.deepEqual((await api(ports.adminB, 'GET', '/devices')).body.devices.map((d: { id: string }) => d.id), ['own-a'])
  // Node B's database keeps a copy of the cluster's registry: `token inspect` there sees it.
  const inspect = await cli(['token', 'inspect', deviceToken(own.a), '--config', join(dir, 'node-b.json'), '--client-id', 'own-a'], dir)
  assert.equal(inspect.code, 0, inspect.stdout + inspect.stderr)
  assert.equal((await cli(['token', 'inspect', deviceToken(own.b), '--config', join(dir, 'node-b.json'), '--client-id', 'own-b'], dir)).code, 1)
})
