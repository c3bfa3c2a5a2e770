/**
 * Management cluster-wide, the clients part (issue 13 item 6): `GET /clients`, `GET /clients/:id`
 * (and its permissions) and `DELETE /clients/:id` answer for a client on any node, whichever
 * node's admin API is asked; each entry names its node; a node that is paused or down is a
 * clear error naming it, never a hang; `/metrics` is per node with a `node` label. Three broker
 * child processes on one real redis-server (unix socket); MQTT.js clients, 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import type { Json } from '../helpers/json.js'
import { VERSIONS, delay, withTimeout, type Version } from '../helpers/broker.js'
import { connectRetry, freePort, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'

const API_KEY = 'cluster-clients-test-key'

async function api(adminPort: number, method: string, path: string): Promise<{ status: number; body: Json; ms: number }> {
  const t0 = performance.now()
  const res = await fetch(`http://127.0.0.1:${adminPort}${path.startsWith('/metrics') ? '' : '/api/v1'}${path}`, {
    method, headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  const ms = performance.now() - t0
  if (path.startsWith('/metrics')) return { status: res.status, body: text, ms }
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), ms }
}

/** Ask until `ok` holds, at most `ms` (bounded in count and time). */
async function eventually<T>(ms: number, ask: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = performance.now() + ms
  for (let i = 0; ; i++) {
    const v = await ask()
    if (ok(v)) return v
    if (performance.now() > deadline || i > 200) throw new Error(`timeout: ${what} (last: ${JSON.stringify(v)})`)
    await delay(50)
  }
}

const persistent = (v: Version): mqtt.IClientOptions =>
  ({ clean: false, protocolVersion: v, ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) })

test('cluster: the clients API answers for a client on any node', async (t) => {
  const adminPorts = new Map<string, number>()
  const { redis, nodes, clients } = await clusterNodes(t, ['node-a', 'node-b', 'node-c'], async (nodeId) => {
    const port = await freePort()
    adminPorts.set(nodeId, port)
    return { admin: { host: '127.0.0.1', port, apiKey: API_KEY } }
  })
  const [a, b, c] = nodes as [BrokerProcess, BrokerProcess, BrokerProcess]
  await Promise.all([a.start(), b.start(), c.start()])
  const adminOf = (nodeId: string): number => adminPorts.get(nodeId) ?? 0
  const A = adminOf('node-a'), B = adminOf('node-b'), C = adminOf('node-c')
  const open = async (node: BrokerProcess, opts: mqtt.IClientOptions): Promise<MqttClient> => {
    const client = await connectRetry(node.port, opts)
    clients.push(client)
    return client
  }

  // Per version: a clean client on A, a subscribed one on B, an offline persistent session on C.
  const onB = new Map<Version, MqttClient>()
  for (const v of VERSIONS) {
    await open(a, { clientId: `cc-v${v}-a`, protocolVersion: v })
    const bClient = await open(b, { clientId: `cc-v${v}-b`, protocolVersion: v })
    await bClient.subscribeAsync('cc/#', { qos: 1 })
    onB.set(v, bClient)
    const away = await open(c, { clientId: `cc-v${v}-c`, ...persistent(v) })
    await away.subscribeAsync('cc/away', { qos: 1 })
    await withTimeout(away.endAsync(), 5000, 'persistent client ends')
  }
  const expected = new Map(VERSIONS.flatMap((v) => [[`cc-v${v}-a`, 'node-a'], [`cc-v${v}-b`, 'node-b'], [`cc-v${v}-c`, 'node-c']] as const))

  await t.test('GET /clients on any node lists every node\'s clients, each with its node, page by page', async () => {
    for (const port of [A, B, C]) {
      const all = await eventually(5000, () => api(port, 'GET', '/clients?q=cc-v'), (r) => r.status === 200 && r.body.length === expected.size, 'every client listed')
      assert.deepEqual(all.body.map((e: Json) => e.clientId), [...expected.keys()].sort(), 'client id order across nodes')
      for (const e of all.body) {
        assert.equal(e.node, expected.get(e.clientId), `${e.clientId}'s node`)
        assert.equal(e.connected, !e.clientId.endsWith('-c'))
      }
    }
    // Pages of 2 in each order walk the same list as one answer (the cursor works across nodes).
    for (const [sort, order] of [['clientId', 'asc'], ['connectedAt', 'desc'], ['address', 'asc']] as const) {
      const whole = (await api(A, 'GET', `/clients?q=cc-v&sort=${sort}&order=${order}`)).body.map((e: Json) => e.clientId)
      const walked: string[] = []
      let cursor = ''
      for (let page = 0; page < 10; page++) {
        const r = await api(A, 'GET', `/clients?q=cc-v&sort=${sort}&order=${order}&limit=2${cursor}`)
        assert.equal(r.status, 200, JSON.stringify(r.body))
        walked.push(...r.body.map((e: Json) => e.clientId))
        if (r.body.length < 2) break
        const last = r.body[r.body.length - 1]
        const key = sort === 'connectedAt' ? (last.connectedAt ?? '') : sort === 'address' ? (last.address ?? '') : undefined
        cursor = `&after=${encodeURIComponent(last.clientId)}${key === undefined ? '' : `&afterKey=${encodeURIComponent(key)}`}`
      }
      assert.deepEqual(walked, whole, `${sort} ${order}: pages of 2 = the whole list`)
      assert.equal(walked.length, expected.size)
    }
    const connectedOnly = (await api(B, 'GET', '/clients?q=cc-v&state=offline')).body.map((e: Json) => e.clientId)
    assert.deepEqual(connectedOnly, ['cc-v4-c', 'cc-v5-c'], 'state=offline on node B: node C\'s sessions')
  })

  await t.test('GET /clients/:id and its permissions come from the node that holds the client', async () => {
    const r = await api(A, 'GET', '/clients/cc-v5-b')
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.node, 'node-b')
    assert.equal(r.body.connected, true)
    assert.equal(r.body.protocolVersion, 5)
    assert.deepEqual(r.body.subscriptionList, [{ topic: 'cc/#', qos: 1 }])
    const off = await api(B, 'GET', '/clients/cc-v4-c')
    assert.equal(off.status, 200)
    assert.equal(off.body.node, 'node-c')
    assert.equal(off.body.connected, false)
    assert.deepEqual(off.body.subscriptionList, [{ topic: 'cc/away', qos: 1 }])
    const perms = await api(C, 'GET', '/clients/cc-v4-b/permissions?action=publish&topic=cc/x')
    assert.equal(perms.status, 200, JSON.stringify(perms.body))
    assert.equal(perms.body.clientId, 'cc-v4-b')
    assert.equal(perms.body.check.allowed, true)
    const offPerms = await api(A, 'GET', '/clients/cc-v5-c/permissions')
    assert.equal(offPerms.status, 404, 'an offline session has no permissions (node C\'s answer)')
    assert.match(offPerms.body.message, /not connected/)
    const none = await api(A, 'GET', '/clients/cc-nobody')
    assert.equal(none.status, 404)
    assert.equal(none.body.error, 'ERR_NOT_FOUND')
  })

  for (const v of VERSIONS) {
    await t.test(`MQTT ${v === 5 ? '5.0' : '3.1.1'}: DELETE /clients/:id through node A disconnects the client on node B; an offline session on C ends`, async () => {
      const client = onB.get(v)
      assert.ok(client !== undefined)
      let reason: number | undefined
      client.on('disconnect', (p) => (reason = p.reasonCode))
      const closed = new Promise<void>((r) => client.once('close', () => r()))
      const r = await api(A, 'DELETE', `/clients/cc-v${v}-b`)
      assert.equal(r.status, 204, JSON.stringify(r.body))
      await withTimeout(closed, 5000, 'the client on node B is closed')
      if (v === 5) assert.equal(reason, 0x98, 'DISCONNECT 0x98 Administrative action')
      await eventually(3000, () => api(A, 'GET', `/clients/cc-v${v}-b`), (g) => g.status === 404, 'gone after the disconnect')

      assert.equal((await api(A, 'DELETE', `/clients/cc-v${v}-c`)).status, 204, 'node C ends its offline session')
      await eventually(3000, () => api(B, 'GET', `/clients/cc-v${v}-c`), (g) => g.status === 404, 'the offline session is gone')
      const again = await api(A, 'DELETE', `/clients/cc-v${v}-c`)
      assert.equal(again.status, 404, 'no node holds it')
    })
  }

  await t.test('/metrics is per node, with a node label', async () => {
    const m = await api(B, 'GET', '/metrics')
    assert.equal(m.status, 200)
    assert.match(m.body as string, /^portcullis_connections\{node="node-b"\} \d+$/m)
    assert.doesNotMatch(m.body as string, /node="node-a"/)
    assert.match((await api(A, 'GET', '/metrics')).body as string, /^portcullis_sessions\{node="node-a"\} \d+$/m)
  })

  await t.test('without limit, another node\'s whole list comes in parts that keep under Redis\'s pub/sub output limit', async () => {
    // 1,100 clients on node B: one answer (~400 KB) would pass the 256 KB limit set here and Redis
    // would drop node A's listening connection; parts of 500 stay under it.
    const admin = redis.client()
    try {
      await admin.config('SET', 'client-output-buffer-limit', 'pubsub 262144 131072 60')
    } finally {
      admin.disconnect()
    }
    const bulk = Array.from({ length: 1100 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`)
    for (let i = 0; i < bulk.length; i += 100) {
      await Promise.all(bulk.slice(i, i + 100).map((clientId) => open(b, { clientId, protocolVersion: 4 })))
    }
    const whole = await api(A, 'GET', '/clients?q=bulk-')
    assert.equal(whole.status, 200, JSON.stringify(whole.body))
    assert.deepEqual(whole.body.map((e: Json) => e.clientId), bulk)
    assert.ok(whole.body.every((e: Json) => e.node === 'node-b'))
    const newest = await api(A, 'GET', '/clients?q=bulk-&sort=connectedAt&order=desc')
    assert.equal(newest.body.length, bulk.length, 'the parts of a keyed order join up too')
    assert.equal(new Set(newest.body.map((e: Json) => e.clientId)).size, bulk.length)
    for (const c of clients.splice(clients.length - bulk.length)) c.end(true)
  })

  await t.test('a paused node is a clear error naming it, not a hang; a node that died is named at once', async () => {
    await open(c, { clientId: 'cc-held', ...persistent(5) })
    assert.equal((await api(A, 'GET', '/clients/cc-held')).status, 200)
    // Asked at once, all three (node C counts as dead 3 s after its last heartbeat).
    c.signal('SIGSTOP')
    let one, list, del
    try {
      [one, list, del] = await Promise.all([api(A, 'GET', '/clients/cc-held'), api(A, 'GET', '/clients?limit=10'), api(B, 'DELETE', '/clients/cc-held')])
    } finally {
      c.signal('SIGCONT')
    }
    assert.equal(one.status, 503, JSON.stringify(one.body))
    assert.equal(one.body.error, 'ERR_UNAVAILABLE')
    assert.equal(one.body.node, 'node-c')
    assert.match(one.body.message, /client 'cc-held' is held by node 'node-c': node 'node-c' did not answer within 2000 ms/)
    assert.ok(one.ms < 5000, `answered in ${Math.round(one.ms)} ms`)
    assert.equal(list.status, 503, JSON.stringify(list.body))
    assert.equal(list.body.node, 'node-c')
    assert.equal(del.status, 503, JSON.stringify(del.body))
    assert.match(del.body.message, /client 'cc-held' is held by node 'node-c'/)
    await eventually(5000, () => api(A, 'GET', '/clients/cc-held'), (r) => r.status === 200, 'answers again once resumed')

    await open(c, { clientId: 'cc-held-2', ...persistent(4) })
    assert.equal((await api(A, 'GET', '/clients/cc-held-2')).body.node, 'node-c')
    await c.kill()
    const dead = await eventually(3000, () => api(A, 'GET', '/clients/cc-held-2'), (r) => r.status === 503, 'node C named as down')
    assert.equal(dead.body.node, 'node-c')
    assert.match(dead.body.message, /client 'cc-held-2' is held by node 'node-c', which (does not listen|is down)/)
    assert.ok(dead.ms < 2000, `without waiting for an answer (${Math.round(dead.ms)} ms)`)
    const rest = await api(A, 'GET', '/clients?q=cc-v')
    assert.equal(rest.status, 200, 'the live nodes still list theirs')
    assert.deepEqual(rest.body.map((e: Json) => e.clientId), ['cc-v4-a', 'cc-v5-a'])

    // A node that stopped cleanly keeps its offline sessions for its return: the answer says so.
    const left = await open(b, { clientId: 'cc-left', ...persistent(5) })
    await withTimeout(left.endAsync(), 5000, 'persistent client ends')
    assert.equal((await api(A, 'GET', '/clients/cc-left')).body.node, 'node-b')
    await b.stop()
    const stopped = await eventually(3000, () => api(A, 'DELETE', '/clients/cc-left'), (r) => r.status === 503 && /which stopped/.test(r.body.message), 'node B named as stopped')
    assert.equal(stopped.body.node, 'node-b')
    assert.match(stopped.body.message, /client 'cc-left' is held by node 'node-b', which stopped \(last heartbeat .+\): its offline session waits in Redis until the client connects again/)

    // Redis itself paused (every master of a Redis Cluster): a clear error after the answer time, not a request that waits for Redis.
    const redisPids = 'pids' in redis ? redis.pids : redis.pid === undefined ? [] : [redis.pid]
    assert.ok(redisPids.length > 0)
    for (const pid of redisPids) process.kill(pid, 'SIGSTOP')
    let lookup, page
    try {
      [lookup, page] = await Promise.all([api(A, 'GET', '/clients/cc-v4-a'), api(A, 'GET', '/clients?limit=5')])
    } finally {
      for (const pid of redisPids) process.kill(pid, 'SIGCONT')
    }
    assert.equal(lookup.status, 503, JSON.stringify(lookup.body))
    assert.match(lookup.body.message, /the cluster's Redis did not answer within 2000 ms/)
    assert.ok(lookup.ms < 5000, `answered in ${Math.round(lookup.ms)} ms`)
    assert.equal(page.status, 503, JSON.stringify(page.body))
    assert.match(page.body.message, /the cluster's Redis did not answer within 2000 ms/)
  })
})
