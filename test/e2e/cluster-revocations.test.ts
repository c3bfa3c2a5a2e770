/**
 * Revocations cluster-wide (issue 13 item 6): a revocation made through one node's admin API is
 * enforced on every node within a second — the other node refuses the token at CONNECT
 * (0x86 / 4) and closes the revoked subject's live connections (MQTT 5 DISCONNECT 0x98,
 * 3.1.1 closed) — and withdrawing it through another node lets the token in again everywhere.
 * While Redis cannot be reached a revocation is refused (503) rather than enforced on one node
 * only. Two broker child processes on one real redis-server (unix socket); MQTT.js clients.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { mintToken } from '../../src/auth/jwt/tools.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { VERSIONS, withTimeout, within, type Version } from '../helpers/broker.js'
import { freePort, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import type { Json } from '../helpers/json.js'
import { adminCall } from '../helpers/admin-call.js'

const API_KEY = 'cluster-revocations-test-key'
const SECRET = 'cluster-revocations-secret-0123456789abcdef'

function token(sub: string, claims: Record<string, unknown> = {}): string {
  return mintToken({ privateKey: Buffer.from(SECRET), alg: 'HS256', sub, expiresIn: 600, claims })
}

function api(adminPort: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  return adminCall(`http://127.0.0.1:${adminPort}/api/v1`, API_KEY, method, path, body)
}


interface Live {
  readonly client: MqttClient
  /** MQTT 5: the DISCONNECT reason code the broker sent, if any. */
  disconnectReason: number | undefined
  closed: boolean
}

async function live(port: number, v: Version, sub: string): Promise<Live> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: v, clientId: `${sub}-v${v}-${port}`, username: 'u', password: token(sub), reconnectPeriod: 0, connectTimeout: 5000 })
  const state: Live = { client, disconnectReason: undefined, closed: false }
  client.on('error', () => {})
  client.on('disconnect', (packet) => { state.disconnectReason = packet.reasonCode })
  client.on('close', () => { state.closed = true })
  await withTimeout(new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('close', () => reject(new Error(`${sub} not accepted`)))
  }), 8000, 'CONNACK')
  return state
}

test('cluster: a revocation made through one node is enforced on every node within a second', { timeout: 120_000 }, async (t) => {
  const adminPorts = new Map<string, number>()
  const { redis, nodes, clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return {
      admin: { host: '127.0.0.1', port, apiKey: API_KEY },
      authentication: { allowAnonymous: false, authenticators: [{ type: 'jwt', name: 'hs', from: 'password', algorithm: 'hmac-based', secret: SECRET }] },
    }
  })
  const [a, b, c] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess]
  await a.start()
  await b.start()
  const A = adminPorts.get('node-a') ?? 0
  const B = adminPorts.get('node-b') ?? 0

  await t.test('a subject revoked through node A: node B closes its live connections (3.1.1 and 5.0) and refuses it at CONNECT', async () => {
    const onB = new Map<Version, Live>()
    for (const v of VERSIONS) {
      const l = await live(b.port, v, 'alice')
      clients.push(l.client)
      onB.set(v, l)
    }
    const bob = await live(b.port, 5, 'bob')
    clients.push(bob.client)
    const res = await api(A, 'POST', '/revocations', { sub: 'alice', reason: 'left the company' })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const id = res.body.revocation.id as string
    const closedIn = await within(1000, () => VERSIONS.every((v) => onB.get(v)?.closed === true))
    assert.ok(closedIn <= 1000, `alice's connections on node B closed within 1 s (took ${closedIn} ms)`)
    assert.equal(onB.get(5)?.disconnectReason, 0x98, 'MQTT 5: DISCONNECT 0x98 Administrative action')
    assert.equal(bob.closed, false, "another subject's connection stays")
    for (const v of VERSIONS) assert.equal(await connackCode(b.port, v, token('alice')), REFUSED[v], `MQTT ${v}: refused at CONNECT on node B`)
    assert.ok((await api(B, 'GET', '/revocations')).body.some((r: { id: string }) => r.id === id), "node B's API lists it")

    // …withdrawn through node B: node A lets alice in again within a second
    assert.equal((await api(B, 'DELETE', `/revocations/${id}`)).status, 204)
    const backIn = await within(1000, async () => (await connackCode(a.port, 4, token('alice'))) === 0)
    assert.ok(backIn <= 1000, `accepted again on node A within 1 s (took ${backIn} ms)`)
    assert.equal(await connackCode(a.port, 5, token('alice')), 0)
    assert.equal((await api(A, 'GET', '/revocations')).body.length, 0)
  })

  await t.test('a jti revoked through node B is refused on node A within a second', async () => {
    const jti = 'leaked-token-1'
    const leaked = mintToken({ privateKey: Buffer.from(SECRET), alg: 'HS256', sub: 'carol', expiresIn: 600, claims: { jti } })
    for (const v of VERSIONS) assert.equal(await connackCode(a.port, v, leaked), 0)
    assert.equal((await api(B, 'POST', '/revocations', { jti })).status, 201)
    const refusedIn = await within(1000, async () => (await connackCode(a.port, 5, leaked)) === REFUSED[5])
    assert.ok(refusedIn <= 1000, `refused on node A within 1 s (took ${refusedIn} ms)`)
    assert.equal(await connackCode(a.port, 4, leaked), REFUSED[4])
    assert.equal(await connackCode(a.port, 5, token('carol')), 0, "the subject's other tokens still work")
  })

  await t.test("a node that starts later enforces the cluster's list, not its own", async () => {
    await c.start()
    const leaked = mintToken({ privateKey: Buffer.from(SECRET), alg: 'HS256', sub: 'carol', expiresIn: 600, claims: { jti: 'leaked-token-1' } })
    for (const v of VERSIONS) assert.equal(await connackCode(c.port, v, leaked), REFUSED[v])
    assert.equal((await api(adminPorts.get('node-c') ?? 0, 'GET', '/revocations')).body.length, 1)
  })

  await t.test('Redis unreachable: a revocation is refused (503) instead of enforced on one node only', async () => {
    await redis.stop('SIGKILL')
    try {
      const res = await api(A, 'POST', '/revocations', { sub: 'dave' })
      assert.equal(res.status, 503, JSON.stringify(res.body))
      assert.equal(res.body.error, 'ERR_UNAVAILABLE')
      assert.ok(!(await api(A, 'GET', '/revocations')).body.some((r: { value: string }) => r.value === 'dave'), 'nothing in force on node A')
    } finally {
      await redis.start()
    }
  })
})
