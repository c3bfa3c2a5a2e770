import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { AuthenticatorChain } from '../../src/auth/chain.js'
import { createAuthenticator, type AuthenticatorTimingOverrides, type TokenAuthenticator } from '../../src/auth/create.js'
import { parseAuthenticatorConfig } from '../../src/auth/jwt/config.js'
import { toReasonCode } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { ReasonCode } from '../../src/protocol/reason-codes.js'
import { JwksServer, TLS_FIXTURE, startJwksServer } from '../helpers/jwks-server.js'
import { sign, testKey, withPassword } from '../helpers/tokens.js'

const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'k2' })
const k3 = testKey('EdDSA', { kid: 'k3' })

const open: TokenAuthenticator[] = []
const servers: JwksServer[] = []
after(async () => {
  for (const a of open) await a.close()
  for (const s of servers) await s.stop()
})

const FAST: AuthenticatorTimingOverrides = { refreshIntervalMs: 60_000, backoffBaseMs: 20, kidRefetchCooldownMs: 0, gracePeriodMs: 60_000, timeoutMs: 1000 }

async function server(keys = [k1.publicJwk], options: { tls?: boolean } = {}): Promise<JwksServer> {
  const s = await startJwksServer(keys, options)
  servers.push(s)
  return s
}

function remote(endpoint: string, timing: AuthenticatorTimingOverrides = {}, extra: Record<string, unknown> = {}): TokenAuthenticator {
  const config = parseAuthenticatorConfig({ type: 'jwks', name: 'idp', from: 'password', endpoint, ...extra }, 'authentication.authenticators[0]')
  const a = createAuthenticator(config, { logger: silentLogger(), timing: { ...FAST, ...timing } })
  open.push(a)
  return a
}

async function result(a: TokenAuthenticator, token: string): Promise<string> {
  const o = await a.authenticate(withPassword(token))
  return o.result === 'allow' ? 'allow' : `${o.result}:${o.error?.code ?? ''}`
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return
    await sleep(10)
  }
  assert.fail(`timed out waiting for: ${what}`)
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
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { refreshIntervalMs: 40, kidRefetchCooldownMs: 60_000 })
    await a.start()
    s.behaviour.keys = [k2.publicJwk]
    await waitFor('background refresh', () => a.status().kids.includes('k2'))
    assert.ok(s.requests >= 2)
    assert.equal(await result(a, sign(k2)), 'allow')
    await a.close()
    const seen = s.requests
    await sleep(120)
    assert.equal(s.requests, seen, 'close() stops the refresh timer')
    assert.equal(a.status().state, 'disabled')
  })

  it('endpoint down at start: start() resolves, clients get 0x88 until keys arrive, retries back off', async () => {
    const s = await server([k1.publicJwk])
    const port = s.port
    await s.stop()
    const a = remote(s.endpoint, { kidRefetchCooldownMs: 60_000, backoffBaseMs: 30 })
    await a.start()
    const st = a.status()
    assert.equal(st.state, 'unavailable')
    assert.ok(st.consecutiveFailures >= 1)
    assert.match(st.lastError ?? '', /request failed/)
    assert.equal(await result(a, sign(k1)), 'ignore:ERR_JWKS_UNAVAILABLE')
    const chain = new AuthenticatorChain([a], { allowAnonymous: false })
    const r = await chain.authenticate(withPassword(sign(k1)))
    assert.equal(!r.ok && toReasonCode(r.error.code), ReasonCode.ServerUnavailable)
    await waitFor('several retries', () => a.status().consecutiveFailures >= 3)
    await s.start(port)
    await waitFor('keys after the endpoint came up', () => a.status().state === 'ok')
    assert.equal(await result(a, sign(k1)), 'allow')
  })

  it('with no key set loaded, a connecting client triggers a (rate-limited) fetch', async () => {
    const s = await server([k1.publicJwk])
    s.behaviour.status = 503
    const a = remote(s.endpoint, { backoffBaseMs: 60_000, kidRefetchCooldownMs: 0 })
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.match(a.status().lastError ?? '', /HTTP 503/)
    s.behaviour.status = 200
    assert.equal(await result(a, sign(k1)), 'allow')
  })
})

describe('remote JWKS: rotation and unknown kid', () => {
  it('an unknown kid triggers one immediate refetch; within the cooldown no further fetch', async () => {
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { kidRefetchCooldownMs: 300 })
    await a.start()
    assert.equal(s.requests, 1)
    await sleep(320)
    s.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    assert.equal(await result(a, sign(k2)), 'allow', 'rotated key usable at once')
    assert.equal(s.requests, 2)
    // Within the cooldown an unknown kid does not fetch again.
    s.behaviour.keys = [k1.publicJwk, k2.publicJwk, k3.publicJwk]
    assert.equal(await result(a, sign(k3)), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(await result(a, sign(k3, {}, { kid: 'nope' })), 'ignore:ERR_JWT_KID_UNKNOWN')
    assert.equal(s.requests, 2)
    await sleep(320)
    assert.equal(await result(a, sign(k3)), 'allow')
    assert.equal(s.requests, 3)
  })

  it('concurrent unknown-kid misses share one in-flight fetch', async () => {
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { kidRefetchCooldownMs: 0 })
    await a.start()
    s.behaviour.keys = [k2.publicJwk]
    s.behaviour.delayMs = 80
    const before = s.requests
    const results = await Promise.all(Array.from({ length: 20 }, () => result(a, sign(k2))))
    assert.deepEqual(new Set(results), new Set(['allow']))
    assert.equal(s.requests - before, 1)
  })

  it('a key removed from the set stops verifying after the refetch', async () => {
    const s = await server([k1.publicJwk, k2.publicJwk])
    const a = remote(s.endpoint, { refreshIntervalMs: 40 })
    await a.start()
    const token = sign(k1)
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = [k2.publicJwk]
    await waitFor('k1 dropped', () => !a.status().kids.includes('k1'))
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
    const a = remote(s.endpoint, { timeoutMs: 100, backoffBaseMs: 60_000 })
    const t0 = Date.now()
    await a.start()
    assert.ok(Date.now() - t0 < 1000, 'start() returned after the timeout')
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
    const a = remote(s.endpoint, {}, { maxResponseBytes: 1024 })
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
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { refreshIntervalMs: 30, backoffBaseMs: 20, gracePeriodMs: 60_000, kidRefetchCooldownMs: 60_000 })
    await a.start()
    const token = sign(k1)
    s.behaviour.keys = [{ ...k1.publicJwk, use: 'enc' }]
    await waitFor('stale', () => a.status().state === 'stale')
    assert.match(a.status().lastError ?? '', /no key usable/)
    assert.deepEqual(a.status().kids, ['k1'])
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = []
    await waitFor('another failure', () => a.status().consecutiveFailures >= 3)
    assert.equal(await result(a, token), 'allow')
    s.behaviour.keys = [k1.publicJwk]
    await waitFor('recovered', () => a.status().state === 'ok', 2000)
  })

  it('with no key set yet, an empty set leaves the authenticator unavailable (0x88), not open', async () => {
    const s = await server([])
    const a = remote(s.endpoint, { refreshIntervalMs: 30, backoffBaseMs: 20, kidRefetchCooldownMs: 60_000 })
    await a.start()
    assert.equal(a.status().state, 'unavailable')
    assert.equal(await result(a, sign(k1)), 'ignore:ERR_JWKS_UNAVAILABLE')
  })

  it('keeps the last good set while refreshes fail, then fails closed, then recovers', async () => {
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { refreshIntervalMs: 30, backoffBaseMs: 20, gracePeriodMs: 400, kidRefetchCooldownMs: 60_000 })
    await a.start()
    const token = sign(k1)
    s.behaviour.status = 500
    await waitFor('stale', () => a.status().state === 'stale')
    assert.equal(await result(a, token), 'allow', 'stale keys keep working within the grace period')
    assert.match(a.status().lastError ?? '', /HTTP 500/)
    assert.ok(a.status().consecutiveFailures >= 1)
    await waitFor('fail closed after the grace period', () => a.status().state === 'unavailable', 2000)
    assert.equal(await result(a, token), 'ignore:ERR_JWKS_UNAVAILABLE')
    assert.equal(a.status().keyCount, 0)
    s.behaviour.status = 200
    await waitFor('recovered', () => a.status().state === 'ok', 2000)
    assert.equal(await result(a, token), 'allow')
  })

  it('gracePeriod 0 fails closed at the first failed refresh', async () => {
    const s = await server([k1.publicJwk])
    const a = remote(s.endpoint, { refreshIntervalMs: 30, gracePeriodMs: 0, kidRefetchCooldownMs: 60_000 })
    await a.start()
    s.behaviour.body = 'garbage'
    await waitFor('unavailable', () => a.status().consecutiveFailures >= 1)
    await sleep(5)
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
    const trusted = remote(s.endpoint, {}, { ca: TLS_FIXTURE.certPem })
    await trusted.start()
    assert.equal(trusted.status().state, 'ok')
    assert.equal(await result(trusted, sign(k1)), 'allow')
  })
})

describe('remote JWKS: fetch counters by outcome', () => {
  /** Start a source against `s` with retries out of the way, and return its counters after the first fetch. */
  async function firstFetch(s: JwksServer, timing: AuthenticatorTimingOverrides = {}, extra: Record<string, unknown> = {}) {
    const a = remote(s.endpoint, { backoffBaseMs: 60_000, ...timing }, extra)
    await a.start()
    return { a, fetches: a.status().fetches }
  }

  it('ok when the key set loads; the last fetch duration is kept', async () => {
    const { a, fetches } = await firstFetch(await server())
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
    assert.equal((await firstFetch(big, {}, { maxResponseBytes: 1024 })).fetches?.rejected, 1)
  })

  it('a fetch cut short by close() is not counted', async () => {
    const s = await server()
    s.behaviour.delayMs = 2000
    const a = remote(s.endpoint, { timeoutMs: 5000 })
    const starting = a.start()
    await waitFor('the request reached the server', () => s.requests > 0)
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
