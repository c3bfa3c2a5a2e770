/**
 * A real redis-server for tests: started by the test on a unix socket in a temporary folder
 * (`port 0`: no TCP at all), with append-only persistence in that folder, and stopped by its
 * PID. `stop()` then `start()` again restarts it on the same socket and data.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { silentLogger } from '../../src/log.js'
import { NodeMembership } from '../../src/cluster/membership.js'
import { ClientRegistry } from '../../src/cluster/registry.js'
import { RedisState } from '../../src/store/redis/redis-state.js'
import { durableRedisArgs, startRedisCluster, type RedisClusterServer } from './redis-cluster.js'

export class RedisServer {
  readonly dir: string
  readonly socket: string
  #child: ChildProcess | undefined

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'))
    this.socket = join(this.dir, 'redis.sock')
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** The `cluster.redis` configuration value. */
  get target(): { readonly path: string } {
    return { path: this.socket }
  }

  /** A client for the test's own looks (the caller disconnects it). */
  client(): Redis {
    return new Redis({ path: this.socket, lazyConnect: true, maxRetriesPerRequest: 1 })
  }

  /** Empty it (FLUSHALL). */
  async flush(): Promise<void> {
    const r = this.client()
    try {
      await r.flushall()
    } finally {
      r.disconnect()
    }
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', [
      '--port', '0',
      '--unixsocket', this.socket,
      '--unixsocketperm', '700',
      ...durableRedisArgs(this.dir),
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    let out = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000)
      const check = setInterval(() => {
        if (/ready to accept connections/i.test(out)) {
          clearInterval(check)
          clearTimeout(timer)
          resolve()
        }
      }, 10)
      child.once('exit', (code) => {
        clearInterval(check)
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}: ${out}`))
      })
    })
  }

  /** Stop it by PID (SIGKILL: a crash, else SIGTERM) and wait for it to exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, signal)
    await gone
  }

  /** Stop it and remove its folder. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startRedis(): Promise<RedisServer> {
  const r = new RedisServer()
  await r.start()
  return r
}

/** The Redis a cross-node test runs on: one redis-server, or a Redis Cluster of three masters. */
export type RedisFixture = RedisServer | RedisClusterServer

/**
 * `PORTCULLIS_TEST_REDIS=cluster` (npm run test:redis-cluster): a Redis Cluster of three
 * masters (redis-cluster.ts); else one redis-server on a unix socket.
 */
export function startRedisFixture(): Promise<RedisFixture> {
  return process.env['PORTCULLIS_TEST_REDIS'] === 'cluster' ? startRedisCluster() : startRedis()
}

/**
 * Close every connection named `name` (CLIENT SETNAME) the brokers hold to `server`: on each
 * master of a Redis Cluster, where one connection may sit on any of them. How many it closed.
 */
export async function killConnectionsNamed(server: RedisFixture, name: string): Promise<number> {
  const probe = server.client()
  try {
    await probe.connect()
    const instances = probe instanceof Redis ? [probe] : probe.nodes('master')
    let killed = 0
    for (const r of instances) {
      for (const line of String(await r.call('CLIENT', 'LIST')).split('\n')) {
        if (!line.includes(`name=${name} `)) continue
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1]
        if (id !== undefined) killed += Number(await r.call('CLIENT', 'KILL', 'ID', id))
      }
    }
    return killed
  } finally {
    probe.disconnect()
  }
}

/** A RedisState on an emptied Redis (FLUSHALL), closed when the test ends. */
export async function openRedisState(server: RedisFixture, t: TestContext, nodeId = 'test-node'): Promise<RedisState> {
  await server.flush()
  const state = await RedisState.open(server.target, nodeId, silentLogger())
  t.after(() => state.close())
  return state
}

/** One cluster node's Redis side, as a broker opens it: state, membership, client registry. */
export interface RedisNode {
  readonly state: RedisState
  readonly membership: NodeMembership
  readonly registry: ClientRegistry
  /** A clean stop: pending changes sent, the node's liveness key gone. Idempotent. */
  close(): Promise<void>
}

/** Open a node on `server` (nothing flushed), closed when the test ends. */
export async function openRedisNode(server: RedisFixture, t: TestContext, nodeId: string): Promise<RedisNode> {
  const state = await RedisState.open(server.target, nodeId, silentLogger())
  const membership = await NodeMembership.join(state, silentLogger())
  const registry = new ClientRegistry(state, membership, silentLogger())
  await registry.start()
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await registry.close()
      membership.leave()
      await state.close()
    })()
    return closed
  }
  t.after(close)
  return { state, membership, registry, close }
}
