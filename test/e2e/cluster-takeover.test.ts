/**
 * Takeover across live nodes (broker child processes, a real redis-server on a unix socket):
 * - a persistent client connected to node A, receiving a numbered QoS 1 stream, connects again
 *   to node B while A's socket is still open: A sends DISCONNECT 0x8E (MQTT 5)
 *   or closes (3.1.1) [MQTT-3.1.4-3], B answers Session Present 1 [MQTT-3.2.2-3] and delivers
 *   every message it had not received on A (no gap), for 3.1.1 and 5.0;
 * - a paused owner (SIGSTOP) whose client is taken over by B cannot write the session once it
 *   runs again (SIGCONT): the client registry's epoch refuses its writes.
 */
import assert from 'node:assert/strict'
import { describe, test, type TestContext } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { delay, until, withTimeout } from '../helpers/broker.js'
import { connectRetry, type BrokerProcess } from '../helpers/broker-process.js'
import { clusterNodes } from '../helpers/cluster-nodes.js'
import type { RedisFixture } from '../helpers/redis-server.js'

const MESSAGES = 200

interface TwoNodes {
  readonly redis: RedisFixture
  readonly a: BrokerProcess
  readonly b: BrokerProcess
  readonly clients: MqttClient[]
}

async function twoNodes(t: TestContext): Promise<TwoNodes> {
  const { redis, nodes: [a, b], clients } = await clusterNodes(t, ['node-a', 'node-b'])
  if (a === undefined || b === undefined) throw new Error('two nodes')
  // Two nodes on one Redis both start.
  await a.start()
  await b.start()
  return { redis, a, b, clients }
}

for (const version of [4, 5] as const) {
  describe(`cluster takeover across nodes (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    test('client live on A connects to B: A closes it (0x8E), B resumes the session with nothing unacknowledged lost [MQTT-3.1.4-3]', async (t) => {
      const { a, b, clients } = await twoNodes(t)
      const session: mqtt.IClientOptions = {
        clientId: `tk-${version}`,
        clean: false,
        protocolVersion: version,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const onA = new Set<number>()
      const first = await connectRetry(a.port, session, (c) => c.on('message', (_topic, payload) => onA.add(Number(payload.toString()))))
      clients.push(first)
      let reason: number | undefined
      first.on('disconnect', (p) => (reason = p.reasonCode))
      const firstClosed = new Promise<void>((r) => first.once('close', () => r()))
      await first.subscribeAsync('tk/n', { qos: 1 })

      // A numbered stream, all acknowledged by A; the takeover follows at once, while A is still
      // sending: what the client had not acknowledged on A is in Redis for B.
      const pub = await connectRetry(a.port, { clientId: `tk-pub-${version}`, protocolVersion: version })
      clients.push(pub)
      await Promise.all([...Array(MESSAGES).keys()].map((n) => pub.publishAsync('tk/n', String(n), { qos: 1 })))

      // The same client id on node B while A's socket is still open.
      const got = new Set<number>()
      let present: boolean | undefined
      const second = await connectRetry(b.port, session, (c) => {
        c.on('connect', (p) => (present = p.sessionPresent))
        c.on('message', (_topic, payload) => got.add(Number(payload.toString())))
      })
      clients.push(second)
      assert.equal(present, true, 'session present on B [MQTT-3.2.2-3]')
      await withTimeout(firstClosed, 10_000, 'A closes the taken-over connection')
      if (version === 5) assert.equal(reason, 0x8e, 'DISCONNECT 0x8E, session taken over')

      await until(() => !(onA.size + got.size < MESSAGES || [...Array(MESSAGES).keys()].some((n) => !onA.has(n) && !got.has(n))), 'every message not received on A arrives on B', 15_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}: ${onA.size} received on A, ${got.size} on B`) })
      assert.deepEqual([...Array(MESSAGES).keys()].filter((n) => !onA.has(n) && !got.has(n)), [], 'no gap')

      // The session goes on on B: its subscription is there.
      const pubB = await connectRetry(b.port, { clientId: `tk-pub-b-${version}`, protocolVersion: version })
      clients.push(pubB)
      await pubB.publishAsync('tk/n', String(MESSAGES), { qos: 1 })
      await until(() => !(!got.has(MESSAGES)), 'a message published on B after the takeover', 5000)
    })
  })
}

describe('cluster: a paused owner cannot write after a takeover', () => {
  test('node A stopped (SIGSTOP) while B takes its client over; once A runs again (SIGCONT) the session in Redis is still B\'s', async (t) => {
    const { redis, a, b, clients } = await twoNodes(t)
    const clientId = 'stale-5'
    const session: mqtt.IClientOptions = { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } }
    const first = await connectRetry(a.port, session)
    clients.push(first)
    await first.subscribeAsync('st/a', { qos: 1 })
    const pubA = await connectRetry(a.port, { clientId: 'stale-pub', protocolVersion: 5 })
    clients.push(pubA)

    a.signal('SIGSTOP')
    let present: boolean | undefined
    const got: string[] = []
    const second = await connectRetry(b.port, session, (c) => {
      c.on('connect', (p) => (present = p.sessionPresent))
      c.on('message', (topic) => got.push(topic))
    })
    clients.push(second)
    assert.equal(present, true, 'B claimed the id and loaded the session while A was paused')
    await second.subscribeAsync('st/b', { qos: 1 })
    // What A will find when it runs again: its client gone, a QoS 1 PUBLISH for the session.
    first.end(true)
    pubA.publish('st/a', 'from the paused node', { qos: 1 })
    await delay(300)
    a.signal('SIGCONT')
    await delay(2500)

    const r = redis.client()
    t.after(() => r.disconnect())
    await r.connect()
    assert.equal(await r.hget(`pc:{${clientId}}:owner`, 'node'), 'node-b')
    const facts = await r.hgetall(`pc:{${clientId}}:s`)
    assert.equal(facts['node'], 'node-b', 'A did not overwrite the session facts')
    assert.equal(facts['connected'], '1', 'the session is still connected (on B)')
    assert.deepEqual(Object.keys(await r.hgetall(`pc:{${clientId}}:subs`)).sort(), ['st/a', 'st/b'], 'B\'s subscriptions are intact')
    assert.equal(second.connected, true, 'the client on B was not disturbed')
    assert.match(a.output, /taken over by another node|claimed it; the session is let go/, 'A learned it lost the client id')

    // The session still works on B.
    const pubB = await connectRetry(b.port, { clientId: 'stale-pub-b', protocolVersion: 5 })
    clients.push(pubB)
    await pubB.publishAsync('st/b', 'on B', { qos: 1 })
    await until(() => !(!got.includes('st/b')), 'delivery on B after A resumed', 5000)
  })
})

describe('cluster: the survivors take a dead node\'s sessions', () => {
  test('node A SIGKILLed: within seconds B publishes the will of A\'s client and queues what is published meanwhile; the client resumes on B with every message', async (t) => {
    const { a, b, clients } = await twoNodes(t)
    const clientId = 'orphan-5'
    const session: mqtt.IClientOptions = { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } }
    const first = await connectRetry(a.port, { ...session, will: { topic: 'dead/will', payload: Buffer.from('gone'), qos: 1, retain: false } })
    clients.push(first)
    await first.subscribeAsync('or/n', { qos: 1 })
    const watcher = await connectRetry(b.port, { clientId: 'orphan-watch', protocolVersion: 5 })
    clients.push(watcher)
    const wills: string[] = []
    watcher.on('message', (topic, payload) => { if (topic === 'dead/will') wills.push(payload.toString()) })
    await watcher.subscribeAsync('dead/will', { qos: 1 })
    // Queued on A before it dies (the client left with DISCONNECT: no will).
    await first.endAsync()
    const pubA = await connectRetry(a.port, { clientId: 'orphan-pub-a', protocolVersion: 5 })
    clients.push(pubA)
    for (let n = 0; n < 20; n++) await pubA.publishAsync('or/n', String(n), { qos: 1 })
    pubA.end(true)
    await delay(300)

    // A is connected when it dies: a second client, with its own will (delay 0), is on A.
    const live = await connectRetry(a.port, { clientId: 'orphan-live', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, will: { topic: 'dead/will', payload: Buffer.from('live one gone'), qos: 1, retain: false } })
    clients.push(live)
    await a.kill()
    await until(() => !(!wills.includes('live one gone')), 'the will of the dead node\'s connected client, published by B', 10_000)
    assert.deepEqual(wills, ['live one gone'], 'published once (the offline client\'s will went with its clean DISCONNECT)')

    // Published on B after the death: queued for the session B now holds.
    const pubB = await connectRetry(b.port, { clientId: 'orphan-pub-b', protocolVersion: 5 })
    clients.push(pubB)
    for (let n = 20; n < 40; n++) await pubB.publishAsync('or/n', String(n), { qos: 1 })

    const got = new Set<number>()
    let present: boolean | undefined
    const back = await connectRetry(b.port, session, (c) => {
      c.on('connect', (p) => (present = p.sessionPresent))
      c.on('message', (_topic, payload) => got.add(Number(payload.toString())))
    })
    clients.push(back)
    assert.equal(present, true)
    await until(() => !(got.size < 40), 'every message, from before and after the death', 10_000)
      .catch((err: unknown) => { throw new Error(`${String(err)}: ${got.size} of 40`) })
  })
})

describe('cluster: a client back on another node right after its node crashed', () => {
  test('node A SIGKILLed; the client reconnects to B at once (before A counts as dead): B publishes its will, once [MQTT-3.1.2-8]', async (t) => {
    const { a, b, clients } = await twoNodes(t)
    const session: mqtt.IClientOptions = { clientId: 'crash-5', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } }
    const watcher = await connectRetry(b.port, { clientId: 'crash-watch', protocolVersion: 5 })
    clients.push(watcher)
    const wills: string[] = []
    watcher.on('message', (topic, payload) => { if (topic === 'crash/will') wills.push(payload.toString()) })
    await watcher.subscribeAsync('crash/will', { qos: 1 })
    const first = await connectRetry(a.port, { ...session, will: { topic: 'crash/will', payload: Buffer.from('lost'), qos: 1, retain: false } })
    clients.push(first)
    await a.kill()
    let present: boolean | undefined
    const back = await connectRetry(b.port, session, (c) => c.on('connect', (p) => (present = p.sessionPresent)))
    clients.push(back)
    assert.equal(present, true)
    await until(() => !(wills.length === 0), 'the will of the connection lost with node A', 5000)
    // Past the time A counts as dead: the survivors' look finds the session held and publishes nothing more.
    await delay(4500)
    assert.deepEqual(wills, ['lost'])
  })
})

for (const version of [4, 5] as const) {
  describe(`cluster: an owner cut off from the cluster (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, () => {
    // The cut is simulated with SIGSTOP: node A's Redis sockets stay open (Redis counts its
    // signal subscriber, its liveness key lasts 3 s) but it cannot act — as behind a partition.
    test('node A paused while its client connects to B: A does not answer within 1 s, so B publishes the will; A, running again, closes its connection without the will [MQTT-3.1.2-8]', async (t) => {
      const { a, b, clients } = await twoNodes(t)
      const clientId = `cut-${version}`
      const session: mqtt.IClientOptions = {
        clientId, clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      }
      const watcher = await connectRetry(b.port, { clientId: `cut-watch-${version}`, protocolVersion: version })
      clients.push(watcher)
      const wills: string[] = []
      watcher.on('message', (topic, payload) => { if (topic === `cut/${version}/will`) wills.push(payload.toString()) })
      await watcher.subscribeAsync(`cut/${version}/will`, { qos: 1 })
      const first = await connectRetry(a.port, { ...session, will: { topic: `cut/${version}/will`, payload: Buffer.from('cut off'), qos: 1, retain: false } })
      clients.push(first)
      let firstClosed = false
      first.on('close', () => (firstClosed = true))
      await delay(300)

      a.signal('SIGSTOP')
      let present: boolean | undefined
      const back = await connectRetry(b.port, session, (c) => c.on('connect', (p) => (present = p.sessionPresent)))
      clients.push(back)
      assert.equal(present, true, 'B claimed the id and resumed the session')
      await until(() => wills.length > 0, 'the will, published by B while A is still paused', 2500)
      assert.equal(firstClosed, false, 'A, paused, has not closed its connection')

      a.signal('SIGCONT')
      await until(() => firstClosed, 'A closes the old connection once it runs again', 5000)
      await delay(1500)
      assert.deepEqual(wills, ['cut off'], 'the will once: A did not publish it again')
      assert.match(a.output, /answered late/, 'A learned the claiming node handled the will')
      assert.equal(back.connected, true, 'the client on B was not disturbed')
    })
  })
}
