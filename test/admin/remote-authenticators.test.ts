/**
 * Introspection and HTTP authenticators through the admin API: created, listed and changed
 * like token authenticators; the introspection client secret and the HTTP request headers
 * are write-only (never returned; a PUT that leaves them out keeps the stored ones), and the
 * live status shows the remote service's health. Checked with a real loopback service.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AuthService } from '../helpers/auth-service.js'
import { rawSocket } from '../helpers/broker.js'
import { useAdmin } from './helpers.js'

async function connackCode(port: number, password: string): Promise<number> {
  const raw = await rawSocket(port, 5)
  try {
    return (await raw.connect({ clientId: `c-${Math.random().toString(36).slice(2)}`, username: 'u', password: Buffer.from(password) })).reasonCode ?? 0
  } finally {
    raw.destroy()
  }
}

describe('admin API: introspection and http authenticators', () => {
  const h = useAdmin()
  const service = new AuthService((r) => {
    if (r.path.startsWith('/check') && r.headers['x-api-key'] !== 'svc-key') return { status: 401, body: {} }
    if (r.fields['token'] === 'good') return { body: { active: true, sub: 'u' } }
    if (r.fields['password'] === 'open-sesame') return { body: { result: 'allow' } }
    return { body: r.fields['token'] !== undefined ? { active: false } : { result: 'deny' } }
  })
  before(() => service.start())
  after(() => service.stop())

  it('introspection: clientSecret is never returned; a PUT without it keeps it', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', {
      type: 'introspection', name: 'oauth', from: 'password', endpoint: `${service.url.replace('/check', '/introspect')}`, clientId: 'broker', clientSecret: 'top-secret-value',
    })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.clientSecret, undefined)
    assert.equal(created.body.hasSecret, true)
    assert.ok(!created.text.includes('top-secret-value'))
    assert.equal(await connackCode(h.mqttPort, 'good'), 0)
    const auth = service.requests.at(-1)!.headers.authorization
    const put = await h.api('PUT', '/api/v1/authenticators/oauth', {
      type: 'introspection', from: 'password', endpoint: `${service.url.replace('/check', '/introspect')}`, clientId: 'broker', description: 'edited',
    })
    assert.equal(put.status, 200, put.text)
    assert.equal(put.body.description, 'edited')
    assert.equal(await connackCode(h.mqttPort, 'good'), 0)
    assert.equal(service.requests.at(-1)!.headers.authorization, auth, 'the stored client secret was kept')
    const list = await h.api('GET', '/api/v1/authenticators')
    assert.ok(!list.text.includes('top-secret-value'))
    const status = await h.api('GET', '/api/v1/authenticators/oauth/status')
    assert.equal(status.status, 200, status.text)
    assert.equal(status.body.state, 'ok')
    assert.equal(status.body.requests.ok, 1, 'requests since the PUT (which started a new instance)')
    assert.equal((await h.api('DELETE', '/api/v1/authenticators/oauth')).status, 204)
  })

  it('http: header values are never returned (names are); a PUT without headers keeps them', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'http', name: 'svc', url: service.url, headers: { 'X-Api-Key': 'svc-key' } })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.headers, undefined)
    assert.deepEqual(created.body.headerNames, ['x-api-key'])
    assert.ok(!created.text.includes('svc-key'))
    assert.equal(await connackCode(h.mqttPort, 'open-sesame'), 0)
    const put = await h.api('PUT', '/api/v1/authenticators/svc', { type: 'http', url: service.url, cacheTtl: 5 })
    assert.equal(put.status, 200, put.text)
    assert.equal(put.body.cacheTtl, 5)
    assert.equal(await connackCode(h.mqttPort, 'open-sesame'), 0, 'the stored header still authenticates the broker to the service')
    const bad = await h.api('PUT', '/api/v1/authenticators/svc', { type: 'http', url: service.url, body: { p: '${nope}' } })
    assert.equal(bad.status, 400)
    assert.match(bad.body.path, /^authentication\.authenticators\[\d+\]\.body\.p$/)
  })
})
