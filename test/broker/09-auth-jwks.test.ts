/**
 * JWKS over real sockets: a real HTTP key-set server on loopback that rotates keys, goes
 * down, comes back and serves garbage; MQTT clients see 0x88 / 3 while no key set is held.
 * The authenticator runs with its configured timings (refreshInterval 60 s, first retry 1 s,
 * kidRefetchCooldown 5 s, gracePeriod 3600 s); tests that need them to pass fake time.
 */
import assert from 'node:assert/strict'
import { after, afterEach, describe, test } from 'node:test'
import { connackCode, startAuthBroker } from '../helpers/auth-broker.js'
import { connect, end, assertHealthy, uid, VERSIONS, type RunningBroker, type Version } from '../helpers/broker.js'
import { fakeTime, realTime, settle, tick } from '../helpers/fake-time.js'
import { JwksServer, startJwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'

/** A test that hangs fails under its own name long before the file's deadline. */
const BOUNDED = { timeout: 30_000 }

const UNAVAILABLE: Record<Version, number> = { 4: 3, 5: 0x88 }
const REFUSED: Record<Version, number> = { 4: 4, 5: 0x86 }

for (const version of VERSIONS) {
  describe(`09 JWKS authentication, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    const brokers: RunningBroker[] = []
    const servers: JwksServer[] = []
    // time is real again before anything closes (closing waits on timers)
    afterEach(realTime)
    after(async () => {
      // every broker and server is closed even if one close fails (a listening server left
      // open would keep the test process alive)
      const closing = await Promise.allSettled([...brokers.map((b) => b.close()), ...servers.map((s) => s.stop())])
      for (const r of closing) if (r.status === 'rejected') throw r.reason
    })
    const k1 = testKey('ES256', { fresh: true, kid: 'k1' })
    const k2 = testKey('RS256', { fresh: true, kid: 'k2' })

    async function setup(keys = [k1.publicJwk]): Promise<{ jwks: JwksServer; broker: RunningBroker }> {
      const jwks = await startJwksServer(keys)
      servers.push(jwks)
      const broker = await startAuthBroker({ authenticators: [{ type: 'jwks', name: 'idp', from: 'password', endpoint: jwks.endpoint }] }, { noMatch: 'allow' })
      brokers.push(broker)
      return { jwks, broker }
    }

    test('keys fetched from endpoint + /.well-known/jwks.json at start; token accepted', BOUNDED, async () => {
      const { jwks, broker } = await setup()
      assert.ok(jwks.paths.includes('/.well-known/jwks.json'))
      const client = await connect(broker.port, { protocolVersion: version, clientId: uid(), username: 'd', password: sign(k1, { sub: 'd' }) })
      await assertHealthy(client)
      await end(client)
    })

    test('rotation: a token with a new kid triggers a refetch and is accepted', BOUNDED, async () => {
      const { jwks, broker } = await setup()
      jwks.behaviour.keys = [k1.publicJwk, k2.publicJwk]
      fakeTime()
      tick(5_000) // the cooldown counts from the start-up fetch
      const before = jwks.requests
      assert.equal(await connackCode(broker.port, version, sign(k2, { sub: 'd' })), 0)
      assert.ok(jwks.requests > before, 'the unknown kid caused a refetch')
    })

    test('unknown kids are refetched at most once per cooldown, however many clients try', BOUNDED, async () => {
      const { jwks, broker } = await setup()
      fakeTime() // the clients all come within the cooldown (5 s), however slow the machine
      const before = jwks.requests
      const stranger = testKey('ES256', { fresh: true, kid: 'nope' })
      const codes = await Promise.all(Array.from({ length: 10 }, () => connackCode(broker.port, version, sign(stranger, { sub: 'x' }))))
      assert.deepEqual(new Set(codes), new Set([REFUSED[version]]))
      assert.ok(jwks.requests - before <= 1, `refetches: ${jwks.requests - before}`)
    })

    test('endpoint down at start: 0x88 / 3 until it comes back, then accepted without a restart', BOUNDED, async () => {
      const jwks = new JwksServer()
      await jwks.start()
      const port = jwks.port
      await jwks.stop()
      fakeTime() // from before the start: the retry timer is a fake one
      const broker = await startAuthBroker(
        { authenticators: [{ type: 'jwks', name: 'idp', from: 'password', endpoint: `http://127.0.0.1:${port}` }] },
        { noMatch: 'allow' },
      )
      brokers.push(broker)
      const token = sign(k1, { sub: 'd' })
      assert.equal(await connackCode(broker.port, version, token), UNAVAILABLE[version])
      jwks.behaviour.keys = [k1.publicJwk]
      await jwks.start(port)
      servers.push(jwks)
      const status = (): string => broker.server.authenticators[0].status().state
      // the retry after one failure comes within 1.1 s, after two (if the CONNECT fetched) within 2.2 s
      tick(2_200)
      await settle('the key set was fetched after the endpoint came back', () => status() === 'ok', 5000)
      assert.equal(await connackCode(broker.port, version, token), 0)
    })

    test('garbage from the endpoint keeps the last good key set (grace)', BOUNDED, async () => {
      fakeTime() // from before the start: the refresh timer is a fake one
      const { jwks, broker } = await setup()
      jwks.behaviour.body = '<html>not json</html>'
      tick(60_000)
      await settle('a failed refresh', () => (broker.server.authenticators[0].status().consecutiveFailures ?? 0) > 0)
      assert.equal(await connackCode(broker.port, version, sign(k1, { sub: 'd' })), 0)
    })

    test('refreshes failing past the grace period: fail closed with 0x88 / 3', BOUNDED, async () => {
      fakeTime() // from before the start: the refresh timer is a fake one
      const { jwks, broker } = await setup()
      jwks.behaviour.status = 500
      tick(60_000)
      await settle('a failed refresh', () => (broker.server.authenticators[0].status().consecutiveFailures ?? 0) > 0)
      assert.equal(broker.server.authenticators[0].status().state, 'stale')
      tick(3_600_001) // the grace period counts from the first failure
      await settle('the key set expired after the grace period', () => broker.server.authenticators[0].status().state === 'unavailable')
      assert.equal(await connackCode(broker.port, version, sign(k1, { sub: 'd' })), UNAVAILABLE[version])
    })
  })
}
