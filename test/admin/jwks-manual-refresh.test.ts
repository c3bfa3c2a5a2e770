/**
 * "Refresh now" (POST /api/v1/authenticators/NAME/refresh, the console's button) during an
 * issuer outage, against a real loopback JWKS server that is stopped: a manual refresh
 * follows the scheduled refresh's rules — the last good key set serves through gracePeriod,
 * and clients get 0x88 (3.1.1: 3) only when no key set is held.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { VERSIONS, type Version } from '../helpers/broker.js'
import { connackCode } from '../helpers/auth-broker.js'
import { fakeTime, realTime, settle, tick } from '../helpers/fake-time.js'
import { JwksServer, startJwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'
import { removeDir, startAdmin, type RunningAdmin } from './helpers.js'
import type { Json } from '../helpers/json.js'

const k1 = testKey('ES256', { fresh: true, kid: 'refresh-k1' })
const UNAVAILABLE: Record<Version, number> = { 4: 3, 5: 0x88 }


function jwksOnly(endpoint: string): Record<string, unknown> {
  return { authentication: { allowAnonymous: false, authenticators: [{ type: 'jwks', name: 'idp', from: 'password', endpoint }] } }
}

describe('admin: a manual JWKS refresh during an issuer outage', () => {
  let jwks: JwksServer
  let h: RunningAdmin
  const token = sign(k1, { sub: 'device' })

  before(async () => {
    jwks = await startJwksServer([k1.publicJwk])
    // Fake time, with the configured timings (gracePeriod 3600 s): no background retry comes
    // unless a test moves time, so every fetch comes from a refresh here.
    fakeTime()
    h = await startAdmin({ overrides: jwksOnly(jwks.endpoint) })
  })
  after(async () => {
    realTime()
    await h.close()
    removeDir(h.dataDir)
    await jwks.stop()
  })

  const refresh = async (): Promise<Record<string, Json>> => {
    const r = await h.api('POST', '/api/v1/authenticators/idp/refresh')
    assert.equal(r.status, 200, r.text)
    return r.body
  }

  it('keeps the last good key set through gracePeriod: state stale, valid tokens still admitted', async () => {
    const port = jwks.port
    await jwks.stop()
    const requestsBefore = jwks.requests
    const status = await refresh()
    assert.equal(status.state, 'stale')
    assert.equal(status.keyCount, 1)
    assert.deepEqual(status.kids, ['refresh-k1'])
    assert.equal(status.consecutiveFailures, 1)
    assert.match(status.lastError, /./)
    for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, token), 0, `MQTT ${version}`)
    // A second refresh right away is not held back by the kid cooldown (it is an operator's request).
    assert.equal((await refresh()).consecutiveFailures, 2)
    assert.equal(jwks.requests, requestsBefore, 'the server was down')
    jwks.behaviour.keys = [k1.publicJwk]
    await jwks.start(port)
  })

  it('a refresh that succeeds again clears the failure', async () => {
    const status = await refresh()
    assert.equal(status.state, 'ok')
    assert.equal(status.consecutiveFailures, 0)
    assert.equal(status.lastError, null)
  })

  it('past gracePeriod the set is dropped: 0x88 / 3 only now that no keys are held', async () => {
    const port = jwks.port
    await jwks.stop()
    assert.equal((await refresh()).state, 'stale')
    tick(3_600_001) // the grace period, from this failure
    await settle('grace period over', () => h.server.authenticators[0].status().state === 'unavailable')
    const status = await refresh()
    assert.equal(status.state, 'unavailable')
    assert.equal(status.keyCount, 0)
    for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, token), UNAVAILABLE[version], `MQTT ${version}`)
    await jwks.start(port)
    assert.equal((await refresh()).state, 'ok')
    for (const version of VERSIONS) assert.equal(await connackCode(h.mqttPort, version, token), 0, `MQTT ${version}`)
  })
})
