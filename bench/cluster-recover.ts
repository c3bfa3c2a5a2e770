/**
 * A cluster node taking stored sessions over (issue 13), two scenarios:
 *
 * `--scenario recover` (default), in one process: `--sessions` offline sessions (one
 * subscription, one queued QoS 1 message each) are written as held by `node-1`, then
 * RedisSessionStore.recover() runs as node-1 starting again — the step a node's start waits for.
 * Reported per round: the time recover() took, this process's CPU meanwhile, Redis's CPU (INFO
 * cpu), the MULTIs and script calls it ran (INFO commandstats: the requests that carry the
 * claims and reads) and every command it ran (scripts' own calls included).
 *
 * `--scenario adopt`: a survivor node (a broker process, `bin/portcullis.js start`, pinned to
 * core 0) runs; a second process joins as `node-dead`, writes `--sessions` sessions held by it
 * (their clients connected: one subscription, one queued QoS 1 message each, a will on
 * `wills/<i>` for every fourth), beats, and is SIGKILLed once the survivor has seen it. Measured
 * from the moment its liveness key expires (polled with EXISTS every 5 ms): until the survivor
 * logs that it took the sessions over (its log line's time) and until an MQTT subscriber on it
 * (`wills/#`) has every will; from the survivor's log line that the node died to the takeover's
 * (the survivor looks at the live nodes once a second: this leaves out up to a second of waiting);
 * the survivor's CPU (/proc) and Redis's meanwhile, the MULTIs and script calls Redis ran (the
 * requests that carry the claims, reads and writes: INFO commandstats, a MULTI's scripts counted
 * too) and every command it ran (INFO stats total_commands_processed: each MULTI's and script's
 * own commands included).
 *
 * `--redis cluster`: a Redis Cluster of three masters on loopback instead of one redis-server on
 * a unix socket (Redis CPU and commands summed over the masters). `--delay-ms` (recover, one
 * Redis): a TCP proxy in front of Redis holds each chunk that long each way; 0: the unix socket.
 *
 *   node --import tsx bench/cluster-recover.ts [--scenario recover|adopt] [--redis single|cluster]
 *     [--sessions 20000] [--rounds 3] [--delay-ms 0]
 *
 * BENCH_NODE_FLAGS (adopt): node flags for the survivor (e.g. `--cpu-prof --cpu-prof-dir=DIR`);
 * BENCH_SHOW_LOG=1: print the survivor's cluster log lines of each round.
 *
 * Bounded: at most 200,000 sessions, 10 rounds, each adopt round 180 s; every server listens on
 * loopback only and is stopped (by PID) at the end.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'
import mqtt from 'mqtt'
import { silentLogger } from '../src/log.js'
import { NODE_KEYS, NodeMembership } from '../src/cluster/membership.js'
import { ClientRegistry } from '../src/cluster/registry.js'
import { RedisState, type RedisTarget } from '../src/store/redis/redis-state.js'
import { RedisSessionStore } from '../src/store/redis/session-store.js'
import { benchOptions } from './lib/options.js'
import { cpuSeconds, HOST, portIsFree, startBroker } from './lib/brokers.js'
import { redisSocket, startRedis, startRedisCluster } from './lib/redis-server.js'
import { writeRedisSessions } from './lib/stored-sessions.js'

const { sessions: SESSIONS, rounds: ROUNDS, 'delay-ms': DELAY_MS, scenario: SCENARIO, redis: REDIS, role: ROLE } = benchOptions({
  sessions: [20_000, 1, 200_000], rounds: [3, 1, 10], 'delay-ms': [0, 0, 50],
}, { scenario: 'recover', redis: 'single', role: 'bench' })
const NODE_ID = 'node-1'

/** A TCP proxy on loopback to the unix socket that holds every chunk `ms` each way, in order. */
async function slowProxy(socket: string, ms: number): Promise<{ port: number; close: () => void }> {
  const open = new Set<Socket>()
  const pass = (from: Socket, to: Socket): void => {
    let last = Promise.resolve()
    from.on('data', (chunk: Buffer) => {
      const due = Date.now() + ms
      last = last.then(() => new Promise<void>((r) => setTimeout(() => {
        if (!to.destroyed) to.write(chunk)
        r()
      }, Math.max(0, due - Date.now()))))
    })
    from.on('close', () => void last.then(() => to.end()))
    from.on('error', () => {})
  }
  const server = createServer((client) => {
    const redis = createConnection(socket)
    open.add(client).add(redis)
    pass(client, redis)
    pass(redis, client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy: no port')
  return {
    port: address.port,
    close: () => {
      for (const s of open) s.destroy()
      server.close()
    },
  }
}

/** Redis's CPU, the MULTIs and script calls it ran, and every command it ran (scripts' and MULTIs' own included). */
async function redisFigures(servers: readonly Redis[]): Promise<{ cpuS: number; commands: number; processed: number }> {
  const out = { cpuS: 0, commands: 0, processed: 0 }
  for (const r of servers) {
    const info = (await r.info('cpu')) + (await r.info('stats')) + (await r.info('commandstats'))
    const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
    const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
    out.cpuS += field('used_cpu_user') + field('used_cpu_sys')
    out.commands += calls('multi') + calls('evalsha') + calls('eval')
    out.processed += field('total_commands_processed')
  }
  return out
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The Redis the bench runs on: the nodes' target, a connection to each server for INFO/FLUSHALL, a client for keys. */
interface BenchRedis {
  readonly target: RedisTarget
  readonly servers: readonly Redis[]
  readonly keys: Redis | Cluster
  readonly socket: string | undefined
  flush(): Promise<void>
  close(): void
}

async function openRedis(dir: string): Promise<BenchRedis> {
  if (REDIS === 'cluster') {
    const cluster = await startRedisCluster(dir)
    const servers = cluster.ports.map((port) => new Redis({ host: HOST, port }))
    const keys = new Cluster(cluster.seeds.map((u) => u))
    return {
      target: { cluster: cluster.seeds }, servers, keys, socket: undefined,
      flush: async () => {
        await Promise.all(servers.map((r) => r.flushall()))
      },
      close: () => {
        keys.disconnect()
        for (const r of servers) r.disconnect()
        cluster.stop()
      },
    }
  }
  if (REDIS !== 'single') throw new Error(`--redis ${REDIS}: single or cluster`)
  const server = await startRedis(dir)
  const socket = redisSocket(dir)
  const look = new Redis({ path: socket })
  return {
    target: { path: socket }, servers: [look], keys: look, socket,
    flush: async () => {
      await look.flushall()
    },
    close: () => {
      look.disconnect()
      server.kill()
    },
  }
}

interface Row {
  readonly ms: number
  readonly cpuMs: number
  readonly redisCpuMs: number
  readonly commands: number
  readonly processed: number
  readonly willsMs?: number
  /** Adopt: from the survivor's log line that the node died (it looks once a second) to its takeover line. */
  readonly seenMs?: number
}

async function recoverRounds(redis: BenchRedis): Promise<Row[]> {
  const proxy = DELAY_MS > 0 && redis.socket !== undefined ? await slowProxy(redis.socket, DELAY_MS) : undefined
  const rows: Row[] = []
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await redis.flush()
      await writeRedisSessions(redis.target, NODE_ID, { count: SESSIONS, queued: 1 })
      const logger = silentLogger()
      const state = await RedisState.open(proxy === undefined ? redis.target : `redis://127.0.0.1:${proxy.port}`, NODE_ID, logger)
      const membership = await NodeMembership.join(state, logger)
      const registry = new ClientRegistry(state, membership, logger)
      const store = new RedisSessionStore(state, registry)
      const redisBefore = await redisFigures(redis.servers)
      const cpuBefore = process.cpuUsage()
      const t0 = performance.now()
      const got = await store.recover()
      // (What recover recorded — the held set — is part of the work.)
      await new Promise<void>((r) => state.afterCommit(() => r()))
      const ms = performance.now() - t0
      const cpu = process.cpuUsage(cpuBefore)
      const redisAfter = await redisFigures(redis.servers)
      if (got.length !== SESSIONS) throw new Error(`recovered ${got.length} of ${SESSIONS} sessions`)
      rows.push({
        ms, cpuMs: (cpu.user + cpu.system) / 1000, redisCpuMs: (redisAfter.cpuS - redisBefore.cpuS) * 1000,
        commands: redisAfter.commands - redisBefore.commands, processed: redisAfter.processed - redisBefore.processed,
      })
      membership.leave()
      await state.close()
    }
  } finally {
    proxy?.close()
  }
  return rows
}

const DEAD = 'node-dead'
const SURVIVOR = 'node-s'
/** Every fourth session has a will. */
const hasWill = (i: number): boolean => i % 4 === 0

/** --role dead: join as node-dead, write the sessions, say so, and beat until killed (at most 300 s). */
async function deadNode(): Promise<void> {
  const target = JSON.parse(process.env['BENCH_DEAD_TARGET'] ?? 'null') as RedisTarget
  await writeRedisSessions(target, DEAD, { count: SESSIONS, queued: 1, connected: true, will: hasWill, stay: true })
  process.stdout.write('ready\n')
  await sleep(300_000)
  process.exit(0)
}

async function adoptRounds(redis: BenchRedis, dir: string): Promise<Row[]> {
  const rows: Row[] = []
  const wills = Array.from({ length: SESSIONS }, (_, i) => i).filter(hasWill).length
  for (let round = 0; round < ROUNDS; round++) {
    await redis.flush()
    let port = 0
    for (let tries = 0; tries < 50 && port === 0; tries++) {
      // (Below the kernel's ephemeral range: an outgoing connection does not take it meanwhile.)
      const p = 10_000 + Math.floor(Math.random() * 10_000)
      if (await portIsFree(p)) port = p
    }
    const logs = join(dir, `round-${round}`)
    mkdirSync(logs, { recursive: true })
    const survivor = await startBroker({
      label: 'survivor', kind: 'portcullis',
      portcullisConfig: { persistence: true, log: { level: 'info' }, cluster: { redis: redis.target, nodeId: SURVIVOR } },
    }, port, {
      tmpDir: dir, brokerCpu: '0', portcullisNodeFlags: (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''),
      mosquittoPath: 'mosquitto', stdoutDir: logs, startTimeoutMs: 30_000,
    })
    const sub = await mqtt.connectAsync(`mqtt://${HOST}:${port}`, { clientId: 'bench-wills', clean: true, reconnectPeriod: 0 })
    let got = 0
    let lastWill = 0
    sub.on('message', () => {
      got++
      lastWill = Date.now()
    })
    await sub.subscribeAsync('wills/#', { qos: 1 })
    const dead = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--role', 'dead', '--sessions', String(SESSIONS)], {
      env: { ...process.env, BENCH_DEAD_TARGET: JSON.stringify(redis.target) }, stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the dead node did not write its sessions within 150 s')), 150_000)
        dead.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(t)
            resolve()
          }
        })
        dead.once('exit', (code) => reject(new Error(`the dead node exited (${code})`)))
      })
      // The survivor looks at the live nodes once a second: it has seen node-dead alive.
      await sleep(2500)
      dead.kill('SIGKILL')
      const deadline = Date.now() + 10_000
      while ((await redis.keys.exists(NODE_KEYS.alive(DEAD))) === 1) {
        if (Date.now() > deadline) throw new Error('the dead node\'s liveness key did not expire')
        await sleep(5)
      }
      const t0 = Date.now()
      const cpu0 = cpuSeconds(survivor.pid)
      const redisBefore = await redisFigures(redis.servers)
      let adoptedAt: number | undefined
      let seenAt: number | undefined
      const log = join(logs, readdirSync(logs)[0] ?? '')
      const end = Date.now() + 180_000
      while (adoptedAt === undefined || got < wills) {
        if (Date.now() > end) throw new Error(`round ${round}: not done within 180 s (adopted: ${adoptedAt !== undefined}, wills ${got} of ${wills})`)
        if (survivor.exitInfo() !== undefined) throw new Error(survivor.exitInfo())
        await sleep(20)
        if (adoptedAt === undefined) {
          for (const line of readFileSync(log, 'utf8').split('\n')) {
            if (line.includes('a node died;')) seenAt ??= (JSON.parse(line) as { time: number }).time
            if (!line.includes('sessions of a node that died taken over')) continue
            const entry = JSON.parse(line) as { time: number; sessions: number }
            if (entry.sessions !== SESSIONS) throw new Error(`round ${round}: the survivor took ${entry.sessions} of ${SESSIONS} sessions`)
            adoptedAt = entry.time
          }
        }
      }
      if (process.env['BENCH_SHOW_LOG'] !== undefined) console.log(readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('cluster')).map((l) => `${l.slice(0, 300)} (t0 ${t0})`).join('\n'))
      const cpu = cpuSeconds(survivor.pid) - cpu0
      const redisAfter = await redisFigures(redis.servers)
      rows.push({
        ms: adoptedAt - t0, willsMs: lastWill - t0, seenMs: adoptedAt - (seenAt ?? NaN),
        cpuMs: cpu * 1000, redisCpuMs: (redisAfter.cpuS - redisBefore.cpuS) * 1000,
        commands: redisAfter.commands - redisBefore.commands, processed: redisAfter.processed - redisBefore.processed,
      })
    } finally {
      dead.kill('SIGKILL')
      sub.end(true)
      await survivor.stop()
    }
  }
  return rows
}

async function main(): Promise<void> {
  if (ROLE === 'dead') return deadNode()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-recover-'))
  const redis = await openRedis(dir)
  try {
    const adopt = SCENARIO === 'adopt'
    if (!adopt && SCENARIO !== 'recover') throw new Error(`--scenario ${SCENARIO}: recover or adopt`)
    const rows = adopt ? await adoptRounds(redis, dir) : await recoverRounds(redis)
    const where = REDIS === 'cluster' ? 'a Redis Cluster of 3 masters' : DELAY_MS > 0 ? `Redis behind a ${DELAY_MS} ms link each way` : 'Redis on a unix socket'
    console.log(adopt
      ? `a node with ${SESSIONS.toLocaleString('en')} sessions SIGKILLed, one survivor, ${where}, ${ROUNDS} rounds (median [runs]; from its liveness key's expiry)`
      : `${SESSIONS.toLocaleString('en')} stored sessions, ${where}, ${ROUNDS} rounds (median [runs])`)
    const show = (name: string, xs: number[], unit: string): void => console.log(`  ${name.padEnd(22)} ${median(xs).toFixed(0)} ${unit} [${xs.map((x) => x.toFixed(0)).join(', ')}]`)
    show(adopt ? 'taken over' : 'recover()', rows.map((r) => r.ms), 'ms')
    if (adopt) show('every will received', rows.map((r) => r.willsMs ?? NaN), 'ms')
    if (adopt) show('from the death seen', rows.map((r) => r.seenMs ?? NaN), 'ms')
    show(adopt ? 'survivor CPU' : 'node CPU', rows.map((r) => r.cpuMs), 'ms')
    show('Redis CPU', rows.map((r) => r.redisCpuMs), 'ms')
    show('MULTI + script calls', rows.map((r) => r.commands), '')
    show('commands processed', rows.map((r) => r.processed), '')
  } finally {
    redis.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
