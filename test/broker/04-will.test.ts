/**
 * Will messages [MQTT-3.1.2-8..17, MQTT-3.1.3-9]: published when the connection ends without a
 * normal DISCONNECT (or with v5 reason 0x04), delayed by Will Delay Interval and cancelled
 * by a reconnect, published on takeover, properties forwarded.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { IClientOptions, MqttClient } from 'mqtt'
import {
  VERSIONS, connect, connectWithInbox, end, expectNoMessage, nextMessage, rawSocket, subscribe, uid, useBroker, waitForClose, type Version,
} from '../helpers/broker.js'

const broker = useBroker()

async function watcher(v: Version, topic: string): Promise<MqttClient> {
  const w = await connect(broker.port, { protocolVersion: v, clientId: uid('watch') })
  await subscribe(w, topic, { qos: 1 })
  return w
}

/** Drop the TCP connection without DISCONNECT. */
async function kill(client: MqttClient): Promise<void> {
  const closed = waitForClose(client)
  client.stream.destroy()
  await closed
}

function will(topic: string, extra: Partial<NonNullable<IClientOptions['will']>> = {}): IClientOptions['will'] {
  return { topic, payload: Buffer.from('gone'), qos: 1, retain: false, ...extra }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('the will is published when the connection is lost [MQTT-3.1.2-8]', async () => {
      const topic = uid('will')
      const w = await watcher(v, topic)
      const c = await connect(broker.port, { protocolVersion: v, clientId: uid('dies'), will: will(topic) })
      const got = nextMessage(w, topic)
      await kill(c)
      const m = await got
      assert.equal(m.payload.toString(), 'gone')
      assert.equal(m.packet.qos, 1)
      await end(w)
    })

    test('the will is not published after a normal DISCONNECT [MQTT-3.1.2-10]', async () => {
      const topic = uid('nowill')
      const w = await watcher(v, topic)
      const c = await connect(broker.port, { protocolVersion: v, clientId: uid('polite'), will: will(topic) })
      await c.endAsync()
      await expectNoMessage(w, 300)
      await end(w)
    })

    test('the will is published when the broker closes the connection for a protocol error [MQTT-3.1.2-8]', async () => {
      const topic = uid('willerr')
      const w = await watcher(v, topic)
      const raw = await rawSocket(broker.port, v)
      await raw.connect({ clientId: uid('bad'), will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } })
      const got = nextMessage(w, topic)
      raw.write([0x10, 0x00]) // a second CONNECT
      await raw.waitClosed()
      assert.equal((await got).payload.toString(), 'gone')
      await end(w)
    })

    test('a retained will is retained [MQTT-3.1.2-17]', async () => {
      const topic = uid('willret')
      const c = await connect(broker.port, { protocolVersion: v, clientId: uid('dies'), will: will(topic, { retain: true }) })
      await kill(c)
      const { client: late, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('late') })
      await subscribe(late, topic, { qos: 1 })
      const m = await inbox.next(topic)
      assert.equal(m.payload.toString(), 'gone')
      assert.equal(m.packet.retain, true)
      const cleaner = await connect(broker.port, { protocolVersion: v, clientId: uid('clean') })
      await cleaner.publishAsync(topic, '', { retain: true, qos: 1 })
      await end(late, cleaner)
    })

    test('the will of a taken-over connection is published [MQTT-3.1.4-3]', async () => {
      const topic = uid('willtake')
      const id = uid('taken')
      const w = await watcher(v, topic)
      const first = await connect(broker.port, { protocolVersion: v, clientId: id, will: will(topic) })
      const got = nextMessage(w, topic)
      const second = await connect(broker.port, { protocolVersion: v, clientId: id })
      assert.equal((await got).payload.toString(), 'gone')
      await end(first, second, w)
    })
  })
}

describe('v5 wills', () => {
  test('DISCONNECT with reason 0x04 publishes the will [MQTT-3.14.4-3]', async () => {
    const topic = uid('will04')
    const w = await watcher(5, topic)
    const c = await connect(broker.port, { protocolVersion: 5, clientId: uid('c'), will: will(topic) })
    const got = nextMessage(w, topic)
    await c.endAsync(false, { reasonCode: 0x04 })
    assert.equal((await got).payload.toString(), 'gone')
    await end(w)
  })

  test('Will Delay Interval delays the will [MQTT-3.1.3-9]', async () => {
    const topic = uid('willdelay')
    const w = await watcher(5, topic)
    const c = await connect(broker.port, {
      protocolVersion: 5, clientId: uid('c'), clean: false, properties: { sessionExpiryInterval: 10 },
      will: will(topic, { properties: { willDelayInterval: 1 } }),
    })
    const got = nextMessage(w, topic, 3000)
    const start = Date.now()
    await kill(c)
    await got
    const elapsed = Date.now() - start
    assert.ok(elapsed >= 900 && elapsed < 2000, `will published after ${elapsed} ms, expected about 1000`)
    await end(w)
  })

  test('a reconnect within the Will Delay Interval cancels the will [MQTT-3.1.3-9]', async () => {
    const topic = uid('willcancel')
    const id = uid('c')
    const w = await watcher(5, topic)
    const opts = {
      protocolVersion: 5 as const, clientId: id, clean: false, properties: { sessionExpiryInterval: 10 },
      will: will(topic, { properties: { willDelayInterval: 1 } }),
    }
    const c = await connect(broker.port, opts)
    await kill(c)
    const again = await connect(broker.port, { ...opts, will: undefined })
    await expectNoMessage(w, 1400)
    await end(again, w)
  })

  test('the will is published when the session ends, even before the Will Delay Interval [MQTT-3.1.2-?]', async () => {
    const topic = uid('willcap')
    const w = await watcher(5, topic)
    const c = await connect(broker.port, {
      protocolVersion: 5, clientId: uid('c'), properties: { sessionExpiryInterval: 0 },
      will: will(topic, { properties: { willDelayInterval: 30 } }),
    })
    const got = nextMessage(w, topic, 1000)
    await kill(c)
    assert.equal((await got).payload.toString(), 'gone')
    await end(w)
  })

  test('will properties are forwarded and the published will carries no Will Delay Interval [MQTT-3.1.3-?]', async () => {
    const topic = uid('willprops')
    const w = await watcher(5, topic)
    const c = await connect(broker.port, {
      protocolVersion: 5, clientId: uid('c'), clean: false, properties: { sessionExpiryInterval: 10 },
      will: will(topic, {
        properties: {
          willDelayInterval: 1,
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
          contentType: 'text/plain',
          responseTopic: 'reply/here',
          correlationData: Buffer.from('corr'),
          userProperties: { who: 'me' },
        },
      }),
    })
    const got = nextMessage(w, topic, 3000)
    await kill(c)
    const p = (await got).packet.properties ?? {}
    assert.equal((p as Record<string, unknown>)['willDelayInterval'], undefined)
    assert.equal(p.payloadFormatIndicator, true)
    assert.equal(p.contentType, 'text/plain')
    assert.equal(p.responseTopic, 'reply/here')
    assert.deepEqual(p.correlationData, Buffer.from('corr'))
    assert.deepEqual({ ...p.userProperties }, { who: 'me' })
    assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 60 && p.messageExpiryInterval >= 59)
    await end(w)
  })
})
