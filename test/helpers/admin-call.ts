/**
 * One admin API call from a test: `base` is the API's root (`http://127.0.0.1:PORT/api/v1`),
 * the body sent as JSON when given, `headers` added (If-Match, say), the answer parsed
 * (undefined when empty) with its headers; bounded at 10 s.
 */
import type { Json } from './json.js'

export async function adminCall(
  base: string, apiKey: string, method: string, path: string, body?: unknown, headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
}
