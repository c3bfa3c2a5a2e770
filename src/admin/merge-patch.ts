/** JSON merge patch (RFC 7396), as PATCH bodies of the admin API apply it. */
import { isMapping, type Raw } from '../config/check.js'

/** One mapping of the patch still to apply: `out` receives `target`'s keys merged with `patch`'s. */
interface Pending {
  readonly out: Raw
  readonly target: unknown
  readonly patch: Raw
}

/**
 * `target` with `patch` applied: a key sent replaces the stored one, `null` removes it,
 * mappings merge key by key, anything else (lists too) replaces whole. A patch that is not
 * a mapping replaces the target. Keys are defined, never assigned, so `__proto__` stays a
 * plain (and then unknown) key. Nested mappings are walked with a work list, not recursion,
 * so a body of any depth costs time, never the stack.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMapping(patch)) return patch
  const root: Raw = {}
  const work: Pending[] = [{ out: root, target, patch }]
  for (let job = work.pop(); job !== undefined; job = work.pop()) {
    const { out } = job
    if (isMapping(job.target)) for (const [key, value] of Object.entries(job.target)) define(out, key, value)
    for (const [key, value] of Object.entries(job.patch)) {
      if (value === null) {
        delete out[key]
      } else if (isMapping(value)) {
        const child: Raw = {}
        work.push({ out: child, target: Object.hasOwn(out, key) ? out[key] : undefined, patch: value })
        define(out, key, child)
      } else {
        define(out, key, value)
      }
    }
  }
  return root
}

function define(out: Raw, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
}
