/**
 * A remote JWKS authenticator's timings at their configured values (refreshInterval 60 s,
 * kidRefetchCooldown 5 s, gracePeriod 3600 s, the 1 s first retry), on fake time: node:test's
 * mock.timers moves the broker's clock (src/clock.ts) and its timers, so an hour of grace
 * period takes milliseconds and no test-only timing override is needed. The key server is
 * real (loopback HTTP); waits for it are bounded on the monotonic clock.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { createAuthenticator, type TokenAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { silentLogger } from '../../src/log.js'
import { fakeTime, realTime, settle } from '../helpers/fake-time.js'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { sign, testKey, withPassword } from '../helpers/tokens.js'

const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'k2' })

let server: JwksServer
let authenticator: TokenAuthenticator

beforeEach(async () => {
  fakeTime()
  server = await startJwksServer([k1.publicJwk])
  const config = parseAuthenticatorConfig({ type: 'jwks', name: 'idp', from: 'password', endpoint: server.endpoint }, 'authentication.authenticators[0]')
  authenticator = createAuthenticator(config, { logger: silentLogger() })
  await authenticator.start()
})

afterEach(async () => {
  await authenticator.close()
  await server.stop()
  realTime()
})

async function result(token: string): Promise<string> {
  const o = await authenticator.authenticate(withPassword(token))
  return o.result === 'allow' ? 'allow' : `${o.result}:${o.error?.code ?? ''}`
}


describe('remote JWKS on fake time, at the configured timings', () => {
  test('the key set is fetched again after refreshInterval (60 s), not before', async () => {
    assert.equal(server.requests, 1)
    server.behaviour.keys = [k2.publicJwk]
    mock.timers.tick(59_000)
    assert.equal(server.requests, 1, 'no fetch before refreshInterval')
    mock.timers.tick(1_000)
    await settle('the refresh', () => authenticator.status().kids.includes('k2'))
    assert.equal(server.requests, 2)
    assert.equal(await result(sign(k2)), 'allow')
  })

  test('an unknown kid refetches at most once per kidRefetchCooldown (5 s)', async () => {
    server.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    mock.timers.tick(5_000)
    assert.equal(await result(sign(k2)), 'allow', 'an unknown kid fetches at once')
    assert.equal(server.requests, 2)
    const k3 = testKey('ES256', { fresh: true, kid: 'k3' })
    server.behaviour.keys = [k1.publicJwk, k2.publicJwk, k3.publicJwk]
    mock.timers.tick(4_999)
    assert.equal(await result(sign(k3)), 'ignore:ERR_JWT_KID_UNKNOWN', 'within the cooldown: no fetch')
    assert.equal(server.requests, 2)
    mock.timers.tick(1)
    assert.equal(await result(sign(k3)), 'allow', 'the cooldown is over')
    assert.equal(server.requests, 3)
  })

  test('failing refreshes retry from 1 s; the last good keys work through gracePeriod (3600 s), then fail closed', async () => {
    const token = sign(k1, { exp: Math.floor(Date.now() / 1000) + 7200 })
    server.behaviour.status = 503
    mock.timers.tick(60_000)
    await settle('the first failed refresh', () => authenticator.status().consecutiveFailures === 1)
    assert.equal(authenticator.status().state, 'stale')
    const retryIn = (authenticator.status().nextRefreshAt ?? 0) - Date.now()
    assert.ok(retryIn >= 900 && retryIn <= 1100, `first retry after about 1 s (${retryIn} ms)`)
    mock.timers.tick(3_598_000) // the grace period counts from the first failure, 60 s in
    await settle('the retry', () => authenticator.status().consecutiveFailures === 2)
    assert.equal(await result(token), 'allow', 'stale keys still verify within the grace period')
    mock.timers.tick(2_001)
    assert.equal(authenticator.status().state, 'unavailable', 'past the grace period the key set is dropped')
  })
})
