/**
 * Retained messages across a restart (`persistence.retained: true`): a broker is closed and a
 * new one started on the same data directory delivers what was retained, with its QoS, RETAIN
 * flag and MQTT 5 properties; clears stay cleared; Message Expiry keeps counting while the
 * broker is down. PUBACK only once the message is in the file; `persistence: false` writes no
 * file; a database that cannot be opened stops start-up.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { STATE_DB_FILE } from '../../src/store/sqlite/state-database.js'
import {
  VERSIONS, connect, connectWithInbox, delay, end, expectNoMessage, startBroker, subscribe, uid, type RunningBroker,
} from '../helpers/broker.js'

/** A fresh data directory, removed when the test ends. */
function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-retained-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A broker keeping retained messages in `dir` ($SYS off, so only the test's topics are retained). */
function persistentBroker(dir: string): Promise<RunningBroker> {
  return startBroker({ dataDir: dir, persistence: { retained: true }, limits: { sysInterval: 0 } })
}

/** Runs `fn` against a persistent broker on `dir`, closing the broker however `fn` ends. */
async function withPersistentBroker(dir: string, fn: (broker: RunningBroker) => Promise<void>): Promise<void> {
  const broker = await persistentBroker(dir)
  try {
    await fn(broker)
  } finally {
    await broker.close()
  }
}

/** The topics stored in the file, read by a connection of our own (WAL lets it read beside the broker). */
function storedTopics(dir: string): string[] {
  const db = new Database(join(dir, STATE_DB_FILE), { readonly: true })
  try {
    return (db.prepare('SELECT topic FROM retained ORDER BY topic').all() as { topic: string }[]).map((r) => r.topic)
  } finally {
    db.close()
  }
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test('a retained message survives a restart: payload, QoS and RETAIN flag [MQTT-3.3.1-5, MQTT-3.3.1-8]', async (t) => {
      const dir = dataDir(t)
      const topic = uid('persist')
      const first = await persistentBroker(dir)
      const pub = await connect(first.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'kept across restarts', { qos: 1, retain: true })
      await end(pub)
      await first.close()

      await withPersistentBroker(dir, async (second) => {
        const { client: sub, inbox } = await connectWithInbox(second.port, { protocolVersion: v, clientId: uid('sub') })
        await subscribe(sub, topic, { qos: 2 })
        const m = await inbox.next(topic)
        assert.equal(m.payload.toString(), 'kept across restarts')
        assert.equal(m.packet.qos, 1)
        assert.equal(m.packet.retain, true)
        await end(sub)
      })
    })

    test('a retained message cleared with an empty payload before the restart is not delivered after it [MQTT-3.3.1-10]', async (t) => {
      const dir = dataDir(t)
      const topic = uid('cleared')
      const first = await persistentBroker(dir)
      const pub = await connect(first.port, { protocolVersion: v, clientId: uid('pub') })
      await pub.publishAsync(topic, 'soon gone', { qos: 1, retain: true })
      await delay(60) // let the first write reach the file, so the clear must delete a row
      await pub.publishAsync(topic, '', { qos: 1, retain: true })
      await end(pub)
      await first.close()
      assert.deepEqual(storedTopics(dir), [])

      await withPersistentBroker(dir, async (second) => {
        const sub = await connect(second.port, { protocolVersion: v, clientId: uid('sub') })
        await subscribe(sub, topic, { qos: 1 })
        await expectNoMessage(sub, 200)
        await end(sub)
      })
    })
  })
}

describe('v5 properties and expiry', () => {
  test('User Properties, Content Type, Correlation Data, Response Topic and Payload Format survive a restart [MQTT-3.3.2-17, MQTT-3.3.2-18]', async (t) => {
    const dir = dataDir(t)
    const topic = uid('props')
    const correlationData = Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x7b])
    const first = await persistentBroker(dir)
    const pub = await connect(first.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(topic, '{"t":21.5}', {
      qos: 2,
      retain: true,
      properties: {
        payloadFormatIndicator: true,
        contentType: 'application/json',
        responseTopic: `${topic}/reply`,
        correlationData,
        userProperties: { unit: 'celsius', tag: ['a', 'b'], $buffers: 'not a marker', base64: 'nor this' },
      },
    })
    await end(pub)
    await first.close()

    await withPersistentBroker(dir, async (second) => {
      const { client: sub, inbox } = await connectWithInbox(second.port, { protocolVersion: 5, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 2 })
      const m = await inbox.next(topic)
      assert.equal(m.payload.toString(), '{"t":21.5}')
      assert.equal(m.packet.qos, 2)
      assert.equal(m.packet.retain, true)
      const p = m.packet.properties ?? {}
      assert.equal(p.payloadFormatIndicator, true)
      assert.equal(p.contentType, 'application/json')
      assert.equal(p.responseTopic, `${topic}/reply`)
      assert.ok(Buffer.isBuffer(p.correlationData), 'correlation data comes back as bytes')
      assert.deepEqual(p.correlationData, correlationData)
      assert.deepEqual({ ...p.userProperties }, { unit: 'celsius', tag: ['a', 'b'], $buffers: 'not a marker', base64: 'nor this' })
      assert.equal(p.messageExpiryInterval, undefined)
      await end(sub)
    })
  })

  test('Message Expiry keeps counting while the broker is down [MQTT-3.3.2-5, MQTT-3.3.2-6]', async (t) => {
    const dir = dataDir(t)
    const base = uid('expiry')
    const first = await persistentBroker(dir)
    const pub = await connect(first.port, { protocolVersion: 5, clientId: uid('pub') })
    await pub.publishAsync(`${base}/short`, 'expires while down', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync(`${base}/long`, 'outlives the downtime', { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } })
    await end(pub)
    await first.close()
    await delay(2100) // the 1 s message expires; the 60 s one has 58 s or less left

    await withPersistentBroker(dir, async (second) => {
      assert.deepEqual(storedTopics(dir), [`${base}/long`], 'the expired row is dropped when the file is loaded')
      const { client: sub, inbox } = await connectWithInbox(second.port, { protocolVersion: 5, clientId: uid('sub') })
      await subscribe(sub, `${base}/#`, { qos: 1 })
      const m = await inbox.next(`${base}/long`)
      assert.equal(m.payload.toString(), 'outlives the downtime')
      const left = m.packet.properties?.messageExpiryInterval
      assert.ok(left !== undefined && left > 0 && left <= 58, `remaining Message Expiry Interval ${String(left)} should be 1..58`)
      await expectNoMessage(sub, 200, `${base}/short`)
      assert.equal(inbox.messages.length, 1)
      await end(sub)
    })
  })
})

describe('writes and start-up', () => {
  test('1,000 retained topics published in a burst all come back after a restart', async (t) => {
    const dir = dataDir(t)
    const base = uid('burst')
    const count = 1000
    const first = await persistentBroker(dir)
    const pub = await connect(first.port, { protocolVersion: 5, clientId: uid('pub') })
    await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync(`${base}/${i}`, `m${i}`, { qos: 1, retain: true })))
    await end(pub)
    await first.close()

    await withPersistentBroker(dir, async (second) => {
      assert.equal(second.server.broker.retained.size, count)
      const { client: sub, inbox } = await connectWithInbox(second.port, { protocolVersion: 5, clientId: uid('sub') })
      await subscribe(sub, `${base}/#`, { qos: 0 })
      const got = await inbox.count(count, 10_000)
      const payloads = new Map(got.map((m) => [m.topic, m.payload.toString()]))
      assert.equal(payloads.size, count)
      for (let i = 0; i < count; i++) assert.equal(payloads.get(`${base}/${i}`), `m${i}`)
      await end(sub)
    })
  })

  test('a retained publish is in the file when its PUBACK arrives (acknowledged after commit)', async (t) => {
    const dir = dataDir(t)
    const topic = uid('writethrough')
    await withPersistentBroker(dir, async (broker) => {
      const pub = await connect(broker.port, { protocolVersion: 4, clientId: uid('pub') })
      await pub.publishAsync(topic, 'on disk', { qos: 1, retain: true })
      assert.ok(storedTopics(dir).includes(topic), 'stored before PUBACK')
      await end(pub)
    })
  })

  test('persistence: false: no file is written and nothing survives a restart', async (t) => {
    const dir = dataDir(t)
    const topic = uid('volatile')
    const first = await startBroker({ dataDir: dir, persistence: false })
    const pub = await connect(first.port, { protocolVersion: 4, clientId: uid('pub') })
    await pub.publishAsync(topic, 'memory only', { qos: 1, retain: true })
    await end(pub)
    await first.close()
    assert.equal(existsSync(join(dir, STATE_DB_FILE)), false)

    const second = await startBroker({ dataDir: dir, persistence: false })
    try {
      const sub = await connect(second.port, { protocolVersion: 4, clientId: uid('sub') })
      await subscribe(sub, topic, { qos: 1 })
      await expectNoMessage(sub, 200)
      await end(sub)
    } finally {
      await second.close()
    }
  })

  test('a corrupt state.sqlite stops server creation with an error naming the file', async (t) => {
    const dir = dataDir(t)
    const file = join(dir, STATE_DB_FILE)
    writeFileSync(file, 'this is not an SQLite database, just some bytes that fill a page header '.repeat(4))
    await assert.rejects(persistentBroker(dir), (err: unknown) => {
      assert.ok(err instanceof Error)
      assert.ok(err.message.includes(file), `"${err.message}" names ${file}`)
      assert.match(err.message, /state store/)
      return true
    })
  })
})
