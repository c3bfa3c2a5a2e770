/**
 * Answers of a remote service (introspection, HTTP auth), remembered until they go stale
 * and asked for once however many clients want the same one at the same time.
 */
import { BoundedCache, NO_USAGE, type CacheUsage } from '../../bounded-cache.js'

/**
 * At most `maxEntries` answers and about `maxBytes` (a BoundedCache underneath), each until
 * its own deadline. Keys are digests chosen by the caller — never a bearer credential itself.
 */
export class AnswerCache<T> {
  readonly #cache: BoundedCache<{ readonly value: T; readonly until: number }> | undefined

  /** maxEntries 0: nothing is remembered. */
  constructor(maxEntries: number, maxBytes: number) {
    this.#cache = maxEntries === 0 ? undefined : new BoundedCache(maxEntries, maxBytes)
  }

  get usage(): CacheUsage {
    return this.#cache?.usage ?? NO_USAGE
  }

  get(key: string, now: number): T | undefined {
    const entry = this.#cache?.get(key)
    if (entry === undefined || now >= entry.until) return undefined
    return entry.value
  }

  /** Remembers `value` (about `valueBytes` large) until epoch-ms `until`. */
  set(key: string, value: T, valueBytes: number, until: number, now: number): void {
    if (until > now) this.#cache?.set(key, { value, until }, valueBytes)
  }

  clear(): void {
    this.#cache?.clear()
  }
}

/** Concurrent calls with the same key share one run of `work` (one request for a connect storm). */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>()

  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key)
    if (running !== undefined) return running
    const started = work().finally(() => this.#running.delete(key))
    this.#running.set(key, started)
    return started
  }

  get inFlight(): number {
    return this.#running.size
  }
}
