/**
 * The admin listener (fastify): health, the development key set at
 * `/.well-known/jwks.json`, the web console, the REST API under /api/v1 (its OpenAPI
 * document at /api/docs) and Prometheus metrics at /metrics. Bound to 127.0.0.1 unless
 * configured otherwise.
 *
 * Public: /healthz (the process answers), /readyz (every MQTT listener is up: 200, else 503
 * with `starting` or `stopping`), /.well-known/jwks.json, the console's static files, /api/docs.
 * Bearer token (`Authorization: Bearer <admin.apiKey>`): everything else under /api/, and
 * /metrics unless `metricsPublic`. Nothing here logs requests, so tokens and keys that
 * travel in bodies or headers never reach a log line.
 *
 * The listener starts before the broker (it may serve the key set the authenticators
 * fetch); the API answers 503 until `attach()` hands it the BrokerAdmin.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { JsonWebKey } from 'node:crypto'
import type { Registry } from 'prom-client'
import type { AdminConfig } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../log.js'
import { registerConsole } from '../console/register.js'
import { matchApiKey } from './api-key.js'
import { DEFAULT_API_KEY_NAME, type NamedApiKey } from '../config/schema.js'
import { auditContext, type AuditContext } from './audit.js'
import { redactRequest } from './audit-diff.js'
import type { BrokerAdmin } from './broker-admin.js'
import { ApiError, errorBody, type ApiErrorCode } from './errors.js'
import { buildOpenApiDocument } from './openapi.js'
import { API_PREFIX, API_ROUTES } from './routes.js'
import { clock } from '../clock.js'
import { trackConnections } from './http-connections.js'

export interface AdminServerOptions {
  readonly config: AdminConfig
  readonly logger: Logger
  /** A public key set to publish at /.well-known/jwks.json (the development setup's). */
  readonly jwks?: { readonly keys: readonly JsonWebKey[] }
  /** The bearer token for /api and /metrics (named `admin`). Without any key the API refuses every request. */
  readonly apiKey?: string
  /** Further named keys (admin.apiKeys). */
  readonly apiKeys?: readonly NamedApiKey[]
  /** Serve /metrics without the bearer token. */
  readonly metricsPublic?: boolean
  /** Shown in the OpenAPI document. */
  readonly version?: string
  /** Serve the web console (default true). */
  readonly console?: boolean
}

export type Readiness = 'starting' | 'ready' | 'stopping'

export interface AdminTarget {
  readonly admin: BrokerAdmin
  readonly metrics?: Registry
}

export interface AdminServer {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly app: FastifyInstance
  /** Hand the API its broker (and metrics registry) once they exist. */
  attach(target: AdminTarget): void
  /** What /readyz answers: `ready` once every MQTT listener is up, `stopping` from close on. */
  setReadiness(state: Readiness): void
  /** Replaces the key named `admin` (a cluster's generated key, rotated on another node); the old one stops at once. */
  setApiKey(key: string): void
  /**
   * Stop listening; connections with no request in progress close at once (also one a browser
   * opened ahead of its next request and sent nothing on, which Node does not count as idle),
   * requests being answered get CLOSE_GRACE_MS to finish, then their connections are destroyed.
   */
  close(): Promise<void>
}

/** How long close() lets requests in progress finish before it destroys their connections. */
export const CLOSE_GRACE_MS = 2_000

function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).type('application/json; charset=utf-8').send(errorBody(err))
}

/** Every failure as `{ error, message, path? }`. */
function toApiError(err: unknown, logger: Logger): { error: ApiError; status: number } {
  if (err instanceof ApiError) return { error: err, status: err.status }
  if (err instanceof ConfigError) return { error: ApiError.fromConfig(err), status: 400 }
  const fe = err as Partial<FastifyError>
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500
  if (status === 413) return { error: new ApiError('ERR_PAYLOAD_TOO_LARGE', 'request body too large'), status }
  if (status >= 400 && status < 500) {
    return { error: new ApiError('ERR_BAD_REQUEST', fe.message ?? 'bad request', 'body'), status }
  }
  logger.error({ err }, 'admin API request failed')
  return { error: new ApiError('ERR_INTERNAL', 'internal error (see the broker log)'), status: 500 }
}

function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  void reply.header('www-authenticate', 'Bearer realm="portcullis"')
  return sendError(reply, new ApiError('ERR_UNAUTHORIZED', message))
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const logger = options.logger
  let keys: readonly NamedApiKey[] = [
    ...(options.apiKey !== undefined ? [{ name: DEFAULT_API_KEY_NAME, key: options.apiKey }] : []),
    ...(options.apiKeys ?? []),
  ]
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
  const connections = trackConnections(app.server)
  let target: AdminTarget | undefined

  // JSON bodies; an empty body (POST …/enable with a JSON content type) reads as undefined.
  // PATCH bodies may say application/merge-patch+json (RFC 7396), read the same way.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(new ApiError('ERR_BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`, 'body'), undefined)
    }
  })

  // CSV (device import): the text as is; only routes that take CSV accept it.
  app.addContentTypeParser(['text/csv'], { parseAs: 'string' }, (_req, body, done) => done(null, String(body)))

  /** The name of the key the request carries, or undefined. */
  const keyName = (request: FastifyRequest): string | undefined => matchApiKey(request.headers.authorization, keys)
  const authorized = (request: FastifyRequest): boolean => keyName(request) !== undefined

  let readiness: Readiness = 'starting'
  app.get('/healthz', () => ({ status: 'ok' }))
  app.get('/readyz', (_req, reply) => reply.code(readiness === 'ready' ? 200 : 503).send({ status: readiness }))
  const jwks = options.jwks
  if (jwks !== undefined) {
    app.get('/.well-known/jwks.json', (_req, reply) => {
      void reply.header('cache-control', 'max-age=60')
      return { keys: jwks.keys }
    })
  }

  const openapi = buildOpenApiDocument(options.version ?? '0.0.0')
  app.get('/api/docs', () => openapi)
  app.get('/api/docs/', () => openapi)

  app.get('/metrics', async (request, reply) => {
    if (options.metricsPublic !== true && !authorized(request)) return unauthorized(reply, 'bearer token required for /metrics')
    const registry = target?.metrics
    if (registry === undefined) return sendError(reply, new ApiError('ERR_UNAVAILABLE', 'metrics are not available yet'))
    const text = await registry.metrics()
    return reply.type(registry.contentType).send(text)
  })

  await app.register((api, _options, registered) => {
    // A hook that answers (401) does not call `next`: the request ends there.
    api.addHook('onRequest', (request, reply, next) => {
      if (keys.length === 0) unauthorized(reply, 'no admin API key is configured (admin.apiKey)')
      else if (!authorized(request)) unauthorized(reply, 'missing or wrong bearer token (Authorization: Bearer <admin.apiKey>)')
      else next()
    })
    api.setErrorHandler((err, _request, reply) => {
      const { error, status } = toApiError(err, logger)
      return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error))
    })
    api.setNotFoundHandler((request, reply) => sendError(reply, new ApiError('ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)))
    for (const route of API_ROUTES) {
      api.route({
        method: route.method,
        url: route.url,
        ...(route.bodyLimit !== undefined ? { bodyLimit: route.bodyLimit } : {}),
        handler: async (request, reply) => {
          const admin = target?.admin
          if (admin === undefined) return sendError(reply, new ApiError('ERR_UNAVAILABLE', 'the broker is still starting'))
          // (a JSON body may be a string too: '"x"' is JSON and gets the route's validation error)
          if (route.csv !== true && isCsv(request.headers['content-type'])) {
            return sendError(reply, new ApiError('ERR_BAD_REQUEST', 'this route takes JSON (Content-Type: application/json)', 'body'))
          }
          const params = request.params as Record<string, string>
          const ifMatch = request.headers['if-match']
          // A condition this route cannot check is refused, not ignored: the caller counts on it.
          if (ifMatch !== undefined && route.method !== 'GET' && route.ifMatch !== true) {
            return sendError(reply, new ApiError('ERR_BAD_REQUEST', `If-Match: ${route.method} ${route.url} has no entity tag to compare it with; send it without If-Match`, 'If-Match'))
          }
          const apiRequest = {
            params, query: request.query as Record<string, unknown>, body: request.body,
            ...(ifMatch !== undefined ? { ifMatch: Array.isArray(ifMatch) ? ifMatch.join(',') : ifMatch } : {}),
          }
          let result: unknown
          let etag: string | undefined
          if (route.method === 'GET' || route.audit === false) {
            result = await route.handler(admin, apiRequest)
            etag = route.etag?.(admin, params)
          } else {
            // A change: what it changed is noted in this context, and recorded once it succeeded.
            const context: AuditContext = { changes: [] }
            result = await auditContext.run(context, () => route.handler(admin, apiRequest))
            // The tag of what the change left (before the audit write lets another change in).
            etag = route.etag?.(admin, params)
            const entry = {
              at: new Date(clock.now()).toISOString(),
              who: keyName(request) ?? '?',
              address: request.ip,
              operation: `${route.method} ${request.url.split('?')[0]}`,
              summary: route.summary,
              changes: context.changes,
              ...(context.changes.length === 0 && request.body !== undefined ? { request: redactRequest(request.body) } : {}),
            }
            // The change is made: a trail that cannot take its entry (the cluster's Redis gone a
            // moment after) does not undo it; the entry (secrets redacted) goes to the log instead.
            await admin.audit.record(entry).catch((err: unknown) => {
              logger.error({ audit: entry, err: { message: (err as Error).message } }, 'admin: the audit entry of this change cannot be kept; it is in this log line instead')
            })
          }
          const status = route.status ?? 200
          if (etag !== undefined) void reply.header('etag', etag)
          if (status === 204) return reply.code(204).send()
          return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(result))
        },
      })
    }
    registered()
  }, { prefix: API_PREFIX })
  // Anything else under /api/ (an unknown version) still needs the key before it learns more.
  app.all('/api/*', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply, 'missing or wrong bearer token (Authorization: Bearer <admin.apiKey>)')
    return sendError(reply, new ApiError('ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  if (options.console !== false) registerConsole(app)

  await app.listen({ host: options.config.host, port: options.config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.config.port
  const host = options.config.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  logger.info({ url, api: keys.length > 0, apiKeys: keys.map((k) => k.name), metricsPublic: options.metricsPublic === true }, 'admin listening')
  return {
    host,
    port,
    url,
    app,
    attach: (t) => {
      target = t
    },
    setReadiness: (state) => {
      readiness = state
    },
    setApiKey: (key) => {
      keys = [{ name: DEFAULT_API_KEY_NAME, key }, ...keys.filter((k) => k.name !== DEFAULT_API_KEY_NAME)]
    },
    close: async () => {
      const closing = app.close()
      connections.destroyQuiet()
      const grace = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS)
      try {
        await closing
      } finally {
        clearTimeout(grace)
      }
    },
  }
}

export type { ApiErrorCode }

/** A text/csv body (only the routes that take CSV accept one). */
function isCsv(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.split(';')[0].trim().toLowerCase() === 'text/csv'
}
