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
import { withPassword } from '../helpers/tokens.js'

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
