import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose'
import { createAuthenticators } from '../../src/auth/create.js'
import { parseAuthenticatorsConfig } from '../../src/auth/jwt/config.js'
import { JWS_ALGORITHMS } from '../../src/auth/jwt/algorithms.js'
import { formatInspection, generateKeyPair, inspectToken, mintToken, parseDuration } from '../../src/auth/jwt/tools.js'
import { silentLogger } from '../../src/log.js'
import { now } from '../helpers/tokens.js'

describe('generateKeyPair + mintToken', () => {
  for (const alg of JWS_ALGORITHMS) {
    it(`${alg}: minted tokens verify with jose against the published JWK`, async () => {
      const pair = generateKeyPair(alg)
      assert.equal(pair.publicJwk.kid, pair.kid)
      assert.equal(pair.publicJwk.alg, alg)
      if (alg.startsWith('HS')) {
        assert.ok(pair.secret !== undefined && pair.privatePem === undefined)
      } else {
        assert.equal(pair.publicJwk.d, undefined, 'public JWK has no private part')
        assert.match(pair.privatePem ?? '', /BEGIN PRIVATE KEY/)
        assert.match(pair.publicPem ?? '', /BEGIN PUBLIC KEY/)
      }
      const fromJwk = mintToken({ privateKey: pair.privateJwk, alg, kid: pair.kid, sub: 'dev', expiresIn: '30m', claims: { aud: 'mqtt' }, acl: { pub: ['t/#'] } })
      const key = await importJWK(pair.publicJwk, alg)
      const { payload, protectedHeader } = await jwtVerify(fromJwk, key, { algorithms: [alg], audience: 'mqtt' })
      assert.equal(protectedHeader.kid, pair.kid)
      assert.equal(payload.sub, 'dev')
      assert.deepEqual(payload['acl'], { pub: ['t/#'] })
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 1800)
      if (pair.privatePem !== undefined) {
        const fromPem = mintToken({ privateKey: pair.privatePem, alg, sub: 'dev' })
        assert.equal((await jwtVerify(fromPem, key, { algorithms: [alg] })).payload.exp, undefined)
        assert.equal(decodeProtectedHeader(fromPem).kid, undefined)
      }
    })
  }
  it('parses durations and refuses nonsense', () => {
    assert.equal(parseDuration('1h'), 3600)
    assert.equal(parseDuration('30m'), 1800)
    assert.equal(parseDuration('45s'), 45)
    assert.equal(parseDuration('2d'), 172_800)
    assert.equal(parseDuration(90), 90)
    assert.throws(() => parseDuration('soon'), TypeError)
    assert.throws(() => mintToken({ privateKey: 'secret', alg: 'RS256' }), /needs a private key/)
  })
})

describe('inspectToken', () => {
  const hs = generateKeyPair('HS256')
  const es = generateKeyPair('ES256')
  const authenticators = createAuthenticators(parseAuthenticatorsConfig([
    { type: 'jwt', name: 'hmac', algorithm: 'hmac-based', secret: hs.secret, secretBase64: true, from: 'password' },
    { type: 'jwks', name: 'pasted', from: 'password', text: JSON.stringify({ keys: [es.publicJwk] }), claims: { audience: ['mqtt'], match: { sub: '${clientid}' } } },
  ], 'authentication.authenticators'), { logger: silentLogger() })

  it('reports each authenticator check by check and the chain verdict', async () => {
    const token = mintToken({ privateKey: es.privateJwk, alg: 'ES256', kid: es.kid, sub: 'dev-1', expiresIn: '1h', claims: { aud: 'web' } })
    const report = await inspectToken(token, authenticators, { clientId: 'dev-2' })
    assert.equal(report.header?.['alg'], 'ES256')
    assert.equal(report.payload?.['sub'], 'dev-1')
    const [first, second] = report.authenticators
    assert.equal(first?.outcome, 'ignore')
    assert.equal(first?.code, 'ERR_JWT_ALG_NOT_ALLOWED')
    assert.equal(second?.outcome, 'deny')
    assert.equal(second?.key?.kid, es.kid)
    assert.equal(second?.key?.alg, 'ES256')
    const failed = second?.steps.filter((s) => !s.ok).map((s) => [s.check, s.code])
    assert.deepEqual(failed, [['aud', 'ERR_JWT_AUDIENCE'], ['match:sub', 'ERR_JWT_CLAIM_MISMATCH']])
    assert.ok(second?.steps.some((s) => s.check === 'signature' && s.ok))
    assert.deepEqual(report.verdict, { outcome: 'deny', authenticator: 'pasted', code: 'ERR_JWT_AUDIENCE', message: "audience \"web\" is not accepted" })
    const text = formatInspection(report)
    assert.match(text, /\[pasted\] \(jwks\) → deny ERR_JWT_AUDIENCE/)
    assert.match(text, /FAIL aud/)
    assert.ok(!text.includes(token.split('.')[2]), 'the signature is not echoed')
  })
  it('allow verdict, and garbage tokens', async () => {
    const ok = await inspectToken(mintToken({ privateKey: hs.secret!, alg: 'HS256', sub: 'x', expiresIn: 60 }), authenticators)
    assert.equal(ok.authenticators[0]?.outcome, 'ignore', 'base64url secret string is not the raw secret')
    const raw = Buffer.from(hs.secret!, 'base64url')
    const good = await inspectToken(mintToken({ privateKey: raw, alg: 'HS256', sub: 'x', expiresIn: 60, now: now() }), authenticators)
    assert.deepEqual(good.verdict, { outcome: 'allow', authenticator: 'hmac' })
    const bad = await inspectToken('not-a-token', authenticators)
    assert.equal(bad.decodeError, 'token is not a decodable JWS')
    assert.equal(bad.verdict.outcome, 'ignore')
    assert.equal(bad.verdict.code, 'ERR_JWT_MALFORMED')
  })
})
