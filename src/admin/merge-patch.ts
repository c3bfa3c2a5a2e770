/** JSON merge patch (RFC 7396), as PATCH bodies of the admin API apply it. */
import { isMapping, type Raw } from '../config/check.js'

/**
 * `target` with `patch` applied: a key sent replaces the stored one, `null` removes it,
 * mappings merge key by key, anything else (lists too) replaces whole. A patch that is not
 * a mapping replaces the target. Keys are defined, never assigned, so `__proto__` stays a
 * plain (and then unknown) key.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMapping(patch)) return patch
  const out: Raw = {}
  const define = (key: string, value: unknown): void => {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  }
  if (isMapping(target)) for (const [key, value] of Object.entries(target)) define(key, value)
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else define(key, mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value))
  }
  return out
}
