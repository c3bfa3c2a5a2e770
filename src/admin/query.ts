/** Reading the admin API's query parameters: one way for every route, one wording for every error. */
import { ApiError } from './errors.js'

export type Query = Readonly<Record<string, unknown>>

/** A string query parameter (the last one when repeated), or undefined. */
export function optionalText(query: Query, name: string): string | undefined {
  const v = query[name]
  const last: unknown = Array.isArray(v) ? (v as unknown[])[v.length - 1] : v
  if (last === undefined) return undefined
  if (typeof last !== 'string') throw new ApiError('ERR_VALIDATION', `${name}: must be a string`, name)
  return last
}

/** A whole number query parameter in 1..max (`fallback` when absent). */
export function pageNumber(query: Query, name: string, fallback: number, max: number): number {
  const raw = query[name]
  if (raw === undefined) return fallback
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new ApiError('ERR_VALIDATION', `${name}: must be a whole number from 1 to ${max}`, name)
  return n
}
