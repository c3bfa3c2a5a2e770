/**
 * Freeze a verified claims set and everything in it. A work list, not recursion: a token's
 * (or an introspection answer's) JSON may nest thousands of levels deep (`[[[[…` in a 64 KB
 * token), and that depth is the sender's.
 */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value]
  for (let item = pending.pop(); item !== undefined || pending.length > 0; item = pending.pop()) {
    if (typeof item === 'object' && item !== null && !Object.isFrozen(item)) {
      Object.freeze(item)
      for (const v of Object.values(item)) pending.push(v)
    }
  }
  return value
}
