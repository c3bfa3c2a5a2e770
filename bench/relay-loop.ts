/**
 * Portcullis's own JavaScript per QoS 0 message, without sockets (issue 19). The fixed-rate-qos0
 * path past the socket — framing, decoding, the PUBLISH handler, authorization, routing, encoding
 * and the per-turn write batch — runs in one process over streams that go nowhere: `--publishers`
 * clients each publish to their own topic bench/r/N (64-byte payloads, MQTT 3.1.1, QoS 0, as
 * received from a socket read of one packet), `--subscribers` clients hold bench/r/+, and the loop
 * yields to the event loop after every `--per-turn` messages, so the write batch flushes as often
 * as it does at 20,000 msg/s from 100 publishers (5-8 reads per turn).
 *
 * On this machine the socket path (the kernel's loopback TCP, Node's stream machinery) is 90 % of
 * the broker's CPU per message and moves by ±10 % from round to round; this loop leaves it out, so
 * a change to the broker's own path shows here at a few nanoseconds where bench/run.ts cannot see it.
 * It is not a figure to compare with Mosquitto: the caches are warm here, and in the broker each
 * message comes after the kernel's work for it (about 1.6x this loop's figure there, perf).
 *
 * Each round is a fresh child process (its own JIT) pinned to CPU 0; with several `--root`, the
 * builds alternate A B A B … and the report gives each one's median and the paired ratio per round.
 *
 *   npm run build && node --import tsx bench/relay-loop.ts [--root DIR …] [--messages 1000000]
 *     [--rounds 5] [--publishers 100] [--subscribers 1] [--per-turn 8]
 *
 * Bounded: at most 10,000,000 messages a round, 20 rounds, 10,000 publishers, 1,000 subscribers.
 */
import { execFileSync } from 'node:child_process'
import { Buffer } from 'node:buffer'
import { resolve } from 'node:path'
import { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt-packet'
import { parseCommandLine } from './lib/options.js'

const { values } = parseCommandLine({
  options: {
    root: { type: 'string', multiple: true },
    messages: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    publishers: { type: 'string', default: '100' },
    subscribers: { type: 'string', default: '1' },
    'per-turn': { type: 'string', default: '8' },
    child: { type: 'boolean', default: false },
  },
})

function clamp(v: string, fallback: number, least: number, most: number): number {
  const n = Math.floor(Number(v))
  return Number.isFinite(n) ? Math.min(Math.max(n, least), most) : fallback
}

const MESSAGES = clamp(values.messages, 1_000_000, 1_000, 10_000_000)
const ROUNDS = clamp(values.rounds, 5, 1, 20)
const PUBLISHERS = clamp(values.publishers, 100, 1, 10_000)
const SUBSCRIBERS = clamp(values.subscribers, 1, 1, 1_000)
const PER_TURN = clamp(values['per-turn'], 8, 1, 10_000)
const HERE = resolve(fileURLToPath(import.meta.url), '../..')

interface RoundResult {
  readonly nsPerMessage: number
  readonly cpuNsPerMessage: number
  readonly sent: number
}

/** The streams of the loop's clients: what the broker writes is counted and dropped. */
function nowhere(): Duplex {
  return new Duplex({ read() {}, write(_chunk, _encoding, done) { done() } })
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r))

/** One round in this process: the build in `root`, a warm-up of half the messages, then the measured ones. */
async function round(root: string): Promise<RoundResult> {
  // the build under test, loaded from its dist/ (another checkout's too)
  const { createServer, validateConfig } = (await import(resolve(root, 'dist/index.js'))) as typeof import('../src/index.js')
  const server = await createServer(validateConfig({
    listeners: [], log: { level: 'silent' }, persistence: false,
    limits: { sysInterval: 0, connectRatePerAddress: 0 },
    authentication: { allowAnonymous: true }, authorization: { noMatch: 'allow' },
  }))
  const broker = server.broker
  const connect = (clientId: string): NonNullable<ReturnType<typeof broker.accept>> => {
    const conn = broker.accept(nowhere(), '127.0.0.1', 'loop')
    if (conn === undefined) throw new Error('the broker refused a connection')
    conn.onData(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 }))
    return conn
  }
  const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => connect(`sub-${i}`))
  await new Promise((r) => setTimeout(r, 50))
  for (const s of subscribers) s.onData(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/r/+', qos: 0 }] }))
  const publishers = Array.from({ length: PUBLISHERS }, (_, i) => connect(`pub-${i}`))
  await new Promise((r) => setTimeout(r, 100))
  if (broker.connectionCount !== SUBSCRIBERS + PUBLISHERS) throw new Error(`${broker.connectionCount} clients connected`)
  // Each publisher's packet in 16 copies of its own: a socket read is a buffer of its own each time.
  const copies = Array.from({ length: 16 }, () => publishers.map((_, i) => {
    const packet = mqtt.generate({ cmd: 'publish', topic: `bench/r/${i}`, payload: Buffer.alloc(64, 7), qos: 0, retain: false, dup: false })
    const own = Buffer.allocUnsafeSlow(packet.length)
    packet.copy(own)
    return own
  }))
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const p = i % PUBLISHERS
      publishers[p].onData(copies[Math.floor(i / PUBLISHERS) % copies.length][p])
      if (i % PER_TURN === PER_TURN - 1) await nextTurn()
    }
    await nextTurn()
  }
  await run(MESSAGES / 2)
  const sent0 = broker.stats.messagesSent
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await run(MESSAGES)
  const ns = Number(process.hrtime.bigint() - t0)
  const cpu = process.cpuUsage(cpu0)
  const sent = broker.stats.messagesSent - sent0
  await server.close()
  if (sent !== MESSAGES * SUBSCRIBERS) throw new Error(`${sent} messages sent, ${MESSAGES * SUBSCRIBERS} expected`)
  return { nsPerMessage: ns / MESSAGES, cpuNsPerMessage: ((cpu.user + cpu.system) * 1000) / MESSAGES, sent }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

function span(xs: readonly number[], digits: number): string {
  return `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`
}

if (values.child) {
  const result = await round(values.root?.[0] ?? HERE)
  process.stdout.write(`${JSON.stringify(result)}\n`)
} else {
  const roots = (values.root ?? [HERE]).map((r) => resolve(r))
  const results = roots.map(() => [] as RoundResult[])
  for (let r = 0; r < ROUNDS; r++) {
    roots.forEach((root, k) => {
      const out = execFileSync('taskset', [
        '-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--root', root,
        '--messages', String(MESSAGES), '--publishers', String(PUBLISHERS), '--subscribers', String(SUBSCRIBERS), '--per-turn', String(PER_TURN),
      ], { cwd: HERE, encoding: 'utf8', timeout: 300_000 })
      results[k].push(JSON.parse(out.trim().split('\n').pop() ?? '{}') as RoundResult)
    })
  }
  console.log(`relay loop: ${MESSAGES.toLocaleString('en-US')} messages a round, ${PUBLISHERS} publishers → ${SUBSCRIBERS} subscriber(s), ${PER_TURN} per turn, ${ROUNDS} rounds`)
  roots.forEach((root, k) => {
    const wall = results[k].map((x) => x.nsPerMessage)
    const cpu = results[k].map((x) => x.cpuNsPerMessage)
    const paired = k === 0 ? '' : `; ÷ ${roots[0]} (paired per round): ${span(results[k].map((x, i) => x.cpuNsPerMessage / results[0][i].cpuNsPerMessage), 2)}×`
    console.log(`${root}: ${span(wall, 0)} ns/msg elapsed, ${span(cpu, 0)} ns/msg CPU${paired}`)
  })
}
