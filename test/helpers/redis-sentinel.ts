/**
 * A Redis master with its replicas (one by default) and three sentinels for tests, on loopback TCP ports found
 * free (Sentinel needs TCP: it hands out host:port addresses), in a temporary folder. Every
 * process is started here and stopped by its PID (`destroy()`, also after a failed test).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { RedisSentinelConfig } from '../../src/config/schema.js'
import { pollUntil, withTimeout } from './broker.js'
import { freePort } from './cli.js'
import { durableRedisArgs } from './redis-cluster.js'

export const MASTER_NAME = 'mymaster'
const HOST = '127.0.0.1'
const SENTINELS = 3
/** Sentinels call a master down after this long without an answer. */
const DOWN_AFTER_MS = 1000

interface Proc {
  readonly name: string
  readonly child: ChildProcess
  out: string
}

export class RedisSentinelSet {
  readonly dir: string
  readonly masterPort: number
  /** Replica i is named `replica-<i>`. */
  readonly replicaPorts: readonly number[]
  readonly sentinelPorts: readonly number[]
  readonly #procs = new Map<string, Proc>()

  private constructor(dir: string, masterPort: number, replicaPorts: number[], sentinelPorts: number[]) {
    this.dir = dir
    this.masterPort = masterPort
    this.replicaPorts = replicaPorts
    this.sentinelPorts = sentinelPorts
  }

  /** Master, replicas (replicating), three sentinels that know the replicas and each other. Torn down if any of it fails. */
  static async start(replicas = 1): Promise<RedisSentinelSet> {
    const ports: number[] = []
    while (ports.length < 1 + replicas + SENTINELS) {
      const p = await freePort()
      if (!ports.includes(p)) ports.push(p)
    }
    const [masterPort, ...rest] = ports as [number, ...number[]]
    const set = new RedisSentinelSet(mkdtempSync(join(tmpdir(), 'portcullis-sentinel-')), masterPort, rest.slice(0, replicas), rest.slice(replicas))
    try {
      await set.#redis('master', masterPort, [])
      for (const [i, port] of set.replicaPorts.entries()) await set.#redis(`replica-${i}`, port, ['--replicaof', HOST, String(masterPort)])
      for (const [i, port] of set.sentinelPorts.entries()) await set.#sentinel(i, port)
      await set.#settled()
    } catch (err) {
      await set.destroy()
      throw err
    }
    return set
  }

  /** The `cluster.redis` configuration value. */
  get target(): { readonly sentinels: readonly string[]; readonly name: string } {
    return { sentinels: this.sentinelPorts.map((p) => `${HOST}:${p}`), name: MASTER_NAME }
  }

  /** The same, as validated configuration (for a RedisState opened in the test's process). */
  get config(): RedisSentinelConfig {
    return { sentinels: this.sentinelPorts.map((port) => ({ host: HOST, port })), name: MASTER_NAME }
  }

  /** A client of one of the set's servers, by port (the caller disconnects it). */
  client(port: number): Redis {
    return this.#client(port)
  }

  /** SIGKILL a process by its PID ('master', 'replica', 'sentinel-0' …) and wait for it to exit. */
  async kill(name: string): Promise<void> {
    const p = this.#procs.get(name)
    if (p === undefined) return
    this.#procs.delete(name)
    const { child } = p
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, 'SIGKILL')
    await gone
  }

  /** SIGSTOP / SIGCONT a process by its PID: a replica that falls behind for a while. */
  signal(name: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.#procs.get(name)?.child
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal)
  }

  /** The master closes its replicas' connections (CLIENT KILL TYPE replica): what it accepts next, only it holds until they reconnect. */
  async dropReplicas(): Promise<void> {
    const m = this.#client(this.masterPort)
    try {
      await m.call('CLIENT', 'KILL', 'TYPE', 'replica')
    } finally {
      m.disconnect()
    }
  }

  /** The port of the master the sentinels name now. */
  async masterNow(): Promise<number | undefined> {
    const s = this.#client(this.sentinelPorts[0])
    try {
      const addr = await s.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME) as [string, string] | null
      return addr === null ? undefined : Number(addr[1])
    } finally {
      s.disconnect()
    }
  }

  /** Wait (at most `timeoutMs`) until the sentinels name a replica as master and it says it is one; its port. */
  async promoted(timeoutMs: number): Promise<number> {
    let promoted = -1
    await pollUntil(async () => {
      const port = await this.masterNow().catch(() => undefined)
      if (port === undefined || !this.replicaPorts.includes(port) || await this.#role(port) !== 'master') return false
      promoted = port
      return true
    }, 'the sentinels did not promote a replica', timeoutMs)
    return promoted
  }

  /** Stop every process by PID (a paused one resumed first) and remove the folder. Idempotent. */
  async destroy(): Promise<void> {
    for (const name of this.#procs.keys()) this.signal(name, 'SIGCONT')
    for (const name of [...this.#procs.keys()]) await this.kill(name)
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** What a process wrote (for a failing test's message). */
  output(name: string): string {
    return this.#procs.get(name)?.out ?? ''
  }

  #client(port: number): Redis {
    return new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  }

  async #role(port: number): Promise<string | undefined> {
    const r = this.#client(port)
    try {
      const role = await r.call('ROLE') as [string, ...unknown[]]
      return role[0]
    } catch {
      return undefined
    } finally {
      r.disconnect()
    }
  }

  async #redis(name: string, port: number, extra: string[]): Promise<void> {
    const dir = join(this.dir, name)
    mkdirSync(dir)
    await this.#spawn(name, ['--port', String(port), '--bind', HOST, ...durableRedisArgs(dir), ...extra], /ready to accept connections/i)
  }

  async #sentinel(i: number, port: number): Promise<void> {
    const dir = join(this.dir, `sentinel-${i}`)
    mkdirSync(dir)
    const file = join(dir, 'sentinel.conf')
    writeFileSync(file, [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} ${HOST} ${this.masterPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${MASTER_NAME} 5000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'))
    await this.#spawn(`sentinel-${i}`, [file, '--sentinel'], /\+monitor master/)
  }

  async #spawn(name: string, args: string[], ready: RegExp): Promise<void> {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const p: Proc = { name, child, out: '' }
    this.#procs.set(name, p)
    child.stdout?.on('data', (d: Buffer) => (p.out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (p.out += d.toString()))
    await withTimeout(new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (ready.test(p.out)) {
          clearInterval(check)
          resolve()
        }
      }, 10)
      child.once('exit', (code) => {
        clearInterval(check)
        reject(new Error(`${name} exited with ${code}: ${p.out}`))
      })
    }), 10_000, `${name} did not start`)
  }

  /** The replicas in sync, and every sentinel knowing them and the two other sentinels (so they can agree on a failover). */
  async #settled(): Promise<void> {
    await pollUntil(() => this.#isSettled().catch(() => false), 'the replica and the sentinels did not settle', 20_000)
  }

  async #isSettled(): Promise<boolean> {
    for (const port of this.replicaPorts) {
      const replica = this.#client(port)
      try {
        const info = await replica.info('replication')
        if (!/master_link_status:up/.test(info)) return false
      } finally {
        replica.disconnect()
      }
    }
    for (const port of this.sentinelPorts) {
      const s = this.#client(port)
      try {
        const replicas = await s.call('SENTINEL', 'replicas', MASTER_NAME) as unknown[][]
        const up = (p: number): boolean => replicas.some((r) => r.includes(String(p)) && !String(r[r.indexOf('flags') + 1]).includes('down'))
        const known = this.replicaPorts.every(up)
        const peers = await s.call('SENTINEL', 'sentinels', MASTER_NAME) as unknown[]
        if (!known || peers.length < SENTINELS - 1) return false
      } finally {
        s.disconnect()
      }
    }
    return true
  }
}
