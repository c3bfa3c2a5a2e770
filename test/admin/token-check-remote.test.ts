/**
 * POST /token/check's `permissions` for tokens that remote services vouch for: an opaque token
 * (no JWT payload at all) whose rules come from the introspection answer (token read from the
 * username) or the HTTP auth service's answer (from the password, with the `ip` as
 * `${peerhost}`), the identity built by the authenticator's CONNECT path. A real client with
 * the same token gets the same answers. Real loopback service.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { AuthService } from '../helpers/auth-service.js'
import { useAdmin } from './helpers.js'

describe('admin API: token check permissions from introspection and http answers', () => {
  const h = useAdmin({ overrides: { authorization: { noMatch: 'deny' } } })
  const service = new AuthService((r) => {
    if (r.fields['token'] !== undefined) {
      return { body: r.fields['token'] === 'opaque-i' ? { active: true, sub: 'dev', acl: [{ permission: 'allow', action: 'publish', topic: 'i/#' }] } : { active: false } }
    }
    if (r.fields['password'] === 'opaque-h') return { body: { result: 'allow', acl: [{ permission: 'allow', action: 'subscribe', topic: 'h/#' }] } }
    return { body: { result: 'ignore' } }
  })
  const clients: MqttClient[] = []
  before(() => service.start())
  after(async () => {
    for (const c of clients) c.end(true)
    await service.stop()
  })

  it('the rules come from the service\'s answer, as for a connected client', async () => {
    const introspection = await h.api('POST', '/api/v1/authenticators', {
      type: 'introspection', name: 'oauth', from: 'username', endpoint: service.url.replace('/check', '/introspect'), clientId: 'broker', clientSecret: 'svc-secret',
    })
    assert.equal(introspection.status, 201, introspection.text)
    const http = await h.api('POST', '/api/v1/authenticators', { type: 'http', name: 'svc', url: service.url })
    assert.equal(http.status, 201, http.text)

    const i = await h.api('POST', '/api/v1/token/check', { token: 'opaque-i', clientId: 'c1', check: { action: 'publish', topic: 'i/x', qos: 1 } })
    assert.equal(i.status, 200, i.text)
    assert.equal(i.body.verdict.authenticator, 'oauth')
    assert.equal(i.body.payload, undefined, 'an opaque token has no payload to read rules from')
    const ip = i.body.permissions
    assert.equal(ip.clientId, 'c1')
    assert.equal(ip.username, undefined, 'the username is the token: never answered')
    assert.equal(ip.usernameIsToken, true)
    assert.ok(ip.rules.some((r: { source: string; topics: string[] }) => r.source === 'token-acl' && r.topics.includes('i/#')), JSON.stringify(ip.rules))
    assert.equal(ip.check.allowed, true)
    assert.equal(ip.check.decidedBy.origin, 'acl[0]')
    assert.ok(!i.text.includes('opaque-i'), 'the token is not echoed')
    const allowed = async (name: string): Promise<number> => (await h.api('GET', `/api/v1/authenticators/${name}/status`)).body.stats.allow
    assert.equal(await allowed('oauth'), 0, 'a token check is no client: not counted as one accepted')

    const hAnswer = await h.api('POST', '/api/v1/token/check', { token: 'opaque-h', ip: '10.9.9.9', check: { action: 'subscribe', topic: '$share/g/h/1' } })
    assert.equal(hAnswer.status, 200, hAnswer.text)
    assert.equal(hAnswer.body.verdict.authenticator, 'svc')
    assert.equal(hAnswer.body.permissions.check.allowed, true)
    assert.equal(hAnswer.body.permissions.check.decidedBy.topics[0], 'h/#')
    const seen = service.requests.filter((r) => r.fields['password'] === 'opaque-h').at(-1)
    assert.equal(seen?.fields['peerhost'], '10.9.9.9', 'the service is asked as for a client from that address')

    // A real client with the introspected token: the same answers.
    const c = await new Promise<MqttClient>((resolve, reject) => {
      const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId: 'c1', username: 'opaque-i', reconnectPeriod: 0 })
      clients.push(client)
      client.once('connect', () => resolve(client))
      client.once('error', reject)
    })
    assert.equal(await allowed('oauth'), 1, 'the real CONNECT is counted')
    const publish = (topic: string): Promise<boolean> => new Promise((resolve) => c.publish(topic, 'x', { qos: 1 }, (err) => resolve(err === undefined || err === null)))
    for (const topic of ['i/x', 'j']) {
      const r = await h.api('POST', '/api/v1/token/check', { token: 'opaque-i', clientId: 'c1', check: { action: 'publish', topic, qos: 1 } })
      assert.equal(await publish(topic), r.body.permissions.check.allowed, topic)
    }
  })
})
