/**
 * A client that floods past the broker's Receive Maximum, reading nothing while it writes,
 * still gets the DISCONNECT 0x93 that explains why [MQTT-3.3.4-9]. (The broker half-closes
 * and keeps reading after a server-side close; Paho's flow_control2 is the sharper check of
 * that — it failed with a broken pipe when the socket was destroyed as soon as it finished.)
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { rawSocket, startBroker, uid, type RunningBroker } from '../helpers/broker.js'

let broker: RunningBroker
before(async () => {
  broker = await startBroker({ limits: { receiveMaximum: 10 } })
})
after(() => broker.close())

test('08 flooding QoS 2 publishes past Receive Maximum: DISCONNECT 0x93 arrives before the close', async () => {
  const raw = await rawSocket(broker.port, 5)
  const connack = await raw.connect({ clientId: uid('flood'), protocolVersion: 5 })
  assert.equal(connack.properties?.receiveMaximum, 10)
  const flood = Buffer.concat(
    Array.from({ length: 400 }, (_, i) =>
      mqttPacket.generate({ cmd: 'publish', topic: 'flood/x', payload: Buffer.alloc(200), qos: 2, retain: false, dup: false, messageId: i + 1 }, { protocolVersion: 5 }),
    ),
  )
  // like a client busy sending: it reads nothing until its whole flood is written
  raw.socket.pause()
  raw.write(flood)
  await new Promise((r) => setTimeout(r, 300))
  raw.socket.resume()
  const d = await raw.next('disconnect', 5000)
  assert.equal(d.reasonCode, 0x93)
  await raw.waitClosed(5000)
})
