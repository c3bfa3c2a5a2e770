/**
 * A cluster node taking its stored sessions back at start-up, in one process (issue 13):
 * `--sessions` offline sessions (one subscription, one queued QoS 1 message each) are written to
 * a redis-server as held by `node-1`, then RedisSessionStore.recover() runs as node-1 starting
 * again — the step a node's start waits for. Each round writes them afresh. Reported per round:
 * the time recover() took, this process's CPU meanwhile, Redis's CPU (INFO cpu) and the MULTIs
 * and script calls it ran (INFO commandstats: the requests that carry the claims and reads). `--delay-ms`: a TCP proxy in front of
 * Redis holds each chunk that long each way (a Redis across a network); 0: the unix socket.
 *
 *   node --import tsx bench/cluster-recover.ts [--sessions 20000] [--rounds 3] [--delay-ms 0]
 *
 * Bounded: at most 200,000 sessions, 10 rounds; the redis-server and the proxy listen on
 * loopback only and are stopped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { silentLogger } from '../src/log.js'
import { NodeMembership } from '../src/cluster/membership.js'
import { ClientRegistry } from '../src/cluster/registry.js'
import { RedisState } from '../src/store/redis/redis-state.js'
import { RedisSessionStore } from '../src/store/redis/session-store.js'
import { benchOptions } from './lib/options.js'
import { redisSocket, startRedis } from './lib/redis-server.js'
import { writeRedisSessions } from './lib/stored-sessions.js'

const { sessions: SESSIONS, rounds: ROUNDS, 'delay-ms': DELAY_MS } = benchOptions({
  sessions: [20_000, 1, 200_000], rounds: [3, 1, 10], 'delay-ms': [0, 0, 50],
})
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

/** Redis's CPU, and the MULTIs and script calls it ran (a script's own calls are counted apart). */
async function redisFigures(r: Redis): Promise<{ cpuS: number; commands: number }> {
  const cpu = await r.info('cpu')
  const stats = await r.info('commandstats')
  const field = (text: string, name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? 0)
  const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
  return { cpuS: field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys'), commands: calls('multi') + calls('evalsha') + calls('eval') }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-recover-'))
  const server = await startRedis(dir)
  const socket = redisSocket(dir)
  const proxy = DELAY_MS > 0 ? await slowProxy(socket, DELAY_MS) : undefined
  const look = new Redis({ path: socket })
  const rows: Array<{ ms: number; cpuMs: number; redisCpuMs: number; commands: number }> = []
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await look.flushall()
      await writeRedisSessions(socket, NODE_ID, { count: SESSIONS, queued: 1 })
      const logger = silentLogger()
      const state = await RedisState.open(proxy === undefined ? { path: socket } : `redis://127.0.0.1:${proxy.port}`, NODE_ID, logger)
      const membership = await NodeMembership.join(state, logger)
      const registry = new ClientRegistry(state, membership, logger)
      const store = new RedisSessionStore(state, registry)
      const redisBefore = await redisFigures(look)
      const cpuBefore = process.cpuUsage()
      const t0 = performance.now()
      const got = await store.recover()
      // (What recover recorded — the held set — is part of the work.)
      await new Promise<void>((r) => state.afterCommit(() => r()))
      const ms = performance.now() - t0
      const cpu = process.cpuUsage(cpuBefore)
      const redisAfter = await redisFigures(look)
      if (got.length !== SESSIONS) throw new Error(`recovered ${got.length} of ${SESSIONS} sessions`)
      const commands = redisAfter.commands - redisBefore.commands
      rows.push({ ms, cpuMs: (cpu.user + cpu.system) / 1000, redisCpuMs: (redisAfter.cpuS - redisBefore.cpuS) * 1000, commands })
      membership.leave()
      await state.close()
    }
    console.log(`${SESSIONS.toLocaleString('en')} stored sessions, Redis ${DELAY_MS > 0 ? `behind a ${DELAY_MS} ms link each way` : 'on a unix socket'}, ${ROUNDS} rounds (median [runs])`)
    const show = (name: string, xs: number[], unit: string): void => console.log(`  ${name.padEnd(22)} ${median(xs).toFixed(0)} ${unit} [${xs.map((x) => x.toFixed(0)).join(', ')}]`)
    show('recover()', rows.map((r) => r.ms), 'ms')
    show('node CPU', rows.map((r) => r.cpuMs), 'ms')
    show('Redis CPU', rows.map((r) => r.redisCpuMs), 'ms')
    show('MULTI + script calls', rows.map((r) => r.commands), '')
  } finally {
    look.disconnect()
    proxy?.close()
    server.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
