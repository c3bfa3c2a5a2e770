/**
 * POST /token/check answers what an accepted token may do (`permissions`): the rules that
 * apply to the client a CONNECT with it admits, connect, and one `check` with the rule that
 * decides it, under the authorization the broker runs now (a policy added through the API
 * counts at once). The answers are those a real MQTT 5 client with the same token gets.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { SEED_SECRET, hsToken, useAdmin } from './helpers.js'

interface Rule { source: string; origin: string; effect: string; actions: string[]; topics: string[] }
interface Explained { allowed: boolean; decidedBy?: Rule; because: string }
interface Permissions {
  refused?: string; clientId: string; username?: string; ip: string; expiresAt?: string
  rules: Rule[]; noMatch: string; connect: Explained
  check?: Explained & { action: string; topic?: string; qos: number; retain: boolean }
}

const ACL = [{ permission: 'allow', action: 'all', topic: 'a/#' }]

describe('admin API: POST /token/check says what the token may do', () => {
  const h = useAdmin({
    overrides: {
      authorization: {
        noMatch: 'deny',
        policies: [
          { name: 'no-b', priority: 5, effect: 'deny', actions: ['publish'], topics: ['b'] },
          { name: 'office', priority: 10, effect: 'allow', actions: ['publish'], topics: ['office/#'], ip: '10.0.0.0/8' },
          { name: 'no-guests', priority: 1, effect: 'deny', actions: ['connect'], clientId: '^guest-' },
        ],
      },
    },
  })
  const clients: MqttClient[] = []
  after(() => {
    for (const c of clients) c.end(true)
  })
  const token = hsToken(SEED_SECRET, { acl: ACL })
  const check = async (body: Record<string, unknown>): Promise<Permissions> => {
    const r = await h.api('POST', '/api/v1/token/check', { token, ...body })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.body.verdict.outcome, 'allow', r.text)
    assert.ok(!r.text.includes(token), 'the token is not echoed')
    return r.body.permissions as Permissions
  }

  it('names the rule that decides a check, or noMatch', async () => {
    const allowed = await check({ clientId: 'dev-1', check: { action: 'publish', topic: 'a/x', qos: 1 } })
    assert.equal(allowed.clientId, 'dev-1')
    assert.equal(allowed.ip, '127.0.0.1')
    assert.equal(allowed.noMatch, 'deny')
    assert.ok(allowed.expiresAt !== undefined && Date.parse(allowed.expiresAt) > Date.now())
    assert.deepEqual(allowed.connect, { allowed: true, because: 'no connect rule matched: an authenticated client may connect' })
    assert.deepEqual(allowed.rules.map((r) => `${r.source}:${r.origin}`), ['broker:$-topics', 'token-acl:acl[0]', 'policies:no-b', 'dollar-topics:$-topic guard'])
    assert.equal(allowed.check?.allowed, true)
    assert.equal(allowed.check?.decidedBy?.origin, 'acl[0]')
    assert.deepEqual([allowed.check?.action, allowed.check?.topic, allowed.check?.qos, allowed.check?.retain], ['publish', 'a/x', 1, false])

    const deniedByPolicy = await check({ check: { action: 'publish', topic: 'b' } })
    assert.equal(deniedByPolicy.check?.allowed, false)
    assert.equal(deniedByPolicy.check?.decidedBy?.origin, 'no-b')
    assert.equal(deniedByPolicy.check?.because, 'refused by policies rule "no-b"')
    const unmatched = await check({ check: { action: 'publish', topic: 'c' } })
    assert.equal(unmatched.check?.allowed, false)
    assert.equal(unmatched.check?.decidedBy, undefined)
    assert.equal(unmatched.check?.because, 'no rule matched: noMatch is deny')
    const noCheck = await check({})
    assert.equal(noCheck.check, undefined)
  })

  it('as a real client with the token is answered', async () => {
    const c = await new Promise<MqttClient>((resolve, reject) => {
      const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId: 'dev-1', username: 'u', password: token, reconnectPeriod: 0 })
      clients.push(client)
      client.once('connect', () => resolve(client))
      client.once('error', reject)
    })
    const publish = (topic: string): Promise<boolean> => new Promise((resolve) => c.publish(topic, 'x', { qos: 1 }, (err) => resolve(err === undefined || err === null)))
    for (const topic of ['a/x', 'b', 'c']) {
      const p = await check({ clientId: 'dev-1', username: 'u', check: { action: 'publish', topic, qos: 1 } })
      assert.equal(await publish(topic), p.check?.allowed, topic)
    }
  })

  it('honours ip conditions (ip) and checks a shared subscription on its filter', async () => {
    const local = await check({ check: { action: 'publish', topic: 'office/1' } })
    assert.equal(local.check?.allowed, false)
    assert.ok(!local.rules.some((r) => r.origin === 'office'))
    const office = await check({ ip: '10.1.2.3', check: { action: 'publish', topic: 'office/1' } })
    assert.equal(office.ip, '10.1.2.3')
    assert.equal(office.check?.allowed, true)
    assert.equal(office.check?.decidedBy?.origin, 'office')
    const shared = await check({ check: { action: 'subscribe', topic: '$share/g/a/#' } })
    assert.equal(shared.check?.allowed, true)
    assert.equal(shared.check?.decidedBy?.origin, 'acl[0]')
    assert.equal(shared.check?.topic, '$share/g/a/#')
  })

  it('connect refused by a policy; a policy added through the API counts at once', async () => {
    const guest = await check({ clientId: 'guest-7' })
    assert.equal(guest.connect.allowed, false)
    assert.equal(guest.connect.decidedBy?.origin, 'no-guests')
    const added = await h.api('POST', '/api/v1/policies', { name: 'c-ok', priority: 20, effect: 'allow', actions: ['publish'], topics: ['c'] })
    assert.equal(added.status, 201, added.text)
    const now = await check({ check: { action: 'publish', topic: 'c' } })
    assert.equal(now.check?.allowed, true)
    assert.equal(now.check?.decidedBy?.origin, 'c-ok')
  })

  it('a refused token has no permissions; bad ip or check is a 400', async () => {
    const bad = await h.api('POST', '/api/v1/token/check', { token: hsToken('x'.repeat(40), { acl: ACL }), check: { action: 'publish', topic: 'a/x' } })
    assert.equal(bad.status, 200)
    assert.equal(bad.body.verdict.outcome, 'ignore')
    assert.equal(bad.body.permissions, undefined)
    const invalid: [unknown, string][] = [
      [{ ip: 'nope' }, 'ip'],
      [{ check: 'publish' }, 'check'],
      [{ check: { action: 'delete' } }, 'check.action'],
      [{ check: { action: 'publish' } }, 'check.topic'],
      [{ check: { action: 'publish', topic: 'a/#' } }, 'check.topic'],
      [{ check: { action: 'subscribe', topic: '$share//a' } }, 'check.topic'],
      [{ check: { action: 'publish', topic: 'a', qos: 3 } }, 'check.qos'],
      [{ check: { action: 'publish', topic: 'a', retain: 'yes' } }, 'check.retain'],
      [{ check: { action: 'publish', topic: 'a', extra: 1 } }, 'check.extra'],
    ]
    for (const [body, path] of invalid) {
      const e = await h.api('POST', '/api/v1/token/check', { token, ...(body as object) })
      assert.equal(e.status, 400, JSON.stringify(body))
      assert.equal(e.body.error, 'ERR_VALIDATION')
      assert.equal(e.body.path, path, JSON.stringify(e.body))
    }
  })

  it('a check is no client: the authenticator\'s counters move only for the real CONNECT', async () => {
    interface Stats { allow: number; deny: Record<string, number>; ignore: Record<string, number>; verifyCount: number; cacheHits: number }
    const stats = async (): Promise<Stats> => {
      const r = await h.api('GET', '/api/v1/authenticators/seed-hmac/status')
      assert.equal(r.status, 200, r.text)
      return r.body.stats as Stats
    }
    const fresh = hsToken(SEED_SECRET, { acl: ACL }, 'counted-once')
    const before = await stats()
    for (let i = 0; i < 3; i++) await check({ token: fresh, clientId: 'counted', check: { action: 'publish', topic: 'a/x' } })
    const refused = await h.api('POST', '/api/v1/token/check', { token: hsToken(SEED_SECRET, { exp: 1 }), check: { action: 'publish', topic: 'a/x' } })
    assert.equal(refused.body.verdict.outcome, 'deny', refused.text)
    assert.deepEqual(await stats(), before, 'three accepted checks and a refused one counted nothing')

    const c = await new Promise<MqttClient>((resolve, reject) => {
      const client = mqtt.connect({ host: '127.0.0.1', port: h.mqttPort, protocolVersion: 5, clientId: 'counted', username: 'u', password: fresh, reconnectPeriod: 0 })
      clients.push(client)
      client.once('connect', () => resolve(client))
      client.once('error', reject)
    })
    c.end(true)
    const after = await stats()
    assert.equal(after.allow, before.allow + 1, 'the real CONNECT is counted')
    assert.deepEqual(after.deny, before.deny)
  })
})
