/**
 * A remote JWK Set: fetched at start (never throwing), refreshed every refreshInterval,
 * retried with bounded exponential back-off while failing, refetched at once (rate-limited
 * by a cooldown shared by every client, one fetch in flight at a time) when a token names
 * an unknown kid. While refreshes fail, the last good key set keeps working for the grace
 * period; after that the source fails closed (no keys: clients get "unavailable").
 * Every fetch is counted by outcome (ok, error, rejected; see JwksFetchCounts) with its
 * duration, for status() and the metrics.
 */
import type { Logger } from '../../log.js'
import type { JwsAlgorithm } from '../jwt/algorithms.js'
import { importJwks, type VerifyKey } from '../jwt/keys.js'
import { JwksFetchError, fetchJwksDocument, type JwksFetchFailure } from './fetch.js'
import type { JwksFetchCounts, KeyRefreshReason, KeySource, KeySourceStatus } from './source.js'
import { clock } from '../../clock.js'

export interface RemoteJwksOptions {
  readonly url: string
  readonly ca?: string
  readonly algorithms?: readonly JwsAlgorithm[]
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly refreshIntervalMs: number
  readonly gracePeriodMs: number
  readonly kidRefetchCooldownMs: number
  /** First retry delay after a failure; doubles up to refreshIntervalMs. */
  readonly backoffBaseMs: number
  readonly logger: Logger
}

export class RemoteJwksSource implements KeySource {
  readonly kidless = false
  readonly #options: RemoteJwksOptions
  readonly #log: Logger
  readonly #abort = new AbortController()
  #keys: readonly VerifyKey[] | undefined
  #generation = 0
  #inflight: Promise<boolean> | undefined
  #timer: NodeJS.Timeout | undefined
  #lastAttemptAt = Number.NEGATIVE_INFINITY
  #lastSuccessAt: number | null = null
  #failingSince: number | null = null
  #failures = 0
  #lastError: string | null = null
  #nextRefreshAt: number | null = null
  #closed = false
  readonly #fetches = { ok: 0, error: 0, rejected: 0 }
  #lastFetchMs: number | null = null

  constructor(options: RemoteJwksOptions) {
    this.#options = options
    this.#log = options.logger
  }

  get generation(): number {
    return this.#generation
  }

  /** The first fetch, bounded by timeoutMs. Never throws: failures show in status(). */
  async start(): Promise<void> {
    if (this.#closed) return
    await this.#fetch('start')
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#nextRefreshAt = null
    this.#abort.abort()
    await this.#inflight
  }

  current(): readonly VerifyKey[] | undefined {
    if (this.#keys !== undefined && this.#failingSince !== null && clock.now() - this.#failingSince > this.#options.gracePeriodMs) {
      this.#log.error({ url: this.#options.url, failingSinceMs: this.#failingSince, lastError: this.#lastError },
        'JWKS refreshes kept failing past the grace period; dropping the key set (failing closed)')
      this.#keys = undefined
      this.#generation++
    }
    return this.#keys
  }

  refresh(reason: KeyRefreshReason): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    if (this.#inflight !== undefined) return this.#inflight
    if (reason !== 'manual' && clock.now() - this.#lastAttemptAt < this.#options.kidRefetchCooldownMs) return Promise.resolve(false)
    return this.#fetch(reason)
  }

  status(): KeySourceStatus {
    const keys = this.current()
    return {
      state: this.#closed ? 'disabled' : keys === undefined ? 'unavailable' : this.#failingSince !== null ? 'stale' : 'ok',
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      consecutiveFailures: this.#failures,
      kids: (keys ?? []).flatMap((k) => (k.kid === undefined ? [] : [k.kid])),
      keyCount: keys?.length ?? 0,
      nextRefreshAt: this.#nextRefreshAt,
      fetches: { ...this.#fetches, lastDurationMs: this.#lastFetchMs } satisfies JwksFetchCounts,
    }
  }

  #count(outcome: 'ok' | JwksFetchFailure, startedAt: number): void {
    this.#fetches[outcome]++
    this.#lastFetchMs = performance.now() - startedAt
  }

  #fetch(reason: string): Promise<boolean> {
    this.#lastAttemptAt = clock.now()
    const attempt: Promise<boolean> = this.#load(reason).finally(() => {
      if (this.#inflight === attempt) this.#inflight = undefined
      this.#schedule()
    })
    this.#inflight = attempt
    return attempt
  }

  async #load(reason: string): Promise<boolean> {
    const { url, timeoutMs, maxResponseBytes, ca } = this.#options
    const startedAt = performance.now()
    try {
      const doc = await fetchJwksDocument(url, {
        timeoutMs, maxBytes: maxResponseBytes, signal: this.#abort.signal, ...(ca !== undefined ? { ca } : {}),
      })
      let imported
      try {
        imported = importJwks(doc, this.#options.algorithms)
      } catch (err) {
        throw new JwksFetchError(`response is not a usable JWK Set: ${(err as Error).message}`, 'rejected')
      }
      for (const p of imported.problems) this.#log.warn({ url, index: p.index, reason: p.reason }, 'JWKS key unusable; skipped')
      // A set with nothing to verify with is treated as a failed fetch, not as "revoke every key":
      // the last good set keeps working through the grace period (an issuer rotating keys
      // publishes the new key, it does not empty the set), and a tampered or broken answer
      // cannot shut every client out at once.
      if (imported.keys.length === 0) throw new JwksFetchError('response holds no key usable for verifying signatures', 'rejected')
      const recovered = this.#failures > 0
      this.#keys = Object.freeze([...imported.keys])
      this.#generation++
      this.#lastSuccessAt = clock.now()
      this.#failingSince = null
      this.#failures = 0
      this.#lastError = null
      this.#count('ok', startedAt)
      const kids = imported.keys.flatMap((k) => (k.kid === undefined ? [] : [k.kid]))
      this.#log[recovered || reason === 'start' || reason === 'manual' ? 'info' : 'debug']({ url, reason, keyCount: imported.keys.length, kids }, 'JWKS loaded')
      return true
    } catch (err) {
      if (this.#closed) return false
      this.#count(err instanceof JwksFetchError ? err.kind : 'error', startedAt)
      this.#failures++
      this.#lastError = (err as Error).message
      this.#failingSince ??= clock.now()
      this.#log.warn({ url, reason, consecutiveFailures: this.#failures, error: this.#lastError, haveKeys: this.#keys !== undefined },
        'JWKS fetch failed')
      return false
    }
  }

  #schedule(): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    const { refreshIntervalMs, backoffBaseMs } = this.#options
    let delay = refreshIntervalMs
    if (this.#failures > 0) {
      const backoff = Math.min(backoffBaseMs * 2 ** Math.min(this.#failures - 1, 30), refreshIntervalMs)
      delay = Math.max(1, Math.round(backoff * (0.9 + Math.random() * 0.2)))
    }
    this.#nextRefreshAt = clock.now() + delay
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined
      if (this.#inflight === undefined) void this.#fetch('scheduled')
    }, delay)
    this.#timer.unref()
  }
}
