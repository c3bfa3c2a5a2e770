/**
 * portcullis_jwks_fetches_total{authenticator, outcome} and
 * portcullis_jwks_last_fetch_duration_seconds at /metrics, against a real loopback JWKS
 * server: every way a fetch can go (start, "refresh now", an unknown kid) is counted, and
 * the counts survive the new instance an edit starts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connect, end } from '../helpers/broker.js'
import { fakeTime, realTime } from '../helpers/fake-time.js'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { sign, testKey } from '../helpers/tokens.js'
import { useAdmin } from './helpers.js'

const k1 = testKey('ES256', { fresh: true, kid: 'metrics-k1' })
const k2 = testKey('ES256', { fresh: true, kid: 'metrics-k2' })

/** The value of one sample line, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('admin: JWKS fetch metrics', () => {
  after(realTime) // registered first: time is real again before the admin closes
  const h = useAdmin()
  let jwks: JwksServer

  before(async () => {
    jwks = await startJwksServer([k1.publicJwk])
    // Fake time: no background retry after a failed fetch (1 s) comes while the test runs, so
    // every count comes from a step here.
    fakeTime()
  })
  after(async () => {
    await jwks.stop()
  })

  const counts = async (): Promise<{ ok?: number; error?: number; rejected?: number; seconds?: number; text: string }> => {
    const r = await h.api('GET', '/metrics')
    assert.equal(r.status, 200)
    const of = (outcome: string): number | undefined => sample(r.text, `portcullis_jwks_fetches_total{authenticator="idp",outcome="${outcome}"}`)
    return { ok: of('ok'), error: of('error'), rejected: of('rejected'), seconds: sample(r.text, 'portcullis_jwks_last_fetch_duration_seconds{authenticator="idp"}'), text: r.text }
  }
  const refresh = async (): Promise<void> => {
    const r = await h.api('POST', '/api/v1/authenticators/idp/refresh')
    assert.equal(r.status, 200, r.text)
  }

  it('the first fetch of a new JWKS authenticator is counted ok, with its duration', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwks', name: 'idp', from: 'password', endpoint: jwks.endpoint, kidRefetchCooldown: 0 })
    assert.equal(created.status, 201, created.text)
    const c = await counts()
    assert.match(c.text, /^# TYPE portcullis_jwks_fetches_total counter$/m)
    assert.match(c.text, /^# TYPE portcullis_jwks_last_fetch_duration_seconds gauge$/m)
    assert.deepEqual([c.ok, c.error, c.rejected], [1, 0, 0])
    assert.ok(c.seconds !== undefined && c.seconds > 0 && c.seconds < 5, String(c.seconds))
    assert.doesNotMatch(c.text, /portcullis_jwks_fetches_total\{authenticator="seed-hmac"/, 'a static key is never fetched')
  })

  it('an HTTP error status and a server that is down count as error', async () => {
    jwks.behaviour.status = 500
    await refresh()
    const c = await counts()
    assert.deepEqual([c.ok, c.error, c.rejected], [1, 1, 0])
    const port = jwks.port
    await jwks.stop()
    await refresh()
    assert.equal((await counts()).error, 2)
    await jwks.start(port)
    jwks.behaviour.status = 200
  })

  it('an answer that is refused (not JSON, a redirect, not a JWK Set) counts as rejected', async () => {
    jwks.behaviour.body = 'this is not json'
    await refresh()
    jwks.behaviour.body = undefined
    jwks.behaviour.status = 302
    jwks.behaviour.location = 'http://127.0.0.1:1/.well-known/jwks.json'
    await refresh()
    jwks.behaviour.status = 200
    jwks.behaviour.location = undefined
    jwks.behaviour.body = '{"keys":"none"}'
    await refresh()
    jwks.behaviour.body = undefined
    const c = await counts()
    assert.deepEqual([c.ok, c.error, c.rejected], [1, 2, 3])
    const status = await h.api('GET', '/api/v1/authenticators/idp/status')
    assert.equal(status.body.state, 'stale', 'failed refreshes keep the last good set')
    assert.equal(status.body.fetches.rejected, 3, 'the status API reports the same totals')
  })

  it('recovered: a refresh and an unknown kid (refetch at CONNECT) both count ok', async () => {
    await refresh()
    assert.equal((await counts()).ok, 2)
    // The issuer rotates in a second key; a client's token names it; the broker refetches and admits it.
    jwks.behaviour.keys = [k1.publicJwk, k2.publicJwk]
    const requests = jwks.requests
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'rotated', username: 'u', password: sign(k2, { sub: 'rotated' }) })
    await end(client)
    assert.equal(jwks.requests, requests + 1)
    const c = await counts()
    assert.deepEqual([c.ok, c.error, c.rejected], [3, 2, 3])
    const status = await h.api('GET', '/api/v1/authenticators/idp/status')
    assert.deepEqual({ ...status.body.fetches, lastDurationMs: 0 }, { ok: 3, error: 2, rejected: 3, lastDurationMs: 0 })
    assert.equal(typeof status.body.fetches.lastDurationMs, 'number')
    const listed = (await h.api('GET', '/api/v1/authenticators/idp')).body
    assert.equal(listed.status.fetches.ok, 3, 'the authenticator view carries the totals too')
  })

  it('an edit keeps the series; deleting the authenticator removes it', async () => {
    const put = await h.api('PUT', '/api/v1/authenticators/idp', { type: 'jwks', from: 'password', endpoint: jwks.endpoint, description: 'edited' })
    assert.equal(put.status, 200, put.text)
    assert.equal((await counts()).ok, 4, 'the edited instance fetched once more; earlier counts kept')
    assert.equal((await h.api('DELETE', '/api/v1/authenticators/idp')).status, 204)
    const c = await counts()
    assert.equal(c.ok, undefined)
    assert.equal(c.seconds, undefined)
  })
})
