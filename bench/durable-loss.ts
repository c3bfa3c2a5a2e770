/**
 * Acknowledged-but-lost messages across kill -9, Portcullis against Mosquitto with persistence
 * (issue 12). Each broker runs as a child process on a data directory of its own; publishers
 * stream numbered QoS 1 messages to one topic with two persistent subscribers (Clean Session
 * 0): one connected throughout, one offline until the end. The broker is SIGKILLed at random
 * moments and restarted on the same directory; clients reconnect (a subscriber whose session
 * did not survive — CONNACK Session Present 0 — subscribes again, as a careful client does).
 * At the end the offline subscriber comes back and both drain. Reported per broker: messages
 * whose PUBACK a publisher received that a subscriber never got.
 *
 *   npm run build && node --import tsx bench/durable-loss.ts [--messages 10000] [--kills 3] [--rounds 1]
 *       [--brokers portcullis,mosquitto,mosquitto-autosave]
 *
 * Bounded: at most 100,000 messages and 10 kills per run, 10 rounds, 120 s per run for the
 * stream and 30 s for the drain; loopback only; each broker is killed by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { benchOptions } from './lib/options.js'
import mqtt, { type MqttClient } from 'mqtt'

const values = benchOptions({
  messages: [10_000, 100, 100_000], kills: [3, 0, 10], rounds: [1, 1, 10], publishers: [10, 1, 100],
}, { brokers: 'portcullis,mosquitto,mosquitto-autosave', mosquitto: '/usr/sbin/mosquitto' })
const { messages: MESSAGES, kills: KILLS, rounds: ROUNDS, publishers: PUBLISHERS } = values
const STREAM_BUDGET_MS = 120_000
const DRAIN_BUDGET_MS = 30_000
const QUIET_MS = 2_000
const HOST = '127.0.0.1'
const TOPIC = 'loss/q1'
const BIN = resolve('bin/portcullis.js')

type Kind = 'portcullis' | 'mosquitto' | 'mosquitto-autosave'
const LABELS: Record<Kind, string> = {
  portcullis: 'portcullis (persistence, sync normal — the default)',
  mosquitto: 'mosquitto 2.0.11 (persistence true, autosave defaults)',
  'mosquitto-autosave': 'mosquitto 2.0.11 (persistence true, autosave_on_changes true, autosave_interval 1)',
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A broker process on `dir`, restartable, killed by PID. */
class Broker {
  readonly port: number
  readonly #argv: string[]
  #child: ChildProcess | undefined

  constructor(kind: Kind, dir: string, port: number) {
    this.port = port
    if (kind === 'portcullis') {
      const config = join(dir, 'portcullis.json')
      writeFileSync(config, JSON.stringify({
        listeners: [{ type: 'tcp', host: HOST, port }],
        dataDir: join(dir, 'data'),
        log: { level: 'silent' },
        authentication: { allowAnonymous: true },
        authorization: { noMatch: 'allow' },
        limits: { sysInterval: 0, maxQueuedMessages: 1_000_000, maxQueuedBytes: 1 << 30, connectRatePerAddress: 0 },
      }))
      this.#argv = [process.execPath, BIN, 'start', '--config', config]
    } else {
      const config = join(dir, 'mosquitto.conf')
      writeFileSync(config, [
        `listener ${port} ${HOST}`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        // Started as root, Mosquitto would switch to the user `mosquitto`, which cannot write this
        // directory (no persistence file at all); `user root` keeps ours (no effect when not root).
        'user root',
        ...(kind === 'mosquitto-autosave' ? ['autosave_on_changes true', 'autosave_interval 1'] : []),
        'max_queued_messages 1000000',
        'log_type none',
        '',
      ].join('\n'))
      this.#argv = [values.mosquitto, '-c', config]
    }
  }

  async start(): Promise<void> {
    const [cmd, ...args] = this.#argv as [string, ...string[]]
    const child = spawn(cmd, args, { stdio: 'ignore' })
    this.#child = child
    const until = Date.now() + 30_000
    while (Date.now() < until) {
      if (child.exitCode !== null) throw new Error(`broker exited during start-up (code ${child.exitCode})`)
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect({ host: HOST, port: this.port })
        s.once('connect', () => { s.destroy(); r(true) })
        s.once('error', () => r(false))
      })
      if (ok) return
      await sleep(20)
    }
    throw new Error('broker did not listen within 30 s')
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, 'SIGKILL')
    await gone
  }
}

function freePort(): Promise<number> {
  return new Promise((r, reject) => {
    const s = net.createServer()
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => r(port))
    })
    s.on('error', reject)
  })
}

/** A persistent subscriber that reconnects by itself and subscribes again when its session is gone. */
function subscriber(port: number, clientId: string, got: Set<number>, counts: { received: number; sessionsLost: number }, expectSession: boolean): MqttClient {
  const c = mqtt.connect({ host: HOST, port, clientId, clean: false, protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 2_000, resubscribe: false })
  c.on('error', () => {})
  c.on('message', (_t, payload) => {
    counts.received++
    got.add(Number(payload.toString()))
  })
  let sessionExpected = expectSession
  c.on('connect', (connack) => {
    if (!connack.sessionPresent) {
      if (sessionExpected) counts.sessionsLost++
      c.subscribe(TOPIC, { qos: 1 })
    }
    sessionExpected = true
  })
  return c
}

function connected(c: MqttClient, until: number): Promise<void> {
  return new Promise((r, reject) => {
    if (c.connected) return r()
    const t = setTimeout(() => reject(new Error('no connection')), Math.max(0, until - Date.now()))
    c.once('connect', () => { clearTimeout(t); r() })
  })
}

interface Result { acked: number; lostConnected: number; lostOffline: number; duplicates: number; sessionsLost: number; kills: number; seconds: number }

async function lossRun(kind: Kind): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-loss-'))
  const broker = new Broker(kind, dir, await freePort())
  const clients: MqttClient[] = []
  try {
    await broker.start()
    const deadline = Date.now() + STREAM_BUDGET_MS
    const counts = { received: 0, sessionsLost: 0 }
    const gotConnected = new Set<number>()
    const gotOffline = new Set<number>()
    const live = subscriber(broker.port, 'loss-connected', gotConnected, counts, false)
    clients.push(live)
    await connected(live, deadline)
    // the offline subscriber: subscribe (SUBACK), then away until the end
    const away = subscriber(broker.port, 'loss-offline', gotOffline, counts, false)
    await connected(away, deadline)
    await away.subscribeAsync(TOPIC, { qos: 1 })
    await live.subscribeAsync(TOPIC, { qos: 1 })
    await away.endAsync(true)

    const acked = new Set<number>()
    let next = 0
    const thresholds = Array.from({ length: KILLS }, () => Math.floor(MESSAGES * (0.1 + Math.random() * 0.8))).sort((a, b) => a - b)
    let kills = 0
    let restarting: Promise<void> | undefined
    const maybeKill = (): void => {
      if (restarting !== undefined || kills >= thresholds.length || acked.size < (thresholds[kills])) return
      kills++
      restarting = (async () => {
        await broker.kill()
        await sleep(200)
        await broker.start()
      })().finally(() => (restarting = undefined))
    }
    const t0 = performance.now()
    const publisher = async (p: number): Promise<void> => {
      while (next < MESSAGES && Date.now() < deadline) {
        const c = mqtt.connect({ host: HOST, port: broker.port, clientId: `loss-pub-${p}`, clean: true, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2_000 })
        c.on('error', () => {})
        const ok = await new Promise<boolean>((r) => { c.once('connect', () => r(true)); c.once('close', () => r(false)) })
        if (!ok) {
          c.end(true)
          await sleep(50)
          continue
        }
        const closed = new Promise<'closed'>((r) => c.once('close', () => r('closed')))
        while (next < MESSAGES && Date.now() < deadline) {
          // A number is sent once: one not acknowledged before a kill is never counted.
          const n = next++
          const r = await Promise.race([c.publishAsync(TOPIC, String(n), { qos: 1 }).then(() => 'ack' as const, () => 'closed' as const), closed])
          if (r !== 'ack') break
          acked.add(n)
          maybeKill()
        }
        c.end(true)
      }
    }
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => publisher(p)))
    const seconds = (performance.now() - t0) / 1000
    await restarting
    // The offline subscriber returns; both drain until nothing has arrived for QUIET_MS.
    const back = subscriber(broker.port, 'loss-offline', gotOffline, counts, true)
    clients.push(back)
    const drainUntil = Date.now() + DRAIN_BUDGET_MS
    let seen = -1
    while (Date.now() < drainUntil && seen !== counts.received) {
      seen = counts.received
      await sleep(QUIET_MS)
    }
    const lost = (got: Set<number>): number => [...acked].filter((n) => !got.has(n)).length
    return {
      acked: acked.size,
      lostConnected: lost(gotConnected),
      lostOffline: lost(gotOffline),
      duplicates: counts.received - gotConnected.size - gotOffline.size,
      sessionsLost: counts.sessionsLost,
      kills,
      seconds,
    }
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})))
    await broker.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

const kinds = values.brokers.split(',').map((s) => s.trim()) as Kind[]
console.log(`kill -9 loss test: ${PUBLISHERS} publishers, ${MESSAGES.toLocaleString('en-US')} QoS 1 messages, ${KILLS} SIGKILLs at random moments, 2 persistent subscribers (connected, offline until the end); ${ROUNDS} round(s)`)
console.log('| broker | round | acknowledged | lost (connected sub) | lost (offline sub) | sessions lost | duplicates | kills | stream s |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (let round = 1; round <= ROUNDS; round++) {
  for (const kind of kinds) {
    try {
      const r = await lossRun(kind)
      console.log(`| ${LABELS[kind]} | ${round} | ${r.acked} | ${r.lostConnected} | ${r.lostOffline} | ${r.sessionsLost} | ${r.duplicates} | ${r.kills} | ${r.seconds.toFixed(1)} |`)
    } catch (err) {
      console.log(`| ${LABELS[kind]} | ${round} | failed: ${err instanceof Error ? err.message : String(err)} | | | | | | |`)
    }
  }
}
