/**
 * What `cluster.replicaAck` costs a group commit (issue 13): a Redis master with one replica
 * (loopback TCP, append-only `everysec`: bench/lib/redis-server.ts), two RedisStates on the
 * master — one plain, one with `replicaAck: { replicas: 1 }` (WAIT 1 behind every commit) —
 * alternated round by round, each committing COMMITS groups one after the other (each group as
 * a publish forwarded to another node writes it: an XADD to a stream capped at 1,000 entries
 * and a counter, in one MULTI/EXEC). Two ways: one change at a time (each awaited before the
 * next is recorded: a commit's latency), and `--lanes` changes in flight at once (each lane
 * records its next change once its last one committed; the group commit gathers what the lanes
 * recorded in one turn, and commits are pipelined on the connection — where a WAIT holds the
 * commands behind it until the replica answered).
 *
 *   node --import tsx bench/replica-ack.ts [--commits 5000] [--rounds 5] [--lanes 32]
 *
 * Per variant and way: the median latency of a change (record → afterCommit) and its 99th
 * percentile, changes per second, the node's CPU per change (process.cpuUsage), the master's and
 * the replica's (INFO cpu, µs), as medians over the rounds; then on ÷ off. Bounded: at most 50,000 commits a round, 10 rounds,
 * 60 s per round; loopback only; both redis-servers stopped by their PIDs.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { silentLogger } from '../src/log.js'
import { RedisState } from '../src/store/redis/redis-state.js'
import { HOST, portIsFree } from './lib/brokers.js'
import { benchOptions } from './lib/options.js'
import { benchRedisArgs, startRedisWith } from './lib/redis-server.js'

const { commits: COMMITS, rounds: ROUNDS, lanes: LANES } = benchOptions({ commits: [5000, 100, 50_000], rounds: [5, 1, 10], lanes: [32, 2, 256] })
const ROUND_BUDGET_MS = 60_000
const PAYLOAD = Buffer.alloc(100, 'x')

interface Sample {
  readonly medianUs: number
  readonly p99Us: number
  readonly perSecond: number
  readonly nodeCpuUs: number
  readonly masterCpuUs: number
  readonly replicaCpuUs: number
}

async function freePort(): Promise<number> {
  for (let p = 20_000 + Math.floor(Math.random() * 20_000); ; p++) if (await portIsFree(p)) return p
}

async function startServer(dir: string, port: number, extra: string[]): Promise<ChildProcess> {
  mkdirSync(dir)
  return startRedisWith(['--port', String(port), '--bind', HOST, ...benchRedisArgs(dir), ...extra])
}

/** Redis's own CPU so far (used_cpu_user + used_cpu_sys), in µs. */
async function redisCpuUs(r: Redis): Promise<number> {
  const info = await r.info('cpu')
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
}

function committed(state: RedisState): Promise<Error | undefined> {
  return new Promise((r) => state.afterCommit(r))
}

/** COMMITS changes, `lanes` of them in flight at once. */
async function round(state: RedisState, master: Redis, replica: Redis, tag: string, lanes: number): Promise<Sample> {
  const latencies: number[] = []
  const stream = `bench:fwd:{${tag}}`
  const deadline = Date.now() + ROUND_BUDGET_MS
  const [m0, r0] = [await redisCpuUs(master), await redisCpuUs(replica)]
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  let begun = 0
  const lane = async (): Promise<void> => {
    while (begun < COMMITS && Date.now() < deadline) {
      begun++
      const t0 = performance.now()
      state.record((m) => m.xadd(stream, 'MAXLEN', '~', 1000, '*', 'm', PAYLOAD).incr(`bench:n:{${tag}}`))
      const err = await committed(state)
      if (err !== undefined) throw err
      latencies.push((performance.now() - t0) * 1000)
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  const [m1, r1] = [await redisCpuUs(master), await redisCpuUs(replica)]
  latencies.sort((a, b) => a - b)
  const n = latencies.length
  return {
    medianUs: latencies[Math.floor(n / 2)] ?? NaN,
    p99Us: latencies[Math.min(n - 1, Math.floor(n * 0.99))] ?? NaN,
    perSecond: n / seconds,
    nodeCpuUs: (cpu.user + cpu.system) / n,
    masterCpuUs: (m1 - m0) / n,
    replicaCpuUs: (r1 - r0) / n,
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : ((s[s.length / 2 - 1]) + (s[s.length / 2])) / 2
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-replica-ack-'))
  const children: ChildProcess[] = []
  try {
    const masterPort = await freePort()
    children.push(await startServer(join(dir, 'master'), masterPort, []))
    let replicaPort = await freePort()
    while (replicaPort === masterPort) replicaPort = await freePort()
    children.push(await startServer(join(dir, 'replica'), replicaPort, ['--replicaof', HOST, String(masterPort)]))
    const master = new Redis({ host: HOST, port: masterPort })
    const replica = new Redis({ host: HOST, port: replicaPort })
    for (let i = 0; !/master_link_status:up/.test(await replica.info('replication')); i++) {
      if (i > 100) throw new Error('the replica did not sync')
      await new Promise((r) => setTimeout(r, 100))
    }
    const url = `redis://${HOST}:${masterPort}`
    const variants = {
      off: await RedisState.open(url, 'off', silentLogger()),
      on: await RedisState.open(url, 'on', silentLogger(), { replicaAck: { replicas: 1, timeoutMs: 1000 } }),
    }
    // Warm-up: scripts, JIT, connections.
    for (const [tag, state] of Object.entries(variants)) for (let i = 0; i < 200; i++) {
      state.recordCommand(() => ['SET', `bench:warm:${tag}`, String(i)])
      await committed(state)
    }
    for (const lanes of [1, LANES]) {
      const samples: Record<keyof typeof variants, Sample[]> = { off: [], on: [] }
      for (let r = 0; r < ROUNDS; r++) {
        const order: Array<keyof typeof variants> = r % 2 === 0 ? ['off', 'on'] : ['on', 'off']
        for (const tag of order) {
          const s = await round(variants[tag], master, replica, tag, lanes)
          samples[tag].push(s)
          console.log(`${lanes} lane(s), round ${r + 1} ${tag.padEnd(3)}: median ${s.medianUs.toFixed(0)} µs, p99 ${s.p99Us.toFixed(0)} µs, ${s.perSecond.toFixed(0)}/s, node ${s.nodeCpuUs.toFixed(1)} µs CPU, master ${s.masterCpuUs.toFixed(1)} µs, replica ${s.replicaCpuUs.toFixed(1)} µs per change`)
        }
      }
      const med = (tag: keyof typeof variants, k: keyof Sample): number => median(samples[tag].map((s) => s[k]))
      console.log(`\n${COMMITS} changes a round, ${lanes} in flight, ${ROUNDS} rounds, medians (on ÷ off):`)
      for (const [k, label] of [['medianUs', 'latency median µs'], ['p99Us', 'latency p99 µs'], ['perSecond', 'changes/s'], ['nodeCpuUs', 'node CPU µs'], ['masterCpuUs', 'master CPU µs'], ['replicaCpuUs', 'replica CPU µs']] as Array<[keyof Sample, string]>) {
        const off = med('off', k)
        const on = med('on', k)
        console.log(`  ${label.padEnd(18)} off ${off.toFixed(1).padStart(8)}   on ${on.toFixed(1).padStart(8)}   ${(on / off).toFixed(2)}×  (${on - off >= 0 ? '+' : ''}${(on - off).toFixed(1)})`)
      }
      console.log('')
    }
    await variants.off.close()
    await variants.on.close()
    master.disconnect()
    replica.disconnect()
  } finally {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
