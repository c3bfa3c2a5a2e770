/**
 * 100,000 retained messages and one SUBSCRIBE listing `#` 200 times (issue 18, defect 2):
 * how long another client's PINGREQ waits meanwhile, how long the subscriber takes to get
 * every retained message, how many copies it gets, and the broker's memory. Portcullis
 * against Mosquitto (and Aedes), each broker a child process pinned to its own CPU.
 *
 *   npm run build && taskset -c 1 node --import tsx bench/retained-flood.ts [--rounds 3] [--brokers portcullis,mosquitto]
 *
 * Bounded: per run, 100,000 retained publishes, one SUBSCRIBE, and at most 60 s of delivery
 * (then the run stops and reports what arrived).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchOptions } from './lib/options.js'
import mqttPacket from 'mqtt-packet'
import { HOST, killAll, rssKiB, startBroker, type BrokerKind } from './lib/brokers.js'

const values = benchOptions({
  rounds: [3, 1, 10], retained: [100_000, 1_000, 1_000_000], copies: [200, 1, 1_000],
}, { brokers: 'portcullis,mosquitto', mosquitto: '/usr/sbin/mosquitto' })
const { rounds: ROUNDS, retained: RETAINED, copies: COPIES } = values
const DELIVERY_BUDGET_MS = 60_000
const QUIET_MS = 1_000
const PORT = 21883
const kinds = values.brokers.split(',').map((s) => s.trim()) as BrokerKind[]

interface Client {
  readonly socket: net.Socket
  readonly parser: mqttPacket.Parser
  send(p: mqttPacket.Packet): boolean
}

async function client(version: 4 | 5, clientId: string, onPacket: (p: mqttPacket.Packet) => void): Promise<Client> {
  const socket = net.connect({ host: HOST, port: PORT })
  socket.setNoDelay(true)
  const parser = mqttPacket.parser({ protocolVersion: version })
  const connack = new Promise<void>((resolve, reject) => {
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') resolve()
      else onPacket(p)
    })
    socket.once('error', reject)
  })
  socket.on('data', (b: Buffer) => parser.parse(b))
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const send = (p: mqttPacket.Packet): boolean => socket.write(mqttPacket.generate(p, { protocolVersion: version }))
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId, keepalive: 0 })
  await connack
  return { socket, parser, send }
}

async function load(): Promise<void> {
  let pong: (() => void) | undefined
  const c = await client(4, 'loader', (p) => { if (p.cmd === 'pingresp') pong?.() })
  for (let i = 0; i < RETAINED; i++) {
    const topic = `flood/${Math.floor(i / 1000)}/${Math.floor(i / 10) % 100}/${i}`
    if (!c.send({ cmd: 'publish', topic, payload: Buffer.from(`v${i}`), qos: 0, retain: true, dup: false })) {
      await new Promise((r) => c.socket.once('drain', r))
    }
  }
  await new Promise<void>((resolve) => { pong = resolve; c.send({ cmd: 'pingreq' }) })
  c.socket.destroy()
}

interface Result {
  readonly broker: string
  readonly allMs: number | undefined
  readonly unique: number
  readonly copies: number
  readonly rttMedianMs: number
  readonly rttP99Ms: number
  readonly rttMaxMs: number
  /** A PINGREQ was still unanswered when the delivery budget ended. */
  readonly unanswered: boolean
  readonly pings: number
  readonly rssBeforeMiB: number
  readonly rssPeakMiB: number
}

async function run(kind: BrokerKind, dir: string): Promise<Result> {
  const broker = await startBroker(
    { label: kind, kind },
    PORT,
    { tmpDir: dir, brokerCpu: '0', portcullisNodeFlags: [], mosquittoPath: values.mosquitto },
  )
  try {
    await load()
    const rssBefore = rssKiB(broker.pid)
    let rssPeak = rssBefore
    // sampled on its own timer: a broker that stalls must not stall the sampling
    const sampler = setInterval(() => {
      try { rssPeak = Math.max(rssPeak, rssKiB(broker.pid)) } catch { /* the broker exited */ }
    }, 100)
    const seen = new Set<string>()
    let copies = 0
    let lastAt = performance.now()
    const sub = await client(4, 'hash-subscriber', (p) => {
      if (p.cmd !== 'publish') return
      copies++
      seen.add(p.topic)
      lastAt = performance.now()
      if (allMs === undefined && seen.size >= RETAINED) allMs = lastAt - t0
    })
    let allMs: number | undefined
    let t0 = performance.now()
    let pong: (() => void) | undefined
    const other = await client(4, 'other', (p) => { if (p.cmd === 'pingresp') pong?.() })
    t0 = performance.now()
    lastAt = t0
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: Array.from({ length: COPIES }, () => ({ topic: '#', qos: 0 as const })) })
    const rtts: number[] = []
    // Ping until everything arrived and nothing more came for QUIET_MS (duplicates), or the budget ends.
    let unanswered = false
    while (performance.now() - t0 < DELIVERY_BUDGET_MS) {
      const p0 = performance.now()
      // A PINGREQ not answered by the end of the budget counts with the time it waited.
      let timer: NodeJS.Timeout | undefined
      const answered = await new Promise<boolean>((resolve) => {
        pong = () => resolve(true)
        timer = setTimeout(() => resolve(false), Math.max(0, DELIVERY_BUDGET_MS - (p0 - t0)))
        other.send({ cmd: 'pingreq' })
      })
      clearTimeout(timer)
      rtts.push(performance.now() - p0)
      if (!answered) {
        unanswered = true
        break
      }
      if (allMs !== undefined && performance.now() - lastAt > QUIET_MS) break
      await new Promise((r) => setTimeout(r, 5))
    }
    clearInterval(sampler)
    sub.socket.destroy()
    other.socket.destroy()
    rtts.sort((a, b) => a - b)
    return {
      broker: kind,
      allMs,
      unique: seen.size,
      copies,
      rttMedianMs: rtts[Math.floor(rtts.length / 2)] ?? NaN,
      rttP99Ms: rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.99))] ?? NaN,
      rttMaxMs: rtts[rtts.length - 1] ?? NaN,
      unanswered,
      pings: rtts.length,
      rssBeforeMiB: rssBefore / 1024,
      rssPeakMiB: rssPeak / 1024,
    }
  } finally {
    await broker.stop()
  }
}

const dir = mkdtempSync(join(tmpdir(), 'retained-flood-'))
process.on('exit', () => { killAll(); rmSync(dir, { recursive: true, force: true }) })
const results: Result[] = []
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of kinds) {
      const res = await run(kind, dir)
      results.push(res)
      console.log(JSON.stringify(res))
    }
  }
} finally {
  killAll()
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
console.log(`\n${RETAINED} retained, one SUBSCRIBE with # x${COPIES}; medians of ${ROUNDS} rounds (shared, noisy machine)`)
console.log('| broker | other client PINGREQ round trip, median / p99 / max (ms) | all retained received after (ms) | copies received | broker RSS before → peak (MiB) |')
console.log('|---|---|---|---|---|')
for (const kind of kinds) {
  const rs = results.filter((r) => r.broker === kind)
  const all = rs.map((r) => r.allMs).filter((x): x is number => x !== undefined)
  const late = rs.some((r) => r.unanswered) ? ` (a PINGREQ unanswered after ${DELIVERY_BUDGET_MS / 1000} s)` : ''
  console.log(`| ${kind} | ${median(rs.map((r) => r.rttMedianMs)).toFixed(1)} / ${median(rs.map((r) => r.rttP99Ms)).toFixed(0)} / ${median(rs.map((r) => r.rttMaxMs)).toFixed(0)}${late} | ` +
    `${all.length === rs.length ? median(all).toFixed(0) : `not all within ${DELIVERY_BUDGET_MS / 1000} s`} | ` +
    `${median(rs.map((r) => r.copies)).toLocaleString('en')} | ${median(rs.map((r) => r.rssBeforeMiB)).toFixed(0)} → ${median(rs.map((r) => r.rssPeakMiB)).toFixed(0)} |`)
}
