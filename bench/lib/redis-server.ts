/**
 * A redis-server for cluster benchmarks: on a unix socket in `dir` (no TCP), append-only with
 * `appendfsync everysec`, started here and stopped by its PID by the caller (child.kill()).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

/** The socket a redis-server started by startRedis(dir) listens on. */
export const redisSocket = (dir: string): string => join(dir, 'redis.sock')

export async function startRedis(dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', '0', '--unixsocket', redisSocket(dir), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'], { stdio: ['ignore', 'pipe', 'ignore'] })
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
