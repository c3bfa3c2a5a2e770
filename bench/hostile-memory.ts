/**
 * Hostile-client measurements (not part of `npm run bench`): each scenario runs a fresh
 * Portcullis process (bin/portcullis.js, so build first) and reports what it did.
 *
 *   flood      COUNT QoS 0 publishes to distinct topics of TOPIC_BYTES nobody subscribes to,
 *              against the same number to one topic: broker RSS before, after, and after the
 *              client left (a PINGREQ answered proves every publish was handled first).
 *   deep-will  a will on a 16,000-level topic that its own client and a watcher subscribe to
 *              (maxTopicLevels raised to 32768), then the socket dropped: is the broker alive,
 *              did the watcher get the will?
 *
 *   node --import tsx bench/hostile-memory.ts [--count 4000] [--topic-bytes 60000]
 *
 * Loopback only; every loop is bounded by --count.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt-packet'
import { HOST, killAll, rssKiB, startBroker, type RunningBroker } from './lib/brokers.js'

const { values } = parseArgs({ options: { count: { type: 'string', default: '4000' }, 'topic-bytes': { type: 'string', default: '60000' }, port: { type: 'string', default: '28830' } } })
const COUNT = Math.min(Number(values.count), 100_000)
const TOPIC_BYTES = Math.min(Number(values['topic-bytes']), 65_000)
const PORT = Number(values.port)
const tmp = mkdtempSync(join(tmpdir(), 'portcullis-hostile-'))
const opts = { tmpDir: tmp, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: '' }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A raw MQTT 3.1.1 client: packets written with backpressure, packets read by type. */
class Raw {
  readonly socket: Socket
  readonly #parser = mqtt.parser({ protocolVersion: 4 })
  readonly #waiting: Array<{ cmd: string; resolve: (p: mqtt.Packet) => void }> = []
  readonly got: mqtt.Packet[] = []
  closed = false
  constructor(socket: Socket) {
    this.socket = socket
    this.#parser.on('packet', (p: mqtt.Packet) => {
      this.got.push(p)
      const i = this.#waiting.findIndex((w) => w.cmd === p.cmd)
      if (i !== -1) this.#waiting.splice(i, 1)[0].resolve(p)
    })
    socket.on('data', (d) => this.#parser.parse(d))
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true })
  }
  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: HOST, port }, () => resolve(new Raw(s)))
      s.once('error', reject)
    })
  }
  async send(p: mqtt.Packet): Promise<void> {
    if (!this.socket.write(mqtt.generate(p))) await new Promise((r) => this.socket.once('drain', r))
  }
  next(cmd: string, ms = 30_000): Promise<mqtt.Packet | undefined> {
    return Promise.race([
      new Promise<mqtt.Packet>((resolve) => this.#waiting.push({ cmd, resolve })),
      sleep(ms).then(() => undefined),
    ])
  }
  async connect(clientId: string, will?: mqtt.IConnectPacket['will']): Promise<void> {
    await this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, ...(will !== undefined ? { will } : {}) })
    const ack = await this.next('connack')
    if (ack === undefined || (ack as mqtt.IConnackPacket).returnCode !== 0) throw new Error(`${clientId}: not connected`)
  }
}

const mib = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`

async function flood(distinct: boolean): Promise<void> {
  const broker = await startBroker({ label: `flood-${distinct ? 'distinct' : 'one'}`, kind: 'portcullis' }, PORT, opts)
  try {
    const c = await Raw.open(PORT)
    await c.connect('flooder')
    await sleep(1000)
    const before = rssKiB(broker.pid)
    const pad = 'x'.repeat(TOPIC_BYTES - 12)
    for (let i = 0; i < COUNT; i++) {
      await c.send({ cmd: 'publish', topic: distinct ? `f/${String(i).padStart(8, '0')}/${pad}` : `f/00000000/${pad}`, payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
    }
    await c.send({ cmd: 'pingreq' })
    if ((await c.next('pingresp')) === undefined) throw new Error('no PINGRESP after the flood')
    await sleep(3000)
    const after = rssKiB(broker.pid)
    c.socket.destroy()
    await sleep(3000)
    const left = rssKiB(broker.pid)
    console.log(`flood ${distinct ? 'distinct topics' : 'one topic     '}: ${COUNT} × ${TOPIC_BYTES} B topics: RSS before ${mib(before)}, after ${mib(after)} (+${mib(after - before)}), after the client left ${mib(left)}`)
  } finally {
    await broker.stop()
  }
}

async function deepWill(): Promise<void> {
  const broker: RunningBroker = await startBroker({ label: 'deep-will', kind: 'portcullis', portcullisConfig: { limits: { sysInterval: 0, maxTopicLevels: 32_768 } } }, PORT, opts)
  try {
    const topic = ['deep', ...Array.from({ length: 15_999 }, () => 'x')].join('/')
    const watcher = await Raw.open(PORT)
    await watcher.connect('watcher')
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] })
    await watcher.next('suback')
    const dying = await Raw.open(PORT)
    await dying.connect('dying', { topic, payload: Buffer.from('gone'), qos: 0, retain: false })
    await dying.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] })
    await dying.next('suback')
    const will = watcher.next('publish', 5000)
    dying.socket.destroy()
    const got = await will
    await sleep(500)
    const exit = broker.exitInfo()
    console.log(`deep-will 16,000 levels: will ${got === undefined ? 'NOT delivered' : 'delivered'}; broker ${exit === undefined ? 'still running' : exit.split('\n')[0]}`)
  } finally {
    await broker.stop()
  }
}

try {
  await deepWill()
  await flood(false)
  await flood(true)
} finally {
  killAll()
  rmSync(tmp, { recursive: true, force: true })
}
