/**
 * Persistent sessions across a restart (`persistence.sessions`, on by default): a broker is
 * closed and a new one started on the same data directory resumes each persistent session
 * with Session Present [MQTT-3.2.2-3], its subscriptions, the QoS 1/2 messages queued for it
 * and those in flight (resent with DUP [MQTT-4.4.0-1]), QoS 2 exactly once; expiry keeps
 * counting while the broker is down, and a will with Will Delay survives. Acknowledgements
 * go out only after their effect is in the file; clean sessions and QoS 0 write nothing.
 * (The kill -9 tests, with the broker as a child process, are in 22-durable-crash.)
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { STATE_DB_FILE } from '../../src/store/sqlite/state-database.js'
import {
  VERSIONS, connect, connectForConnack, connectWithInbox, delay, end, expectNoMessage, rawSocket, rawSubscribe, startBroker,
  subscribe, uid, type RunningBroker,
} from '../helpers/broker.js'

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sessions-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function durableBroker(dir: string): Promise<RunningBroker> {
  return startBroker({ dataDir: dir, persistence: { sessions: true, retained: true }, limits: { sysInterval: 0 } })
}

/** Row counts of the state file, read beside the broker (WAL). */
function rows(dir: string, table: 'sessions' | 'subscriptions' | 'deliveries' | 'messages' | 'incoming_qos2'): number {
  const db = new Database(join(dir, STATE_DB_FILE), { readonly: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n
  } finally {
    db.close()
  }
}

/** Persistent-session options for either protocol version. */
function persistent(v: 4 | 5, clientId: string, expiry = 3600): Record<string, unknown> {
  return v === 5
    ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: expiry } }
    : { protocolVersion: 4, clientId, clean: false }
}

for (const v of VERSIONS) {
  describe(`durable sessions across a restart, MQTT ${v === 5 ? '5' : '3.1.1'}`, () => {
    test('subscriptions and queued QoS 1/2 messages survive; Session Present is 1 [MQTT-3.2.2-3]', async (t) => {
      const dir = dataDir(t)
      const id = uid('durable')
      const topic = uid('q')
      let broker = await durableBroker(dir)
      try {
        const sub = await connect(broker.port, persistent(v, id) as never)
        await subscribe(sub, `${topic}/#`, { qos: 2 })
        await end(sub)
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        for (let i = 0; i < 5; i++) await pub.publishAsync(`${topic}/${i}`, `m${i}`, { qos: (1 + (i % 2)) as 1 | 2 })
        await end(pub)
        assert.equal(rows(dir, 'deliveries'), 5, 'each PUBACK/PUBREC came after its message was stored')
        await broker.close()

        broker = await durableBroker(dir)
        const { client, inbox } = await connectWithInbox(broker.port, persistent(v, id) as never)
        const got = []
        for (let i = 0; i < 5; i++) got.push((await inbox.next(undefined, 3000)).payload.toString())
        // (MQTT.js hands a QoS 2 message over at PUBREL, so the two QoS levels interleave differently.)
        assert.deepEqual(got.sort(), ['m0', 'm1', 'm2', 'm3', 'm4'], 'each once')
        await expectNoMessage(client, 200)
        // the subscription itself survived too
        const pub2 = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        await pub2.publishAsync(`${topic}/after`, 'after restart', { qos: 1 })
        assert.equal((await inbox.next(`${topic}/after`)).payload.toString(), 'after restart')
        await end(client, pub2)
        const { client: again, connack } = await connectForConnack(broker.port, persistent(v, id) as never)
        assert.equal(connack.sessionPresent, true)
        await end(again)
      } finally {
        await broker.close()
      }
    })

    test('a QoS 1/2 message in flight (not acknowledged) is resent with DUP and its packet id after a restart [MQTT-4.4.0-1]', async (t) => {
      const dir = dataDir(t)
      const id = uid('inflight')
      const topic = uid('f')
      let broker = await durableBroker(dir)
      try {
        const raw = await rawSocket(broker.port, v)
        const props = v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}
        await raw.connect({ clientId: id, clean: false, ...props })
        await rawSubscribe(raw, topic, 2)
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        await pub.publishAsync(topic, 'one', { qos: 1 })
        await pub.publishAsync(topic, 'two', { qos: 2 })
        const first = await raw.next('publish')
        const second = await raw.next('publish')
        assert.deepEqual([first.payload.toString(), second.payload.toString()], ['one', 'two'])
        // no PUBACK / PUBREC from the subscriber
        await end(pub)
        await broker.close()
        raw.destroy()

        broker = await durableBroker(dir)
        const again = await rawSocket(broker.port, v)
        const connack = await again.connect({ clientId: id, clean: false, ...props })
        assert.equal(connack.sessionPresent, true)
        const r1 = await again.next('publish')
        const r2 = await again.next('publish')
        assert.deepEqual([r1.payload.toString(), r1.dup, r1.messageId], ['one', true, first.messageId])
        assert.deepEqual([r2.payload.toString(), r2.dup, r2.messageId, r2.qos], ['two', true, second.messageId, 2])
        again.send({ cmd: 'puback', messageId: r1.messageId as number })
        again.send({ cmd: 'pubrec', messageId: r2.messageId as number })
        const rel = await again.next('pubrel')
        assert.equal(rel.messageId, r2.messageId)
        again.send({ cmd: 'pubcomp', messageId: r2.messageId as number })
        await delay(100)
        assert.equal(rows(dir, 'deliveries'), 0, 'acknowledged messages leave the file')
        assert.equal(rows(dir, 'messages'), 0)
        again.destroy()
      } finally {
        await broker.close()
      }
    })

    test('an incoming QoS 2 message not yet released stays a duplicate across a restart [MQTT-4.3.3-10]', async (t) => {
      const dir = dataDir(t)
      const id = uid('in2')
      const topic = uid('in2')
      let broker = await durableBroker(dir)
      try {
        const watcher = await connect(broker.port, { protocolVersion: v, clientId: uid('w') })
        await subscribe(watcher, topic, { qos: 1 })
        const raw = await rawSocket(broker.port, v)
        const props = v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}
        await raw.connect({ clientId: id, clean: false, ...props })
        raw.send({ cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, dup: false, retain: false })
        assert.equal((await raw.next('pubrec')).messageId, 7)
        assert.equal(rows(dir, 'incoming_qos2'), 1, 'PUBREC after the packet id is stored')
        await broker.close()
        raw.destroy()
        await end(watcher)

        broker = await durableBroker(dir)
        const { client: w2, inbox } = await connectWithInbox(broker.port, { protocolVersion: v, clientId: uid('w') })
        await subscribe(w2, topic, { qos: 1 })
        const again = await rawSocket(broker.port, v)
        await again.connect({ clientId: id, clean: false, ...props })
        again.send({ cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, dup: true, retain: false })
        assert.equal((await again.next('pubrec')).messageId, 7)
        again.send({ cmd: 'pubrel', messageId: 7 })
        const comp = await again.next('pubcomp')
        assert.equal(comp.messageId, 7)
        assert.equal(comp.reasonCode ?? 0, 0, 'the id was known')
        await expectNoMessage(w2, 200)
        assert.equal(inbox.messages.length, 0, 'not routed a second time')
        again.destroy()
        await end(w2)
      } finally {
        await broker.close()
      }
    })

    test('a clean session and QoS 0 traffic write nothing to the state file', async (t) => {
      const dir = dataDir(t)
      const topic = uid('clean')
      const broker = await durableBroker(dir)
      try {
        const sub = await connect(broker.port, { protocolVersion: v, clientId: uid('c'), clean: true })
        await subscribe(sub, topic, { qos: 1 })
        const psub = await connect(broker.port, persistent(v, uid('p')) as never)
        await subscribe(psub, topic, { qos: 0 })
        const before = rows(dir, 'subscriptions')
        const pub = await connect(broker.port, { protocolVersion: v, clientId: uid('pub') })
        for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
        await pub.publishAsync(topic, 'zero', { qos: 0 })
        await delay(50)
        assert.equal(rows(dir, 'deliveries'), 0, 'a clean session\'s messages and a QoS 0 subscription are not stored')
        assert.equal(rows(dir, 'messages'), 0)
        assert.equal(before, 1, 'only the persistent session\'s subscription is stored')
        assert.equal(rows(dir, 'sessions'), 1)
        await end(sub, psub, pub)
      } finally {
        await broker.close()
      }
    })
  })
}

describe('durable sessions: expiry and wills across a restart (MQTT 5)', () => {
  test('Session Expiry keeps counting while the broker is down: an expired session is gone after restart', async (t) => {
    const dir = dataDir(t)
    const id = uid('exp')
    let broker = await durableBroker(dir)
    try {
      const c = await connect(broker.port, persistent(5, id, 1) as never)
      await subscribe(c, uid('x'), { qos: 1 })
      await end(c)
      const keep = await connect(broker.port, persistent(5, uid('keep'), 3600) as never)
      await end(keep)
      await broker.close()
      await delay(1300)
      broker = await durableBroker(dir)
      const { client, connack } = await connectForConnack(broker.port, persistent(5, id, 60) as never)
      assert.equal(connack.sessionPresent, false, 'expired while down')
      await end(client)
      assert.equal(rows(dir, 'subscriptions'), 0)
    } finally {
      await broker.close()
    }
  })

  test('a will with Will Delay, its client connected when the broker stopped, is published after the restart [MQTT-3.1.3-9]', async (t) => {
    const dir = dataDir(t)
    const topic = uid('will')
    let broker = await durableBroker(dir)
    try {
      const watcherId = uid('watch')
      const watcher = await connect(broker.port, persistent(5, watcherId) as never)
      await subscribe(watcher, topic, { qos: 1 })
      await end(watcher)
      await connect(broker.port, {
        ...(persistent(5, uid('dying'), 3600) as object),
        protocolVersion: 5,
        will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
      })
      await delay(50)
      await broker.close()
      broker = await durableBroker(dir)
      const { client, inbox } = await connectWithInbox(broker.port, persistent(5, watcherId) as never)
      assert.equal((await inbox.next(topic, 3000)).payload.toString(), 'gone')
      await end(client)
    } finally {
      await broker.close()
    }
  })
})
