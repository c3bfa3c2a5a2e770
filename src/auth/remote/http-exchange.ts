/**
 * One bounded HTTP exchange with a service an authenticator relies on (a JWKS endpoint, an
 * OAuth 2.0 introspection endpoint, an HTTP auth service), over node:http / node:https.
 * Redirects are never followed (a 3xx is refused: configure the final address), the whole
 * exchange — waiting for a pooled connection included — has one deadline, and the body
 * has a size cap. https uses the normal certificate checks; `ca` replaces the trusted roots
 * for a private service. An `agent` (see keepAliveAgent) reuses connections and bounds how
 * many are open to the service at once.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { clock } from '../../clock.js'

/**
 * How an exchange failed: `error` when no usable answer came (network, TLS, timeout);
 * `rejected` when an answer came and was refused (a redirect, too large, not what the
 * caller expects).
 */
export type HttpFailure = 'error' | 'rejected'

export class HttpExchangeError extends Error {
  override readonly name: string = 'HttpExchangeError'
  readonly kind: HttpFailure
  constructor(message: string, kind: HttpFailure) {
    super(message)
    this.kind = kind
  }
}

export interface HttpExchangeOptions {
  readonly method: 'GET' | 'POST'
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly ca?: string
  readonly agent?: HttpAgent
  readonly signal?: AbortSignal
}

export interface HttpAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/**
 * A keep-alive connection pool for one service: at most `maxSockets` connections open at
 * once (further requests wait for a free one, within their deadline).
 */
export function keepAliveAgent(url: URL, options: { readonly maxSockets: number; readonly ca?: string }): HttpAgent {
  const common = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets, scheduling: 'lifo' as const }
  return url.protocol === 'https:'
    ? new HttpsAgent({ ...common, ...(options.ca !== undefined ? { ca: options.ca } : {}) })
    : new HttpAgent(common)
}

/** Sends one request; resolves with any non-3xx answer (the caller judges the status). */
export function httpExchange(url: URL, options: HttpExchangeOptions): Promise<HttpAnswer> {
  const isHttps = url.protocol === 'https:'
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (message: string, kind: HttpFailure = 'error'): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      reject(new HttpExchangeError(message, kind))
    }
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400) {
        res.resume()
        fail(`HTTP ${status} redirect${res.headers.location !== undefined ? ` to ${res.headers.location}` : ''} not followed; configure the final address`, 'rejected')
        return
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        fail(`response of ${declared} bytes exceeds the ${options.maxBytes}-byte limit`, 'rejected')
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > options.maxBytes) {
          fail(`response exceeds the ${options.maxBytes}-byte limit`, 'rejected')
          return
        }
        chunks.push(chunk)
      })
      res.on('error', (err) => fail(`response failed: ${err.message}`))
      res.on('aborted', () => fail('response cut short'))
      res.on('end', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks) })
      })
    }
    const headers: Record<string, string> = { ...options.headers }
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body))
    const requestOptions = {
      method: options.method,
      headers,
      ...(options.agent !== undefined ? { agent: options.agent } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    }
    const req = isHttps
      ? httpsRequest(url, { ...requestOptions, ...(options.ca !== undefined && options.agent === undefined ? { ca: options.ca } : {}) }, onResponse)
      : httpRequest(url, requestOptions, onResponse)
    const timer = clock.setTimeout(() => fail(`no complete response within ${options.timeoutMs} ms`), options.timeoutMs)
    req.on('error', (err) => fail(err.name === 'AbortError' ? 'request aborted' : `request failed: ${err.message}`))
    req.end(options.body)
  })
}

/** An answer's body as a JSON object, or a `rejected` failure saying why not. */
export function jsonObject(answer: HttpAnswer): Record<string, unknown> {
  let doc: unknown
  try {
    doc = JSON.parse(answer.body.toString('utf8'))
  } catch {
    throw new HttpExchangeError('response is not JSON', 'rejected')
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new HttpExchangeError('response is not a JSON object', 'rejected')
  return doc as Record<string, unknown>
}
