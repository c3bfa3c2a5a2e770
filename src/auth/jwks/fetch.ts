/**
 * One bounded GET of a JWK Set (see remote/http-exchange.ts for redirects, deadline, size
 * cap and TLS): the answer must be 200 with a JSON object holding a `keys` array.
 */
import { HttpExchangeError, httpExchange, jsonObject, type HttpFailure } from '../remote/http-exchange.js'

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
export type JwksFetchFailure = HttpFailure

export class JwksFetchError extends HttpExchangeError {
  override readonly name = 'JwksFetchError'
}

/** Fetches and JSON-decodes a key set document. Rejects with JwksFetchError. */
export async function fetchJwksDocument(url: string, options: FetchJwksOptions): Promise<{ keys: unknown[] }> {
  try {
    const answer = await httpExchange(new URL(url), {
      method: 'GET',
      headers: { accept: 'application/json, application/jwk-set+json', 'user-agent': 'portcullis-jwks' },
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    })
    if (answer.status !== 200) throw new JwksFetchError(`HTTP ${answer.status}`, 'error')
    const doc = jsonObject(answer)
    if (!Array.isArray(doc['keys'])) throw new JwksFetchError('response is not a JWK Set (no "keys" array)', 'rejected')
    return doc as { keys: unknown[] }
  } catch (err) {
    if (err instanceof JwksFetchError || !(err instanceof HttpExchangeError)) throw err
    throw new JwksFetchError(err.message, err.kind)
  }
}
