/**
 * The one set of configuration checks: every error is a ConfigError naming the key path,
 * and each kind of mistake has one wording (`must be a mapping (got a list)`,
 * `unknown key (expected one of: …)`, `must be between 1 and 10 (got 0)`, `is required`).
 * Used by the file schema, the authenticator and authorization blocks, and the admin API.
 */
import { ConfigError } from '../errors.js'

export type Raw = Record<string, unknown>

/** A YAML mapping / JSON object (not null, not a list). */
export function isMapping(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A short, safe description of a value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return typeof value === 'object' ? 'a mapping' : typeof value
}

/** The error for a value of the wrong kind: `<path>: must be <what> (got <value>)`. */
export function expected(path: string, what: string, value: unknown): ConfigError {
  return new ConfigError(path, `must be ${what} (got ${describe(value)})`)
}

/** Absent: undefined or null (YAML's empty value). */
export function absent(v: unknown): v is undefined | null {
  return v === undefined || v === null
}

export function mapping(v: unknown, path: string): Raw {
  if (!isMapping(v)) throw expected(path, 'a mapping', v)
  return v
}

export function knownKeys(v: Raw, path: string, keys: Iterable<string>): void {
  const allowed = [...keys]
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new ConfigError(`${path}.${k}`, `unknown key (expected one of: ${allowed.join(', ')})`)
  }
}

export function optionalString(v: unknown, path: string): string | undefined {
  if (absent(v)) return undefined
  if (typeof v !== 'string') throw expected(path, 'a string', v)
  return v
}

export function string(v: unknown, path: string): string {
  const s = optionalString(v, path)
  if (s === undefined || s.length === 0) throw new ConfigError(path, 'is required')
  return s
}

export function optionalBoolean(v: unknown, path: string, fallback: boolean): boolean {
  if (absent(v)) return fallback
  if (typeof v !== 'boolean') throw expected(path, 'true or false', v)
  return v
}

function inRange(v: number, path: string, min: number, max: number): number {
  if (v < min || v > max) throw new ConfigError(path, `must be between ${min} and ${max} (got ${v})`)
  return v
}

export function optionalInteger(v: unknown, path: string, fallback: number, min: number, max: number): number {
  if (absent(v)) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v)) throw expected(path, 'an integer', v)
  return inRange(v, path, min, max)
}

export function optionalNumber(v: unknown, path: string, fallback: number, min: number, max: number): number
export function optionalNumber(v: unknown, path: string, fallback: number | undefined, min: number, max: number): number | undefined
export function optionalNumber(v: unknown, path: string, fallback: number | undefined, min: number, max: number): number | undefined {
  if (absent(v)) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v)) throw expected(path, 'a number', v)
  return inRange(v, path, min, max)
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[], fallback: T): T {
  if (absent(v)) return fallback
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw expected(path, `one of: ${values.join(', ')}`, v)
  return v as T
}

/** A list; absent gives []. */
export function list(v: unknown, path: string): unknown[] {
  if (absent(v)) return []
  if (!Array.isArray(v)) throw expected(path, 'a list', v)
  return v
}

/** One string or a non-empty list of non-empty strings; absent gives undefined. */
export function optionalStringList(v: unknown, path: string): string[] | undefined {
  if (absent(v)) return undefined
  const items = typeof v === 'string' ? [v] : v
  if (!Array.isArray(items)) throw expected(path, 'a string or a list of strings', v)
  items.forEach((item, i) => {
    if (typeof item !== 'string' || item === '') throw expected(`${path}[${i}]`, 'a non-empty string', item)
  })
  if (items.length === 0) throw new ConfigError(path, 'must not be empty (leave it out to skip the check)')
  return items as string[]
}
