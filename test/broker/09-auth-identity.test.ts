/**
 * Identity from claims over real sockets, MQTT 3.1.1 and 5.0: `identity.clientId` binds the
 * client id to the token (no impersonation of another device), an MQTT 5 client with an
 * empty id is assigned the token's [MQTT-3.2.2-16], `clientIdMode: override` replaces a
 * different id, `identity.username` is the username policies, placeholders and the admin
 * see, and a missing or non-string identity claim is refused with its own reason.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { inspectToken } from '../../src/auth/jwt/tools.js'
import { startAuthBroker } from '../helpers/auth-broker.js'
import { assertHealthy, connect, end, expectNoMessage, nextMessage, rawSocket, subscribe, uid, VERSIONS, type RunningBroker, type Version } from '../helpers/broker.js'
import { hmacWith, now } from '../helpers/tokens.js'

const SECRET = 'identity-test-secret-of-at-least-32-bytes'
const REFUSED: Record<Version, number> = { 4: 4, 5: 0x86 }
/** [MQTT-3.2.2-5]-style refusal of the client id: 0x85 (MQTT 5) / return code 2 (3.1.1). */
const ID_REFUSED: Record<Version, number> = { 4: 2, 5: 0x85 }

const token = (claims: Record<string, unknown>): string => hmacWith(SECRET, { exp: now() + 600, ...claims })

async function connackOf(port: number, version: Version, clientId: string, password: string, clean = true): Promise<{ code: number; assigned?: string }> {
  const raw = await rawSocket(port, version)
  try {
    const c = await raw.connect({ clientId, username: 'ignored-name', password: Buffer.from(password), clean })
    return {
      code: (version === 5 ? c.reasonCode : c.returnCode) as number,
      ...(c.properties?.assignedClientIdentifier !== undefined ? { assigned: c.properties.assignedClientIdentifier } : {}),
    }
  } finally {
    raw.destroy()
  }
}

function authenticator(extra: Record<string, unknown>): Record<string, unknown> {
  return { type: 'jwt', name: 'devices-hmac', from: 'password', algorithm: 'hmac-based', secret: SECRET, ...extra }
}

for (const version of VERSIONS) {
  const v = version === 5 ? '5.0' : '3.1.1'
  describe(`09 identity from claims (enforce), MQTT ${v}`, () => {
    let broker: RunningBroker
    before(async () => {
      broker = await startAuthBroker(
        { authenticators: [authenticator({ identity: { clientId: 'ext.device', username: 'sub' } })] },
        {
          noMatch: 'deny',
          policies: [
            { name: 'own-topics', priority: 10, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['devices/${clientid}/#', 'users/${username}/#'] },
            { name: 'health', priority: 15, effect: 'allow', actions: ['publish', 'subscribe'], topics: ['health/#'] },
            { name: 'alice-only', priority: 20, effect: 'allow', actions: ['subscribe'], topics: ['alice/#'], username: 'alice' },
          ],
        },
      )
    })
    after(() => broker.close())

    test('a token for device A cannot open device B\'s session: another client id is refused (0x85 / 2)', async () => {
      const t = token({ sub: 'alice', ext: { device: 'dev-a' } })
      assert.deepEqual(await connackOf(broker.port, version, 'dev-b', t), { code: ID_REFUSED[version] })
      assert.equal((await connackOf(broker.port, version, 'dev-a', t)).code, 0)
    })

    test('a refused impersonation leaves the real device connected', async () => {
      const real = await connect(broker.port, { protocolVersion: version, clientId: 'dev-c', username: 'x', password: token({ sub: 'carol', ext: { device: 'dev-c' } }) })
      assert.equal((await connackOf(broker.port, version, 'dev-c', token({ sub: 'mallory', ext: { device: 'dev-m' } }))).code, ID_REFUSED[version])
      await assertHealthy(real)
      await end(real)
    })

    if (version === 5) {
      test('an empty client id gets the token\'s as Assigned Client Identifier [MQTT-3.2.2-16]', async () => {
        assert.deepEqual(await connackOf(broker.port, version, '', token({ sub: 'alice', ext: { device: 'dev-e' } })), { code: 0, assigned: 'dev-e' })
      })
    } else {
      test('an empty client id (clean session) is given the token\'s: its topics are the device\'s', async () => {
        const client = await connect(broker.port, { protocolVersion: 4, clientId: '', clean: true, username: 'x', password: token({ sub: 'erin', ext: { device: 'dev-e4' } }) })
        await subscribe(client, 'devices/dev-e4/#')
        const got = nextMessage(client, 'devices/dev-e4/x')
        client.publish('devices/dev-e4/x', 'hello')
        assert.equal((await got).payload.toString(), 'hello')
        await end(client)
      })
    }

    test('the username placeholders and policies see the claim, not the CONNECT username', async () => {
      const client = await connect(broker.port, { protocolVersion: version, clientId: 'dev-a', username: 'bob', password: token({ sub: 'alice', ext: { device: 'dev-a' } }) })
      // alice-only matches username alice (the claim); users/${username} is users/alice
      await subscribe(client, 'alice/#')
      await subscribe(client, 'users/alice/#')
      const got = nextMessage(client, 'users/alice/x')
      client.publish('users/alice/x', 'mine')
      assert.equal((await got).payload.toString(), 'mine')
      // users/bob is not this client's (bob was only the CONNECT's username)
      client.publish('users/bob/x', 'not mine')
      await expectNoMessage(client, 200)
      const view = broker.server.brokerAdmin.clients.listClients().find((c) => c.clientId === 'dev-a')
      assert.equal(view?.username, 'alice')
      await end(client)
    })

    test('a missing or non-string identity claim is refused (ERR_IDENTITY_CLAIM, 0x86 / 4)', async () => {
      const before = broker.server.broker.stats.authFailuresByReason['ERR_IDENTITY_CLAIM'] ?? 0
      assert.equal((await connackOf(broker.port, version, 'dev-a', token({ sub: 'alice' }))).code, REFUSED[version])
      assert.equal((await connackOf(broker.port, version, 'dev-a', token({ sub: 'alice', ext: { device: 42 } }))).code, REFUSED[version])
      assert.equal((await connackOf(broker.port, version, 'dev-a', token({ sub: ['alice'], ext: { device: 'dev-a' } }))).code, REFUSED[version])
      assert.equal(broker.server.broker.stats.authFailuresByReason['ERR_IDENTITY_CLAIM'], before + 3)
    })

    test('token inspect shows the identity and the client id refusal a CONNECT would get', async () => {
      const t = token({ sub: 'alice', ext: { device: 'dev-a' } })
      const ok = await inspectToken(t, broker.server.authenticators, { clientId: 'dev-a' })
      assert.equal(ok.verdict.outcome, 'allow')
      assert.deepEqual(ok.authenticators[0]?.identity, { username: 'alice', clientId: 'dev-a', clientIdMode: 'enforce' })
      assert.ok(ok.authenticators[0]?.steps.some((s) => s.check === 'identity' && s.ok && s.detail.includes('"dev-a"')))
      const other = await inspectToken(t, broker.server.authenticators, { clientId: 'dev-b' })
      assert.equal(other.verdict.outcome, 'deny')
      assert.equal(other.verdict.code, 'ERR_CLIENT_ID_INVALID')
      const missing = await inspectToken(token({ sub: 'alice' }), broker.server.authenticators, {})
      assert.equal(missing.verdict.code, 'ERR_IDENTITY_CLAIM')
      assert.match(missing.authenticators[0]?.message ?? '', /claim 'ext\.device' \(the client id\) is missing/)
    })

    if (version === 5) {
      test('re-authentication (AUTH 0x19) with a token for another client id → DISCONNECT 0x87; for the same id → AUTH 0x00', async () => {
        const raw = await rawSocket(broker.port, 5)
        const jwt = (device: string): Buffer => Buffer.from(token({ sub: 'alice', ext: { device } }))
        const c = await raw.connect({ clientId: 'dev-r', properties: { authenticationMethod: 'JWT', authenticationData: jwt('dev-r') } })
        assert.equal(c.reasonCode, 0)
        raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: jwt('dev-r') } })
        assert.equal((await raw.next('auth')).reasonCode, 0)
        raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: jwt('dev-other') } })
        assert.equal((await raw.next('disconnect')).reasonCode, 0x87)
        await raw.waitClosed()
      })
    }
  })

  describe(`09 identity from claims (override), MQTT ${v}`, () => {
    let broker: RunningBroker
    before(async () => {
      broker = await startAuthBroker({ authenticators: [authenticator({ identity: { clientId: 'cid' }, clientIdMode: 'override' })] })
    })
    after(() => broker.close())

    test('another client id is replaced by the token\'s (MQTT 5: told as Assigned Client Identifier)', async () => {
      const got = await connackOf(broker.port, version, 'whatever', token({ cid: 'dev-o' }))
      assert.deepEqual(got, version === 5 ? { code: 0, assigned: 'dev-o' } : { code: 0 })
      const view = broker.server.brokerAdmin.clients.listClients().find((c) => c.clientId === 'whatever')
      assert.equal(view, undefined)
    })

    test('two connections with one token share one session: the second takes over the first', async () => {
      const t = token({ cid: 'dev-shared' })
      const first = await connect(broker.port, { protocolVersion: version, clientId: uid('x'), username: 'u', password: t, reconnectPeriod: 0 })
      const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
      const second = await connect(broker.port, { protocolVersion: version, clientId: uid('y'), username: 'u', password: t })
      await closed
      await assertHealthy(second)
      await end(first, second)
    })
  })
}
