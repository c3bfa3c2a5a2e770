/**
 * The admin listener's connections, for a prompt close: Node's `closeIdleConnections()` closes a
 * keep-alive connection between requests, but not one that a browser opened ahead of its next
 * request and has sent nothing on yet (Chromium does this), which would hold `server.close()`
 * until the browser gives up. Here a connection is quiet until a request arrives on it and again
 * once every request on it is answered; `destroyQuiet()` ends the quiet ones.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

export interface ConnectionTracker {
  /** Destroy every connection with no request in progress. */
  destroyQuiet(): void
}

export function trackConnections(server: Server): ConnectionTracker {
  const inProgress = new Map<Socket, number>()
  server.on('connection', (socket: Socket) => {
    inProgress.set(socket, 0)
    socket.once('close', () => inProgress.delete(socket))
  })
  server.on('request', (req, res) => {
    const socket = req.socket
    inProgress.set(socket, (inProgress.get(socket) ?? 0) + 1)
    res.once('close', () => {
      const n = inProgress.get(socket)
      if (n !== undefined) inProgress.set(socket, n - 1)
    })
  })
  return {
    destroyQuiet() {
      for (const [socket, n] of inProgress) if (n <= 0) socket.destroy()
    },
  }
}
