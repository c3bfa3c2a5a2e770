/**
 * Authorization over real sockets, MQTT 3.1.1 and 5.0: policies (priority, conditions,
 * connect denial), ACLs carried in tokens (both formats), placeholder injection, noMatch,
 * the superuser claim, $-topics, and denied publishes never delivered nor retained.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startAuthBroker } from '../helpers/auth-broker.js'
import {
  connect, connectWithInbox, delay, end, expectNoMessage, rawSocket, subscribe, uid, VERSIONS, type RunningBroker, type Version,
} from '../helpers/broker.js'
import { publishCode, subscribeCodes } from '../helpers/outcomes.js'
import { hmacWith, now } from '../helpers/tokens.js'

const SECRET = 'authz-tests-secret-with-at-least-32-bytes'
const tok = (claims: Record<string, unknown>): string => hmacWith(SECRET, { exp: now() + 300, ...claims })
const DENIED_SUB: Record<Version, number> = { 4: 0x80, 5: 0x87 }

const policies = [
  { name: 'block-evil-ip', priority: 1, effect: 'deny', actions: ['connect'], clientId: '^evil-' },
  { name: 'no-secrets', priority: 5, effect: 'deny', actions: ['publish', 'subscribe'], topics: ['secret/#'] },
  { name: 'own-topics', priority: 10, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${clientid}/#'] },
  { name: 'telemetry-qos01', priority: 20, effect: 'allow', actions: ['publish'], topics: ['telemetry/#'], qos: [0, 1], retain: false },
  { name: 'read-telemetry', priority: 30, effect: 'allow', actions: ['subscribe'], topics: ['telemetry/+/data'] },
  { name: 'ops-only', priority: 40, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['ops/#'], username: 'operator' },
  { name: 'sys-for-monitor', priority: 50, effect: 'allow', actions: ['subscribe'], topics: ['$SYS/#'], clientId: '^monitor$' },
]

for (const version of VERSIONS) {
  describe(`10 authorization, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    let broker: RunningBroker
    before(async () => {
      broker = await startAuthBroker(
        { authenticators: [{ type: 'jwt', algorithm: 'hmac-based', from: 'password', secret: SECRET }] },
        { noMatch: 'deny', aclClaim: 'acl', superuserClaim: 'is_superuser', policies },
      )
    })
    after(() => broker.close())
    const client = (clientId: string, claims: Record<string, unknown> = {}, username = 'device') =>
      connect(broker.port, { protocolVersion: version, clientId, username, password: tok(claims) })

    test('a connect deny policy refuses an authenticated client (0x87 / 5)', async () => {
      const raw = await rawSocket(broker.port, version)
      const c = await raw.connect({ clientId: 'evil-1', username: 'd', password: Buffer.from(tok({})) })
      assert.equal(version === 5 ? c.reasonCode : c.returnCode, version === 5 ? 0x87 : 5)
      raw.destroy()
    })

    test('subscribe: covered by an allow rule → granted; not covered → denied; noMatch deny', async () => {
      const c = await client('dev-a')
      assert.deepEqual(await subscribeCodes(c, 'devices/dev-a/#', { qos: 1 }), [1])
      assert.deepEqual(await subscribeCodes(c, 'telemetry/x/data', { qos: 0 }), [0])
      assert.deepEqual(await subscribeCodes(c, 'telemetry/#', { qos: 0 }), [DENIED_SUB[version]], 'telemetry/+/data does not cover telemetry/#')
      assert.deepEqual(await subscribeCodes(c, 'devices/#', { qos: 0 }), [DENIED_SUB[version]])
      assert.deepEqual(await subscribeCodes(c, 'elsewhere', { qos: 0 }), [DENIED_SUB[version]])
      assert.deepEqual(await subscribeCodes(c, 'secret/x', { qos: 0 }), [DENIED_SUB[version]])
      await end(c)
    })

    test('publish denied: never delivered nor retained; v5 PUBACK 0x87, v3 acknowledged and dropped', async () => {
      const { client: watcher, inbox } = await connectWithInbox(broker.port, { protocolVersion: version, clientId: 'watcher', username: 'd', password: tok({ is_superuser: true }) })
      await subscribe(watcher, '#', { qos: 1 })
      const c = await client('dev-b')
      const code = await publishCode(c, 'devices/dev-a/cmd', 'intrusion', { qos: 1, retain: true })
      assert.equal(code, version === 5 ? 0x87 : 0)
      await c.publishAsync('devices/dev-b/state', 'ok', { qos: 1 })
      const m = await inbox.next()
      assert.equal(m.topic, 'devices/dev-b/state', 'only the allowed message arrived')
      // nothing was retained on the denied topic
      const late = await connect(broker.port, { protocolVersion: version, clientId: 'late', username: 'd', password: tok({ is_superuser: true }) })
      await subscribe(late, 'devices/dev-a/#', { qos: 1 })
      await expectNoMessage(late, 200)
      await end(watcher, c, late)
    })

    test('qos and retain conditions on a policy', async () => {
      const c = await client('dev-c')
      if (version === 5) {
        assert.equal(await publishCode(c, 'telemetry/dev-c/data', 'q1', { qos: 1 }), 0)
        assert.equal(await publishCode(c, 'telemetry/dev-c/data', 'q2', { qos: 2 }), 0x87)
        assert.equal(await publishCode(c, 'telemetry/dev-c/data', 'r', { qos: 1, retain: true }), 0x87)
      } else {
        const { client: reader, inbox } = await connectWithInbox(broker.port, { protocolVersion: 4, clientId: 'reader', username: 'd', password: tok({}) })
        await subscribe(reader, 'telemetry/+/data', { qos: 2 })
        await c.publishAsync('telemetry/dev-c/data', 'q2', { qos: 2 })
        await c.publishAsync('telemetry/dev-c/data', 'q1', { qos: 1 })
        assert.equal((await inbox.next()).payload.toString(), 'q1', 'the QoS 2 publish was dropped')
        await end(reader)
      }
      await end(c)
    })

    test('username condition', async () => {
      const op = await client('op-1', {}, 'operator')
      assert.deepEqual(await subscribeCodes(op, 'ops/alerts', { qos: 0 }), [0])
      const other = await client('op-2', {}, 'device')
      assert.deepEqual(await subscribeCodes(other, 'ops/alerts', { qos: 0 }), [DENIED_SUB[version]])
      await end(op, other)
    })

    test('placeholder injection: a client id with + or # never widens its access', async () => {
      for (const clientId of ['#', '+', 'x/#']) {
        const c = await client(clientId)
        assert.deepEqual(await subscribeCodes(c, 'devices/#', { qos: 0 }), [DENIED_SUB[version]], `client id ${clientId}`)
        assert.deepEqual(await subscribeCodes(c, 'devices/other/x', { qos: 0 }), [DENIED_SUB[version]], `client id ${clientId}`)
        await end(c)
      }
    })

    test('ACL claim as a rule list, with ${clientid} and ${claims.NAME}', async () => {
      const acl = [
        { permission: 'allow', action: 'publish', topic: 'org/${claims.org}/${clientid}', qos: [0, 1] },
        { permission: 'allow', action: 'subscribe', topics: ['org/${claims.org}/#'] },
        { permission: 'deny', action: 'all', topic: 'org/${claims.org}/private/#' },
      ]
      const c = await client('tok-1', { org: 'acme', acl })
      assert.deepEqual(await subscribeCodes(c, 'org/acme/#', { qos: 1 }), [1])
      assert.deepEqual(await subscribeCodes(c, 'org/other/#', { qos: 1 }), [DENIED_SUB[version]])
      if (version === 5) {
        assert.equal(await publishCode(c, 'org/acme/tok-1', 'x', { qos: 1 }), 0)
        assert.equal(await publishCode(c, 'org/acme/tok-2', 'x', { qos: 1 }), 0x87)
      }
      await end(c)
    })

    test('ACL claim as the pub/sub/all map', async () => {
      const c = await client('tok-2', { acl: { pub: ['m/out'], sub: ['m/in/#'], all: ['m/both'] } })
      assert.deepEqual(await subscribeCodes(c, 'm/in/+', { qos: 0 }), [0])
      assert.deepEqual(await subscribeCodes(c, 'm/both', { qos: 0 }), [0])
      assert.deepEqual(await subscribeCodes(c, 'm/out', { qos: 0 }), [DENIED_SUB[version]])
      await end(c)
    })

    test('a malformed ACL claim refuses the connection (0x87 / 5)', async () => {
      const raw = await rawSocket(broker.port, version)
      const c = await raw.connect({ clientId: 'bad-acl', username: 'd', password: Buffer.from(tok({ acl: 42 })) })
      assert.equal(version === 5 ? c.reasonCode : c.returnCode, version === 5 ? 0x87 : 5)
      raw.destroy()
    })

    test('superuser claim bypasses the rules, but not $-topic publishing', async () => {
      const su = await client('root', { is_superuser: true })
      assert.deepEqual(await subscribeCodes(su, 'anything/#', { qos: 0 }), [0])
      assert.deepEqual(await subscribeCodes(su, '$SYS/#', { qos: 0 }), [0])
      if (version === 5) assert.equal(await publishCode(su, '$SYS/fake', 'x', { qos: 1 }), 0x87)
      await end(su)
    })

    test('$SYS only with an explicit rule: monitor may, others may not', async () => {
      const monitor = await client('monitor')
      assert.deepEqual(await subscribeCodes(monitor, '$SYS/#', { qos: 0 }), [0])
      const other = await client('dev-z')
      assert.deepEqual(await subscribeCodes(other, '$SYS/#', { qos: 0 }), [DENIED_SUB[version]])
      await end(monitor, other)
    })

    test('shared subscriptions are checked against their underlying filter', async () => {
      const c = await client('dev-s')
      assert.deepEqual(await subscribeCodes(c, '$share/g/devices/dev-s/#', { qos: 0 }), [0])
      assert.deepEqual(await subscribeCodes(c, '$share/g/devices/#', { qos: 0 }), [DENIED_SUB[version]])
      await end(c)
    })

    test('a will is authorized as its publisher: a denied will topic is not published', async () => {
      const { client: watcher, inbox } = await connectWithInbox(broker.port, { protocolVersion: version, clientId: 'w2', username: 'd', password: tok({ is_superuser: true }) })
      await subscribe(watcher, '#', { qos: 1 })
      const raw = await rawSocket(broker.port, version)
      await raw.connect({ clientId: 'will-x', username: 'd', password: Buffer.from(tok({})), will: { topic: 'secret/will', payload: Buffer.from('w'), qos: 1, retain: false } })
      raw.destroy()
      const raw2 = await rawSocket(broker.port, version)
      await raw2.connect({ clientId: 'will-y', username: 'd', password: Buffer.from(tok({})), will: { topic: 'devices/will-y/lwt', payload: Buffer.from('w'), qos: 1, retain: false } })
      raw2.destroy()
      const m = await inbox.next()
      assert.equal(m.topic, 'devices/will-y/lwt')
      await delay(100)
      assert.equal(inbox.messages.filter((x) => x.topic === 'secret/will').length, 0)
      await end(watcher)
    })
  })
}

describe('10 authorization: token ACL void after exp (disconnectOnExpiry off)', () => {
  let broker: RunningBroker
  before(async () => {
    broker = await startAuthBroker(
      { authenticators: [{ type: 'jwt', algorithm: 'hmac-based', from: 'password', secret: SECRET, disconnectOnExpiry: false }] },
      { noMatch: 'deny' },
    )
  })
  after(() => broker.close())
  test('publishing allowed by the token ACL is denied once the token expired', async () => {
    const c = await connect(broker.port, {
      protocolVersion: 5,
      clientId: uid(),
      username: 'd',
      password: hmacWith(SECRET, { exp: now() + 2, acl: { pub: ['a/b'] } }),
    })
    assert.equal(await publishCode(c, 'a/b', 'x', { qos: 1 }), 0)
    await delay(2100)
    assert.equal(await publishCode(c, 'a/b', 'x', { qos: 1 }), 0x87)
    await end(c)
  })
})
