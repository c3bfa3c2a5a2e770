import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createHmac, createPublicKey, generateKeyPairSync, createPrivateKey } from 'node:crypto'
import { SignJWT, importPKCS8, exportPKCS8 } from 'jose'
import { createAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { decodeJws } from '../../src/auth/jwt/jws.js'
import { mintToken } from '../../src/auth/jwt/tools.js'
import type { AuthOutcome } from '../../src/auth/types.js'
import { silentLogger } from '../../src/log.js'
import { ASYMMETRIC_ALGS, CERT_FIXTURES, b64url, hmacWith, now, sign, testKey, unsigned, withPassword } from '../helpers/tokens.js'

const logger = silentLogger()

function auth(raw: Record<string, unknown>) {
  return createAuthenticator(parseAuthenticatorConfig({ from: 'password', ...raw }, 'authenticators[0]'), { logger, cacheSize: 0 })
}

function pemAuth(publicKey: string, extra: Record<string, unknown> = {}) {
  return auth({ type: 'jwt', algorithm: 'public-key', publicKey, ...extra })
}

async function outcome(a: ReturnType<typeof auth>, token: string): Promise<AuthOutcome> {
  return a.authenticate(withPassword(token))
}

function assertIgnored(o: AuthOutcome, code: string): void {
  assert.equal(o.result, 'ignore', JSON.stringify(o))
  assert.equal(o.result === 'ignore' && o.error?.code, code)
}

describe('signature verification: every algorithm', () => {
  for (const alg of ASYMMETRIC_ALGS) {
    it(`${alg} with an SPKI public key`, async () => {
      const key = testKey(alg)
      const a = pemAuth(key.publicPem!)
      const o = await outcome(a, sign(key, { sub: 'dev-1' }))
      assert.equal(o.result, 'allow')
      assert.equal(o.result === 'allow' && o.identity.claims?.['sub'], 'dev-1')
      // A different key of the same type does not verify it.
      const other = testKey(alg, { fresh: true })
      assertIgnored(await outcome(a, sign(other)), 'ERR_JWT_SIGNATURE_INVALID')
    })
  }
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    it(`${alg} with a secret long enough for it`, async () => {
      const key = testKey(alg)
      const a = auth({ type: 'jwt', algorithm: 'hmac-based', secret: (key.privateKey as Buffer).toString('base64'), secretBase64: true })
      assert.equal((await outcome(a, sign(key))).result, 'allow')
      assertIgnored(await outcome(a, sign(testKey(alg))), 'ERR_JWT_SIGNATURE_INVALID')
    })
  }
  it('a 32-byte secret verifies HS256 but not HS512 (HMAC floor per algorithm)', async () => {
    const secret = 'k'.repeat(32)
    const a = auth({ type: 'jwt', algorithm: 'hmac-based', secret })
    assert.equal((await outcome(a, mintToken({ privateKey: secret, alg: 'HS256', expiresIn: 60 }))).result, 'allow')
    assertIgnored(await outcome(a, mintToken({ privateKey: secret, alg: 'HS512', expiresIn: 60 })), 'ERR_JWT_ALG_NOT_ALLOWED')
  })
  it('verifies tokens signed by jose (interoperability)', async () => {
    for (const alg of ASYMMETRIC_ALGS) {
      const key = testKey(alg)
      const pkcs8 = await exportPKCS8(key.privateKey as never)
      const token = await new SignJWT({ sub: 'j' }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('5m').sign(await importPKCS8(pkcs8, alg))
      assert.equal((await outcome(pemAuth(key.publicPem!), token)).result, 'allow', alg)
    }
    const secret = new TextEncoder().encode('s'.repeat(64))
    const hs = await new SignJWT({ sub: 'j' }).setProtectedHeader({ alg: 'HS512' }).sign(secret)
    assert.equal((await outcome(auth({ type: 'jwt', algorithm: 'hmac-based', secret: 's'.repeat(64) }), hs)).result, 'allow')
  })
})

describe('PEM kinds', () => {
  it('PKCS#1 RSA PUBLIC KEY', async () => {
    const key = testKey('RS256')
    const pkcs1 = createPublicKey(key.publicPem!).export({ format: 'pem', type: 'pkcs1' }).toString()
    assert.equal((await outcome(pemAuth(pkcs1), sign(key))).result, 'allow')
  })
  it('X.509 certificates (EC and RSA): the subject public key verifies', async () => {
    const ec = createPrivateKey(CERT_FIXTURES.ec.privateKeyPem)
    const rsa = createPrivateKey(CERT_FIXTURES.rsa.privateKeyPem)
    assert.equal((await outcome(pemAuth(CERT_FIXTURES.ec.certPem), mintToken({ privateKey: ec, alg: 'ES256', expiresIn: 60 }))).result, 'allow')
    assert.equal((await outcome(pemAuth(CERT_FIXTURES.rsa.certPem), mintToken({ privateKey: rsa, alg: 'PS384', expiresIn: 60 }))).result, 'allow')
    assertIgnored(await outcome(pemAuth(CERT_FIXTURES.ec.certPem), sign(testKey('ES256'))), 'ERR_JWT_SIGNATURE_INVALID')
  })
  it('an RSA-PSS-only key verifies PS* and never RS*', async () => {
    const pair = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
    const a = pemAuth(pair.publicKey.export({ format: 'pem', type: 'spki' }).toString())
    assert.equal((await outcome(a, mintToken({ privateKey: pair.privateKey, alg: 'PS256', expiresIn: 60 }))).result, 'allow')
    assertIgnored(await outcome(a, unsigned({ alg: 'RS256' }, { sub: 'x' }, 'AAAA')), 'ERR_JWT_ALG_NOT_ALLOWED')
  })
})

describe('algorithm binding (the key decides, never the token)', () => {
  it('RSA public key PEM used as an HMAC secret (HS256) is refused', async () => {
    const key = testKey('RS256')
    const a = pemAuth(key.publicPem!)
    for (const variant of [key.publicPem!, key.publicPem!.trim(), createPublicKey(key.publicPem!).export({ format: 'der', type: 'spki' })]) {
      assertIgnored(await outcome(a, hmacWith(variant)), 'ERR_JWT_ALG_NOT_ALLOWED')
    }
    // The same with a certificate-configured key.
    assertIgnored(await outcome(pemAuth(CERT_FIXTURES.rsa.certPem), hmacWith(CERT_FIXTURES.rsa.certPem)), 'ERR_JWT_ALG_NOT_ALLOWED')
  })
  it('an EC key only verifies the ES algorithm of its curve', async () => {
    const p256 = testKey('ES256')
    const a = pemAuth(p256.publicPem!)
    const relabelled = sign(p256).split('.')
    relabelled[0] = b64url({ alg: 'ES384', typ: 'JWT' })
    assertIgnored(await outcome(a, relabelled.join('.')), 'ERR_JWT_ALG_NOT_ALLOWED')
  })
  it('the algorithms allow-list narrows what a key verifies', async () => {
    const key = testKey('RS256')
    const a = pemAuth(key.publicPem!, { algorithms: ['PS256'] })
    assertIgnored(await outcome(a, sign(key)), 'ERR_JWT_ALG_NOT_ALLOWED')
    assert.equal((await outcome(a, sign(testKey('PS256')))).result, 'allow')
  })
  it("alg 'none' (any case) is always refused, with or without a signature", async () => {
    const a = auth({ type: 'jwt', algorithm: 'hmac-based', secret: 'k'.repeat(32) })
    for (const alg of ['none', 'None', 'NONE']) {
      assertIgnored(await outcome(a, unsigned({ alg })), 'ERR_JWT_ALG_NOT_ALLOWED')
      assertIgnored(await outcome(a, unsigned({ alg }, undefined, 'c2ln')), 'ERR_JWT_ALG_NOT_ALLOWED')
    }
  })
  it('unknown algorithms are refused', async () => {
    const a = pemAuth(testKey('ES256').publicPem!)
    assertIgnored(await outcome(a, unsigned({ alg: 'ES256K' }, undefined, 'AAAA')), 'ERR_JWT_ALG_NOT_ALLOWED')
  })
  it('embedded key headers (jwk, jku, x5u, x5c) are never used', async () => {
    const attacker = testKey('ES256', { fresh: true })
    const a = pemAuth(testKey('ES256').publicPem!)
    const token = sign(attacker, {}, {
      header: { jwk: attacker.publicJwk, jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/c.pem', x5c: [Buffer.from(CERT_FIXTURES.ec.certPem).toString('base64')] },
    })
    assertIgnored(await outcome(a, token), 'ERR_JWT_SIGNATURE_INVALID')
  })
  it('ECDSA signatures with r = s = 0 and wrong lengths fail', async () => {
    const key = testKey('ES256')
    const a = pemAuth(key.publicPem!)
    const [h, p] = sign(key).split('.')
    assertIgnored(await outcome(a, `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`), 'ERR_JWT_SIGNATURE_INVALID')
    const der = mintToken({ privateKey: key.privateKey, alg: 'ES256', expiresIn: 60 }).split('.')[2]
    assertIgnored(await outcome(a, `${h}.${p}.${der}AA`), 'ERR_JWT_SIGNATURE_INVALID')
  })
  it('a tampered payload fails', async () => {
    const key = testKey('EdDSA')
    const [h, , s] = sign(key, { sub: 'a' }).split('.')
    assertIgnored(await outcome(pemAuth(key.publicPem!), `${h}.${b64url({ sub: 'admin', exp: now() + 60 })}.${s}`), 'ERR_JWT_SIGNATURE_INVALID')
  })
})

describe('token shape', () => {
  const key = testKey('ES256')
  const a = pemAuth(key.publicPem!)
  it('unknown crit extensions are refused', async () => {
    assertIgnored(await outcome(a, sign(key, {}, { header: { crit: ['exp'], exp: 1 } })), 'ERR_JWT_CRIT_UNSUPPORTED')
    assertIgnored(await outcome(a, sign(key, {}, { header: { crit: ['b64'], b64: false } })), 'ERR_JWT_CRIT_UNSUPPORTED')
  })
  it('a JWE (5 parts) is not a JWS', async () => {
    const jwe = `${b64url({ alg: 'dir', enc: 'A256GCM' })}..${b64url('iv')}.${b64url('ct')}.${b64url('tag')}`
    const o = await outcome(a, jwe)
    assertIgnored(o, 'ERR_JWT_MALFORMED')
    assert.match(o.result === 'ignore' ? o.error!.message : '', /JWE/)
  })
  it('malformed tokens are refused before any key is used', async () => {
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', `${b64url('{')}.${b64url({})}.AAAA`, `${b64url('[1]')}.${b64url({})}.AAAA`,
      `${b64url({ typ: 'JWT' })}.${b64url({})}.AAAA`, `${b64url({ alg: 'ES256' })}.${b64url({})}.AA+A`, `${b64url({ alg: 'ES256', kid: 7 })}.${b64url({})}.AAAA`]) {
      const o = await outcome(a, bad)
      assert.equal(o.result, 'ignore', bad)
    }
    assertIgnored(await outcome(a, `${b64url({ alg: 'ES256' })}.${b64url({})}.`), 'ERR_JWT_SIGNATURE_INVALID')
  })
  it('a valid signature over a non-JSON payload is denied as malformed', async () => {
    const secret = 'k'.repeat(32)
    const input = `${b64url({ alg: 'HS256' })}.${b64url('not json')}`
    const sig = createHmac('sha256', secret).update(input).digest('base64url')
    const o = await outcome(auth({ type: 'jwt', algorithm: 'hmac-based', secret }), `${input}.${sig}`)
    assert.equal(o.result, 'deny')
    assert.equal(o.result === 'deny' && o.error.code, 'ERR_JWT_MALFORMED')
  })
  it('decoded headers are remembered only when they pass, and stay read-only', async () => {
    const good = sign(key, { n: 1 })
    const first = decodeJws(good, 8192)
    const again = decodeJws(sign(key, { n: 2 }), 8192)
    assert.equal(again.header, first.header, 'the same header text is decoded once')
    assert.ok(Object.isFrozen(first.header))
    // A refused header is refused every time, whatever was decoded before it.
    const none = `${b64url({ alg: 'none' })}.${b64url({})}.`
    for (let i = 0; i < 2; i++) assert.throws(() => decodeJws(none, 8192), { code: 'ERR_JWT_ALG_NOT_ALLOWED' })
    const crit = sign(key, {}, { header: { crit: ['exp'], exp: 1 } })
    for (let i = 0; i < 2; i++) assertIgnored(await outcome(a, crit), 'ERR_JWT_CRIT_UNSUPPORTED')
    // More distinct headers than the cache holds still decode correctly.
    for (let i = 0; i < 300; i++) assert.equal(decodeJws(sign(key, {}, { header: { kid: `k${i}` } }), 8192).kid, `k${i}`)
    assert.equal((await outcome(a, good)).result, 'allow')
  })
  it('the size cap is checked before parsing (default 8 KiB, configurable)', async () => {
    const big = sign(key, { pad: 'x'.repeat(9000) })
    assertIgnored(await outcome(a, big), 'ERR_JWT_TOO_LARGE')
    assert.throws(() => decodeJws('!'.repeat(9000), 8192), { code: 'ERR_JWT_TOO_LARGE' })
    assertIgnored(await outcome(a, 'x'.repeat(70_000)), 'ERR_JWT_TOO_LARGE')
    const roomy = pemAuth(key.publicPem!, { maxTokenBytes: 16_384 })
    assert.equal((await outcome(roomy, big)).result, 'allow')
    const tight = pemAuth(key.publicPem!, { maxTokenBytes: 256 })
    assertIgnored(await outcome(tight, sign(key, { pad: 'x'.repeat(200) })), 'ERR_JWT_TOO_LARGE')
  })
})

describe('kid handling with a single configured key', () => {
  it('the token kid is ignored when the key has none (PEM / secret)', async () => {
    const key = testKey('ES256')
    const a = pemAuth(key.publicPem!)
    assert.equal((await outcome(a, sign(key, {}, { kid: 'whatever' }))).result, 'allow')
    assert.equal((await outcome(a, sign(key, {}, { kid: null }))).result, 'allow')
  })
})
