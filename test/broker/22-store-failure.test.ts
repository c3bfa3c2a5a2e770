/**
 * When the state store cannot write (a full disk, simulated with SQLite's max_page_count)
 * nothing is falsely acknowledged: a QoS 1/2 PUBLISH for a persistent session gets MQTT 5
 * PUBACK/PUBREC 0x97, an MQTT 3.1.1 publisher is disconnected without an acknowledgement; QoS 0
 * and clean sessions keep working; the broker recovers by itself once the store can write. A file
 * that is not a database, one from a newer Portcullis, or a data directory that is a file stops
 * start-up naming the file (read-only files: test/cli/cli-state-unwritable.test.ts).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { STATE_DB_FILE } from '../../src/store/sqlite/state-database.js'
import { connect, end, nextMessage, rawSocket, startBroker, subscribe, uid, type RunningBroker } from '../helpers/broker.js'

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-store-fail-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Fill the store: no page may be added beyond those it has. */
function diskFull(broker: RunningBroker, full: boolean): void {
  const db = broker.server.stateStore?.db
  assert.ok(db !== undefined, 'persistence on')
  const pages = db.pragma('page_count', { simple: true }) as number
  db.pragma(`max_page_count = ${full ? pages : 1_000_000_000}`)
}

/** Publish `count` messages large enough that the store needs new pages for them. */
function payload(i: number): Buffer {
  return Buffer.alloc(8192, i % 251)
}

describe('the state store cannot write (disk full)', () => {
  test('MQTT 5: PUBACK 0x97 for a message a persistent session needed stored; QoS 0 and clean sessions keep working; recovers by itself', async (t) => {
    const dir = dataDir(t)
    const broker = await startBroker({ dataDir: dir, persistence: true, limits: { sysInterval: 0 } })
    t.after(() => broker.close())
    const topic = uid('full')
    const offline = await connect(broker.port, { protocolVersion: 5, clientId: uid('off'), clean: false, properties: { sessionExpiryInterval: 3600 } })
    await subscribe(offline, `${topic}/durable`, { qos: 1 })
    await end(offline)
    const clean = await connect(broker.port, { protocolVersion: 5, clientId: uid('clean') })
    await subscribe(clean, `${topic}/clean`, { qos: 1 })

    diskFull(broker, true)
    const raw = await rawSocket(broker.port, 5)
    await raw.connect({ clientId: uid('pub') })
    let refused = 0
    for (let i = 1; i <= 20; i++) {
      raw.send({ cmd: 'publish', topic: `${topic}/durable`, payload: payload(i), qos: 1, messageId: i, dup: false, retain: false })
      const ack = await raw.next('puback')
      assert.equal(ack.messageId, i)
      if ((ack.reasonCode ?? 0) === 0x97) refused++
      else assert.equal(ack.reasonCode ?? 0, 0)
    }
    assert.ok(refused > 0, 'some PUBLISH could not be stored and was refused with 0x97, not acknowledged')

    // A clean session's QoS 1 and anyone's QoS 0 are unaffected.
    const got = nextMessage(clean, `${topic}/clean`)
    raw.send({ cmd: 'publish', topic: `${topic}/clean`, payload: Buffer.from('still'), qos: 1, messageId: 100, dup: false, retain: false })
    const cleanAck = await raw.next('puback')
    assert.equal(cleanAck.reasonCode ?? 0, 0, 'nothing to store: acknowledged')
    assert.equal((await got).payload.toString(), 'still')
    raw.send({ cmd: 'publish', topic: `${topic}/clean`, payload: Buffer.from('zero'), qos: 0, dup: false, retain: false })
    assert.equal((await nextMessage(clean, `${topic}/clean`)).payload.toString(), 'zero')

    diskFull(broker, false)
    raw.send({ cmd: 'publish', topic: `${topic}/durable`, payload: payload(0), qos: 1, messageId: 200, dup: false, retain: false })
    assert.equal((await raw.next('puback')).reasonCode ?? 0, 0, 'the store writes again: acknowledged')
    assert.ok((broker.server.stateStore?.stats.failures ?? 0) > 0, 'failed commits counted')
    raw.destroy()
    await end(clean)
  })

  test('MQTT 3.1.1: no acknowledgement, the publisher is disconnected', async (t) => {
    const dir = dataDir(t)
    const broker = await startBroker({ dataDir: dir, persistence: true, limits: { sysInterval: 0 } })
    t.after(() => broker.close())
    const topic = uid('full3')
    const offline = await connect(broker.port, { protocolVersion: 4, clientId: uid('off'), clean: false })
    await subscribe(offline, topic, { qos: 1 })
    await end(offline)
    diskFull(broker, true)
    const raw = await rawSocket(broker.port, 4)
    await raw.connect({ clientId: uid('pub') })
    const acked: number[] = []
    for (let i = 1; i <= 20 && !raw.closed; i++) {
      raw.send({ cmd: 'publish', topic, payload: payload(i), qos: 1, messageId: i, dup: false, retain: false })
      try {
        acked.push((await raw.next('puback', 1000)).messageId as number)
      } catch {
        break
      }
    }
    await raw.waitClosed(2000)
    assert.ok(acked.length < 20, `not every message acknowledged (${acked.length})`)
    const db = new Database(join(dir, STATE_DB_FILE), { readonly: true })
    try {
      const stored = (db.prepare('SELECT count(*) AS n FROM deliveries').get() as { n: number }).n
      assert.ok(stored >= acked.length, `every acknowledged message is stored (${stored} stored, ${acked.length} acknowledged)`)
    } finally {
      db.close()
    }
    diskFull(broker, false)
  })
})

describe('a state file that cannot be used stops start-up', () => {
  test('a corrupt state.sqlite: creation fails naming the file', async (t) => {
    const dir = dataDir(t)
    const file = join(dir, STATE_DB_FILE)
    writeFileSync(file, 'not a database '.repeat(100))
    await assert.rejects(startBroker({ dataDir: dir, persistence: true }), (err: unknown) => err instanceof Error && err.message.includes(file))
  })

  test('a data directory that is a file: creation fails naming the state file and saying so', async (t) => {
    const dir = dataDir(t)
    const notADirectory = join(dir, 'data')
    writeFileSync(notADirectory, 'a file where the data directory should be')
    await assert.rejects(startBroker({ dataDir: notADirectory, persistence: true }), (err: unknown) =>
      err instanceof Error && err.message.includes(join(notADirectory, STATE_DB_FILE)) && /is not a directory/.test(err.message))
  })

  test('a state.sqlite from a newer Portcullis: creation fails naming the file and the schema', async (t) => {
    const dir = dataDir(t)
    const first = await startBroker({ dataDir: dir, persistence: true })
    await first.close()
    const db = new Database(join(dir, STATE_DB_FILE))
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run()
    db.close()
    await assert.rejects(startBroker({ dataDir: dir, persistence: true }), (err: unknown) => err instanceof Error && err.message.includes(STATE_DB_FILE) && /newer Portcullis/.test(err.message))
  })
})
