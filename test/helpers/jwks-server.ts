/**
 * A real JWKS server on 127.0.0.1 for tests: the key set, status, delay, body and
 * redirects can be changed while it runs; it counts requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { JsonWebKey } from 'node:crypto'

export interface JwksServerBehaviour {
  /** The keys served at /.well-known/jwks.json (as {"keys": [...]}). */
  keys: JsonWebKey[]
  status: number
  /** Milliseconds before the response starts. */
  delayMs: number
  /** A raw body that replaces the key set (garbage, oversize…). */
  body: string | undefined
  /** Location for a 3xx status. */
  location: string | undefined
}

export class JwksServer {
  readonly behaviour: JwksServerBehaviour = { keys: [], status: 200, delayMs: 0, body: undefined, location: undefined }
  requests = 0
  readonly paths: string[] = []
  #server: Server | undefined
  #port = 0
  readonly #open = new Set<ServerResponse>()

  readonly #tls: boolean

  /** tls: serve https with TLS_FIXTURE (self-signed for 127.0.0.1). */
  constructor(options: { tls?: boolean } = {}) {
    this.#tls = options.tls === true
  }

  /** Base address (the issuer "endpoint"); the key set is at endpoint + /.well-known/jwks.json. */
  get endpoint(): string {
    return `${this.#tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`
  }

  get port(): number {
    return this.#port
  }

  /** Starts listening; pass the port of a previous run to come back on the same address. */
  async start(port = 0): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res)
    const server: Server = this.#tls ? createTlsServer({ cert: TLS_FIXTURE.certPem, key: TLS_FIXTURE.keyPem }, handler) : createServer(handler)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    this.#port = (server.address() as AddressInfo).port
    return this
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const res of this.#open) res.destroy()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++
    this.paths.push(req.url ?? '')
    this.#open.add(res)
    res.on('close', () => this.#open.delete(res))
    const b = this.behaviour
    const respond = (): void => {
      if (res.destroyed) return
      const body = b.body ?? JSON.stringify({ keys: b.keys })
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (b.location !== undefined) headers['location'] = b.location
      res.writeHead(b.status, headers)
      res.end(body)
    }
    if (b.delayMs > 0) setTimeout(respond, b.delayMs)
    else respond()
  }
}

export async function startJwksServer(keys: JsonWebKey[] = [], options: { tls?: boolean } = {}): Promise<JwksServer> {
  const server = new JwksServer(options)
  server.behaviour.keys = keys
  return server.start()
}

/** A self-signed certificate for 127.0.0.1 / localhost (valid until 2125), made with openssl. Test material only. */
export const TLS_FIXTURE = {
  certPem: `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUenpIL9DSTzO1iSJbkO7Z5wyUWawwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyOTAwMDM0M1oYDzIxMjYxMTA1
MDAwMzQzWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQT072h8pg0Z/D3G4mlaR0iEWF0yUiU2hTkp5p+qSFg6QO6adCW04Cu
LscmHhjxIukWdy6TSFpBOq3dZTwN5N0Jo28wbTAdBgNVHQ4EFgQUqV7SGzA6G8yZ
E6fzcU1giK9UXW0wHwYDVR0jBBgwFoAUqV7SGzA6G8yZE6fzcU1giK9UXW0wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAOY6M0t1e8LcZuN0RSCvAq1sBgre0lW1dZM/2oz574ZfAiAi
erbEI0PLXONcPaix+SBwon8Pkl4qqQZrF/Nvx+eyoQ==
-----END CERTIFICATE-----`,
  keyPem: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/GYSKuy6DSv3Bm4Q
3ryNdpbNyL50F0oA8TZgITj3kKihRANCAAQT072h8pg0Z/D3G4mlaR0iEWF0yUiU
2hTkp5p+qSFg6QO6adCW04CuLscmHhjxIukWdy6TSFpBOq3dZTwN5N0J
-----END PRIVATE KEY-----`,
} as const
