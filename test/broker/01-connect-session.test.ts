/**
 * Sessions [MQTT-3.1.2-4..6, MQTT-4.1]: Clean Session (3.1.1) and Clean Start + Session
 * Expiry Interval (5.0), Session Present, subscriptions kept by a persistent session.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import {
  VERSIONS, connect, connectForConnack, delay, end, nextMessage, rawSocket, startBroker, subscribe, uid, useBroker, waitForClose, type Version,
} from '../helpers/broker.js'

const broker = useBroker()

/** Options for a session that outlives its connection, in either protocol version. */
function persistent(v: Version, expiry = 60): Pick<IClientOptions, 'clean' | 'properties'> {
  return v === 5 ? { clean: false, properties: { sessionExpiryInterval: expiry } } : { clean: false }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('a persistent session is present on reconnect [MQTT-3.2.2-3]', async () => {
      const id = uid('persist')
      const a = await connect(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      await end(a)
      const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      assert.equal(connack.sessionPresent, true)
      await end(b)
    })

    test('clean session / clean start discards the session: session present 0 [MQTT-3.2.2-1]', async () => {
      const id = uid('clean')
      const a = await connect(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      await end(a)
      const { client: b, connack } = await connectForConnack(broker.port, {
        protocolVersion: v, clientId: id, clean: true, ...(v === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
      })
      assert.equal(connack.sessionPresent, false)
      await end(b)
      // and the session it replaced is gone for good
      const { client: c, connack: third } = await connectForConnack(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      assert.equal(third.sessionPresent, v === 5, 'v5: the clean-start session had expiry 60 and survives; v4: clean session 1 ends')
      await end(c)
    })

    test('subscriptions of a persistent session survive a reconnect [MQTT-4.1.0-1]', async () => {
      const id = uid('subs')
      const topic = `${id}/t`
      const a = await connect(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      await subscribe(a, topic, { qos: 1 })
      await end(a)
      const b = await connect(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
      const got = nextMessage(b, topic)
      await pub.publishAsync(topic, 'still subscribed', { qos: 1 })
      assert.equal((await got).payload.toString(), 'still subscribed')
      await end(b, pub)
    })

    test('a non-persistent session ends with its connection (no session present)', async () => {
      const id = uid('transient')
      const a = await connect(broker.port, { protocolVersion: v, clientId: id, clean: true })
      await end(a)
      const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: v, clientId: id, ...persistent(v) })
      assert.equal(connack.sessionPresent, false)
      await end(b)
    })
  })
}

describe('v5 session expiry', () => {
  test('Clean Start 1 with Session Expiry > 0 keeps the session after the connection ends', async () => {
    const id = uid('cs-expiry')
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, clean: true, properties: { sessionExpiryInterval: 60 } })
    await end(a)
    const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    assert.equal(connack.sessionPresent, true)
    await end(b)
  })

  test('the session expires Session Expiry Interval seconds after the connection ends [MQTT-3.1.2-23]', async () => {
    const id = uid('expires')
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5, 1) })
    await end(a)
    // still there before the interval ends ...
    const { client: b, connack: early } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5, 1) })
    assert.equal(early.sessionPresent, true)
    await end(b)
    // ... gone after it
    await delay(1300)
    const { client: c, connack: late } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5, 1) })
    assert.equal(late.sessionPresent, false)
    await end(c)
  })

  test('Session Expiry Interval 0 in DISCONNECT ends the session at once [MQTT-3.14.2-?]', async () => {
    const id = uid('disc-expiry')
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    await a.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    assert.equal(connack.sessionPresent, false)
    await end(b)
  })

  test('a DISCONNECT may raise a non-zero Session Expiry Interval', async () => {
    const id = uid('disc-raise')
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5, 1) })
    await a.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
    await delay(1300)
    const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    assert.equal(connack.sessionPresent, true)
    await end(b)
  })

  test('DISCONNECT setting a Session Expiry after 0 at CONNECT is a protocol error (DISCONNECT 0x82) [MQTT-3.14.2-2]', async () => {
    const raw = await rawSocket(broker.port, 5)
    const connack = await raw.connect({ clientId: uid('disc-bad') })
    assert.equal(connack.reasonCode, 0)
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } })
    const disconnect = await raw.next('disconnect')
    assert.equal(disconnect.reasonCode, 0x82)
    await raw.waitClosed()
  })

  test('a Session Expiry Interval above the broker maximum is capped and reported in CONNACK [MQTT-3.2.2-?]', async () => {
    const capped = await startBroker({ limits: { maxSessionExpiry: 30 } })
    try {
      const { client, connack } = await connectForConnack(capped.port, {
        protocolVersion: 5, clientId: uid('cap'), properties: { sessionExpiryInterval: 3600 },
      })
      assert.equal(connack.properties?.sessionExpiryInterval, 30)
      await end(client)
    } finally {
      await capped.close()
    }
  })

  test('a taken-over v5 connection with a persistent session is told why (0x8E) and the session stays', async () => {
    const id = uid('take5')
    const a = await connect(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    const closed = waitForClose(a)
    const { client: b, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: id, ...persistent(5) })
    assert.equal((await closed)?.reasonCode, 0x8e)
    assert.equal(connack.sessionPresent, true)
    await end(a, b)
  })
})
