/**
 * The admin listener (fastify): health, the development key set at
 * `/.well-known/jwks.json`, and — as the management plane grows — the REST API,
 * console and metrics. Bound to 127.0.0.1 unless configured otherwise.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { JsonWebKey } from 'node:crypto'
import type { AdminConfig } from '../config/schema.js'
import type { Logger } from '../log.js'

export interface AdminServerOptions {
  readonly config: AdminConfig
  readonly logger: Logger
  /** A public key set to publish at /.well-known/jwks.json (the development setup's). */
  readonly jwks?: { readonly keys: readonly JsonWebKey[] }
}

export interface AdminServer {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly app: FastifyInstance
  close(): Promise<void>
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
  app.get('/healthz', async () => ({ status: 'ok' }))
  const jwks = options.jwks
  if (jwks !== undefined) {
    app.get('/.well-known/jwks.json', async (_req, reply) => {
      void reply.header('cache-control', 'max-age=60')
      return { keys: jwks.keys }
    })
  }
  await app.listen({ host: options.config.host, port: options.config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.config.port
  const host = options.config.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  options.logger.info({ url }, 'admin listening')
  return { host, port, url, app, close: () => app.close() }
}
