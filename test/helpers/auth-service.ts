/**
 * A real HTTP service on loopback for the authenticators that ask one per client: an OAuth
 * 2.0 introspection endpoint (RFC 7662) or an HTTP auth service. Its behaviour can be
 * switched while it runs (slow, erroring, garbage, redirect, oversized); it records every
 * request and counts the TCP connections it accepted.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** The body as form fields (application/x-www-form-urlencoded) or JSON object fields. */
  readonly fields: Readonly<Record<string, unknown>>
}

export type Mode = 'ok' | 'error' | 'garbage' | 'redirect' | 'huge' | 'hang'

export interface ServiceBehaviour {
  mode: Mode
  /** Delay before answering (ms). */
  delayMs: number
  /** Status for mode 'error'. */
  errorStatus: number
}

/** Decides the JSON answer for a request (mode 'ok'). */
export type Answerer = (request: RecordedRequest) => { status?: number; body: unknown }

export class AuthService {
  readonly requests: RecordedRequest[] = []
  readonly behaviour: ServiceBehaviour = { mode: 'ok', delayMs: 0, errorStatus: 500 }
  /** TCP connections accepted since start. */
  connections = 0
  /** Connections open now, and the most open at once. */
  open = 0
  maxOpen = 0
  answer: Answerer
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()
  readonly #tls: { key: string; cert: string } | undefined

  constructor(answer: Answerer, tls?: { key: string; cert: string }) {
    this.answer = answer
    this.#tls = tls
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo).port
  }

  get url(): string {
    return `${this.#tls !== undefined ? 'https' : 'http'}://127.0.0.1:${this.port}/check`
  }

  async start(port = 0): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.#handle(req, res)
    const server = this.#tls !== undefined ? createHttpsServer(this.#tls, handler) : createHttpServer(handler)
    server.keepAliveTimeout = 30_000
    server.on(this.#tls !== undefined ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.connections++
      this.open++
      this.maxOpen = Math.max(this.maxOpen, this.open)
      this.#sockets.add(socket)
      socket.once('close', () => {
        this.open--
        this.#sockets.delete(socket)
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    return this
  }

  /** Back to answering at once with the answerer (between tests that switched the behaviour). */
  reset(): void {
    this.behaviour.mode = 'ok'
    this.behaviour.delayMs = 0
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    let fields: Record<string, unknown> = {}
    if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
      try {
        fields = JSON.parse(body) as Record<string, unknown>
      } catch {
        fields = {}
      }
    } else {
      fields = Object.fromEntries(new URLSearchParams(body))
    }
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, fields }
    this.requests.push(recorded)
    const b = this.behaviour
    if (b.mode === 'hang') return // never answers; the client's deadline must end it
    if (b.delayMs > 0) await new Promise((r) => setTimeout(r, b.delayMs))
    if (res.destroyed) return
    switch (b.mode) {
      case 'error':
        res.writeHead(b.errorStatus, { 'content-type': 'application/json' }).end('{"error":"server_error"}')
        return
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json')
        return
      case 'redirect':
        res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end()
        return
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: true, pad: 'x'.repeat(2 * 1024 * 1024) }))
        return
      default: {
        const a = this.answer(recorded)
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body))
      }
    }
  }
}

/** A port nothing listens on (a service that is down). */
export async function deadPort(): Promise<number> {
  const s = await new AuthService(() => ({ body: {} })).start()
  const port = s.port
  await s.stop()
  return port
}
