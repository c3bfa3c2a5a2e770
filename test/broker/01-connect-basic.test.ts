/**
 * CONNECT / CONNACK [MQTT-3.1, MQTT-3.2]: protocol version negotiation, client identifiers,
 * MQTT 5 capability properties, session takeover.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { VERSIONS, assertHealthy, connect, connectForConnack, end, rawSocket, uid, useBroker, waitForClose } from '../helpers/broker.js'

const broker = useBroker()

describe('protocol versions', () => {
  test('MQTT 3.1 (MQIsdp, level 3) is accepted with return code 0', async () => {
    const raw = await rawSocket(broker.port, 4)
    const connack = await raw.connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: uid('v31') })
    assert.equal(connack.returnCode, 0)
    raw.destroy()
  })

  test('MQTT 3.1 with an empty client id is refused with return code 2', async () => {
    const raw = await rawSocket(broker.port, 4)
    const connack = await raw.connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: '' })
    assert.equal(connack.returnCode, 2)
    await raw.waitClosed()
  })

  test('an unsupported protocol level (6) gets CONNACK 0x84 (MQTT 5 form) then close [MQTT-3.1.2-2]', async () => {
    const raw = await rawSocket(broker.port, 5)
    // CONNECT "MQTT" level 6, clean start, keep alive 0, no properties, client id "x"
    raw.write([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x78])
    const connack = await raw.next('connack')
    assert.equal(connack.reasonCode, 0x84)
    await raw.waitClosed()
  })

  test('an unsupported protocol level (2) gets CONNACK return code 1 (3.1.1 form) then close [MQTT-3.1.2-2]', async () => {
    const raw = await rawSocket(broker.port, 4)
    raw.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78])
    const connack = await raw.next('connack')
    assert.equal(connack.returnCode, 1)
    await raw.waitClosed()
  })
})

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('CONNECT is answered with a successful CONNACK, session not present [MQTT-3.2.2-2]', async () => {
      const { client, connack } = await connectForConnack(broker.port, { protocolVersion: v, clientId: uid() })
      assert.equal(v === 5 ? connack.reasonCode : connack.returnCode, 0)
      assert.equal(connack.sessionPresent, false)
      await assertHealthy(client)
      await end(client)
    })

    if (v === 4) {
      test('empty client id with clean session 0 is refused with return code 2 [MQTT-3.1.3-8]', async () => {
        const raw = await rawSocket(broker.port, 4)
        const connack = await raw.connect({ clientId: '', clean: false })
        assert.equal(connack.returnCode, 2)
        assert.equal(connack.sessionPresent, false)
        await raw.waitClosed()
      })

      test('empty client id with clean session 1 is accepted [MQTT-3.1.3-6]', async () => {
        const raw = await rawSocket(broker.port, 4)
        const connack = await raw.connect({ clientId: '', clean: true })
        assert.equal(connack.returnCode, 0)
        raw.send({ cmd: 'pingreq' })
        assert.equal((await raw.next('pingresp')).cmd, 'pingresp')
        raw.destroy()
      })
    } else {
      test('empty client id gets an Assigned Client Identifier [MQTT-3.2.2-16]', async () => {
        const raw = await rawSocket(broker.port, 5)
        const connack = await raw.connect({ clientId: '', clean: false, properties: { sessionExpiryInterval: 10 } })
        assert.equal(connack.reasonCode, 0)
        const assigned = connack.properties?.assignedClientIdentifier
        assert.equal(typeof assigned, 'string')
        assert.ok((assigned as string).length > 0)
        raw.destroy()
        // the assigned id names a real session: resuming it finds the session
        const { client, connack: again } = await connectForConnack(broker.port, {
          protocolVersion: 5, clientId: assigned, clean: false, properties: { sessionExpiryInterval: 10 },
        })
        assert.equal(again.sessionPresent, true)
        await end(client)
      })

      test('CONNACK advertises the broker capabilities', async () => {
        const { client, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: uid() })
        const p = connack.properties ?? {}
        assert.equal(p.receiveMaximum, 100)
        assert.equal(p.maximumPacketSize, 1024 * 1024)
        assert.equal(p.topicAliasMaximum, 64)
        assert.equal(p.retainAvailable, true)
        assert.equal(p.wildcardSubscriptionAvailable, true)
        assert.equal(p.subscriptionIdentifiersAvailable, true)
        assert.equal(p.sharedSubscriptionAvailable, true)
        // no Maximum QoS property: QoS 2 is supported [MQTT-3.2.2-9]
        assert.equal(p.maximumQoS, undefined)
        await end(client)
      })

      test('Receive Maximum 0 in CONNECT is a protocol error (CONNACK 0x82) [MQTT-3.1.2-?]', async () => {
        const raw = await rawSocket(broker.port, 5)
        const connack = await raw.connect({ properties: { receiveMaximum: 0 } })
        assert.equal(connack.reasonCode, 0x82)
        await raw.waitClosed()
      })
    }

    test('a second connection with the same client id takes the session over [MQTT-3.1.4-3]', async () => {
      const id = uid('takeover')
      const first = await connect(broker.port, { protocolVersion: v, clientId: id })
      const closed = waitForClose(first)
      const second = await connect(broker.port, { protocolVersion: v, clientId: id })
      const disconnect = await closed
      if (v === 5) {
        assert.ok(disconnect, 'the old v5 connection gets DISCONNECT')
        assert.equal(disconnect.reasonCode, 0x8e)
      } else {
        assert.equal(disconnect, undefined)
      }
      await assertHealthy(second)
      await end(first, second)
    })

    test('a connection takeover keeps the persistent session (session present)', async () => {
      const id = uid('takeover-persist')
      const persist = v === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false }
      const first = await connect(broker.port, { protocolVersion: v, clientId: id, ...persist })
      const { client: second, connack } = await connectForConnack(broker.port, { protocolVersion: v, clientId: id, ...persist })
      assert.equal(connack.sessionPresent, true)
      await end(first, second)
    })
  })
}
