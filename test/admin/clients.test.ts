/**
 * End to end: an authenticator and a policy made through the API admit (or refuse) new MQTT
 * clients at once; clients are listed, inspected and disconnected (MQTT 5: 0x98); the
 * token check uses the live chain; stats count what happened.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt, { type IClientOptions } from 'mqtt'
import { connect, end, subscribe, waitForClose } from '../helpers/broker.js'
import { NEW_SECRET, hsToken, useAdmin } from './helpers.js'

/** The CONNACK reason code of a refused CONNECT (MQTT.js reports it as the error's code). */
function refusedWith(port: number, opts: IClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 3000, ...opts })
    const timer = setTimeout(() => reject(new Error('no answer to CONNECT')), 3000)
    client.once('connect', () => {
      clearTimeout(timer)
      client.end(true)
      reject(new Error('CONNECT was accepted'))
    })
    client.once('error', (err: Error & { code?: number }) => {
      clearTimeout(timer)
      client.end(true)
      resolve(Number(err.code))
    })
  })
}

describe('admin API: clients, token check, stats', () => {
  const h = useAdmin()

  it('a token for an authenticator created through the API is accepted by new connections', async () => {
    const token = hsToken(NEW_SECRET, { acl: { pub: ['a/#'], sub: ['a/#', 'b/#'] } })
    const refused = await refusedWith(h.mqttPort, { protocolVersion: 5, clientId: 'early', username: 'alice', password: token })
    assert.equal(refused, 0x86, 'unknown before the authenticator exists')
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'api-hmac', from: 'password', algorithm: 'hmac-based', secret: NEW_SECRET })
    assert.equal(created.status, 201, created.text)
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'dev-1', username: 'alice', password: token })
    try {
      await subscribe(client, 'a/x', { qos: 1 })
      const list = await h.api('GET', '/api/v1/clients')
      assert.equal(list.status, 200)
      const c = list.body.find((x: { clientId: string }) => x.clientId === 'dev-1')
      assert.ok(c, JSON.stringify(list.body))
      assert.equal(c.username, 'alice')
      assert.equal(c.protocolVersion, 5)
      assert.equal(c.authenticator, 'api-hmac')
      assert.equal(c.anonymous, false)
      assert.match(c.listener, /^tcp/)
      assert.match(c.address, /127\.0\.0\.1/)
      assert.equal(c.token.subject, 'alice')
      assert.ok(Date.parse(c.token.expiresAt) > Date.now())
      assert.ok(!Number.isNaN(Date.parse(c.connectedAt)))
      assert.deepEqual(c.acl, { tokenRules: 3, superuser: false })
      assert.equal(c.subscriptions, 1)
      assert.ok(!list.text.includes(token), 'the token is never returned')

      const one = await h.api('GET', '/api/v1/clients/dev-1')
      assert.equal(one.status, 200)
      assert.deepEqual(one.body.subscriptionList, [{ topic: 'a/x', qos: 1 }])
      assert.equal((await h.api('GET', '/api/v1/clients/nobody')).status, 404)

      const closed = waitForClose(client)
      const del = await h.api('DELETE', '/api/v1/clients/dev-1')
      assert.equal(del.status, 204)
      const packet = await closed
      assert.equal(packet?.reasonCode, 0x98, 'DISCONNECT Administrative action')
      assert.equal((await h.api('DELETE', '/api/v1/clients/dev-1')).status, 404)
    } finally {
      await end(client)
    }
  })

  it('a token in the username is never shown as the username', async () => {
    const created = await h.api('POST', '/api/v1/authenticators', { type: 'jwt', name: 'in-username', from: 'username', algorithm: 'hmac-based', secret: `${NEW_SECRET}-u` })
    assert.equal(created.status, 201, created.text)
    const token = hsToken(`${NEW_SECRET}-u`, {}, 'bob')
    const client = await connect(h.mqttPort, { protocolVersion: 4, clientId: 'v4-user', username: token })
    try {
      const r = await h.api('GET', '/api/v1/clients/v4-user')
      assert.equal(r.status, 200)
      assert.equal(r.body.username, undefined)
      assert.equal(r.body.usernameIsToken, true)
      assert.equal(r.body.token.subject, 'bob')
      assert.ok(!r.text.includes(token))
      const closed = waitForClose(client)
      assert.equal((await h.api('DELETE', '/api/v1/clients/v4-user')).status, 204)
      await closed
    } finally {
      await end(client)
    }
  })

  it('a policy made through the API applies to the next CONNECT', async () => {
    const token = hsToken(NEW_SECRET, {}, 'mallory')
    const p = await h.api('POST', '/api/v1/policies', { name: 'no-mallory', priority: 1, effect: 'deny', actions: ['connect'], username: 'mallory' })
    assert.equal(p.status, 201, p.text)
    assert.equal(await refusedWith(h.mqttPort, { protocolVersion: 5, clientId: 'm1', username: 'mallory', password: token }), 0x87)
    assert.equal((await h.api('DELETE', '/api/v1/policies/no-mallory')).status, 204)
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'm2', username: 'mallory', password: token })
    await end(client)
  })

  it('a disabled authenticator no longer admits new clients', async () => {
    const token = hsToken(NEW_SECRET)
    assert.equal((await h.api('POST', '/api/v1/authenticators/api-hmac/disable')).status, 200)
    assert.equal(await refusedWith(h.mqttPort, { protocolVersion: 5, clientId: 'd1', username: 'alice', password: token }), 0x86)
    assert.equal((await h.api('POST', '/api/v1/authenticators/api-hmac/enable')).status, 200)
    const client = await connect(h.mqttPort, { protocolVersion: 5, clientId: 'd2', username: 'alice', password: token })
    await end(client)
  })

  it('POST /token/check reports on the current chain, check by check', async () => {
    const token = hsToken(NEW_SECRET)
    const r = await h.api('POST', '/api/v1/token/check', { token, clientId: 'x' })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.verdict.outcome, 'allow')
    assert.equal(r.body.verdict.authenticator, 'api-hmac')
    assert.deepEqual(r.body.authenticators.map((a: { name: string }) => a.name), h.server.authenticators.map((a) => a.name))
    assert.equal(r.body.payload.sub, 'alice')
    assert.ok(!r.text.includes(token), 'the token is not echoed')
    const bad = await h.api('POST', '/api/v1/token/check', { token: hsToken('x'.repeat(40)) })
    assert.equal(bad.body.verdict.outcome, 'ignore')
    assert.equal(bad.body.verdict.code, 'ERR_JWT_SIGNATURE_INVALID')
    for (const body of [{}, { token: '' }, { token: 5 }, { token, clientId: 3 }, { token, extra: 1 }, '"x"']) {
      const e = await h.api('POST', '/api/v1/token/check', body)
      assert.equal(e.status, 400, JSON.stringify(body))
      assert.equal(e.body.error, 'ERR_VALIDATION')
    }
  })

  it('GET /stats', async () => {
    const r = await h.api('GET', '/api/v1/stats')
    assert.equal(r.status, 200)
    const s = r.body
    assert.ok(s.connections.total >= 6)
    assert.equal(typeof s.connections.current, 'number')
    assert.equal(typeof s.sessions, 'number')
    assert.equal(typeof s.retained, 'number')
    assert.ok(s.authFailures.total >= 2, JSON.stringify(s.authFailures))
    assert.equal(s.authFailures.byReason['ERR_JWT_SIGNATURE_INVALID'], 2, JSON.stringify(s.authFailures))
    assert.equal(s.authzDenied.connect, 1)
    assert.equal(s.messages.receivedByQos.length, 3)
    assert.ok(s.bytes.in > 0 && s.bytes.out > 0)
    assert.ok(s.uptimeSeconds >= 0)
  })
})
