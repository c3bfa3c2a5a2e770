/**
 * A redis-server for cluster benchmarks: `startRedis(dir)` on a unix socket in `dir` (no TCP),
 * append-only with `appendfsync everysec`; `startRedisWith(args)` with the caller's arguments.
 * Started here, stopped by its PID by the caller (child.kill()).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

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
