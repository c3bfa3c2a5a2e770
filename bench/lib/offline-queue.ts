/**
 * offline-queue (issue 12): persistent sessions that are offline while QoS 1 messages are
 * queued for them, then reconnect and drain. `sessions` clients (MQTT 3.1.1, Clean Session 0)
 * subscribe to one topic at QoS 1 and disconnect; one publisher sends `messages` QoS 1
 * messages to it (each queued for every session: sessions × messages deliveries); then every
 * session reconnects and receives its queue. The main figure is the broker's CPU per queued
 * delivery over both phases; each phase's share and the drain time are in the notes. Every
 * session must receive every message whose PUBACK the publisher received: Portcullis losing one
 * fails the run; a peer's losses are reported (flags, lostQos1) without failing it. A message the
 * broker never acknowledged is not a loss (only a figure: unackedQos1).
 *
 * Clients are MQTT.js in the harness process (pinned to the generator's CPU). Bounded: the
 * counts given, and each phase stops at its deadline (what arrived by then is reported).
 */
import mqtt, { type MqttClient } from 'mqtt'
import { cpuSeconds, HOST, type RunningBroker } from './brokers.js'
import type { Measurement } from './scenarios.js'

export interface OfflineQueueSize {
  readonly sessions: number
  readonly messages: number
  /** Upper bound of each phase. */
  readonly phaseMs: number
}

const TOPIC = 'bench/offline'
/** Connects (or PUBLISHes) in flight at once. */
const CONCURRENCY = 50

function open(port: number, clientId: string, clean: boolean, deadline: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: HOST, port, clientId, clean, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: Math.max(1_000, deadline - Date.now()),
    })
    client.once('connect', () => resolve(client))
    client.once('error', (err) => {
      client.end(true)
      reject(err)
    })
    client.once('close', () => reject(new Error(`${clientId}: closed before CONNACK`)))
  })
}

/** Run `task(i)` for i in [0, n) with at most CONCURRENCY at once. */
async function pool(n: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker))
}

function withDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not done by its deadline`)), Math.max(0, deadline - Date.now()))
    }),
  ]).finally(() => clearTimeout(timer))
}

export async function offlineQueueRun(broker: RunningBroker, size: OfflineQueueSize): Promise<Measurement> {
  const { sessions, messages, phaseMs } = size
  const ids = Array.from({ length: sessions }, (_, i) => `bench-offline-${i}`)
  const flags: string[] = []
  const clients: MqttClient[] = []
  try {
    // Setup (not measured): every session subscribes, then goes offline.
    let deadline = Date.now() + phaseMs
    await withDeadline(pool(sessions, async (i) => {
      const c = await open(broker.port, ids[i], false, deadline)
      await c.subscribeAsync(TOPIC, { qos: 1 })
      await c.endAsync()
    }), deadline, 'subscribing the sessions')

    // Queue phase: QoS 1 messages for the offline sessions, CONCURRENCY PUBLISHes in flight.
    deadline = Date.now() + phaseMs
    const pub = await open(broker.port, 'bench-offline-pub', true, deadline)
    clients.push(pub)
    const q0 = cpuSeconds(broker.pid)
    const t0 = performance.now()
    /** The messages whose PUBACK came: what the broker promised to deliver to every session. */
    const acked = new Set<string>()
    try {
      await withDeadline(pool(messages, async (i) => {
        await pub.publishAsync(TOPIC, String(i), { qos: 1 })
        acked.add(String(i))
      }), deadline, 'queueing')
    } catch (err) {
      if (acked.size === 0) throw err
      flags.push('queueing hit its time bound: messages never acknowledged (not a loss: see unacked)')
    }
    const queueSeconds = (performance.now() - t0) / 1000
    const queueCpu = cpuSeconds(broker.pid) - q0
    await pub.endAsync()

    // Drain phase: every session comes back and receives its queue.
    deadline = Date.now() + phaseMs
    const got = ids.map(() => new Set<string>())
    let received = 0
    let done = 0
    let allDone: () => void = () => {}
    const drained = new Promise<void>((resolve) => (allDone = resolve))
    const d0 = cpuSeconds(broker.pid)
    const t1 = performance.now()
    const connecting = pool(sessions, async (i) => {
      const c = await new Promise<MqttClient>((resolve, reject) => {
        const client = mqtt.connect({ host: HOST, port: broker.port, clientId: ids[i], clean: false, protocolVersion: 4, reconnectPeriod: 0 })
        client.on('message', (_topic, payload) => {
          received++
          const set = got[i]
          const before = set.size
          set.add(payload.toString())
          if (set.size === messages && before < messages && ++done === sessions) allDone()
        })
        client.once('connect', () => resolve(client))
        client.once('error', reject)
      })
      clients.push(c)
    })
    if (messages === 0) allDone()
    let timedOut = false
    try {
      await withDeadline(Promise.all([connecting, drained]), deadline, 'draining')
    } catch {
      timedOut = true
      flags.push('drain hit its time bound')
    }
    const drainSeconds = (performance.now() - t1) / 1000
    const drainCpu = cpuSeconds(broker.pid) - d0
    const unique = got.reduce((n, s) => n + s.size, 0)
    const expected = sessions * messages
    let lost = 0
    for (const set of got) for (const id of acked) if (!set.has(id)) lost++
    const cpu = queueCpu + drainCpu
    const portcullis = broker.spec.kind === 'portcullis'
    // A peer's drain cut by the time bound cannot tell lost from not delivered yet: reported apart.
    const atBound = !portcullis && timedOut
    const m: Measurement = {
      ok: !portcullis || lost === 0,
      ops: expected,
      seconds: queueSeconds + drainSeconds,
      brokerCpuSeconds: cpu,
      cpuPerOpUs: (cpu / expected) * 1e6,
      throughput: unique / drainSeconds,
      brokerCpu: cpu / (queueSeconds + drainSeconds),
      lostQos1: atBound ? 0 : lost,
      ...(atBound ? { undeliveredAtBoundQos1: lost } : {}),
      unackedQos1: messages - acked.size,
      duplicates: received - unique,
      queueCpuPerOpUs: (queueCpu / expected) * 1e6,
      drainCpuPerOpUs: (drainCpu / expected) * 1e6,
      drainSeconds,
      flags,
    }
    if (lost > 0 && portcullis) m.error = `${lost} deliveries of ${acked.size} acknowledged messages to ${sessions} sessions never arrived`
    return m
  } finally {
    await Promise.all(clients.map((c) => withDeadline(c.endAsync(true), Date.now() + 2_000, 'client end').catch(() => {})))
  }
}
