/**
 * JWT authentication over real sockets, MQTT 3.1.1 and 5.0: each algorithm and PEM kind,
 * token field, claim rules, hostile tokens, the authenticator chain, and the README's
 * outcome table (0x86 / 4 for a refused token).
 */
import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { JwsAlgorithm } from '../../src/auth/jwt/algorithms.js'
import { startAuthBroker } from '../helpers/auth-broker.js'
import { assertHealthy, connect, connectForConnack, end, rawSocket, uid, VERSIONS, type RunningBroker, type Version } from '../helpers/broker.js'
import { CERT_FIXTURES, hmacWith, now, sign, testKey, unsigned } from '../helpers/tokens.js'

const SECRET = 'a-development-secret-of-at-least-32-bytes!'
const REFUSED: Record<Version, number> = { 4: 4, 5: 0x86 }

/** CONNACK code a client gets for a token in the password (0 when accepted). */
async function connackFor(port: number, version: Version, password: string | undefined, extra: Record<string, unknown> = {}): Promise<number> {
  const raw = await rawSocket(port, version)
  try {
    const connack = await raw.connect({
      clientId: (extra['clientId'] as string | undefined) ?? uid('c'),
      username: (extra['username'] as string | undefined) ?? 'device',
      ...(password !== undefined ? { password: Buffer.from(password) } : {}),
      ...(extra['properties'] !== undefined ? { properties: extra['properties'] as object } : {}),
    })
    return (version === 5 ? connack.reasonCode : connack.returnCode) as number
  } finally {
    raw.destroy()
  }
}

for (const version of VERSIONS) {
  describe(`09 JWT authentication, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    describe('hmac-based, token in the password', () => {
      let broker: RunningBroker
      before(async () => {
        broker = await startAuthBroker({
          authenticators: [{ type: 'jwt', from: 'password', algorithm: 'hmac-based', secret: SECRET, claims: { issuer: ['https://id.example'], audience: ['mqtt'], maxAge: 600, leeway: 2, match: { cid: '${clientid}' } } }],
        })
      })
      after(() => broker.close())
      const good = (over: Record<string, unknown> = {}, clientId = 'dev-1'): string =>
        hmacWith(SECRET, { sub: 'dev', iss: 'https://id.example', aud: 'mqtt', cid: clientId, iat: now(), exp: now() + 60, ...over })

      test('a valid HS256 token connects and the client works', async () => {
        const client = await connect(broker.port, { protocolVersion: version, clientId: 'dev-1', username: 'dev', password: good() })
        await assertHealthy(client)
        await end(client)
      })
      test('wrong secret, no password, garbage → refused (0x86 / 4)', async () => {
        assert.equal(await connackFor(broker.port, version, hmacWith('another-secret-that-is-long-enough-32b', { exp: now() + 60 }), { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, undefined, { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, 'not-a-token', { clientId: 'dev-1' }), REFUSED[version])
      })
      test('expired, not yet valid, issued in the future, too old → refused', async () => {
        for (const claims of [{ exp: now() - 10 }, { nbf: now() + 60 }, { iat: now() + 60 }, { iat: now() - 3600 }]) {
          assert.equal(await connackFor(broker.port, version, good(claims), { clientId: 'dev-1' }), REFUSED[version], JSON.stringify(claims))
        }
      })
      test('leeway: exp 1 s in the past is still accepted with leeway 2', async () => {
        assert.equal(await connackFor(broker.port, version, good({ exp: now() - 1 }), { clientId: 'dev-1' }), 0)
      })
      test('wrong issuer or audience → refused; audience as an array intersecting → accepted', async () => {
        assert.equal(await connackFor(broker.port, version, good({ iss: 'https://evil.example' }), { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, good({ aud: 'other' }), { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, good({ aud: ['other', 'mqtt'] }), { clientId: 'dev-1' }), 0)
      })
      test('claims.match: the cid claim must equal the client id', async () => {
        assert.equal(await connackFor(broker.port, version, good({}, 'dev-1'), { clientId: 'dev-2' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, good({}, 'dev-2'), { clientId: 'dev-2' }), 0)
      })
      test('alg none, a JWE, an oversize token → refused', async () => {
        assert.equal(await connackFor(broker.port, version, unsigned({ alg: 'none' }, { exp: now() + 60, cid: 'dev-1' }), { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d', { clientId: 'dev-1' }), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, good({ pad: 'x'.repeat(9000) }), { clientId: 'dev-1' }), REFUSED[version])
      })
      test('a refused client does not disturb a connected one', async () => {
        const healthy = await connect(broker.port, { protocolVersion: version, clientId: 'dev-1', username: 'dev', password: good() })
        for (let i = 0; i < 5; i++) await connackFor(broker.port, version, 'x.y.z', { clientId: `bad-${i}` })
        await assertHealthy(healthy)
        await end(healthy)
      })
    })

    describe('public-key: every algorithm, and SPKI / PKCS#1 / certificate PEMs', () => {
      const algs: JwsAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
      let broker: RunningBroker
      const keys = algs.map((alg) => testKey(alg, { fresh: true }))
      const rsaPkcs1 = createPublicKey(keys[0].privateKey).export({ format: 'pem', type: 'pkcs1' }).toString()
      before(async () => {
        broker = await startAuthBroker({
          authenticators: [
            ...keys.map((k, i) => ({ type: 'jwt', name: `pk-${i}`, from: 'password', algorithm: 'public-key', publicKey: i === 0 ? rsaPkcs1 : k.publicPem })),
            { type: 'jwt', name: 'cert-ec', from: 'password', algorithm: 'public-key', publicKey: CERT_FIXTURES.ec.certPem },
            { type: 'jwt', name: 'cert-rsa', from: 'password', algorithm: 'public-key', publicKey: CERT_FIXTURES.rsa.certPem },
          ],
        })
      })
      after(() => broker.close())
      for (const [i, alg] of algs.entries()) {
        test(`${alg}${i === 0 ? ' (PKCS#1 PEM)' : ''} token accepted`, async () => {
          assert.equal(await connackFor(broker.port, version, sign(keys[i], { sub: 'd' })), 0)
        })
      }
      test('tokens signed by the keys of X.509 certificate PEMs are accepted', async () => {
        const { createPrivateKey } = await import('node:crypto')
        const ec = { alg: 'ES256' as const, kid: 'ec', privateKey: createPrivateKey(CERT_FIXTURES.ec.privateKeyPem), publicJwk: {} }
        const rsa = { alg: 'RS256' as const, kid: 'rsa', privateKey: createPrivateKey(CERT_FIXTURES.rsa.privateKeyPem), publicJwk: {} }
        assert.equal(await connackFor(broker.port, version, sign(ec, { sub: 'd' })), 0)
        assert.equal(await connackFor(broker.port, version, sign(rsa, { sub: 'd' })), 0)
      })
      test('algorithm confusion: HS256 signed with an RSA public key PEM as the secret is refused', async () => {
        assert.equal(await connackFor(broker.port, version, hmacWith(keys[0].publicPem!, { exp: now() + 60 })), REFUSED[version])
        assert.equal(await connackFor(broker.port, version, hmacWith(rsaPkcs1, { exp: now() + 60 })), REFUSED[version])
      })
      test('a token signed by an unknown key is refused after every authenticator passed it on', async () => {
        assert.equal(await connackFor(broker.port, version, sign(testKey('ES256', { fresh: true }), { sub: 'd' })), REFUSED[version])
      })
    })

    describe('token in the username; chain order; anonymous', () => {
      let broker: RunningBroker
      const rsa = testKey('RS256')
      before(async () => {
        broker = await startAuthBroker({
          allowAnonymous: true,
          authenticators: [
            { type: 'jwt', name: 'hmac-user', from: 'username', algorithm: 'hmac-based', secret: SECRET },
            { type: 'jwt', name: 'rsa-pass', from: 'password', algorithm: 'public-key', publicKey: rsa.publicPem, claims: { issuer: ['corp'] } },
          ],
        })
      })
      after(() => broker.close())
      test('token in the username field', async () => {
        const raw = await rawSocket(broker.port, version)
        const connack = await raw.connect({ clientId: uid(), username: hmacWith(SECRET, { exp: now() + 60 }) })
        assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0)
        raw.destroy()
      })
      test('a token the first authenticator cannot verify passes to the second', async () => {
        assert.equal(await connackFor(broker.port, version, sign(rsa, { iss: 'corp' }), { username: 'plain-name' }), 0)
      })
      test('verified by the second but a claim fails → refused at once', async () => {
        assert.equal(await connackFor(broker.port, version, sign(rsa, { iss: 'other' }), { username: 'plain-name' }), REFUSED[version])
      })
      test('allowAnonymous admits a client with no credentials, not one with bad ones', async () => {
        const raw = await rawSocket(broker.port, version)
        const connack = await raw.connect({ clientId: uid() })
        assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0)
        raw.destroy()
        assert.equal(await connackFor(broker.port, version, 'bad', { username: 'nobody' }), REFUSED[version])
      })
    })
  })
}

describe('09 JWT authentication, MQTT 5.0 Authentication Method', () => {
  let broker: RunningBroker
  before(async () => {
    broker = await startAuthBroker({ authenticators: [{ type: 'jwt', algorithm: 'hmac-based', secret: SECRET }] })
  })
  after(() => broker.close())
  test('Authentication Method JWT with the token as Authentication Data connects', async () => {
    const { client, connack } = await connectForConnack(broker.port, {
      protocolVersion: 5,
      clientId: uid(),
      properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(hmacWith(SECRET, { exp: now() + 60 })) },
    })
    assert.equal(connack.reasonCode, 0)
    assert.equal(connack.properties?.authenticationMethod, 'JWT')
    await end(client)
  })
  test('an unknown Authentication Method gets 0x8C', async () => {
    const raw = await rawSocket(broker.port, 5)
    const connack = await raw.connect({ clientId: uid(), properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('x') } })
    assert.equal(connack.reasonCode, 0x8c)
    await raw.waitClosed()
  })
})
