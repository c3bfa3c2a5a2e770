/**
 * `type: introspection` (OAuth 2.0 Token Introspection, RFC 7662) over real sockets, against
 * a real introspection endpoint on loopback: active and inactive tokens, claims checks, the
 * answer's ACL and exp, the cache and single-flight, and an endpoint that is down, slow,
 * erroring, redirecting or answering garbage — which must never let a client in.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { connackCode, REFUSED, startAuthBroker, UNAVAILABLE, useServiceBroker } from '../helpers/auth-broker.js'
import { AuthService, deadPort, type Mode } from '../helpers/auth-service.js'
import { TestCa } from '../helpers/certs.js'
import { publishCode, subscribeCodes } from '../helpers/outcomes.js'
import { connect, connectWithInbox, end, rawSocket, uid, VERSIONS, type RunningBroker } from '../helpers/broker.js'
import { validateConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/log.js'
import { createServer } from '../../src/server.js'
import { now } from '../helpers/tokens.js'

const CLIENT_SECRET = 'broker-client-secret-value'

/** An opaque reference token, as an OAuth 2.0 server issues them. */
const opaque = (): string => `opq_${randomBytes(18).toString('base64url')}`

function introspectionService(): { service: AuthService; tokens: Map<string, Record<string, unknown>> } {
  const tokens = new Map<string, Record<string, unknown>>()
  const service = new AuthService((r) => ({ body: tokens.get(String(r.fields['token'])) ?? { active: false } }))
  return { service, tokens }
}

const entry = (endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'introspection', name: 'oauth', from: 'password', endpoint, clientId: 'mqtt-broker', clientSecret: CLIENT_SECRET, ...extra,
})

for (const version of VERSIONS) {
  describe(`09 introspection authentication, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    const { service, tokens } = introspectionService()
    const active = (claims: Record<string, unknown> = {}): string => {
      const t = opaque()
      tokens.set(t, { active: true, sub: 'alice', client_id: 'app', scope: 'mqtt', exp: now() + 600, ...claims })
      return t
    }
    const broker = useServiceBroker(
      service,
      (url) => ({ authenticators: [entry(url, { claims: { audience: ['mqtt'], match: { sub: '${username}' } } })] }),
      { noMatch: 'deny', policies: [{ name: 'own-topics', priority: 1, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['own/${claims.sub}/#'] }] },
    )

    test('an active token is accepted; the request is RFC 7662 §2.1 with client_secret_basic', async () => {
      service.reset()
      const t = active({ aud: 'mqtt', sub: 'device' })
      const before = service.requests.length
      assert.equal(await connackCode(broker.port, version, t), 0)
      const r = service.requests[before]
      assert.equal(r.method, 'POST')
      assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded')
      assert.equal(r.fields['token'], t)
      assert.equal(r.fields['token_type_hint'], 'access_token')
      assert.equal(r.headers.authorization, `Basic ${Buffer.from(`mqtt-broker:${CLIENT_SECRET}`).toString('base64')}`)
      assert.equal(r.fields['client_secret'], undefined)
    })

    test('active: false → refused 0x86 / 4', async () => {
      service.reset()
      const t = opaque()
      tokens.set(t, { active: false })
      assert.equal(await connackCode(broker.port, version, t), REFUSED[version])
    })

    test('the answer feeds the claims checks: wrong aud, or sub not the username → refused 0x86 / 4', async () => {
      service.reset()
      assert.equal(await connackCode(broker.port, version, active({ aud: 'other', sub: 'device' })), REFUSED[version])
      assert.equal(await connackCode(broker.port, version, active({ aud: ['x', 'mqtt'], sub: 'someone-else' })), REFUSED[version])
      assert.equal(await connackCode(broker.port, version, active({ aud: 'mqtt', sub: 'device', exp: now() - 30 })), REFUSED[version])
    })

    for (const mode of ['error', 'garbage', 'redirect', 'huge', 'hang'] as Mode[]) {
      test(`endpoint ${mode === 'hang' ? 'too slow (timeout)' : `answering ${mode}`} → 0x88 / 3, never an allow`, async () => {
        service.reset()
        service.behaviour.mode = mode
        const t = active({ aud: 'mqtt', sub: 'device' })
        assert.equal(await connackCode(broker.port, version, t), UNAVAILABLE[version])
        service.reset()
        assert.equal(await connackCode(broker.port, version, t), 0, 'the same token works once the endpoint is well again (failures are not cached)')
      })
    }

    test('an answer without a boolean "active" is garbage → 0x88 / 3', async () => {
      service.reset()
      const t = opaque()
      tokens.set(t, { active: 'true', sub: 'device', aud: 'mqtt' })
      assert.equal(await connackCode(broker.port, version, t), UNAVAILABLE[version])
    })

    test('concurrent CONNECTs with one token make one request; later ones hit the cache', async () => {
      service.reset()
      service.behaviour.delayMs = 150
      const t = active({ aud: 'mqtt', sub: 'device' })
      const before = service.requests.length
      const codes = await Promise.all(Array.from({ length: 20 }, () => connackCode(broker.port, version, t)))
      assert.deepEqual(new Set(codes), new Set([0]))
      assert.equal(service.requests.length - before, 1, 'one request for 20 concurrent CONNECTs')
      assert.equal(await connackCode(broker.port, version, t), 0)
      assert.equal(service.requests.length - before, 1, 'answered from the cache')
    })

    test('the answer\'s claims fill placeholders: own/${claims.sub}/# allowed, others denied', async () => {
      service.reset()
      const t = active({ aud: 'mqtt', sub: 'device' })
      const { client, inbox } = await connectWithInbox(broker.port, { protocolVersion: version, clientId: uid(), username: 'device', password: t })
      assert.deepEqual(await subscribeCodes(client, ['own/device/#', 'own/other/#'], { qos: 1 }), version === 5 ? [1, 0x87] : [1, 0x80])
      await client.publishAsync('own/device/x', 'hi', { qos: 1 })
      assert.equal((await inbox.next('own/device/x')).payload.toString(), 'hi')
      await end(client)
    })

    test('the client is disconnected at the answer\'s exp', async () => {
      service.reset()
      const raw = await rawSocket(broker.port, version)
      const c = await raw.connect({ clientId: uid(), username: 'device', password: Buffer.from(active({ aud: 'mqtt', sub: 'device', exp: now() + 2 })) })
      assert.equal(version === 5 ? c.reasonCode : c.returnCode, 0)
      if (version === 5) assert.equal((await raw.next('disconnect', 5000)).reasonCode, 0xa0)
      await raw.waitClosed(5000)
    })
  })
}

describe('09 introspection: MQTT 5 authentication method, re-authentication, ACL from the answer', () => {
  const { service, tokens } = introspectionService()
  let broker: RunningBroker
  const active = (claims: Record<string, unknown> = {}): string => {
    const t = opaque()
    tokens.set(t, { active: true, sub: 'bob', exp: now() + 600, ...claims })
    return t
  }
  before(async () => {
    await service.start()
    broker = await startAuthBroker({ authenticators: [entry(service.url)] }, { noMatch: 'deny' })
  })
  after(async () => {
    await broker.close()
    await service.stop()
  })

  test('Authentication Method OAUTH2 carries the token; AUTH 0x19 re-authenticates [MQTT-4.12.1-1]', async () => {
    const raw = await rawSocket(broker.port, 5)
    const c = await raw.connect({ clientId: uid(), properties: { authenticationMethod: 'OAUTH2', authenticationData: Buffer.from(active({ exp: now() + 2 })) } })
    assert.equal(c.reasonCode, 0)
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'OAUTH2', authenticationData: Buffer.from(active()) } })
    assert.equal((await raw.next('auth')).reasonCode, 0)
    await new Promise((r) => setTimeout(r, 3200))
    assert.equal(raw.closed, false, 'the fresh token\'s exp applies')
    const dead = opaque()
    tokens.set(dead, { active: false })
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'OAUTH2', authenticationData: Buffer.from(dead) } })
    assert.equal((await raw.next('disconnect')).reasonCode, 0x87)
    await raw.waitClosed()
  })

  test('an ACL in the answer (authorization.aclClaim) decides publish and subscribe', async () => {
    const t = active({ acl: { pub: ['cmd/${clientid}'], sub: ['cmd/${clientid}'] } })
    const clientId = uid('acl')
    const client = await connect(broker.port, { protocolVersion: 5, clientId, username: 'bob', password: t })
    assert.deepEqual(await subscribeCodes(client, [`cmd/${clientId}`, 'cmd/other'], { qos: 1 }), [1, 0x87])
    assert.equal(await publishCode(client, 'cmd/other', 'x', { qos: 1 }), 0x87)
    assert.equal(await publishCode(client, `cmd/${clientId}`, 'x', { qos: 1 }), 0)
    await end(client)
  })
})

describe('09 introspection: client_secret_post, https with a private CA, an endpoint that is down, secrets kept out of logs', () => {
  test('clientAuth: post sends client_id and client_secret in the form, no Authorization header', async () => {
    const { service, tokens } = introspectionService()
    await service.start()
    const broker = await startAuthBroker({ authenticators: [entry(service.url, { clientAuth: 'post' })] })
    try {
      const t = opaque()
      tokens.set(t, { active: true })
      assert.equal(await connackCode(broker.port, 5, t), 0)
      const r = service.requests.at(-1)!
      assert.equal(r.headers.authorization, undefined)
      assert.equal(r.fields['client_id'], 'mqtt-broker')
      assert.equal(r.fields['client_secret'], CLIENT_SECRET)
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('https endpoint with a private CA (ca): trusted with the ca, refused (0x88) without it', async () => {
    const ca = TestCa.create()
    const other = TestCa.create('Another CA')
    const serverCert = ca.issue('127.0.0.1', { server: true, san: ['IP:127.0.0.1'] })
    const tokens = new Map<string, Record<string, unknown>>()
    const service = new AuthService((r) => ({ body: tokens.get(String(r.fields['token'])) ?? { active: false } }), { key: serverCert.key, cert: serverCert.cert })
    await service.start()
    const trusting = await startAuthBroker({ authenticators: [entry(service.url, { ca: ca.cert })] })
    const wrongCa = await startAuthBroker({ authenticators: [entry(service.url, { ca: other.cert })] })
    const defaultRoots = await startAuthBroker({ authenticators: [entry(service.url)] })
    try {
      const t = opaque()
      tokens.set(t, { active: true })
      assert.equal(await connackCode(trusting.port, 5, t), 0)
      assert.equal(await connackCode(wrongCa.port, 5, t), 0x88)
      assert.equal(await connackCode(defaultRoots.port, 4, t), 3)
    } finally {
      for (const b of [trusting, wrongCa, defaultRoots]) await b.close()
      await service.stop()
      ca.remove()
      other.remove()
    }
  })

  test('identity: the answer\'s client_id becomes the client id (another one → 0x85 / 2), sub the username', async () => {
    const { service, tokens } = introspectionService()
    await service.start()
    const broker = await startAuthBroker(
      { authenticators: [entry(service.url, { identity: { clientId: 'client_id', username: 'sub' } })] },
      { noMatch: 'deny', policies: [{ name: 'by-username', priority: 1, effect: 'allow', actions: ['subscribe'], topics: ['u/${username}'] }] },
    )
    try {
      const t = opaque()
      tokens.set(t, { active: true, client_id: 'device-42', sub: 'carol' })
      assert.equal(await connackCode(broker.port, 5, t, { clientId: 'someone-else' }), 0x85)
      assert.equal(await connackCode(broker.port, 4, t, { clientId: 'someone-else' }), 2)
      const c = await connect(broker.port, { protocolVersion: 5, clientId: 'device-42', username: 'ignored', password: t })
      assert.deepEqual(await subscribeCodes(c, ['u/carol', 'u/ignored'], { qos: 0 }), [0, 0x87])
      await end(c)
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('endpoint down → 0x88 / 3 for both protocol versions', async () => {
    const broker = await startAuthBroker({ authenticators: [entry(`http://127.0.0.1:${await deadPort()}/introspect`)] })
    try {
      for (const version of VERSIONS) assert.equal(await connackCode(broker.port, version, opaque()), UNAVAILABLE[version])
      const status = broker.server.authenticators[0].status()
      assert.equal(status.state, 'unavailable')
      assert.match(status.lastError ?? '', /request failed/)
    } finally {
      await broker.close()
    }
  })

  test('neither the token nor the client secret reaches the log, whatever happens', async () => {
    const { service, tokens } = introspectionService()
    await service.start()
    let logged = ''
    const sink = new Writable({ write(chunk, _enc, done) { logged += String(chunk); done() } })
    const server = await createServer(validateConfig({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
      persistence: false,
      authentication: { authenticators: [entry(service.url)] },
      authorization: { noMatch: 'allow' },
    }), { logger: createLogger({ level: 'trace', destination: sink }) })
    const port = server.listeners[0].port
    try {
      const good = opaque()
      tokens.set(good, { active: true })
      const dead = opaque()
      tokens.set(dead, { active: false })
      assert.equal(await connackCode(port, 5, good), 0)
      assert.equal(await connackCode(port, 4, dead), 4)
      service.behaviour.mode = 'error'
      const failing = opaque()
      assert.equal(await connackCode(port, 5, failing), 0x88)
      for (const secret of [good, dead, failing, CLIENT_SECRET, Buffer.from(`mqtt-broker:${CLIENT_SECRET}`).toString('base64')]) {
        assert.ok(!logged.includes(secret), 'a secret was logged')
      }
      assert.match(logged, /introspection endpoint unusable/)
    } finally {
      await server.close()
      await service.stop()
    }
  })
})
