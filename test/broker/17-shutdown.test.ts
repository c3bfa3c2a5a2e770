/**
 * Shutdown: server.close() tells MQTT 5 clients why (DISCONNECT 0x8B), closes every
 * connection and listener, and is idempotent.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { describe, test } from 'node:test'
import { VERSIONS, connect, end, rawSocket, startBroker, uid, waitForClose, withTimeout } from '../helpers/broker.js'

function refused(port: number): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        resolve(false)
      })
      s.once('error', () => resolve(true))
    }),
    2000,
    'connection attempt after close',
  )
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test(`close() disconnects clients${v === 5 ? ' with DISCONNECT 0x8B' : ''} and stops listening`, async () => {
      const b = await startBroker()
      const a = await connect(b.port, { protocolVersion: v, clientId: uid('a') })
      const c = await connect(b.port, { protocolVersion: v, clientId: uid('c') })
      const closedA = waitForClose(a)
      const closedC = waitForClose(c)
      await b.close()
      const [da, dc] = await Promise.all([closedA, closedC])
      if (v === 5) {
        assert.equal(da?.reasonCode, 0x8b)
        assert.equal(dc?.reasonCode, 0x8b)
      } else {
        assert.equal(da, undefined)
      }
      assert.equal(await refused(b.port), true, 'the listener is closed')
      await end(a, c)
    })

    test('a connection still in CONNECT is closed too, without a CONNACK', async () => {
      const b = await startBroker()
      const raw = await rawSocket(b.port, v)
      raw.write([0x10, 0x0d, 0x00, 0x04]) // a CONNECT that never completes
      await b.close()
      await raw.waitClosed()
      assert.equal(raw.packets.length, 0)
    })
  })
}

describe('idempotence', () => {
  test('close() twice, concurrently and again later, resolves every time', async () => {
    const b = await startBroker()
    const client = await connect(b.port, { protocolVersion: 5, clientId: uid('x') })
    const closed = waitForClose(client)
    await Promise.all([b.server.close(), b.server.close()])
    await b.server.close()
    await closed
    assert.equal(b.server.broker.closing, true)
    assert.equal(await refused(b.port), true)
    await end(client)
  })

  test('[Symbol.asyncDispose] closes the server', async () => {
    let port = 0
    {
      const b = await startBroker()
      port = b.port
      await b.server[Symbol.asyncDispose]()
    }
    assert.equal(await refused(port), true)
  })
})
