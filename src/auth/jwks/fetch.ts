/**
 * One bounded GET of a JWK Set over node:http / node:https. Redirects are never followed
 * (a 3xx is a failure), the whole exchange has a deadline, the body has a size cap, and
 * the content must be a JSON object with a `keys` array. https uses the normal
 * certificate checks; `ca` replaces the trusted roots for a private issuer.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface FetchJwksOptions {
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly ca?: string
  readonly signal?: AbortSignal
}

/**
 * How a fetch failed: `error` when no usable answer came (network, TLS, timeout, an HTTP
 * error status); `rejected` when an answer came and was refused (a redirect, too large,
 * not JSON, not a JWK Set).
 */
export type JwksFetchFailure = 'error' | 'rejected'

export class JwksFetchError extends Error {
  override readonly name = 'JwksFetchError'
  readonly kind: JwksFetchFailure
  constructor(message: string, kind: JwksFetchFailure) {
    super(message)
    this.kind = kind
  }
}

/** Fetches and JSON-decodes a key set document. Rejects with JwksFetchError. */
export function fetchJwksDocument(url: string, options: FetchJwksOptions): Promise<{ keys: unknown[] }> {
  const target = new URL(url)
  const isHttps = target.protocol === 'https:'
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (message: string, kind: JwksFetchFailure = 'error'): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      reject(new JwksFetchError(message, kind))
    }
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400) {
        res.resume()
        fail(`HTTP ${status} redirect${res.headers.location !== undefined ? ` to ${res.headers.location}` : ''} not followed; configure the final address`, 'rejected')
        return
      }
      if (status !== 200) {
        res.resume()
        fail(`HTTP ${status}`)
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
      res.on('end', () => {
        if (settled) return
        let doc: unknown
        try {
          doc = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          fail('response is not JSON', 'rejected')
          return
        }
        if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as Record<string, unknown>)['keys'])) {
          fail('response is not a JWK Set (no "keys" array)', 'rejected')
          return
        }
        settled = true
        clearTimeout(timer)
        resolve(doc as { keys: unknown[] })
      })
    }
    const requestOptions = {
      method: 'GET',
      headers: { accept: 'application/json, application/jwk-set+json', 'user-agent': 'portcullis-jwks' },
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    }
    const req = isHttps
      ? httpsRequest(target, { ...requestOptions, ...(options.ca !== undefined ? { ca: options.ca } : {}) }, onResponse)
      : httpRequest(target, requestOptions, onResponse)
    const timer = setTimeout(() => fail(`no complete response within ${options.timeoutMs} ms`), options.timeoutMs)
    req.on('error', (err) => fail(err.name === 'AbortError' ? 'fetch aborted' : `request failed: ${err.message}`))
    req.end()
  })
}
