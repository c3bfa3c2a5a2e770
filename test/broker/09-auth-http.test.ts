/**
 * `type: http` over real sockets, against a real HTTP auth service on loopback: allow, deny
 * and ignore answers, the answer's ACL, superuser flag and expire_at, templated JSON and form
 * bodies, the cache of allows, and a service that is down, slow, erroring or answering
 * garbage — which never lets a client in. A connect storm of 2,000 clients opens at most
 * maxConnections sockets to the service.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { describe, test } from 'node:test'
import { connackCode, REFUSED, startAuthBroker, UNAVAILABLE, useServiceBroker } from '../helpers/auth-broker.js'
import { AuthService, deadPort, type Mode, type RecordedRequest } from '../helpers/auth-service.js'
import { connect, connectBytes, end, rawSocket, uid, VERSIONS, type Version } from '../helpers/broker.js'
import { publishCode, subscribeCodes } from '../helpers/outcomes.js'
import { hmacWith, now } from '../helpers/tokens.js'

/** The service answers by password: "allow…" allows, "deny…" denies, anything else ignores. */
function decide(r: RecordedRequest): { body: unknown } {
  const given = r.fields['password'] ?? r.fields['secret']
  const password = typeof given === 'string' ? given : ''
  if (password.startsWith('allow-acl')) return { body: { result: 'allow', acl: { pub: ['dev/${clientid}/#'], sub: ['dev/${clientid}/#'] } } }
  if (password.startsWith('allow-super')) return { body: { result: 'allow', is_superuser: true } }
  if (password.startsWith('allow-exp')) return { body: { result: 'allow', expire_at: Math.floor(Date.now() / 1000) + 2 } }
  if (password.startsWith('allow')) return { body: { result: 'allow' } }
  if (password.startsWith('deny')) return { body: { result: 'deny' } }
  if (password.startsWith('weird')) return { body: { result: 'yes' } }
  return { body: { result: 'ignore' } }
}

/** A bare CONNECT over a plain socket and the CONNACK's code (light enough for a storm of thousands). */
function bareConnackCode(port: number, version: Version, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(connectBytes({ protocolVersion: version, clientId: uid('s'), username: 'd', password: Buffer.from(password) })))
    let got = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (got.length >= 4) {
        socket.destroy()
        resolve(got[3]) // CONNACK: type, length, flags, then the return / reason code
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error('closed before CONNACK')))
  })
}

const entry = (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'http', name: 'svc', url, ...extra })

for (const version of VERSIONS) {
  describe(`09 HTTP authentication, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    const service = new AuthService(decide)
    const broker = useServiceBroker(
      service,
      (url) => ({ authenticators: [entry(url, { headers: { 'X-Api-Key': 'service-key' } })] }),
      { noMatch: 'deny', superuserClaim: 'is_superuser' },
    )

    test('allow → accepted; the request is a JSON POST of clientid, username, password, peerhost with the configured headers', async () => {
      service.reset()
      const clientId = uid('h')
      assert.equal(await connackCode(broker.port, version, 'allow-1', { clientId }), 0)
      const r = service.requests.at(-1)!
      assert.equal(r.method, 'POST')
      assert.equal(r.headers['content-type'], 'application/json')
      assert.equal(r.headers['x-api-key'], 'service-key')
      assert.deepEqual(r.fields, { clientid: clientId, username: 'device', password: 'allow-1', peerhost: '127.0.0.1' })
    })

    test('deny → refused 0x86 / 4; ignore with no one else → refused 0x86 / 4', async () => {
      service.reset()
      assert.equal(await connackCode(broker.port, version, 'deny-1'), REFUSED[version])
      assert.equal(await connackCode(broker.port, version, 'nobody'), REFUSED[version])
    })

    for (const mode of ['error', 'garbage', 'redirect', 'huge', 'hang'] as Mode[]) {
      test(`service ${mode === 'hang' ? 'too slow (timeout)' : `answering ${mode}`} → 0x88 / 3, never an allow`, async () => {
        service.reset()
        service.behaviour.mode = mode
        assert.equal(await connackCode(broker.port, version, 'allow-2'), UNAVAILABLE[version])
        service.reset()
      })
    }

    test('a 4xx status, or a result that is not allow / deny / ignore → 0x88 / 3', async () => {
      service.reset()
      service.behaviour.mode = 'error'
      service.behaviour.errorStatus = 401
      assert.equal(await connackCode(broker.port, version, 'allow-3'), UNAVAILABLE[version])
      service.behaviour.errorStatus = 500
      service.reset()
      assert.equal(await connackCode(broker.port, version, 'weird'), UNAVAILABLE[version])
    })

    test('the answer\'s acl decides publish and subscribe; is_superuser (superuserClaim) may do anything', async () => {
      service.reset()
      const clientId = uid('acl')
      const c = await connect(broker.port, { protocolVersion: version, clientId, username: 'd', password: 'allow-acl' })
      assert.deepEqual(await subscribeCodes(c, [`dev/${clientId}/#`, 'dev/other/#'], { qos: 1 }), version === 5 ? [1, 0x87] : [1, 0x80])
      if (version === 5) assert.equal(await publishCode(c, 'dev/other/x', 'no', { qos: 1 }), 0x87)
      const su = await connect(broker.port, { protocolVersion: version, clientId: uid('su'), username: 'root', password: 'allow-super' })
      assert.deepEqual(await subscribeCodes(su, ['anything/#'], { qos: 1 }), [1])
      await end(c, su)
    })

    test('expire_at ends the connection then', async () => {
      service.reset()
      const raw = await rawSocket(broker.port, version)
      const c = await raw.connect({ clientId: uid(), username: 'd', password: Buffer.from('allow-exp') })
      assert.equal(version === 5 ? c.reasonCode : c.returnCode, 0)
      if (version === 5) assert.equal((await raw.next('disconnect', 5000)).reasonCode, 0xa0)
      await raw.waitClosed(5000)
    })
  })
}

describe('09 HTTP authentication: form bodies, templates, cache, chain, down, storm', () => {
  test('format: form with templated fields (${proto_ver}, text around placeholders)', async () => {
    const service = await new AuthService(decide).start()
    const broker = await startAuthBroker({ authenticators: [entry(service.url, { format: 'form', body: { user: 'u:${username}', secret: '${password}', v: '${proto_ver}', cn: '${cert_cn}' } })] })
    try {
      assert.equal(await connackCode(broker.port, 4, 'allow-f'), 0)
      const r = service.requests.at(-1)!
      assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded')
      assert.deepEqual(r.fields, { user: 'u:device', secret: 'allow-f', v: '4', cn: '' })
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('cacheTtl: an allow for the same request is reused; another password asks again; denials are not cached', async () => {
    const service = await new AuthService(decide).start()
    const broker = await startAuthBroker({ authenticators: [entry(service.url, { cacheTtl: 60 })] })
    try {
      const clientId = uid()
      assert.equal(await connackCode(broker.port, 5, 'allow-c', { clientId }), 0)
      assert.equal(await connackCode(broker.port, 5, 'allow-c', { clientId }), 0)
      assert.equal(service.requests.length, 1, 'the second CONNECT was answered from the cache')
      assert.equal(await connackCode(broker.port, 5, 'allow-d', { clientId }), 0)
      assert.equal(service.requests.length, 2)
      assert.equal(await connackCode(broker.port, 5, 'deny-c', { clientId }), 0x86)
      assert.equal(await connackCode(broker.port, 5, 'deny-c', { clientId }), 0x86)
      assert.equal(service.requests.length, 4)
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('result ignore passes the client to the next authenticator (a JWT one here)', async () => {
    const service = await new AuthService(decide).start()
    const secret = 'http-chain-tests-secret-with-32-bytes-plus'
    const broker = await startAuthBroker({ authenticators: [entry(service.url), { type: 'jwt', algorithm: 'hmac-based', from: 'password', secret }] })
    try {
      assert.equal(await connackCode(broker.port, 5, hmacWith(secret, { sub: 'd', exp: now() + 60 })), 0)
      assert.equal(service.requests.length, 1, 'the service was asked first')
      assert.equal(await connackCode(broker.port, 5, 'deny-x'), 0x86, 'a deny stops the chain')
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('service down → 0x88 / 3', async () => {
    const broker = await startAuthBroker({ authenticators: [entry(`http://127.0.0.1:${await deadPort()}/auth`)] })
    try {
      for (const version of VERSIONS) assert.equal(await connackCode(broker.port, version, 'allow'), UNAVAILABLE[version])
      assert.equal(broker.server.authenticators[0].status().state, 'unavailable')
    } finally {
      await broker.close()
    }
  })

  test('more than maxConnections + maxPending waiting → 0x88 at once (the rest are answered)', async () => {
    const service = await new AuthService(decide).start()
    service.behaviour.delayMs = 300
    const broker = await startAuthBroker({ authenticators: [entry(service.url, { maxConnections: 1, maxPending: 2 })] })
    try {
      const codes = await Promise.all(Array.from({ length: 8 }, (_, i) => connackCode(broker.port, 5, `allow-p${i}`)))
      assert.equal(codes.filter((c) => c === 0).length, 3)
      assert.equal(codes.filter((c) => c === 0x88).length, 5)
      assert.equal(service.maxOpen, 1)
    } finally {
      await broker.close()
      await service.stop()
    }
  })

  test('a connect storm of 2,000 clients opens at most maxConnections (8) sockets to the service', async () => {
    const service = await new AuthService(decide).start()
    const broker = await startAuthBroker({ authenticators: [entry(service.url, { maxConnections: 8, maxPending: 5000, timeoutMs: 30_000 })] })
    try {
      let accepted = 0
      for (let batch = 0; batch < 4; batch++) {
        const codes = await Promise.all(Array.from({ length: 500 }, (_, i) => bareConnackCode(broker.port, i % 2 === 0 ? 4 : 5, `allow-s${batch}-${i}`)))
        accepted += codes.filter((c) => c === 0).length
      }
      assert.equal(accepted, 2000)
      assert.equal(service.requests.length, 2000)
      assert.ok(service.connections <= 8, `sockets opened to the service: ${service.connections}`)
      assert.ok(service.maxOpen <= 8)
    } finally {
      await broker.close()
      await service.stop()
    }
  })
})
