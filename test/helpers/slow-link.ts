/**
 * A slow network link to Redis for one node: a TCP proxy on loopback in front of a redis-server's
 * unix socket that, once `slow(ms)` is called, holds every chunk (both ways) for `ms` before
 * passing it on, in order. Nothing is dropped or reordered; a side that closes closes the other
 * once what it sent has gone through (as a crashed process's last writes still arrive).
 * Used to widen a window between a node's Redis commands (a claim in progress) enough to
 * SIGKILL the node inside it.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface SlowLink {
  /** The `cluster.redis` URL a node uses to go through the link. */
  readonly url: string
  /** Hold each chunk `ms` from now on (0: pass it on at once). */
  slow(ms: number): void
  close(): Promise<void>
}

/** `socket()`: the redis-server's unix socket, asked for at each new connection. */
export async function startSlowLink(socket: () => string): Promise<SlowLink> {
  let delayMs = 0
  const open = new Set<Socket>()
  const pass = (from: Socket, to: Socket): void => {
    // Chunks leave in order: each waits for the one before it and for its own delay.
    let last = Promise.resolve()
    const later = (run: () => void): void => {
      const due = Date.now() + delayMs
      last = last.then(() => new Promise<void>((r) => setTimeout(() => {
        run()
        r()
      }, Math.max(0, due - Date.now()))))
    }
    from.on('data', (chunk: Buffer) => later(() => {
      if (!to.destroyed) to.write(chunk)
    }))
    from.on('close', () => later(() => to.end()))
    from.on('error', () => {})
  }
  const server: Server = createServer((client) => {
    const redis = createConnection(socket())
    open.add(client).add(redis)
    client.on('close', () => open.delete(client))
    redis.on('close', () => open.delete(redis))
    pass(client, redis)
    pass(redis, client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('slow link: no port')
  return {
    url: `redis://127.0.0.1:${address.port}`,
    slow: (ms) => {
      delayMs = ms
    },
    close: async () => {
      for (const s of open) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
