/**
 * Keep alive [MQTT-3.1.2-22, MQTT-3.1.2-24]: the broker closes a connection silent for 1.5x
 * the keep alive, answers PINGREQ, and (MQTT 5) imposes Server Keep Alive.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { VERSIONS, connectForConnack, delay, end, rawSocket, startBroker, uid, useBroker } from '../helpers/broker.js'

const broker = useBroker()

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('a client silent for 1.5x its keep alive is disconnected [MQTT-3.1.2-24]', async () => {
      const raw = await rawSocket(broker.port, v)
      const connack = await raw.connect({ clientId: uid('ka'), keepalive: 1 })
      assert.equal(v === 5 ? connack.reasonCode : connack.returnCode, 0)
      const start = Date.now()
      await raw.waitClosed(3500)
      const elapsed = Date.now() - start
      // 1.5 s allowed; the broker checks once a second, so it closes between 1.5 and ~2.5 s
      assert.ok(elapsed >= 1400, `closed too early, after ${elapsed} ms`)
      if (v === 5) {
        const disconnect = raw.unread().find((p) => p.cmd === 'disconnect')
        assert.ok(disconnect, 'v5 client gets DISCONNECT before the close')
        assert.equal(disconnect.reasonCode, 0x8d)
      }
    })

    test('PINGREQ gets PINGRESP and keeps the connection alive [MQTT-3.12.4-1]', async () => {
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('ping'), keepalive: 1 })
      for (let i = 0; i < 4; i++) {
        raw.send({ cmd: 'pingreq' })
        await raw.next('pingresp')
        await delay(500)
      }
      assert.equal(raw.closed, false, 'a pinging client stays connected past 1.5x keep alive')
      raw.destroy()
    })

    test('keep alive 0 is accepted and switches the broker check off (v4) / gets Server Keep Alive (v5)', async () => {
      const { client, connack } = await connectForConnack(broker.port, { protocolVersion: v, clientId: uid('ka0'), keepalive: 0 })
      assert.equal(v === 5 ? connack.reasonCode : connack.returnCode, 0)
      if (v === 5) assert.equal(connack.properties?.serverKeepAlive, 60)
      await end(client)
    })
  })
}

describe('v5 Server Keep Alive', () => {
  test('a keep alive above the maximum (120) gets Server Keep Alive 60 [MQTT-3.2.2-21]', async () => {
    const { client, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: uid('ka120'), keepalive: 120 })
    assert.equal(connack.properties?.serverKeepAlive, 60)
    await end(client)
  })

  test('a keep alive within the maximum is kept: no Server Keep Alive', async () => {
    const { client, connack } = await connectForConnack(broker.port, { protocolVersion: 5, clientId: uid('ka30'), keepalive: 30 })
    assert.equal(connack.properties?.serverKeepAlive, undefined)
    await end(client)
  })

  test('the Server Keep Alive is the one enforced [MQTT-3.2.2-22]', async () => {
    const strict = await startBroker({ limits: { maxKeepAlive: 1 } })
    try {
      const raw = await rawSocket(strict.port, 5)
      const connack = await raw.connect({ clientId: uid('ka-enforced'), keepalive: 100 })
      assert.equal(connack.properties?.serverKeepAlive, 1)
      await raw.waitClosed(3500)
      assert.equal(raw.unread().find((p) => p.cmd === 'disconnect')?.reasonCode, 0x8d)
    } finally {
      await strict.close()
    }
  })
})
