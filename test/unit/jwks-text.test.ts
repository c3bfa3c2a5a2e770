import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { importJwk, importJwks } from '../../src/auth/jwt/keys.js'
import type { AuthOutcome } from '../../src/auth/types.js'
import { silentLogger } from '../../src/log.js'
import { ASYMMETRIC_ALGS, hmacWith, sign, testKey, withPassword } from '../helpers/tokens.js'

function jwks(keys: unknown[], extra: Record<string, unknown> = {}) {
  return createAuthenticator(parseAuthenticatorConfig({ type: 'jwks', from: 'password', text: JSON.stringify({ keys }), ...extra }, 'a'), { logger: silentLogger(), cacheSize: 0 })
}

async function code(a: ReturnType<typeof jwks>, token: string): Promise<string> {
  const o: AuthOutcome = await a.authenticate(withPassword(token))
  return o.result === 'allow' ? 'allow' : `${o.result}:${o.error?.code ?? ''}`
}

describe('pasted JWKS (text)', () => {
  it('verifies every algorithm from its JWK, selected by kid', async () => {
    const keys = ASYMMETRIC_ALGS.filter((a) => a !== 'RS384' && a !== 'PS384').map((alg) => testKey(alg, { fresh: alg.startsWith('RS') || alg.startsWith('PS'), kid: `k-${alg}` }))
    const hs = testKey('HS256', { kid: 'k-HS256' })
    const a = jwks([...keys.map((k) => k.publicJwk), hs.publicJwk])
    for (const k of [...keys, hs]) assert.equal(await code(a, sign(k)), 'allow', k.alg)
    assert.deepEqual(a.status().kids, [...keys.map((k) => k.kid), 'k-HS256'])
  })
  it('kid is an exact match; an unknown kid is refused even if another key would verify', async () => {
    const k1 = testKey('ES256', { kid: 'one' })
    const a = jwks([k1.publicJwk])
    assert.equal(await code(a, sign(k1, {}, { kid: 'ONE' })), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(await code(a, sign(k1, {}, { kid: 'one ' })), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(await code(a, sign(k1, {}, { kid: 'one' })), 'allow')
  })
  it('a token without kid tries the keys that fit its alg', async () => {
    const e1 = testKey('ES256', { fresh: true, kid: 'e1' })
    const e2 = testKey('ES256', { fresh: true, kid: 'e2' })
    const ed = testKey('EdDSA', { kid: 'ed' })
    const a = jwks([e1.publicJwk, ed.publicJwk, e2.publicJwk])
    assert.equal(await code(a, sign(e2, {}, { kid: null })), 'allow')
    assert.equal(await code(a, sign(ed, {}, { kid: null })), 'allow')
    assert.equal(await code(a, sign(testKey('ES256', { fresh: true }), {}, { kid: null })), 'ignore:ERR_JWT_SIGNATURE_INVALID')
    assert.equal(await code(a, sign(testKey('ES384'), {}, { kid: null })), 'ignore:ERR_JWT_ALG_NOT_ALLOWED')
  })
  it("a JWK's alg binds the key to that one algorithm", async () => {
    const rsa = testKey('RS256', { kid: 'r' })
    const a = jwks([{ ...rsa.publicJwk, alg: 'PS256' }])
    assert.equal(await code(a, sign(rsa)), 'ignore:ERR_JWT_ALG_NOT_ALLOWED')
    assert.equal(await code(a, sign({ ...rsa, alg: 'PS256' })), 'allow')
  })
  it('RSA JWK used as an HMAC secret (algorithm confusion) is refused', async () => {
    const rsa = testKey('RS256', { kid: 'r' })
    const a = jwks([rsa.publicJwk])
    assert.equal(await code(a, hmacWith(JSON.stringify(rsa.publicJwk), undefined, { alg: 'HS256', kid: 'r' })), 'ignore:ERR_JWT_ALG_NOT_ALLOWED')
    assert.equal(await code(a, hmacWith(rsa.publicJwk.n!, undefined, { alg: 'HS256', kid: 'r' })), 'ignore:ERR_JWT_ALG_NOT_ALLOWED')
  })
  it('use: enc and key_ops without verify are skipped; the authenticator algorithms list filters keys', async () => {
    const sig = testKey('ES256', { kid: 's' })
    const enc = testKey('EdDSA', { kid: 'e' })
    const ops = testKey('ES384', { kid: 'o' })
    const a = jwks([sig.publicJwk, { ...enc.publicJwk, use: 'enc' }, { ...ops.publicJwk, key_ops: ['encrypt'] }])
    assert.deepEqual(a.status().kids, ['s'])
    assert.equal(await code(a, sign(enc)), 'ignore:ERR_JWT_KID_UNKNOWN')
    const only = jwks([sig.publicJwk, ops.publicJwk], { algorithms: ['ES384'] })
    assert.deepEqual(only.status().kids, ['o'])
    assert.equal(await code(only, sign(sig)), 'ignore:ERR_JWT_KID_UNKNOWN')
  })
})

describe('JWK import', () => {
  it('reports unusable keys with reasons and indices', () => {
    const good = testKey('ES256').publicJwk
    const r = importJwks({ keys: [good, { kty: 'EC', crv: 'P-192', x: 'AA', y: 'AA' }, { kty: 'XYZ' }, 5, { ...good, use: 'enc' }, { kty: 'OKP', crv: 'X25519', x: 'AA' }] }, undefined)
    assert.equal(r.keys.length, 1)
    assert.deepEqual(r.problems.map((p) => p.index), [1, 2, 3, 5])
    assert.match(r.problems[0].reason, /P-192/)
    assert.match(r.problems[1].reason, /kty 'XYZ'/)
    assert.match(r.problems[3].reason, /X25519/)
    assert.deepEqual(r.skipped.map((s) => s.index), [4])
  })
  it('EC points not on the curve and short oct keys are refused', () => {
    const good = testKey('ES256').publicJwk
    const off = importJwk({ ...good, y: Buffer.alloc(32, 1).toString('base64url') }, 0, undefined)
    assert.equal(off.ok, false)
    const oct = importJwk({ kty: 'oct', k: Buffer.alloc(20).toString('base64url') }, 0, undefined)
    assert.equal(!oct.ok && oct.reason.includes('20 bytes'), true)
    const octLong = importJwk({ kty: 'oct', k: Buffer.alloc(48).toString('base64url') }, 0, undefined)
    assert.deepEqual(octLong.ok && [...octLong.key.algorithms], ['HS256', 'HS384'])
    const octAlg = importJwk({ kty: 'oct', alg: 'HS512', k: Buffer.alloc(48).toString('base64url') }, 0, undefined)
    assert.equal(!octAlg.ok && octAlg.skipped, false)
  })
})
