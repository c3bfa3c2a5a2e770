/**
 * Token lifetime while connected: disconnect at `exp` with the will published (v5
 * DISCONNECT 0xA0, v3 close), and MQTT 5 re-authentication with AUTH 0x19.
 *
 * Time is faked (node:test mock.timers: Date and setInterval): the broker's clock
 * (src/clock.ts) and its keep-alive wheel, which ends a connection at its token's exp, move
 * only when a test ticks them, so no test sleeps until a token expires. Sockets, and the
 * helpers' timeouts (setTimeout, performance.now), run in real time.
 */
import assert from 'node:assert/strict'
import { after, before, describe, mock, test } from 'node:test'
import { startAuthBroker } from '../helpers/auth-broker.js'
import { connectWithInbox, end, rawSocket, subscribe, uid, VERSIONS, type RunningBroker } from '../helpers/broker.js'
import { hmacWith, now } from '../helpers/tokens.js'

const SECRET = 'session-tests-secret-with-32-bytes-or-more'
const token = (exp: number, extra: Record<string, unknown> = {}): string => hmacWith(SECRET, { sub: 'd', exp, ...extra })

describe('09 token expiry and re-authentication', () => {
  let broker: RunningBroker
  before(async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: Date.now() })
    broker = await startAuthBroker({ authenticators: [{ type: 'jwt', algorithm: 'hmac-based', from: 'password', secret: SECRET }] })
  })
  after(async () => {
    await broker.close()
    mock.timers.reset()
  })

  for (const version of VERSIONS) {
    test(`MQTT ${version === 5 ? '5.0' : '3.1.1'}: at exp the client is disconnected and its will published`, async () => {
      const topic = `will/${uid()}`
      const { client: watcher, inbox } = await connectWithInbox(broker.port, { protocolVersion: version, clientId: uid('w'), username: 'w', password: token(now() + 60) })
      await subscribe(watcher, topic, { qos: 1 })
      const raw = await rawSocket(broker.port, version)
      const connack = await raw.connect({
        clientId: uid('exp'),
        username: 'd',
        password: Buffer.from(token(now() + 2)),
        will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false },
      })
      assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0)
      mock.timers.tick(3000) // past exp
      if (version === 5) {
        const d = await raw.next('disconnect', 5000)
        assert.equal(d.reasonCode, 0xa0, 'DISCONNECT Maximum connect time')
      }
      await raw.waitClosed(5000)
      const will = await inbox.next(topic, 3000)
      assert.equal(will.payload.toString(), 'gone')
      await end(watcher)
    })
  }

  test('MQTT 5.0: AUTH 0x19 with a fresh token re-arms the expiry (AUTH 0x00), the session goes on', async () => {
    const raw = await rawSocket(broker.port, 5)
    const c = await raw.connect({
      clientId: uid('re'),
      properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token(now() + 2)) },
    })
    assert.equal(c.reasonCode, 0)
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token(now() + 60)) } })
    const auth = await raw.next('auth')
    assert.equal(auth.reasonCode, 0)
    assert.equal(auth.properties?.authenticationMethod, 'JWT')
    mock.timers.tick(3200) // past the first token's exp
    raw.send({ cmd: 'pingreq' })
    await raw.next('pingresp')
    assert.equal(raw.closed, false, 'still connected after the first token expired')
    assert.ok(!raw.packets.some((p) => p.cmd === 'disconnect'), 'no DISCONNECT at the first token\'s exp')
    raw.destroy()
  })

  test('MQTT 5.0: AUTH 0x19 with a bad token → DISCONNECT 0x87', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('re'), properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token(now() + 60)) } })
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token(now() - 60)) } })
    const d = await raw.next('disconnect')
    assert.equal(d.reasonCode, 0x87)
    await raw.waitClosed()
  })

  test('MQTT 5.0: AUTH from a client that connected without a method is a protocol error (0x82)', async () => {
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('re'), username: 'd', password: Buffer.from(token(now() + 60)) })
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token(now() + 60)) } })
    const d = await raw.next('disconnect')
    assert.equal(d.reasonCode, 0x82)
    await raw.waitClosed()
  })
})
