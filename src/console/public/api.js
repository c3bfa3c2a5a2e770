// The REST API client. The API key lives in sessionStorage only (it is sent as a bearer
// token and never put in a URL); it is gone when the tab closes.

const KEY = 'portcullis.apiKey'
const BASE = '/api/v1'

/** An API error: `message` and `path` (the key path of the offending field) as the API sent them. */
export class ApiError extends Error {
  /**
   * @param {number} status @param {string} code @param {string} message @param {string | undefined} path
   * @param {unknown[]} [errors]  per-item errors some answers list (a bulk import's rows)
   */
  constructor(status, code, message, path, errors) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.path = path
    this.errors = errors ?? []
  }
}

export function getApiKey() {
  return sessionStorage.getItem(KEY)
}

/** @param {string | null} key */
export function setApiKey(key) {
  if (key === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, key)
}

/** Called on every 401 (the key was wrong or revoked): the app shows the sign-in page. */
let onUnauthorized = () => {}
/** @param {() => void} fn */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn
}

/**
 * @param {string} method
 * @param {string} path   below /api/v1, e.g. '/authenticators'
 * @param {unknown} [body]
 * @param {{ key?: string | null, quiet401?: boolean, contentType?: string }} [options]  with `contentType`, a string body is sent as it is
 */
export async function request(method, path, body, options = {}) {
  const key = options.key !== undefined ? options.key : getApiKey()
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' }
  if (key) headers['authorization'] = `Bearer ${key}`
  const raw = options.contentType !== undefined && typeof body === 'string'
  if (body !== undefined) headers['content-type'] = raw ? /** @type {string} */ (options.contentType) : 'application/json'
  let response
  try {
    response = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : raw ? /** @type {string} */ (body) : JSON.stringify(body), cache: 'no-store', credentials: 'omit' })
  } catch (err) {
    throw new ApiError(0, 'network', `Cannot reach the admin API: ${err instanceof Error ? err.message : String(err)}`, undefined)
  }
  const text = await response.text()
  let data
  if (text !== '') {
    try {
      data = JSON.parse(text)
    } catch {
      data = undefined
    }
  }
  if (!response.ok) {
    const message = data && typeof data.message === 'string' ? data.message : `${response.status} ${response.statusText || 'error'}`
    const error = new ApiError(response.status, data && typeof data.error === 'string' ? data.error : String(response.status), message, data && typeof data.path === 'string' ? data.path : undefined, data && Array.isArray(data.errors) ? data.errors : undefined)
    if (response.status === 401 && !options.quiet401) onUnauthorized()
    throw error
  }
  return data
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body ?? {}),
  put: (path, body) => request('PUT', path, body),
  patch: (path, body) => request('PATCH', path, body),
  del: (path) => request('DELETE', path),
}

/** Encodes one path segment (authenticator, policy and client names). @param {string} s */
export const seg = (s) => encodeURIComponent(s)

/** Lists may come bare or wrapped ({ items } / { authenticators } …). @param {unknown} data @param {string} key */
export function listOf(data, key) {
  if (Array.isArray(data)) return data
  if (data && typeof data === 'object') {
    const o = /** @type {Record<string, unknown>} */ (data)
    for (const k of [key, 'items', 'data']) if (Array.isArray(o[k])) return /** @type {unknown[]} */ (o[k])
  }
  return []
}
