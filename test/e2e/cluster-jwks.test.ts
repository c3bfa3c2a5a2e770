/**
 * The JWKS last good set and the unknown-kid refetch cooldown are shared by the nodes of a
 * cluster (issue 13 item 6): two broker child processes on one real redis-server (unix socket),
 * a real HTTP key-set server on loopback that counts its requests, MQTT 3.1.1 and 5.0 clients.
 * - A node that starts while the issuer is down verifies tokens with the set another node
 *   fetched (without the sharing: 0x88 / 3, no key set).
 * - A rotation one node fetched (a token with the new kid) is taken by the other node without
 *   asking the issuer.
 * - A flood of tokens with unknown kids spread over both nodes makes at most one fetch of the
 *   issuer per cooldown (5 s) across the cluster, not one per node.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sharedJwksKey } from '../../src/cluster/shared-jwks.js'
import { connackCode, REFUSED } from '../helpers/auth-broker.js'
import { delay, VERSIONS, withTimeout } from '../helpers/broker.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import { startJwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'

/** kidRefetchCooldown (default 5 s) and refreshInterval (default 60 s), as configured. */
const COOLDOWN_MS = 5000
const REFRESH_MS = 60_000
const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'k2' })

test('cluster: the JWKS last good set and the unknown-kid cooldown are shared', { timeout: 120_000 }, async (t) => {
  const issuer = await startJwksServer([k1.publicJwk])
  t.after(() => withTimeout(issuer.stop(), 5000, 'jwks server stop'))
  const issuerPort = issuer.port
  const { redis, nodes: [a, b] } = await clusterNodes(t, ['node-a', 'node-b'], () => ({
    authentication: { allowAnonymous: false, authenticators: [{ type: 'jwks', name: 'idp', from: 'password', endpoint: issuer.endpoint }] },
  }))
  if (a === undefined || b === undefined) throw new Error('two nodes')
  const r = redis.client()
  t.after(() => r.disconnect())
  await withTimeout(r.connect(), 5000, 'redis connect')
  const entryKey = sharedJwksKey(`${issuer.endpoint}/.well-known/jwks.json`)

  await a.start()
  assert.equal(issuer.requests, 1, 'node A fetched the set')
  let lastAttemptOnB = 0

  await t.test('a node started while the issuer is down verifies with the set node A fetched (3.1.1 and 5.0)', async () => {
    await issuer.stop()
    // The set was fetched longer ago than the refresh interval: node B asks the issuer first (which fails).
    await r.hset(entryKey, 'at', Date.now() - 2 * REFRESH_MS)
    lastAttemptOnB = performance.now()
    await b.start()
    for (const v of VERSIONS) assert.equal(await connackCode(b.port, v, sign(k1, { sub: `d${v}` })), 0, `MQTT ${v}: accepted on node B`)
    assert.match(b.output, /JWKS fetch failed: the cluster's last good set is used/)
  })

  await t.test("a rotation fetched by node B is taken by node A without asking the issuer", async () => {
    await issuer.start(issuerPort)
    issuer.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    const before = issuer.requests
    // node B's own cooldown counts from its start-up attempt
    await delay(Math.max(0, lastAttemptOnB + COOLDOWN_MS + 200 - performance.now()))
    lastAttemptOnB = performance.now()
    assert.equal(await connackCode(b.port, 5, sign(k2, { sub: 'rotated' })), 0, 'the new kid made node B fetch the new set')
    assert.equal(issuer.requests, before + 1)
    for (const v of VERSIONS) {
      // node A is told of the new set (pub/sub) and takes it from Redis: no request of its own
      let code = -1
      for (let i = 0; i < 40 && code !== 0; i++) {
        code = await connackCode(a.port, v, sign(k2, { sub: `rotated${v}` }))
        if (code !== 0) await delay(50)
      }
      assert.equal(code, 0, `MQTT ${v}: node A accepts the new kid`)
    }
    assert.equal(issuer.requests, before + 1, 'node A did not ask the issuer')
  })

  await t.test('a flood of unknown kids over both nodes fetches the issuer once per cooldown across the cluster', async () => {
    // past both nodes' own cooldowns and the cluster's (node B's fetch above)
    await delay(Math.max(0, lastAttemptOnB + COOLDOWN_MS + 200 - performance.now()))
    const before = issuer.requests
    const t0 = performance.now()
    const codes = await Promise.all(Array.from({ length: 20 }, (_, i) => {
      const stranger = testKey('ES256', { kid: `unknown-${i}` })
      const v = VERSIONS[i % 2]
      return connackCode((i % 4 < 2 ? a : b).port, v, sign(stranger, { sub: `x${i}` })).then((code) => [v, code] as const)
    }))
    const elapsed = performance.now() - t0
    for (const [v, code] of codes) assert.equal(code, REFUSED[v])
    const fetches = issuer.requests - before
    // one per cooldown begun during the flood (a flood on a loaded machine may outlast one)
    const allowed = 1 + Math.floor(elapsed / COOLDOWN_MS)
    assert.ok(fetches >= 1 && fetches <= allowed, `issuer fetched ${fetches} times in ${Math.round(elapsed)} ms (at most ${allowed})`)
  })
})
