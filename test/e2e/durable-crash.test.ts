/**
 * Nothing acknowledged is lost across kill -9: the broker runs as a child process
 * (`portcullis start --config`, default persistence in a temporary data directory) and is
 * SIGKILLed three times at random moments while publishers stream numbered messages to three
 * persistent subscribers (one connected, one offline until the end, one reading slowly). Every
 * message whose PUBACK a publisher received reaches every subscriber (QoS 1: at least once);
 * with QoS 2 every PUBCOMPed message arrives exactly once (and no message twice). Also across a
 * kill -9: retained messages, a will with Will Delay, and Session Expiry counting while down.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { delay, pollUntil, withTimeout } from '../helpers/broker.js'
import { BrokerProcess, connectRetry, freePort } from '../helpers/broker-process.js'

interface LossRun {
  readonly qos: 1 | 2
  readonly version: 4 | 5
  readonly messages: number
  readonly publishers: number
}

/** A broker child process on a fresh data directory, started; it, the directory and the `clients` a test adds go when the test ends. */
async function startedBroker(t: TestContext): Promise<{ broker: BrokerProcess; clients: MqttClient[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'))
  const broker = new BrokerProcess(dir, await freePort())
  const clients: MqttClient[] = []
  t.after(async () => {
    for (const c of clients) c.end(true)
    await broker.kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await broker.start()
  return { broker, clients }
}

async function lossTest(t: TestContext, run: LossRun): Promise<void> {
  const { broker, clients } = await startedBroker(t)
  const topic = `loss/${run.qos}`
  const session = (clientId: string): mqtt.IClientOptions => ({
    clientId,
    clean: false,
    protocolVersion: run.version,
    ...(run.version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    reconnectPeriod: 100,
    connectTimeout: 2000,
  })
  const received = { connected: new Map<number, number>(), offline: new Map<number, number>(), slow: new Map<number, number>() }
  const count = (m: Map<number, number>) => (_t: string, payload: Buffer) => {
    const n = Number(payload.toString())
    m.set(n, (m.get(n) ?? 0) + 1)
  }
  const subscriber = async (name: keyof typeof received): Promise<MqttClient> => {
    const c = await connectRetry(broker.port, session(`${name}-${run.qos}`), (client) => client.on('message', count(received[name])))
    clients.push(c)
    await c.subscribeAsync(topic, { qos: run.qos })
    return c
  }
  await subscriber('connected')
  const slow = await subscriber('slow')
  // The slow reader acknowledges each message 2 ms after it arrives, one at a time.
  const handle = slow.handleMessage.bind(slow)
  // (Not after the client ended: MQTT.js would then touch its closed store.)
  slow.handleMessage = (packet, done) => handle(packet, () => setTimeout(() => { if (!slow.disconnecting) done() }, 2))
  const offline = await subscriber('offline')
  offline.end(true)

  const acked = new Set<number>()
  let next = 0
  const publisher = async (p: number): Promise<void> => {
    while (next < run.messages) {
      const client = await connectRetry(broker.port, { clientId: `pub-${run.qos}-${p}`, protocolVersion: run.version })
      const closed = new Promise<'closed'>((r) => client.once('close', () => r('closed')))
      while (next < run.messages) {
        // A number is used once: one not acknowledged before a kill is never sent again.
        const n = next++
        const r = await Promise.race([client.publishAsync(topic, String(n), { qos: run.qos }).then(() => 'ack' as const, () => 'closed' as const), closed])
        if (r !== 'ack') break
        acked.add(n)
      }
      client.end(true)
    }
  }
  const publishing = Promise.all(Array.from({ length: run.publishers }, (_, p) => publisher(p)))
  // Three kills at random moments spread over the stream.
  for (let k = 1; k <= 3; k++) {
    const at = Math.floor((run.messages * k) / 4 + (Math.random() - 0.5) * (run.messages / 8))
    await pollUntil(() => next >= at, `publishing reached ${at}`, 30_000, 2)
    await broker.kill()
    await delay(Math.floor(Math.random() * 100))
    await broker.start()
  }
  await withTimeout(publishing, 60_000, 'publishers finished')
  await subscriber('offline')

  const missing = (m: Map<number, number>): number[] => [...acked].filter((n) => !m.has(n))
  await pollUntil(() => Object.values(received).every((m) => missing(m).length === 0), 'every acknowledged message delivered', 30_000, 50).catch((err: unknown) => {
    const report = Object.entries(received).map(([k, m]) => `${k}: ${missing(m).length} missing of ${acked.size}`).join('; ')
    throw new Error(`${String(err)}: ${report}`)
  })
  assert.ok(acked.size > run.messages / 2, `most messages acknowledged (${acked.size} of ${run.messages})`)
  for (const [name, m] of Object.entries(received)) {
    assert.deepEqual(missing(m), [], `${name}: every acknowledged message arrived`)
    if (run.qos === 2) {
      const twice = [...m].filter(([, c]) => c > 1).map(([n]) => n)
      assert.deepEqual(twice, [], `${name}: QoS 2 messages arrive exactly once`)
    }
  }
}

describe('kill -9 loses nothing acknowledged (broker child process)', () => {
  test('QoS 1: 2,000 numbered messages, 4 publishers, 3 persistent subscribers (connected, offline, slow), 3 kills: 0 lost (MQTT 5)', async (t) => {
    await lossTest(t, { qos: 1, version: 5, messages: 2000, publishers: 4 })
  })

  test('QoS 2: 1,000 numbered messages, 3 kills: every PUBCOMPed message exactly once (MQTT 3.1.1)', async (t) => {
    await lossTest(t, { qos: 2, version: 4, messages: 1000, publishers: 4 })
  })

  test('a corrupt state.sqlite stops `portcullis start` before it listens: exit 2, the file named', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const broker = new BrokerProcess(dir, await freePort())
    mkdirSync(join(dir, 'data'))
    const file = join(dir, 'data', 'state.sqlite')
    writeFileSync(file, 'not a database '.repeat(100))
    await assert.rejects(broker.start(), (err: unknown) => err instanceof Error && /exited with 2/.test(err.message) && err.message.includes(file))
  })

  test('retained messages, a will with Will Delay and Session Expiry survive kill -9; expiry counts down while down (MQTT 5)', async (t) => {
    const { broker, clients } = await startedBroker(t)
    const v5 = (clientId: string, expiry: number, extra: mqtt.IClientOptions = {}): mqtt.IClientOptions =>
      ({ clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: expiry }, ...extra })
    const watcher = await connectRetry(broker.port, v5('watcher', 3600))
    await watcher.subscribeAsync('will/#', { qos: 1 })
    watcher.end(true)
    const pub = await connectRetry(broker.port, { clientId: 'retainer', protocolVersion: 5 })
    await pub.publishAsync('kept/retained', 'still here', { qos: 1, retain: true })
    pub.end(true)
    const shortLived = await connectRetry(broker.port, v5('short', 1))
    await shortLived.subscribeAsync('short/#', { qos: 1 })
    shortLived.end(true)
    const dying = await connectRetry(broker.port, v5('dying', 3600, {
      will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
    }))
    clients.push(dying)
    await delay(1100) // a heartbeat of the broker's state file after the will was stored
    await broker.kill()
    dying.end(true)
    await delay(1200) // the short session's expiry (1 s) passes while the broker is down
    await broker.start()

    const inbox: Array<[string, string, boolean]> = []
    const w = mqtt.connect({ host: '127.0.0.1', port: broker.port, reconnectPeriod: 0, ...v5('watcher', 3600) })
    clients.push(w)
    w.on('message', (topic, payload, packet) => inbox.push([topic, payload.toString(), packet.retain]))
    await new Promise((r) => w.once('connect', r))
    await pollUntil(() => inbox.some(([topic]) => topic === 'will/dying'), 'the will published after the restart', 5000, 20)
    assert.deepEqual(inbox.find(([topic]) => topic === 'will/dying'), ['will/dying', 'gone', false])

    const fresh = await connectRetry(broker.port, { clientId: 'reader', protocolVersion: 5 })
    clients.push(fresh)
    const retained = new Promise<string>((r) => fresh.once('message', (_t, p) => r(p.toString())))
    await fresh.subscribeAsync('kept/#', { qos: 1 })
    assert.equal(await withTimeout(retained, 3000, 'the retained message'), 'still here')

    const again = mqtt.connect({ host: '127.0.0.1', port: broker.port, reconnectPeriod: 0, ...v5('short', 60) })
    clients.push(again)
    const connack = await new Promise<{ sessionPresent: boolean }>((r) => again.once('connect', r))
    assert.equal(connack.sessionPresent, false, 'the 1 s session expired while the broker was down')
  })
})
