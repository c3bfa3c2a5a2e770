/**
 * A real Redis Cluster for tests: three `redis-server --cluster-enabled yes` masters on free
 * loopback ports (127.0.0.1 only; each port's cluster bus, port + 10000, free too), each in its
 * own temporary folder with append-only persistence, joined by `redis-cli --cluster create …
 * --cluster-replicas 0`; stopped by their PIDs. `stop()` then `start()` restarts every master
 * on the same ports and data (nodes.conf keeps the slot layout). With `replicas: 1`, each master
 * has a replica (six servers), and `kill(port)` SIGKILLs one of them so that the Redis Cluster
 * promotes its replica (after `nodeTimeoutMs` and an election). With `spares: n`, n more
 * masters join with no slot (CLUSTER MEET), listed last in `ports`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster } from 'ioredis'

/** What every test redis-server runs with: its files in `dir`, append-only, every write fsynced, in the foreground. */
export function durableRedisArgs(dir: string): string[] {
  return ['--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--loglevel', 'notice']
}

const run = promisify(execFile)
const MASTERS = 3
const BUS_OFFSET = 10_000

/** True when 127.0.0.1:port can be listened on now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** A port whose cluster bus port is free too (random in 20000–29999; at most 200 tries). */
async function freeClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    if (taken.has(port) || taken.has(port + BUS_OFFSET)) continue
    if (await portFree(port) && await portFree(port + BUS_OFFSET)) return port
  }
  throw new Error('no free port pair (port, port + 10000) on 127.0.0.1')
}

/** Wait (bounded) until `check` is true, polling every 100 ms. */
async function waitFor(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

interface Master {
  readonly port: number
  readonly dir: string
  child: ChildProcess | undefined
  out: string
}

export interface RedisClusterOptions {
  /** Replicas per master (0: three masters alone). */
  readonly replicas?: number
  /** `cluster-node-timeout`: how long a master may be unreachable before its replica takes over. */
  readonly nodeTimeoutMs?: number
  /** Masters that join the Redis Cluster with no slot (CLUSTER MEET): somewhere to move a slot to that clients have never seen. */
  readonly spares?: number
}

export class RedisClusterServer {
  /** Every server (masters and replicas alike: which is which is the Redis Cluster's to say). */
  readonly #masters: Master[] = []
  #created = false
  readonly #replicas: number
  readonly #nodeTimeoutMs: number
  readonly #spares: number

  constructor(options: RedisClusterOptions = {}) {
    this.#replicas = options.replicas ?? 0
    this.#nodeTimeoutMs = options.nodeTimeoutMs ?? 2000
    this.#spares = options.spares ?? 0
  }

  /** The `cluster.redis` configuration value naming its seed nodes. */
  get target(): { readonly cluster: readonly string[] } {
    return { cluster: this.#masters.map((m) => `redis://127.0.0.1:${m.port}`) }
  }

  /** The masters' process ids (running ones). */
  get pids(): number[] {
    return this.#masters.flatMap((m) => (m.child?.pid !== undefined && m.child.exitCode === null ? [m.child.pid] : []))
  }

  get ports(): number[] {
    return this.#masters.map((m) => m.port)
  }

  /** A client for the test's own looks (the caller disconnects it). */
  client(): Cluster {
    return new Cluster(this.target.cluster.map((u) => u), { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } })
  }

  /** Empty it (FLUSHALL on every master). */
  async flush(): Promise<void> {
    await Promise.all(this.#masters.map((m) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(m.port), 'flushall'], { timeout: 5000 })))
  }

  async start(): Promise<void> {
    if (this.#masters.length === 0) {
      const taken = new Set<number>()
      for (let i = 0; i < MASTERS * (1 + this.#replicas) + this.#spares; i++) {
        const port = await freeClusterPort(taken)
        taken.add(port)
        this.#masters.push({ port, dir: mkdtempSync(join(tmpdir(), 'portcullis-redis-cluster-')), child: undefined, out: '' })
      }
    }
    await Promise.all(this.#masters.map((m) => this.#spawn(m)))
    if (!this.#created) {
      const members = this.#masters.slice(0, this.#masters.length - this.#spares)
      await run('redis-cli', ['--cluster', 'create', ...members.map((m) => `127.0.0.1:${m.port}`), '--cluster-replicas', String(this.#replicas), '--cluster-yes'], { timeout: 20_000 })
      for (const spare of this.#masters.slice(members.length)) {
        await run('redis-cli', ['-h', '127.0.0.1', '-p', String(members[0].port), 'cluster', 'meet', '127.0.0.1', String(spare.port)], { timeout: 2000 })
      }
      if (this.#spares > 0) {
        // Every server knows every other (the MEET spreads over the cluster bus).
        await waitFor(async () => {
          for (const m of this.#masters) {
            const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(m.port), 'cluster', 'info'], { timeout: 2000 })
            if (!new RegExp(`cluster_known_nodes:${this.#masters.length}\\b`).test(stdout)) return false
          }
          return true
        }, 'every server knows the spare masters', 20_000)
      }
      this.#created = true
    }
    // Every master sees every slot served (the state 'ok' spreads over the cluster bus).
    await waitFor(async () => {
      for (const m of this.#masters) {
        const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(m.port), 'cluster', 'info'], { timeout: 2000 })
        if (!/cluster_state:ok/.test(stdout)) return false
      }
      return true
    }, 'every master reports cluster_state:ok', 20_000)
    if (this.#replicas > 0) {
      // Every replica has synchronised with its master (else a failover could find none fit).
      await waitFor(async () => {
        for (const m of this.#masters) {
          const info = await this.#info(m.port)
          if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false
        }
        return true
      }, 'every replica is in sync', 20_000)
    }
  }

  /** `INFO replication` of the server on `port`. */
  async #info(port: number): Promise<string> {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'info', 'replication'], { timeout: 2000 })
    return stdout
  }

  /** The port of the master serving `key`'s hash slot now, and of its replicas. */
  async servers(key: string): Promise<{ readonly master: number; readonly replicas: readonly number[] }> {
    const probe = this.client()
    try {
      await probe.connect()
      const slot = Number(await probe.cluster('KEYSLOT', key))
      const ranges = await probe.cluster('SLOTS')
      for (const [from, to, master, ...replicas] of ranges) {
        if (slot >= from && slot <= to) return { master: master[1], replicas: replicas.map((r) => r[1]) }
      }
      throw new Error(`Redis Cluster: no master serves slot ${slot}`)
    } finally {
      probe.disconnect()
    }
  }

  /** True when the server on `port` is a master now. */
  async isMaster(port: number): Promise<boolean> {
    return /role:master/.test(await this.#info(port))
  }

  /** SIGKILL the server on `port` (a crash) and wait for it to exit. */
  async kill(port: number): Promise<void> {
    const m = this.#masters.find((x) => x.port === port)
    const child = m?.child
    if (m === undefined || child === undefined || child.exitCode !== null || child.signalCode !== null) return
    m.child = undefined
    const gone = new Promise((r) => child.once('exit', r))
    process.kill(child.pid as number, 'SIGKILL')
    await gone
  }

  /** Send SIGSTOP / SIGCONT to the server on `port` by PID (a stalled server: connections stay open, nothing answers). */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.#masters.find((x) => x.port === port)?.child?.pid
    if (pid !== undefined) process.kill(pid, signal)
  }

  /** Stop every master by PID (SIGKILL: a crash, else SIGTERM) and wait for each to exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await Promise.all(this.#masters.map(async (m) => {
      const child = m.child
      m.child = undefined
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise((r) => child.once('exit', r))
      process.kill(child.pid as number, signal)
      // (Bounded; the timer goes once the master exited, so it holds the test file's process no longer.)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 10_000)))])
      clearTimeout(timer)
    }))
  }

  /** Stop every master and remove their folders. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL')
    for (const m of this.#masters) rmSync(m.dir, { recursive: true, force: true })
  }

  async #spawn(m: Master): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(m.port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(m.dir, 'nodes.conf'),
      '--cluster-node-timeout', String(this.#nodeTimeoutMs),
      ...durableRedisArgs(m.dir),
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    m.child = child
    m.out = ''
    child.stdout?.on('data', (d: Buffer) => (m.out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (m.out += d.toString()))
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server ${m.port} exited with ${code}: ${m.out}`))))
    exited.catch(() => {})
    await Promise.race([exited, waitFor(() => Promise.resolve(/ready to accept connections/i.test(m.out)), `redis-server ${m.port} starts`, 10_000)])
  }
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
  const r = new RedisClusterServer(options)
  try {
    await r.start()
  } catch (err) {
    await r.destroy()
    throw err
  }
  return r
}
