/**
 * A remote JWK Set: fetched at start (never throwing), refreshed every refreshInterval,
 * retried with bounded exponential back-off while failing, refetched at once (rate-limited
 * by a cooldown shared by every client, one fetch in flight at a time) when a token names
 * an unknown kid. While refreshes fail, the last good key set keeps working for the grace
 * period; after that the source fails closed (no keys: clients get "unavailable").
 * Every fetch is counted by outcome (ok, error, rejected; see JwksFetchCounts) with its
 * duration, for status() and the metrics.
 *
 * In a cluster (`shared`, see share.ts) the nodes share the last good set and the kid cooldown:
 * - every set fetched is offered to the cluster;
 * - a scheduled refresh (and start-up) first looks at the cluster's set: one fetched by any node
 *   within the refresh interval is taken instead of asking the issuer, so about one node per
 *   interval asks the issuer, not every node;
 * - an unknown kid first looks at the cluster's set (another node may have fetched the new key
 *   already), then takes the cooldown cluster-wide; when another node holds it, this node waits
 *   (bounded by timeoutMs) for that node's set instead of asking the issuer itself;
 * - when this node's fetch fails, the cluster's set is used if it is newer than this node's and
 *   not older than refreshInterval + gracePeriod (the grace period then runs as if this node had
 *   fetched it itself).
 * The cluster's store unreachable: the node works alone, exactly as a single node (logged there).
 */
import type { Logger } from '../../log.js'
import type { JwsAlgorithm } from '../jwt/algorithms.js'
import { importJwks, type VerifyKey } from '../jwt/keys.js'
import { JwksFetchError, fetchJwksDocument, type JwksFetchFailure } from './fetch.js'
import type { JwksFetchCounts, KeyRefreshReason, KeySource, KeySourceStatus } from './source.js'
import { checkSharedSet, keySetId, type JwksShare, type SharedKeySet } from './share.js'
import { clock } from '../../clock.js'

/** How often a node waiting for another node's refetch looks at the cluster's set (ms). */
const SHARED_WAIT_STEP_MS = 100

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
  /** Cluster: the last good set and the unknown-kid cooldown, shared with the other nodes. */
  readonly shared?: JwksShare
}

export class RemoteJwksSource implements KeySource {
  readonly kidless = false
  readonly #options: RemoteJwksOptions
  readonly #log: Logger
  readonly #abort = new AbortController()
  #keys: readonly VerifyKey[] | undefined
  /** The key set id (share.ts) of #keys. */
  #setId: string | undefined
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
  /** Sets taken from the cluster (fetched by another node, or by this one earlier). */
  readonly #fromCluster = { sets: 0, lastNode: null as string | null }
  /** The last shared entry refused, as `setId reason` (logged once). */
  #refused = ''
  #unwatch: (() => void) | undefined

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
    // Cluster: a set another node fetched is taken as soon as it is told (not at the next refresh).
    this.#unwatch = this.#options.shared?.watch(this.#options.url, () => void this.#noticed())
    await this.#fetch('start')
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#unwatch?.()
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
      ...(this.#options.shared !== undefined ? { fromCluster: { ...this.#fromCluster } } : {}),
    }
  }

  #count(outcome: 'ok' | JwksFetchFailure, startedAt: number): void {
    this.#fetches[outcome]++
    this.#lastFetchMs = performance.now() - startedAt
  }

  #fetch(reason: string): Promise<boolean> {
    const attempt: Promise<boolean> = this.#load(reason).finally(() => {
      if (this.#inflight === attempt) this.#inflight = undefined
      this.#schedule()
    })
    this.#inflight = attempt
    return attempt
  }

  async #load(reason: string): Promise<boolean> {
    const { url, timeoutMs, maxResponseBytes, ca, shared, refreshIntervalMs, kidRefetchCooldownMs } = this.#options
    let entry: SharedKeySet | undefined
    if (shared !== undefined && reason !== 'manual') {
      entry = await this.#readShared(shared)
      if (this.#closed) return false
      // A set any node fetched within the refresh interval is as good as fetching now.
      const scheduled = reason === 'start' || reason === 'scheduled'
      if (entry !== undefined && clock.now() - entry.fetchedAt < refreshIntervalMs && (scheduled || this.#isNew(entry))) return this.#take(entry, reason, true)
      this.#lastAttemptAt = clock.now()
      if (!scheduled && kidRefetchCooldownMs > 0) {
        // Unknown kid (or no keys): one fetch per cooldown across the cluster.
        const claim = await shared.claimRefetch(url, kidRefetchCooldownMs)
        if (this.#closed) return false
        if (claim !== undefined && !claim.mine) return this.#awaitShared(shared, reason, claim.takenAt)
      }
    }
    // (A set taken from the cluster is not an attempt: the kid cooldown counts from the last fetch or claim.)
    this.#lastAttemptAt = clock.now()
    const startedAt = performance.now()
    try {
      const doc = await fetchJwksDocument(url, {
        timeoutMs, maxBytes: maxResponseBytes, signal: this.#abort.signal, ...(ca !== undefined ? { ca } : {}),
      })
      const document = JSON.stringify(doc)
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
      this.#setId = keySetId(document)
      this.#generation++
      this.#lastSuccessAt = clock.now()
      this.#failingSince = null
      this.#failures = 0
      this.#lastError = null
      this.#count('ok', startedAt)
      const kids = imported.keys.flatMap((k) => (k.kid === undefined ? [] : [k.kid]))
      this.#log[recovered || reason === 'start' || reason === 'manual' ? 'info' : 'debug']({ url, reason, keyCount: imported.keys.length, kids }, 'JWKS loaded')
      await shared?.write(url, document, this.#lastSuccessAt, refreshIntervalMs + this.#options.gracePeriodMs)
      return true
    } catch (err) {
      if (this.#closed) return false
      this.#count(err instanceof JwksFetchError ? err.kind : 'error', startedAt)
      this.#failures++
      this.#lastError = (err as Error).message
      this.#failingSince ??= clock.now()
      this.#log.warn({ url, reason, consecutiveFailures: this.#failures, error: this.#lastError, haveKeys: this.#keys !== undefined },
        'JWKS fetch failed')
      // Cluster: the last good set another node fetched, when it is newer than this node's.
      if (shared === undefined) return false
      entry = await this.#readShared(shared)
      if (this.#closed || entry === undefined) return false
      if (this.#keys !== undefined && entry.fetchedAt <= (this.#lastSuccessAt ?? Number.NEGATIVE_INFINITY)) return false
      return this.#take(entry, reason, false)
    }
  }

  /** The cluster's set for this endpoint, if this source may use it (share.ts checkSharedSet). */
  async #readShared(shared: JwksShare): Promise<SharedKeySet | undefined> {
    const { url, refreshIntervalMs, gracePeriodMs } = this.#options
    const entry = await shared.read(url)
    if (entry === undefined) return undefined
    const refused = checkSharedSet(entry, url, clock.now(), refreshIntervalMs + gracePeriodMs)
    if (refused === undefined) return entry
    if (this.#refused !== `${entry.setId} ${refused}`) {
      this.#refused = `${entry.setId} ${refused}`
      this.#log.warn({ url, node: entry.node, fetchedAt: entry.fetchedAt, reason: refused }, 'cluster: the JWKS set shared for this endpoint is not used')
    }
    return undefined
  }

  /** Another node stored a set for this endpoint: take it when it is new here (unless a load is under way). */
  async #noticed(): Promise<void> {
    const shared = this.#options.shared
    if (this.#closed || this.#inflight !== undefined || shared === undefined) return
    const entry = await this.#readShared(shared)
    if (this.#closed || this.#inflight !== undefined || entry === undefined || !this.#isNew(entry)) return
    if (clock.now() - entry.fetchedAt < this.#options.refreshIntervalMs) this.#take(entry, 'notice', true)
  }

  #isNew(entry: SharedKeySet): boolean {
    return this.#keys === undefined || entry.setId !== this.#setId
  }

  /**
   * Use the cluster's set. `current`: fetched within the refresh interval (this node is up to
   * date); else a fallback after this node's own fetch failed: its grace period runs from
   * when the set was due for a refresh. True when the keys changed.
   */
  #take(entry: SharedKeySet, reason: string, current: boolean): boolean {
    const { url, refreshIntervalMs } = this.#options
    let keys: readonly VerifyKey[] | undefined
    if (this.#isNew(entry)) {
      try {
        keys = importJwks(JSON.parse(entry.document), this.#options.algorithms).keys
      } catch (err) {
        this.#log.warn({ url, node: entry.node, error: (err as Error).message }, 'cluster: the JWKS set shared for this endpoint cannot be imported here; not used')
        return false
      }
      if (keys.length === 0) return false
      this.#keys = Object.freeze([...keys])
      this.#setId = entry.setId
      this.#generation++
    }
    this.#lastSuccessAt = Math.max(this.#lastSuccessAt ?? 0, entry.fetchedAt)
    if (current) {
      this.#failingSince = null
      this.#failures = 0
      this.#lastError = null
    } else {
      this.#failingSince = Math.min(clock.now(), entry.fetchedAt + refreshIntervalMs)
    }
    this.#fromCluster.sets++
    this.#fromCluster.lastNode = entry.node
    const level = keys !== undefined && (!current || reason === 'start') ? 'info' : 'debug'
    this.#log[level]({ url, reason, node: entry.node, fetchedAt: entry.fetchedAt, keyCount: this.#keys?.length ?? 0, changed: keys !== undefined },
      current ? 'JWKS taken from the cluster (fetched by a node within the refresh interval)' : "JWKS fetch failed: the cluster's last good set is used")
    return keys !== undefined
  }

  /**
   * Another node took the unknown-kid cooldown at `takenAt` (it is fetching, or fetched a
   * moment ago): wait for its set, at most until its fetch must have ended (timeoutMs).
   */
  async #awaitShared(shared: JwksShare, reason: string, takenAt: number): Promise<boolean> {
    const deadline = Math.min(takenAt, clock.now()) + this.#options.timeoutMs + SHARED_WAIT_STEP_MS
    for (;;) {
      const entry = await this.#readShared(shared)
      if (this.#closed) return false
      if (entry !== undefined && (this.#isNew(entry) || entry.fetchedAt >= takenAt)) return this.#take(entry, reason, true)
      if (clock.now() >= deadline) return false
      await new Promise<void>((resolve) => clock.setTimeout(resolve, SHARED_WAIT_STEP_MS).unref())
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
