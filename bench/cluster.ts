/**
 * Cross-node delivery (issue 13): two Portcullis nodes on one redis-server (unix socket,
 * appendonly, appendfsync everysec), each broker a child process pinned to core 0. One
 * publisher and one subscriber; per round, publisher kind and QoS, two runs:
 *   local  — publisher and subscriber on node A (the cluster's direct path),
 *   cross  — publisher on node A, subscriber on node B (QoS 1: through B's Redis Stream; QoS 0:
 *            through B's pub/sub channel, or its stream with `--qos0 stream`).
 * `--qos0 stream,pubsub` runs the whole set once per path (cluster.qos0), each on a fresh pair of
 * nodes (warm-up round included), and prints the rows and the ratio of each.
 * Publisher kinds: `window` — MQTT.js as it comes (Nagle on), as fast as a window of WINDOW
 * undelivered messages allows; `fixed` — TCP_NODELAY and a fixed rate (`--rate`), open loop:
 * small entries, the regime of many clients at modest rates.
 * Reported per run: messages/s, broker CPU per message (nodes A + B, and each node), the part of
 * it that is the nodes' idle CPU (each node's CPU per second with no traffic, measured at the
 * start of every round, times the run's duration), Redis CPU per message, end-to-end latency
 * p50/p99 (send time in the payload, one clock); where the time goes: the kernel's share of the
 * broker CPU, write/read system calls per message, and Redis commands per message (INFO
 * commandstats) with Redis's µs per message in each. CPU is read from /proc/PID/task/TID/schedstat
 * (nanoseconds, every thread), not from the 10 ms ticks of /proc/PID/stat.
 *
 * The ratio (issue 13's target, ≤ 2× at QoS 0): broker CPU per message of both nodes over the
 * run, idle included, cross ÷ local, medians of the same run. Printed beside it: the same with
 * the idle CPU taken out of both rows.
 *
 *   npm run build && node --import tsx bench/cluster.ts [--rounds 3] [--messages 20000] [--qos 0,1]
 *       [--modes local,cross] [--publishers window,fixed] [--rate 10000] [--idle-ms 3000] [--qos0 pubsub|stream|stream,pubsub]
 *       [--qos0-batch-ms MS]   (the nodes' cluster.qos0BatchMs; default: theirs)
 *       [--cpu-prof DIR]   (both nodes run with node --cpu-prof into DIR)
 *       [--threads]   (CPU per message of each thread of each node: main thread vs GC helpers)
 *       [--connects 2000]   (0: no connect scenario)
 *       [--no-warmup]   (count from the first round; by default a round 0 warms the JIT up, uncounted)
 *
 * Connect scenario (per round, after the message runs): clean-start MQTT 5 connects, each
 * followed by a DISCONNECT, 10 at a time, with fresh client ids — on a single node without a
 * cluster (a third broker, pinned to core 0 too) and on cluster node A (the client id claimed in
 * Redis at CONNECT and released at the end) — CPU per connect on the node and Redis's own.
 *
 * Bounded: per run at most `--messages` messages (≤ 200,000) and at most 60 s (window: at most
 * WINDOW unacknowledged or undelivered; fixed: at most `--rate` ≤ 100,000 per second); loopback only.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { CLK_TCK, HOST, killAll, startBroker, type RunningBroker } from './lib/brokers.js'
import { benchOptions } from './lib/options.js'
import { startRedis } from './lib/redis-server.js'

/** The string options left empty are not given: `--cpu-prof DIR`, `--node-flags "FLAGS"`, `--node-stdout DIR`, `--root DIR`, `--qos0-batch-ms MS`. */
const values = benchOptions(
  { rounds: [3, 1, 10], messages: [20_000, 100, 200_000], connects: [2000, 0, 20_000], rate: [10_000, 100, 100_000], 'idle-ms': [3000, 500, 10_000] },
  { qos: '0,1', modes: 'local,cross', publishers: 'window,fixed', qos0: 'pubsub', 'cpu-prof': '', 'node-flags': '', 'node-stdout': '', root: '', 'qos0-batch-ms': '' },
  ['threads', 'no-warmup'],
)
type Qos0Path = 'pubsub' | 'stream'
/** cluster.qos0 of the nodes: each path runs on its own pair of nodes, one after the other. */
const QOS0_PATHS = values.qos0.split(',').filter((p): p is Qos0Path => p === 'pubsub' || p === 'stream')
const MODES = values.modes.split(',').filter((m): m is 'local' | 'cross' => m === 'local' || m === 'cross')
/** Connect scenario: clean-start connects (then a DISCONNECT) per run, 0 to skip it. */
const CONNECTS = values.connects
const CONNECT_CONCURRENCY = 10
const ROUNDS = values.rounds
/** A first, uncounted round of every run (round 0 in the log). */
const WARMUP = !values['no-warmup']
const MESSAGES = values.messages
const QOS = values.qos.split(',').map(Number).filter((q): q is 0 | 1 => q === 0 || q === 1)
type Publisher = 'window' | 'fixed'
const PUBLISHERS = values.publishers.split(',').filter((p): p is Publisher => p === 'window' || p === 'fixed')
/** Messages per second of the fixed-rate publisher. */
const RATE = values.rate
/** How long each node's idle CPU is measured at the start of every round (no traffic). */
const IDLE_MS = values['idle-ms']
const WINDOW = 200
const RUN_BUDGET_MS = 60_000
const PORT_A = 22883
const PORT_B = 22884
const PORT_SINGLE = 22885
const LOAD_AT_START = loadavg().map((l) => l.toFixed(2)).join(' ')

/** CPU seconds per second of each node and of Redis with no traffic (measured at the start of a round). */
interface Idle { readonly a: number; readonly b: number; readonly redis: number }

interface Result {
  readonly path: Qos0Path
  readonly mode: 'local' | 'cross'
  readonly qos: 0 | 1
  readonly publisher: Publisher
  readonly delivered: number
  readonly seconds: number
  /** Nodes A + B over the run, idle included. */
  readonly brokerUsPerMsg: number
  readonly aUsPerMsg: number
  readonly bUsPerMsg: number
  /** The part of brokerUsPerMsg that is the nodes' idle CPU (round's idle rate × run's duration). */
  readonly idleUsPerMsg: number
  readonly redisUsPerMsg: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Write system calls per message (both nodes): each sends a batch to Redis or a client. */
  readonly writesPerMsg: number
  /** Read system calls per message (both nodes). */
  readonly readsPerMsg: number
  /** Wake-ups (voluntary context switches, every thread) per message, each node. */
  readonly wakeUpsA: number
  readonly wakeUpsB: number
  /** The part of the broker CPU spent in the kernel (system calls), µs per message. */
  readonly systemUsPerMsg: number
  /** Redis commands per message, by command (INFO commandstats), and Redis's µs per message in each. */
  readonly commands: ReadonlyMap<string, { readonly calls: number; readonly usec: number }>
}

/**
 * CPU seconds of a process so far, every thread (/proc/PID/task/TID/schedstat: nanoseconds on a
 * CPU), instead of /proc/PID/stat's 10 ms ticks. A thread that has exited no longer counts: the
 * processes measured here keep theirs.
 */
function cpuSeconds(pid: number): number {
  let ns = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // (a thread that exited meanwhile)
    }
  }
  return ns / 1e9
}

/** CPU per second of A, B and Redis over IDLE_MS with no traffic. */
async function measureIdle(a: RunningBroker, b: RunningBroker, redisPid: number): Promise<Idle> {
  // What the last run left (acknowledgements, a stream read) settles first.
  await new Promise((r) => setTimeout(r, 500))
  const a0 = cpuSeconds(a.pid)
  const b0 = cpuSeconds(b.pid)
  const r0 = cpuSeconds(redisPid)
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, IDLE_MS))
  const s = (performance.now() - t0) / 1000
  return { a: (cpuSeconds(a.pid) - a0) / s, b: (cpuSeconds(b.pid) - b0) / s, redis: (cpuSeconds(redisPid) - r0) / s }
}

/** Write system calls of a process so far (/proc/PID/io syscw). */
function writeCalls(pid: number): number {
  const m = /syscw:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
  return m === null ? NaN : Number(m[1])
}

/** Times a process went to sleep waiting (voluntary context switches of all its threads): its wake-ups. */
function wakeUps(pid: number): number {
  let n = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))
    if (m !== null) n += Number(m[1])
  }
  return n
}

/** System (kernel) CPU seconds of a process so far. */
function systemSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / CLK_TCK
}

/** Read system calls of a process so far (/proc/PID/io syscr). */
function readCalls(pid: number): number {
  const m = /syscr:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
  return m === null ? NaN : Number(m[1])
}

/** CPU seconds per thread of a process (name#tid). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(`${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}#${tid}`, (Number(f[11]) + Number(f[12])) / CLK_TCK)
  }
  return out
}

function threadDelta(before: Map<string, number>, after: Map<string, number>, perMsg: number): string {
  return [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) * 1e6 / perMsg] as const).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')
}

/** Calls and µs per command since the last CONFIG RESETSTAT. */
async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>()
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line)
    if (m !== null) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return out
}

function client(port: number, clientId: string): Promise<MqttClient> {
  const c = mqtt.connect({ host: HOST, port, clientId, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 })
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))])
}

async function run(path: Qos0Path, mode: 'local' | 'cross', qos: 0 | 1, publisher: Publisher, a: RunningBroker, b: RunningBroker, redisPid: number, idle: Idle, stats: Redis, round: number): Promise<Result> {
  const topic = `bench/${mode}/${qos}/${publisher}/${round}`
  const sub = await client(mode === 'local' ? a.port : b.port, `sub-${mode}-${qos}-${publisher}-${round}`)
  const pub = await client(a.port, `pub-${mode}-${qos}-${publisher}-${round}`)
  // Each publish its own TCP segment at once, as most device clients send.
  if (publisher === 'fixed') (pub.stream as Socket).setNoDelay(true)
  const latencies: number[] = []
  let received = 0
  sub.on('message', (_t, payload) => {
    received++
    latencies.push(performance.now() - payload.readDoubleLE(0))
  })
  await sub.subscribeAsync(topic, { qos })
  // Until the publisher's node routes to the subscriber (cross: B's route reaches A within a second).
  const probeDeadline = Date.now() + 10_000
  while (received === 0 && Date.now() < probeDeadline) {
    const probe = Buffer.alloc(16)
    probe.writeDoubleLE(performance.now(), 0)
    await pub.publishAsync(topic, probe, { qos: 1 })
    await new Promise((r) => setTimeout(r, 50))
  }
  await new Promise((r) => setTimeout(r, 300))
  received = 0
  latencies.length = 0
  await stats.config('RESETSTAT')
  const writes0 = writeCalls(a.pid) + writeCalls(b.pid)
  const wakeA0 = wakeUps(a.pid)
  const wakeB0 = wakeUps(b.pid)
  const threadsA = threadCpu(a.pid)
  const threadsB = threadCpu(b.pid)
  const reads0 = readCalls(a.pid) + readCalls(b.pid)
  const sys0 = systemSeconds(a.pid) + systemSeconds(b.pid)
  const cpuA0 = cpuSeconds(a.pid)
  const cpuB0 = cpuSeconds(b.pid)
  const redis0 = cpuSeconds(redisPid)
  const t0 = performance.now()
  const deadline = Date.now() + RUN_BUDGET_MS
  let sent = 0
  let acked = 0
  const send = (): void => {
    const payload = Buffer.alloc(64)
    payload.writeDoubleLE(performance.now(), 0)
    sent++
    if (qos === 0) pub.publish(topic, payload, { qos: 0 })
    else pub.publish(topic, payload, { qos: 1 }, () => { acked++ })
  }
  if (publisher === 'fixed') {
    // Open loop: what is due by now, then a timer tick (about 1 ms).
    while (sent < MESSAGES && Date.now() < deadline) {
      const due = Math.min(MESSAGES, Math.floor(((performance.now() - t0) * RATE) / 1000))
      while (sent < due) send()
      await new Promise((r) => setTimeout(r, 1))
    }
  } else {
    while (sent < MESSAGES && Date.now() < deadline) {
      if (sent - received >= WINDOW || (qos === 1 && sent - acked >= WINDOW)) {
        await new Promise((r) => setImmediate(r))
        continue
      }
      send()
      if (sent % 50 === 0) await new Promise((r) => setImmediate(r))
    }
  }
  while (received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  const seconds = (performance.now() - t0) / 1000
  const cpuA = cpuSeconds(a.pid) - cpuA0
  const cpuB = cpuSeconds(b.pid) - cpuB0
  const cpu = cpuA + cpuB
  const redis = cpuSeconds(redisPid) - redis0
  const writes = writeCalls(a.pid) + writeCalls(b.pid) - writes0
  const wakeA = wakeUps(a.pid) - wakeA0
  const wakeB = wakeUps(b.pid) - wakeB0
  if (values.threads) process.stderr.write(`  µs/msg per thread, A: ${threadDelta(threadsA, threadCpu(a.pid), received)}; B: ${threadDelta(threadsB, threadCpu(b.pid), received)}\n`)
  const reads = readCalls(a.pid) + readCalls(b.pid) - reads0
  const sys = systemSeconds(a.pid) + systemSeconds(b.pid) - sys0
  const commands = new Map<string, { calls: number; usec: number }>()
  for (const [name, c] of await commandStats(stats)) {
    if (name === 'info' || name === 'config|resetstat') continue
    commands.set(name, { calls: c.calls / Math.max(received, 1), usec: c.usec / Math.max(received, 1) })
  }
  pub.end(true)
  sub.end(true)
  latencies.sort((x, y) => x - y)
  return {
    path, mode, qos, publisher, delivered: received, seconds,
    brokerUsPerMsg: (cpu * 1e6) / Math.max(received, 1),
    aUsPerMsg: (cpuA * 1e6) / Math.max(received, 1),
    bUsPerMsg: (cpuB * 1e6) / Math.max(received, 1),
    idleUsPerMsg: ((idle.a + idle.b) * seconds * 1e6) / Math.max(received, 1),
    redisUsPerMsg: (redis * 1e6) / Math.max(received, 1),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    writesPerMsg: writes / Math.max(received, 1),
    readsPerMsg: reads / Math.max(received, 1),
    wakeUpsA: wakeA / Math.max(received, 1),
    wakeUpsB: wakeB / Math.max(received, 1),
    systemUsPerMsg: (sys * 1e6) / Math.max(received, 1),
    commands,
  }
}

interface ConnectResult {
  readonly mode: 'single' | 'cluster'
  readonly connects: number
  readonly seconds: number
  /** CPU per connect of the node connected to (cluster: nodes A + B). */
  readonly brokerUsPerConnect: number
  readonly redisUsPerConnect: number
  readonly p50Ms: number
  readonly commands: ReadonlyMap<string, { readonly calls: number; readonly usec: number }>
}

/**
 * Clean-start MQTT 5 connects, each followed by a DISCONNECT, CONNECT_CONCURRENCY at a time:
 * on a single node (no cluster) or on cluster node A (its client id claimed, then released, in
 * Redis). A fresh client id each time. Bounded by CONNECTS and RUN_BUDGET_MS.
 */
async function runConnects(mode: 'single' | 'cluster', nodes: readonly RunningBroker[], redisPid: number, stats: Redis, round: number): Promise<ConnectResult> {
  const port = nodes[0].port
  await stats.config('RESETSTAT')
  const cpu0 = nodes.reduce((t, n) => t + cpuSeconds(n.pid), 0)
  const redis0 = cpuSeconds(redisPid)
  const times: number[] = []
  const deadline = Date.now() + RUN_BUDGET_MS
  const t0 = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < CONNECTS && Date.now() < deadline) {
      const id = `c-${mode}-${round}-${next++}`
      const t = performance.now()
      const c = await client(port, id)
      times.push(performance.now() - t)
      await c.endAsync()
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker))
  const seconds = (performance.now() - t0) / 1000
  // The node's work after the last DISCONNECT (releasing the client id) belongs to the run.
  await new Promise((r) => setTimeout(r, 300))
  const cpu = nodes.reduce((t, n) => t + cpuSeconds(n.pid), 0) - cpu0
  const redis = cpuSeconds(redisPid) - redis0
  const n = Math.max(times.length, 1)
  const commands = new Map<string, { calls: number; usec: number }>()
  for (const [name, c] of await commandStats(stats)) {
    if (name === 'info' || name === 'config|resetstat') continue
    commands.set(name, { calls: c.calls / n, usec: c.usec / n })
  }
  times.sort((x, y) => x - y)
  return {
    mode, connects: times.length, seconds, brokerUsPerConnect: (cpu * 1e6) / n, redisUsPerConnect: (redis * 1e6) / n,
    p50Ms: percentile(times, 0.5), commands,
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.floor(s.length / 2)]
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-cluster-'))
  const redis = await startRedis(dir)
  const prof = values['cpu-prof']
  const flags = [...(prof === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]), ...values['node-flags'].split(' ').filter((f) => f !== '')]
  const opts = { tmpDir: dir, brokerCpu: '0', portcullisNodeFlags: flags, mosquittoPath: '', stdoutDir: values['node-stdout'] === '' ? undefined : values['node-stdout'] }
  // (--qos0-batch-ms: the nodes' cluster.qos0BatchMs; not given, their default — or nothing, for a --root build without it.)
  const batch = values['qos0-batch-ms'] === '' ? {} : { qos0BatchMs: Number(values['qos0-batch-ms']) }
  const cluster = (nodeId: string, qos0: Qos0Path): Record<string, unknown> => ({ cluster: { redis: { path: join(dir, 'redis.sock') }, nodeId, qos0, ...batch }, persistence: true })
  const root = values.root === '' ? {} : { root: values.root }
  const results: Result[] = []
  const idles: Idle[] = []
  const connects: ConnectResult[] = []
  const stats = new Redis({ path: join(dir, 'redis.sock'), lazyConnect: true, maxRetriesPerRequest: 1 })
  await stats.connect()
  try {
    for (const [pathIndex, path] of QOS0_PATHS.entries()) {
      const a = await startBroker({ label: 'node-a', kind: 'portcullis', portcullisConfig: cluster('node-a', path), ...root }, PORT_A, opts)
      const b = await startBroker({ label: 'node-b', kind: 'portcullis', portcullisConfig: cluster('node-b', path), ...root }, PORT_B, opts)
      try {
        // Round 0 warms both nodes up (the JIT compiles the hot paths) and is not counted.
        for (let round = WARMUP ? 0 : 1; round <= ROUNDS; round++) {
          const idle = await measureIdle(a, b, redis.pid as number)
          if (round > 0) idles.push(idle)
          process.stderr.write(`round ${round} idle (no traffic, ${IDLE_MS} ms): A ${(idle.a * 1e3).toFixed(1)} ms/s, B ${(idle.b * 1e3).toFixed(1)} ms/s, Redis ${(idle.redis * 1e3).toFixed(1)} ms/s\n`)
          for (const publisher of PUBLISHERS) for (const qos of QOS) {
            for (const mode of MODES) {
              const r = await run(path, mode, qos, publisher, a, b, redis.pid as number, idle, stats, round)
              if (round > 0) results.push(r)
              process.stderr.write(`round ${round} qos0=${path} ${publisher} QoS ${qos} ${mode}: ${r.delivered} msgs, ${(r.delivered / r.seconds).toFixed(0)} msg/s, broker ${r.brokerUsPerMsg.toFixed(1)} µs/msg (A ${r.aUsPerMsg.toFixed(1)}, B ${r.bUsPerMsg.toFixed(1)}, idle ${r.idleUsPerMsg.toFixed(1)}), redis ${r.redisUsPerMsg.toFixed(1)} µs/msg, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, kernel ${r.systemUsPerMsg.toFixed(1)} µs/msg, writes ${r.writesPerMsg.toFixed(2)}/msg, reads ${r.readsPerMsg.toFixed(2)}/msg, wake-ups A ${r.wakeUpsA.toFixed(3)} B ${r.wakeUpsB.toFixed(3)}/msg\n`)
              const cmds = [...r.commands].sort((x, y) => y[1].calls - x[1].calls).map(([n, c]) => `${n} ${c.calls.toFixed(3)} (${c.usec.toFixed(2)} µs)`)
              process.stderr.write(`  Redis commands per message: ${cmds.join(', ')}\n`)
            }
          }
        }
        if (CONNECTS > 0 && pathIndex === QOS0_PATHS.length - 1) {
          const single = await startBroker({ label: 'single', kind: 'portcullis', portcullisConfig: { persistence: true } }, PORT_SINGLE, opts)
          try {
            for (let round = WARMUP ? 0 : 1; round <= ROUNDS; round++) {
              for (const [mode, nodes] of [['single', [single]], ['cluster', [a, b]]] as const) {
                const r = await runConnects(mode, nodes, redis.pid as number, stats, round)
                if (round > 0) connects.push(r)
                const cmds = [...r.commands].sort((x, y) => y[1].calls - x[1].calls).map(([name, c]) => `${name} ${c.calls.toFixed(2)} (${c.usec.toFixed(1)} µs)`)
                process.stderr.write(`round ${round} connect ${mode}: ${r.connects} connects, ${(r.connects / r.seconds).toFixed(0)}/s, broker ${r.brokerUsPerConnect.toFixed(0)} µs/connect, redis ${r.redisUsPerConnect.toFixed(0)} µs/connect, p50 ${r.p50Ms.toFixed(2)} ms; Redis commands per connect: ${cmds.join(', ')}\n`)
              }
            }
          } finally {
            await single.stop()
          }
        }
      } finally {
        await a.stop()
        await b.stop()
      }
    }
  } finally {
    stats.disconnect()
    redis.kill('SIGTERM')
    killAll()
    rmSync(dir, { recursive: true, force: true })
  }
  const idleMs = (f: (i: Idle) => number): string => (median(idles.map(f)) * 1e3).toFixed(1)
  process.stdout.write(`\nIdle (no traffic, ${IDLE_MS} ms at the start of each round): node A ${idleMs((i) => i.a)} ms CPU/s, node B ${idleMs((i) => i.b)} ms CPU/s, Redis ${idleMs((i) => i.redis)} ms CPU/s\n`)
  process.stdout.write(`\n| publisher | QoS | path (cluster.qos0) | msg/s | broker CPU µs/msg (A+B) | node A | node B | idle part (A+B) | A+B without idle | Redis CPU µs/msg | p50 ms | p99 ms | writes/msg (A+B) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n`)
  const ratios: string[] = []
  for (const path of QOS0_PATHS) for (const publisher of PUBLISHERS) {
    for (const qos of QOS) {
      const med = (mode: 'local' | 'cross', f: (r: Result) => number): number => median(results.filter((r) => r.path === path && r.publisher === publisher && r.qos === qos && r.mode === mode).map(f))
      for (const mode of MODES) {
        const m = (f: (r: Result) => number): number => med(mode, f)
        process.stdout.write(`| ${publisher === 'fixed' ? `fixed ${RATE}/s, no Nagle` : 'window, Nagle'} | ${qos} | ${mode} (${path}) | ${m((r) => r.delivered / r.seconds).toFixed(0)} | ${m((r) => r.brokerUsPerMsg).toFixed(1)} | ${m((r) => r.aUsPerMsg).toFixed(1)} | ${m((r) => r.bUsPerMsg).toFixed(1)} | ${m((r) => r.idleUsPerMsg).toFixed(1)} | ${m((r) => r.brokerUsPerMsg - r.idleUsPerMsg).toFixed(1)} | ${m((r) => r.redisUsPerMsg).toFixed(1)} | ${m((r) => r.p50Ms).toFixed(2)} | ${m((r) => r.p99Ms).toFixed(2)} | ${m((r) => r.writesPerMsg).toFixed(2)} |\n`)
      }
      if (MODES.length === 2) {
        const ratio = med('cross', (r) => r.brokerUsPerMsg) / med('local', (r) => r.brokerUsPerMsg)
        const work = med('cross', (r) => r.brokerUsPerMsg - r.idleUsPerMsg) / med('local', (r) => r.brokerUsPerMsg - r.idleUsPerMsg)
        ratios.push(`qos0=${path} ${publisher} QoS ${qos}: ${ratio.toFixed(2)}× (without idle ${work.toFixed(2)}×)`)
      }
    }
  }
  if (ratios.length > 0) process.stdout.write(`\nCross ÷ local, broker CPU per message of A + B over the run (medians): ${ratios.join('; ')}\n`)
  if (connects.length > 0) {
    process.stdout.write(`\n| connect (clean start, then DISCONNECT) | connects/s | broker CPU µs/connect | Redis CPU µs/connect | p50 CONNACK ms |\n|---|---|---|---|---|\n`)
    for (const mode of ['single', 'cluster'] as const) {
      const rs = connects.filter((r) => r.mode === mode)
      process.stdout.write(`| ${mode === 'single' ? 'single node (no cluster)' : 'cluster node A (A+B CPU)'} | ${median(rs.map((r) => r.connects / r.seconds)).toFixed(0)} | ${median(rs.map((r) => r.brokerUsPerConnect)).toFixed(0)} | ${median(rs.map((r) => r.redisUsPerConnect)).toFixed(0)} | ${median(rs.map((r) => r.p50Ms)).toFixed(2)} |\n`)
    }
  }
  process.stdout.write(`\nMedians of ${ROUNDS} rounds${WARMUP ? ' after an uncounted warm-up round' : ''}, ${MESSAGES} messages each, window ${WINDOW}, fixed rate ${RATE}/s; ${CONNECTS} connects per connect run, ${CONNECT_CONCURRENCY} at a time; nodes pinned to core 0. Load average at the start: ${LOAD_AT_START} (say it beside the figures).\n`)
}

process.on('SIGINT', () => { killAll(); process.exit(130) })
await main()
