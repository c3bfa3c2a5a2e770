/** Small validators that name the key path in every error they raise. */
import { ConfigError } from '../errors.js'

export type Raw = Record<string, unknown>

export function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function object(v: unknown, path: string): Raw {
  if (!isObject(v)) throw new ConfigError(path, 'must be a mapping')
  return v
}

export function knownKeys(v: Raw, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw new ConfigError(`${path}.${k}`, `unknown key (expected one of: ${keys.join(', ')})`)
  }
}

export function optionalString(v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new ConfigError(path, 'must be a string')
  return v
}

export function string(v: unknown, path: string): string {
  const s = optionalString(v, path)
  if (s === undefined || s.length === 0) throw new ConfigError(path, 'is required')
  return s
}

export function optionalBoolean(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') throw new ConfigError(path, 'must be true or false')
  return v
}

export function optionalInteger(v: unknown, path: string, fallback: number, min: number, max: number): number {
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(path, 'must be an integer')
  if (v < min || v > max) throw new ConfigError(path, `must be between ${min} and ${max}`)
  return v
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[], fallback: T): T {
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(path, `must be one of: ${values.join(', ')}`)
  }
  return v as T
}

export function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list')
  return v
}
