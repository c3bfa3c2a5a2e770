/**
 * The authenticator chain's answers that no token authenticator gives by itself: an
 * authenticator that throws, and the reason a refusal names when every one passed on.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import type { AuthOutcome, Authenticator } from '../../src/auth/types.js'
import { toReasonCode } from '../../src/errors.js'
import { ReasonCode, v3ConnackCode } from '../../src/protocol/reason-codes.js'
import { createAuthenticators } from '../../src/auth/create.js'
import { parseAuthenticatorsConfig } from '../../src/auth/jwt/config.js'
import { silentLogger } from '../../src/log.js'
import { sign, testKey, withPassword } from '../helpers/tokens.js'

function fake(name: string, answer: () => AuthOutcome | Promise<AuthOutcome>): Authenticator & { calls: number } {
  const a = { name, type: 'test', enabled: true, authMethods: ['JWT'], calls: 0, authenticate: () => { a.calls++; return answer() } }
  return a
}

describe('auth chain: an authenticator that throws', () => {
  for (const how of ['synchronously', 'in its promise'] as const) {
    it(`${how}: the client is refused with ERR_AUTH_INTERNAL (0x80, 3.1.1: 3) and the chain stops there`, async () => {
      const boom = (): AuthOutcome | Promise<AuthOutcome> => {
        if (how === 'synchronously') throw new RangeError('Invalid time value')
        return Promise.reject(new RangeError('Invalid time value'))
      }
      const faulty = fake('faulty', boom)
      const next = fake('next', () => ({ result: 'allow', identity: { authenticator: 'next', anonymous: false } }))
      const r = await new AuthenticatorChain([faulty, next], { allowAnonymous: false }).authenticate(withPassword('t'))
      assert.equal(r.ok, false)
      if (r.ok) return
      assert.equal(r.error.code, 'ERR_AUTH_INTERNAL')
      assert.equal(r.authenticator, 'faulty')
      assert.ok(r.error.cause instanceof RangeError, 'the cause is kept for the log')
      assert.equal(next.calls, 0, 'not passed on to the next authenticator')
      assert.equal(toReasonCode(r.error.code), ReasonCode.UnspecifiedError)
      assert.equal(v3ConnackCode(toReasonCode(r.error.code)), 3)
      assert.notEqual(r.error.code, 'ERR_JWKS_UNAVAILABLE', 'not "key material unavailable"')
    })
  }
})

describe('auth chain: whose reason a refusal gives when every authenticator passed on', () => {
  const a = testKey('ES256', { fresh: true, kid: 'a1' })
  const b = testKey('ES256', { fresh: true, kid: 'b1' })
  const forger = testKey('ES256', { fresh: true })
  const make = (raw: unknown[]): AuthenticatorChain =>
    new AuthenticatorChain(createAuthenticators(parseAuthenticatorsConfig(raw, 'authentication.authenticators'), { logger: silentLogger() }), { allowAnonymous: false })
  const refusal = async (chain: AuthenticatorChain, token: string): Promise<[string, string | undefined, string]> => {
    const r = await chain.authenticate(withPassword(token))
    assert.equal(r.ok, false)
    return r.ok ? ['', undefined, ''] : [r.error.code, r.authenticator, r.error.message]
  }

  it('the authenticator trusting the token\'s issuer, wherever it stands in the chain', async () => {
    const chain = make([
      { type: 'jwt', name: 'a', from: 'password', algorithm: 'public-key', publicKey: a.publicPem, claims: { issuer: ['https://a'] } },
      { type: 'jwt', name: 'b', from: 'password', algorithm: 'public-key', publicKey: b.publicPem, claims: { issuer: ['https://b'] } },
    ])
    const [code, by] = await refusal(chain, sign(forger, { iss: 'https://b' }, { kid: null }))
    assert.deepEqual([code, by], ['ERR_JWT_SIGNATURE_INVALID', 'b'])
  })

  it('the authenticator holding a key with the token\'s kid', async () => {
    const chain = make([
      { type: 'jwks', name: 'a', from: 'password', text: JSON.stringify({ keys: [a.publicJwk] }) },
      { type: 'jwt', name: 'hmac', from: 'password', algorithm: 'hmac-based', secret: 'x'.repeat(40) },
      { type: 'jwks', name: 'b', from: 'password', text: JSON.stringify({ keys: [b.publicJwk] }) },
    ])
    const [code, by] = await refusal(chain, sign(forger, {}, { kid: 'b1' }))
    assert.deepEqual([code, by], ['ERR_JWT_SIGNATURE_INVALID', 'b'])
  })

  it('nobody meant: one code when all agree (no name), else each authenticator\'s reason listed', async () => {
    const chain = make([
      { type: 'jwt', name: 'hmac', from: 'password', algorithm: 'hmac-based', secret: 'x'.repeat(40) },
      { type: 'jwks', name: 'a', from: 'password', text: JSON.stringify({ keys: [a.publicJwk] }) },
    ])
    const rsa = testKey('RS256')
    assert.deepEqual((await refusal(chain, sign(rsa, {}, { kid: null }))).slice(0, 2), ['ERR_JWT_ALG_NOT_ALLOWED', undefined])
    const [code, by, message] = await refusal(chain, sign(forger, {}, { kid: 'zz' }))
    assert.deepEqual([code, by], ['ERR_AUTH_BAD_CREDENTIALS', undefined])
    assert.match(message, /hmac: alg 'ES256' is not accepted by any configured key; a: no key with kid 'zz'/)
  })

  it('a token in the password is not answered with the reason of an authenticator reading the username', async () => {
    const chain = make([
      { type: 'jwt', name: 'in-username', from: 'username', algorithm: 'hmac-based', secret: 'y'.repeat(40) },
      { type: 'jwks', name: 'a', from: 'password', text: JSON.stringify({ keys: [a.publicJwk] }) },
    ])
    const r = await chain.authenticate(withPassword(sign(forger, {}, { kid: 'a1' }), { username: 'alice' }))
    assert.equal(!r.ok && r.authenticator, 'a')
    assert.equal(!r.ok && r.error.code, 'ERR_JWT_SIGNATURE_INVALID')
  })
})
