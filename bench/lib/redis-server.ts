/**
 * A redis-server for cluster benchmarks: `startRedis(dir)` on a unix socket in `dir` (no TCP),
 * append-only with `appendfsync everysec`; `startRedisWith(args)` with the caller's arguments.
 * Started here, stopped by its PID by the caller (child.kill()). `startRedisCluster(dir)`: a Redis
 * Cluster of three masters on loopback ports, the same persistence, stopped by `stop()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

/** The socket a redis-server started by startRedis(dir) listens on. */
export const redisSocket = (dir: string): string => join(dir, 'redis.sock')

/** Append-only with `appendfsync everysec`, its files in `dir`. */
export const benchRedisArgs = (dir: string): string[] => ['--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec']

export function startRedis(dir: string): Promise<ChildProcess> {
  return startRedisWith(['--port', '0', '--unixsocket', redisSocket(dir), ...benchRedisArgs(dir)])
}

/** A redis-server with these arguments, once it accepts connections (the caller stops it by PID). */
export async function startRedisWith(args: readonly string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', [...args], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const t = setTimeout(() => reject(new Error('redis-server did not start')), 10_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (/ready to accept connections/i.test(out)) {
        clearTimeout(t)
        resolve()
      }
    })
  })
  return child
}

/** A Redis Cluster the bench started: its seed URLs, its masters' PIDs and ports. */
export interface BenchRedisCluster {
  readonly seeds: readonly string[]
  readonly pids: readonly number[]
  readonly ports: readonly number[]
  stop(): void
}

/** True when 127.0.0.1:port can be listened on now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * Three masters (`--cluster-enabled yes`, no replicas) on random loopback ports whose cluster bus
 * port (+10000) is free too, files under `dir`, joined by `redis-cli --cluster create`; ready once
 * every master reports cluster_state:ok (at most 20 s).
 */
export async function startRedisCluster(dir: string): Promise<BenchRedisCluster> {
  const run = promisify(execFile)
  const ports: number[] = []
  for (let i = 0; i < 200 && ports.length < 3; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    if (ports.includes(port) || !(await portFree(port)) || !(await portFree(port + 10_000))) continue
    ports.push(port)
  }
  if (ports.length < 3) throw new Error('no free port pairs (port, port + 10000) on 127.0.0.1')
  const children: ChildProcess[] = []
  const stop = (): void => {
    for (const c of children) c.kill()
  }
  try {
    for (const port of ports) {
      const d = join(dir, `cluster-${port}`)
      mkdirSync(d, { recursive: true })
      children.push(await startRedisWith(['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(d, 'nodes.conf'), ...benchRedisArgs(d)]))
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 })
    const deadline = Date.now() + 20_000
    for (const port of ports) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 2000 })
        if (/cluster_state:ok/.test(stdout)) break
        if (Date.now() > deadline) throw new Error('Redis Cluster: not every master reports cluster_state:ok within 20 s')
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    stop()
    throw err
  }
  return { seeds: ports.map((p) => `redis://127.0.0.1:${p}`), pids: children.map((c) => c.pid ?? 0), ports, stop }
}
