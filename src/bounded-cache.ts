/**
 * A string-keyed cache bounded by bytes as well as by entries, so that what a client chooses
 * to send (60 KB topics, 64 KB tokens) cannot make a cache grow past its budget.
 *
 * Two generations: entries go to the current one; when it holds half the budget (bytes or
 * entries) it becomes the old one and the previous old one is dropped. A hit in the old
 * generation moves the entry back. So the entries used most recently that fit in half the
 * budget are always there, the whole budget is never exceeded, and no insert scans or sorts.
 *
 * Sizes are estimates of what the entry keeps alive: the key as UTF-16 (2 bytes a character),
 * the caller's estimate of the value, and a fixed cost per entry for the Map slot and wrapper.
 * An entry larger than an eighth of the budget is not cached at all.
 */

/** A cache's size, as /metrics shows it. */
export interface CacheUsage {
  readonly entries: number
  readonly bytes: number
}

/** Map slot, wrapper object and hash-table share of one entry (an estimate, on 64-bit V8). */
export const ENTRY_OVERHEAD_BYTES = 80

interface Entry<V> {
  readonly value: V
  readonly bytes: number
}

export class BoundedCache<V> {
  readonly #halfBytes: number
  readonly #halfEntries: number
  #current = new Map<string, Entry<V>>()
  #currentBytes = 0
  #old = new Map<string, Entry<V>>()
  #oldBytes = 0

  /** `maxEntries` and `maxBytes`: the most both generations hold together. */
  constructor(maxEntries: number, maxBytes: number) {
    this.#halfEntries = Math.max(1, Math.floor(maxEntries / 2))
    this.#halfBytes = Math.max(1, Math.floor(maxBytes / 2))
  }

  get(key: string): V | undefined {
    const hit = this.#current.get(key)
    if (hit !== undefined) return hit.value
    const old = this.#old.get(key)
    if (old === undefined) return undefined
    this.#old.delete(key)
    this.#oldBytes -= old.bytes
    this.#insert(key, old)
    return old.value
  }

  /** Remember `value` (whose own size is about `valueBytes`); false when it is too large to keep. */
  set(key: string, value: V, valueBytes: number): boolean {
    const bytes = key.length * 2 + valueBytes + ENTRY_OVERHEAD_BYTES
    if (bytes > this.#halfBytes / 4) return false
    const existing = this.#current.get(key)
    if (existing !== undefined) {
      this.#current.delete(key)
      this.#currentBytes -= existing.bytes
    } else {
      const old = this.#old.get(key)
      if (old !== undefined) {
        this.#old.delete(key)
        this.#oldBytes -= old.bytes
      }
    }
    this.#insert(key, { value, bytes })
    return true
  }

  /** Forgets `key` (its value changed or is gone). */
  delete(key: string): void {
    const entry = this.#current.get(key) ?? this.#old.get(key)
    if (entry === undefined) return
    if (this.#current.delete(key)) this.#currentBytes -= entry.bytes
    else if (this.#old.delete(key)) this.#oldBytes -= entry.bytes
  }

  clear(): void {
    this.#current.clear()
    this.#old.clear()
    this.#currentBytes = 0
    this.#oldBytes = 0
  }

  get usage(): CacheUsage {
    return { entries: this.#current.size + this.#old.size, bytes: this.#currentBytes + this.#oldBytes }
  }

  #insert(key: string, entry: Entry<V>): void {
    if (this.#currentBytes + entry.bytes > this.#halfBytes || this.#current.size >= this.#halfEntries) {
      this.#old = this.#current
      this.#oldBytes = this.#currentBytes
      this.#current = new Map()
      this.#currentBytes = 0
    }
    this.#current.set(key, entry)
    this.#currentBytes += entry.bytes
  }
}

/** Sum of several caches' usage (per-client caches, one per authenticator). */
export function addUsage(a: CacheUsage, b: CacheUsage): CacheUsage {
  return { entries: a.entries + b.entries, bytes: a.bytes + b.bytes }
}

export const NO_USAGE: CacheUsage = Object.freeze({ entries: 0, bytes: 0 })
