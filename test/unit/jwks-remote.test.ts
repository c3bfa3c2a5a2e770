import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import { createAuthenticator, type TokenAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { toReasonCode } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { ReasonCode } from '../../src/protocol/reason-codes.js'
import { fakeTime, realTime, settle, tick } from '../helpers/fake-time.js'
import { JwksServer, TLS_FIXTURE, startJwksServer } from '../helpers/jwks-server.js'
import { sign, testKey, withPassword } from '../helpers/tokens.js'

const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'k2' })
const k3 = testKey('EdDSA', { kid: 'k3' })

const open: TokenAuthenticator[] = []
const servers: JwksServer[] = []
afterEach(async () => {
  // closed while time may still be fake: their timers are the fake ones
  for (const a of open.splice(0)) await a.close()
  realTime()
  for (const s of servers.splice(0)) await s.stop()
})

async function server(keys = [k1.publicJwk], options: { tls?: boolean } = {}): Promise<JwksServer> {
  const s = await startJwksServer(keys, options)
  servers.push(s)
  return s
}

/**
 * A remote JWKS authenticator with its configured timings (refreshInterval 60 s, the first retry
 * after 1 s doubling, kidRefetchCooldown 5 s, gracePeriod 3600 s, timeoutMs 5000 unless `config`
 * says otherwise). Tests that need time to pass fake it (fakeTime / tick).
 */
function remote(endpoint: string, config: Record<string, unknown> = {}): TokenAuthenticator {
  const parsed = parseAuthenticatorConfig({ type: 'jwks', name: 'idp', from: 'password', endpoint, ...config }, 'authentication.authenticators[0]')
  const a = createAuthenticator(parsed, { logger: silentLogger() })
  open.push(a)
  return a
}

async function result(a: TokenAuthenticator, token: string): Promise<string> {
  const o = await a.authenticate(withPassword(token))
  return o.result === 'allow' ? 'allow' : `${o.result}:${o.error?.code ?? ''}`
}

/** The retry after the n-th consecutive failure: 1 s doubling, ±10 % jitter; this moves past it. */
function retryAfter(failures: number): number {
  return Math.ceil(1000 * 2 ** (failures - 1) * 1.1)
}

describe('remote JWKS: loading', () => {
  it('fetches endpoint + /.well-known/jwks.json at start and verifies with it', async () => {
    const s = await server([k1.publicJwk, k3.publicJwk])
    const a = remote(`${s.endpoint}/`)
    await a.start()
    assert.deepEqual(s.paths, ['/.well-known/jwks.json'])
    const st = a.status()
    assert.equal(st.state, 'ok')
    assert.deepEqual(st.kids, ['k1', 'k3'])
    assert.equal(st.keyCount, 2)
    assert.equal(st.consecutiveFailures, 0)
    assert.ok(st.lastSuccessAt !== null && st.nextRefreshAt !== null && st.nextRefreshAt > Date.now())
    assert.equal(await result(a, sign(k1)), 'allow')
    assert.equal(await result(a, sign(k3)), 'allow')
  })

  it('refreshes in the background every refreshInterval and picks up changes', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    s.behaviour.keys = [k2.publicJwk]
    tick(60_000)
    await settle('background refresh', () => a.status().kids.includes('k2'))
    assert.equal(s.requests, 2)
    assert.equal(await result(a, sign(k2)), 'allow')
    await a.close()
    const seen = s.requests
    tick(120_000)
    assert.equal(s.requests, seen, 'close() stops the refresh timer')
    assert.equal(a.status().state, 'disabled')
  })

  it('endpoint down at start: start() resolves, clients get 0x88 until keys arrive, retries back off', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const port = s.port
    await s.stop()
    const a = remote(s.endpoint)
    await a.start()
    const st = a.status()
    assert.equal(st.state, 'unavailable')
    assert.ok(st.consecutiveFailures >= 1)
    assert.match(st.lastError ?? '', /request failed/)
    assert.equal(await result(a, sign(k1)), 'ignore:ERR_JWKS_UNAVAILABLE')
    const chain = new AuthenticatorChain([a], { allowAnonymous: false })
    const r = await chain.authenticate(withPassword(sign(k1)))
    assert.equal(!r.ok && toReasonCode(r.error.code), ReasonCode.ServerUnavailable)
    for (const failures of [1, 2]) {
      tick(retryAfter(failures))
      await settle(`retry ${failures}`, () => a.status().consecutiveFailures === failures + 1)
    }
    await s.start(port)
    tick(retryAfter(3))
    await settle('keys after the endpoint came up', () => a.status().state === 'ok')
    assert.equal(await result(a, sign(k1)), 'allow')
  })

  it('with no key set loaded, a connecting client triggers a (rate-limited) fetch', async () => {
    fakeTime() // no retry on its own while the test runs
    const s = await server([k1.publicJwk])
    s.behaviour.status = 503
    const a = remote(s.endpoint, { kidRefetchCooldown: 0 })
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /HTTP 503/)
    s.behaviour.status = 200
    assert.equal(await result(a, sign(k1)), 'allow')
  })
})

describe('remote JWKS: rotation and unknown kid', () => {
  it('an unknown kid triggers one immediate refetch; within the cooldown no further fetch', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    assert.equal(s.requests, 1)
    tick(5_000) // the cooldown (5 s) counts from the start-up fetch
    s.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    assert.equal(await result(a, sign(k2)), 'allow', 'rotated key usable at once')
    assert.equal(s.requests, 2)
    // Within the cooldown an unknown kid does not fetch again.
    s.behaviour.keys = [k1.publicJwk, k2.publicJwk, k3.publicJwk]
    assert.equal(await result(a, sign(k3)), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(await result(a, sign(k3, {}, { kid: 'nope' })), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(s.requests, 2)
    tick(4_999)
    assert.equal(await result(a, sign(k3)), 'ignore:ERR_JWT_KID_UNKNOWN', 'still within the cooldown')
    assert.equal(s.requests, 2)
    tick(1)
    assert.equal(await result(a, sign(k3)), 'allow')
    assert.equal(s.requests, 3)
  })

  it('concurrent unknown-kid misses share one in-flight fetch', async () => {
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { kidRefetchCooldown: 0 })
    await a.start()
    s.behaviour.keys = [k2.publicJwk]
    s.behaviour.delayMs = 80
    const before = s.requests
    const results = await Promise.all(Array.from({ length: 20 }, () => result(a, sign(k2))))
    assert.deepEqual(new Set(results), new Set(['allow']))
    assert.equal(s.requests - before, 1)
  })

  it('a key removed from the set stops verifying after the refetch', async () => {
    fakeTime()
    const s = await server([k1.publicJwk, k2.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    const token = sign(k1)
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = [k2.publicJwk]
    tick(60_000)
    await settle('k1 dropped', () => !a.status().kids.includes('k1'))
    assert.equal(await result(a, token), 'ignore:ERR_JWT_KID_UNKNOWN', 'the verified-token cache is invalidated by key changes')
  })
})

describe('remote JWKS: hostile or broken servers', () => {
  it('garbage body and a body without keys are failures', async () => {
    const s = await server()
    s.behaviour.body = '<html>oops</html>'
    const a = remote(s.endpoint)
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /not JSON/)
    s.behaviour.body = '{"kys":[]}'
    const b = remote(s.endpoint)
    await b.start()
    assert.match(b.status().lastError ?? '', /no "keys" array/)
  })

  it('a slow server times out (start() stays bounded)', async () => {
    const s = await server()
    s.behaviour.delayMs = 2000
    const a = remote(s.endpoint, { timeoutMs: 100 })
    const t0 = performance.now()
    await a.start()
    assert.ok(performance.now() - t0 < 1000, 'start() returned after the timeout')
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /within 100 ms/)
  })

  it('redirects are not followed', async () => {
    const target = await server([k1.publicJwk])
    const s = await server()
    s.behaviour.status = 302
    s.behaviour.location = `${target.endpoint}/.well-known/jwks.json`
    const a = remote(s.endpoint)
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /302 redirect .* not followed/)
    assert.equal(target.requests, 0)
  })

  it('an oversize response is refused', async () => {
    const s = await server(Array.from({ length: 20 }, (_, i) => ({ ...k1.publicJwk, kid: `pad-${i}` })))
    const a = remote(s.endpoint, { maxResponseBytes: 1024 })
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /exceeds the 1024-byte limit/)
  })

  it('unusable keys in a fetched set are skipped, the rest are used', async () => {
    const s = await server([{ kty: 'RSA', kid: 'bad', n: 'AQAB', e: 'AQAB' }, k1.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    assert.deepEqual(a.status().kids, ['k1'])
    assert.equal(await result(a, sign(k1)), 'allow')
  })
})

describe('remote JWKS: stale keys and the grace period', () => {
  it('a set with no usable key is a failed fetch: the last good set stays (within the grace period)', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    const token = sign(k1)
    s.behaviour.keys = [{ ...k1.publicJwk, use: 'enc' }]
    tick(60_000)
    await settle('stale', () => a.status().state === 'stale')
    assert.match(a.status().lastError ?? '', /no key usable/)
    assert.deepEqual(a.status().kids, ['k1'])
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = []
    for (const failures of [1, 2]) {
      tick(retryAfter(failures))
      await settle('another failure', () => a.status().consecutiveFailures === failures + 1)
    }
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = [k1.publicJwk]
    tick(retryAfter(3))
    await settle('recovered', () => a.status().state === 'ok')
  })

  it('with no key set yet, an empty set leaves the authenticator unavailable (0x88), not open', async () => {
    fakeTime()
    const s = await server([])
    const a = remote(s.endpoint)
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.equal(await result(a, sign(k1)), 'ignore:ERR_JWKS_UNAVAILABLE')
  })

  it('keeps the last good set while refreshes fail, then fails closed, then recovers', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint)
    await a.start()
    const token = sign(k1, { exp: Math.floor(Date.now() / 1000) + 3 * 3600 }) // outlives the hour of grace
    s.behaviour.status = 500
    tick(60_000)
    await settle('stale', () => a.status().state === 'stale')
    assert.equal(await result(a, token), 'allow', 'stale keys keep working within the grace period')
    assert.match(a.status().lastError ?? '', /HTTP 500/)
    assert.equal(a.status().consecutiveFailures, 1)
    tick(3_600_000) // the grace period, from the first failure; the 1 s retry falls due on the way
    await settle('the retry', () => a.status().consecutiveFailures === 2)
    assert.equal(a.status().state, 'stale', 'not past the grace period yet')
    tick(1)
    assert.equal(a.status().state, 'unavailable', 'fail closed after the grace period')
    assert.equal(await result(a, token), 'ignore:ERR_JWKS_UNAVAILABLE')
    assert.equal(a.status().keyCount, 0)
    s.behaviour.status = 200
    tick(retryAfter(3)) // the pending retry, or the next one if the CONNECT above fetched (its cooldown was over)
    await settle('recovered', () => a.status().state === 'ok')
    assert.equal(await result(a, token), 'allow')
  })

  it('gracePeriod 0 fails closed at the first failed refresh', async () => {
    fakeTime()
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { gracePeriod: 0 })
    await a.start()
    s.behaviour.body = 'garbage'
    tick(60_000)
    await settle('the failed refresh', () => a.status().consecutiveFailures === 1)
    tick(1)
    assert.equal(await result(a, sign(k1)), 'ignore:ERR_JWKS_UNAVAILABLE')
  })
})

describe('remote JWKS: https', () => {
  it('checks certificates normally; ca trusts a private issuer', async () => {
    const s = await server([k1.publicJwk], { tls: true })
    const untrusted = remote(s.endpoint)
    await untrusted.start()
    assert.equal(untrusted.status().state, 'unavailable')
    assert.match(untrusted.status().lastError ?? '', /self[- ]signed/i)
    const trusted = remote(s.endpoint, { ca: TLS_FIXTURE.certPem })
    await trusted.start()
    assert.equal(trusted.status().state, 'ok')
    assert.equal(await result(trusted, sign(k1)), 'allow')
  })
})

describe('remote JWKS: fetch counters by outcome', () => {
  /** Start a source against `s` and return its counters after the first fetch (a retry comes 1 s later at the earliest). */
  async function firstFetch(s: JwksServer, config: Record<string, unknown> = {}) {
    const a = remote(s.endpoint, config)
    await a.start()
    return { a, fetches: a.status().fetches }
  }

  it('ok when the key set loads; the last fetch duration is kept', async () => {
    const { a, fetches } = await firstFetch(await server(), { kidRefetchCooldown: 0 })
    assert.deepEqual({ ...fetches, lastDurationMs: undefined }, { ok: 1, error: 0, rejected: 0, lastDurationMs: undefined })
    assert.ok(typeof fetches?.lastDurationMs === 'number' && fetches.lastDurationMs > 0 && fetches.lastDurationMs < 1000, String(fetches?.lastDurationMs))
    // An unknown kid fetches again through the same source: counted too.
    assert.equal(await result(a, sign(k2)), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(a.status().fetches?.ok, 2)
  })

  it('error when no usable answer came: HTTP error status, timeout, nothing listening', async () => {
    const failing = await server()
    failing.behaviour.status = 503
    assert.deepEqual({ ...(await firstFetch(failing)).fetches, lastDurationMs: 0 }, { ok: 0, error: 1, rejected: 0, lastDurationMs: 0 })
    const slow = await server()
    slow.behaviour.delayMs = 2000
    const timedOut = await firstFetch(slow, { timeoutMs: 100 })
    assert.equal(timedOut.fetches?.error, 1)
    assert.ok((timedOut.fetches?.lastDurationMs ?? 0) >= 90, 'the duration of a timed-out fetch is about the timeout')
    const down = await server()
    await down.stop()
    assert.equal((await firstFetch(down)).fetches?.error, 1)
  })

  it('rejected when an answer came and was refused: not JSON, not a JWK Set, a redirect, too large', async () => {
    const cases: Array<(s: JwksServer) => void> = [
      (s) => { s.behaviour.body = '<html>oops</html>' },
      (s) => { s.behaviour.body = '{"kys":[]}' },
      (s) => { s.behaviour.status = 302; s.behaviour.location = 'https://elsewhere.example/jwks.json' },
    ]
    for (const setUp of cases) {
      const s = await server()
      setUp(s)
      assert.deepEqual({ ...(await firstFetch(s)).fetches, lastDurationMs: 0 }, { ok: 0, error: 0, rejected: 1, lastDurationMs: 0 })
    }
    const big = await server(Array.from({ length: 20 }, (_, i) => ({ ...k1.publicJwk, kid: `pad-${i}` })))
    assert.equal((await firstFetch(big, { maxResponseBytes: 1024 })).fetches?.rejected, 1)
  })

  it('a fetch cut short by close() is not counted', async () => {
    const s = await server()
    s.behaviour.delayMs = 2000
    const a = remote(s.endpoint, { timeoutMs: 5000 })
    const starting = a.start()
    await settle('the request reached the server', () => s.requests > 0)
    await a.close()
    await starting
    assert.deepEqual(a.status().fetches, { ok: 0, error: 0, rejected: 0, lastDurationMs: null })
  })

  it('static key sources have no fetch counters', async () => {
    const config = parseAuthenticatorConfig({ type: 'jwks', name: 'pasted', text: JSON.stringify({ keys: [k1.publicJwk] }) }, 'authentication.authenticators[0]')
    const a = createAuthenticator(config, { logger: silentLogger() })
    open.push(a)
    await a.start()
    assert.equal(a.status().fetches, undefined)
  })
})
