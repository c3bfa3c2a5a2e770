/**
 * The JWKS state the nodes of a cluster share (issue 13 item 6): JWKS authenticators of two
 * "nodes" in this process, each with its own Redis connection, on a real redis-server (unix
 * socket) and a real HTTP key-set server on loopback that counts its requests. A set one node
 * fetched is used by the other; an entry of another endpoint, with a key set id that does not
 * match its document, or too old, is never used; Redis unreachable: each node works alone.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { after, afterEach, before, describe, test } from 'node:test'
import { createAuthenticator, type TokenAuthenticator } from '../../src/auth/create.js'
import { keySetId } from '../../src/auth/jwks/share.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { sharedJwksKey, SharedJwks } from '../../src/cluster/shared-jwks.js'
import { createLogger, silentLogger, type Logger } from '../../src/log.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { withTimeout } from '../helpers/broker.js'
import { JwksServer, startJwksServer } from '../helpers/jwks-server.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { sign, testKey, withPassword } from '../helpers/tokens.js'

const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'k2' })
const BOUNDED = { timeout: 30_000 }
/** The configured refresh interval and grace period (defaults: 60 s, 3600 s). */
const REFRESH_MS = 60_000
const GRACE_MS = 3_600_000

let redis: RedisServer
const states: RedisState[] = []
const shares: SharedJwks[] = []
const open: TokenAuthenticator[] = []
const servers: JwksServer[] = []

before(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  for (const a of open.splice(0)) await withTimeout(a.close(), 5000, 'authenticator close')
  for (const s of shares.splice(0)) s.close()
  for (const s of states.splice(0)) await withTimeout(s.close(), 5000, 'redis close').catch(() => {})
  for (const s of servers.splice(0)) await withTimeout(s.stop(), 5000, 'jwks server stop')
})
after(async () => {
  await redis.destroy()
})

async function node(nodeId: string, logger: Logger = silentLogger()): Promise<SharedJwks> {
  const state = await RedisState.open({ path: redis.socket }, nodeId, silentLogger())
  states.push(state)
  const share = new SharedJwks(state, logger)
  shares.push(share)
  return share
}

async function flush(): Promise<void> {
  const state = await RedisState.open({ path: redis.socket }, 'flush', silentLogger())
  try {
    await state.client.flushall()
  } finally {
    await state.close()
  }
}

function jwksAuthenticator(endpoint: string, share: SharedJwks, logger: Logger = silentLogger()): TokenAuthenticator {
  const config = parseAuthenticatorConfig({ type: 'jwks', name: 'idp', from: 'password', endpoint }, 'authentication.authenticators[0]')
  const a = createAuthenticator(config, { logger, jwksShare: share })
  open.push(a)
  return a
}

async function result(a: TokenAuthenticator, token: string): Promise<string> {
  const o = await withTimeout(Promise.resolve(a.authenticate(withPassword(token))), 10_000, 'authenticate')
  return o.result === 'allow' ? 'allow' : `${o.result}:${o.error?.code ?? ''}`
}

/** An endpoint that refuses connections (a server started and stopped: its port is free). */
async function deadEndpoint(): Promise<string> {
  const s = await startJwksServer()
  const endpoint = s.endpoint
  await s.stop()
  return endpoint
}

const URL_OF = (endpoint: string): string => `${endpoint}/.well-known/jwks.json`

/** Writes an entry for `endpoint` straight into Redis, as a node (or an intruder) would. */
async function plant(endpoint: string, fields: { url?: string; document?: string; setId?: string; at: number }): Promise<void> {
  const document = fields.document ?? JSON.stringify({ keys: [k1.publicJwk] })
  const state = await RedisState.open({ path: redis.socket }, 'planter', silentLogger())
  try {
    await state.client.hset(sharedJwksKey(URL_OF(endpoint)), {
      url: fields.url ?? URL_OF(endpoint), set: fields.setId ?? keySetId(document), doc: document, at: fields.at, node: 'node-x',
    })
  } finally {
    await state.close()
  }
}

function capture(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += d.toString()))
  return {
    logger: createLogger({ destination: out, level: 'info' }),
    lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

describe('cluster: JWKS sets shared through Redis', () => {
  test('a set one node fetched is taken by the next node without asking the issuer; a rotation seen by one is seen by the other', BOUNDED, async () => {
    await flush()
    const issuer = await startJwksServer([k1.publicJwk])
    servers.push(issuer)
    const a = jwksAuthenticator(issuer.endpoint, await node('node-a'))
    await a.start()
    assert.equal(issuer.requests, 1)
    const b = jwksAuthenticator(issuer.endpoint, await node('node-b'))
    await b.start()
    assert.equal(issuer.requests, 1, 'node B took the set node A fetched within the refresh interval')
    assert.equal(await result(b, sign(k1, { sub: 'd' })), 'allow')
    assert.deepEqual(b.status().fromCluster, { sets: 1, lastNode: 'node-a' })
    assert.equal(b.status().state, 'ok')

    // The issuer rotates: node B meets the new kid first and fetches it; node A is told and takes it
    // (node A's own kid cooldown, 5 s from its start-up fetch, would refuse the new kid until then).
    issuer.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    assert.equal(await result(b, sign(k2, { sub: 'd' })), 'allow')
    assert.equal(issuer.requests, 2)
    const t0 = performance.now()
    while (!a.status().kids.includes('k2') && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(a.status().kids, ['k1', 'k2'], 'node A took the set node B fetched')
    assert.equal(await result(a, sign(k2, { sub: 'd' })), 'allow')
    assert.equal(issuer.requests, 2, 'without asking the issuer')
    assert.deepEqual(a.status().fromCluster, { sets: 1, lastNode: 'node-b' })
  })

  test('a node whose first fetch fails uses the last good set any node fetched; the grace period runs from when it was due', BOUNDED, async () => {
    await flush()
    const endpoint = await deadEndpoint()
    const fetchedAt = Date.now() - 2 * REFRESH_MS // older than the refresh interval: not taken while the issuer answers
    await plant(endpoint, { at: fetchedAt })
    const { logger, lines } = capture()
    const b = jwksAuthenticator(endpoint, await node('node-b'), logger)
    await b.start()
    const status = b.status()
    assert.equal(status.state, 'stale')
    assert.deepEqual(status.kids, ['k1'])
    assert.equal(status.consecutiveFailures, 1)
    assert.deepEqual(status.fromCluster, { sets: 1, lastNode: 'node-x' })
    assert.equal(await result(b, sign(k1, { sub: 'd' })), 'allow')
    assert.ok(lines().some((l) => l['msg'] === "JWKS fetch failed: the cluster's last good set is used" && l['node'] === 'node-x'))
  })

  test('an entry of another endpoint, with a key set id that does not match its document, or too old, is never used', BOUNDED, async () => {
    const endpoint = await deadEndpoint()
    const other = await deadEndpoint()
    const forged = JSON.stringify({ keys: [k2.publicJwk] })
    const cases: Array<[string, Parameters<typeof plant>[1], string]> = [
      ['another endpoint', { url: URL_OF(other), at: Date.now() }, 'it was fetched from another endpoint'],
      ['a key set id of another document', { document: forged, setId: keySetId(JSON.stringify({ keys: [k1.publicJwk] })), at: Date.now() }, 'its key set id does not match its document'],
      ['older than refreshInterval + gracePeriod', { at: Date.now() - REFRESH_MS - GRACE_MS - 1000 }, 'it is older than the refresh interval plus the grace period'],
    ]
    for (const [what, entry, reason] of cases) {
      await flush()
      await plant(endpoint, entry)
      const { logger, lines } = capture()
      const b = jwksAuthenticator(endpoint, await node('node-b'), logger)
      await b.start()
      assert.equal(b.status().state, 'unavailable', what)
      assert.equal(b.status().fromCluster?.sets, 0, what)
      assert.equal(await result(b, sign(k1, { sub: 'd' })), 'ignore:ERR_JWKS_UNAVAILABLE', what)
      assert.equal(await result(b, sign(k2, { sub: 'd' })), 'ignore:ERR_JWKS_UNAVAILABLE', what)
      assert.ok(lines().some((l) => l['msg'] === 'cluster: the JWKS set shared for this endpoint is not used' && l['reason'] === reason), what)
      await b.close()
    }
  })

  test('Redis unreachable: a node fetches and verifies on its own, never waits at CONNECT, and says so once', BOUNDED, async () => {
    await flush()
    const issuer = await startJwksServer([k1.publicJwk])
    servers.push(issuer)
    const { logger, lines } = capture()
    const share = await node('node-a', logger)
    await redis.stop('SIGKILL')
    try {
      const a = jwksAuthenticator(issuer.endpoint, share, logger)
      const t0 = performance.now()
      await withTimeout(a.start(), 5000, 'start without Redis')
      assert.equal(issuer.requests, 1)
      assert.equal(await result(a, sign(k1, { sub: 'd' })), 'allow')
      // an unknown kid: the cooldown is decided here alone; the answer does not wait for Redis
      await new Promise((r) => setTimeout(r, 5100)) // past the node's own 5 s cooldown (real time: Redis is a real process)
      assert.equal(await result(a, sign(testKey('ES256', { fresh: true, kid: 'nope' }), { sub: 'd' })), 'ignore:ERR_JWT_KID_UNKNOWN')
      assert.equal(issuer.requests, 2, 'the node refetched by its own cooldown')
      assert.ok(performance.now() - t0 < 15_000)
      const said = lines().filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('cluster: the JWKS key set cannot be shared through Redis'))
      assert.equal(said.length, 1, 'one clear line, not one per command')
    } finally {
      await redis.start()
    }
  })
})
