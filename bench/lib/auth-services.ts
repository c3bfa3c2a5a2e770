/**
 * The loopback services of the `connect-services` scenario: an OAuth 2.0 introspection
 * endpoint (RFC 7662) and an HTTP auth service, both answering "yes" at once, run in the
 * harness process (pinned to the generator's core, not the broker's), so the broker's CPU per
 * connect counts only its own side of each request. Counts the requests it answered.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface BenchAuthService {
  readonly introspectionUrl: string
  readonly httpUrl: string
  /** Requests answered so far. */
  readonly requests: () => number
  close(): Promise<void>
}

export async function startBenchAuthService(): Promise<BenchAuthService> {
  let requests = 0
  const server: Server = createServer((req, res) => {
    // the body is read (a keep-alive connection needs it consumed) but not parsed: every client is accepted
    req.resume()
    req.on('end', () => {
      requests++
      const body = req.url === '/introspect'
        ? { active: true, sub: 'bench', exp: Math.floor(Date.now() / 1000) + 7200 }
        : { result: 'allow' }
      const text = JSON.stringify(body)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    introspectionUrl: `http://127.0.0.1:${port}/introspect`,
    httpUrl: `http://127.0.0.1:${port}/auth`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
