/**
 * Key sources: where an authenticator's verification keys come from. A static source
 * (one configured key, or a pasted key set) never changes; a remote source fetches and
 * refreshes a JWKS (see remote.ts).
 */
import type { PortcullisError } from '../../errors.js'
import type { DecodedJws } from '../jwt/jws.js'
import type { VerifyKey } from '../jwt/keys.js'
import { clock } from '../../clock.js'

export type KeyRefreshReason = 'kid' | 'unavailable' | 'manual'

export type KeySourceState = 'ok' | 'stale' | 'unavailable' | 'disabled'

export interface KeySourceStatus {
  readonly state: KeySourceState
  /** Epoch ms of the last successful load (start-up for static keys). */
  readonly lastSuccessAt: number | null
  readonly lastError: string | null
  readonly consecutiveFailures: number
  readonly kids: readonly string[]
  readonly keyCount: number
  /** Epoch ms of the next scheduled refresh (remote sources). */
  readonly nextRefreshAt: number | null
  /** Remote sources: key set fetches by outcome since the source was created. */
  readonly fetches?: JwksFetchCounts
  /**
   * Remote sources in a cluster: key sets taken from the set the nodes share instead of
   * fetched here (another node fetched it within the refresh interval, or this node's fetch
   * failed), and the node that fetched the last one.
   */
  readonly fromCluster?: { readonly sets: number; readonly lastNode: string | null }
  /** Device registries (`type: devices`): devices registered (their keys are not listed here). */
  readonly devices?: number
}

/**
 * Key set fetches by outcome: `ok` loaded; `error` no usable answer (network, TLS,
 * timeout, an HTTP error status); `rejected` an answer refused (redirect, too large, not
 * JSON, not a JWK Set). Fetches cut short by close() are not counted.
 */
export interface JwksFetchCounts {
  readonly ok: number
  readonly error: number
  readonly rejected: number
  /** How long the last counted fetch took, answer and import included (ms). */
  readonly lastDurationMs: number | null
}

export interface KeySource {
  /** The keys to verify with now, or undefined when none are available (never fetched, or grace over). */
  current(): readonly VerifyKey[] | undefined
  /**
   * Sources whose keys depend on the token (a device registry): the keys for this token and
   * client id, or why there are none. When present, `current()` is not used.
   */
  keysFor?(jws: DecodedJws, clientId: string): readonly VerifyKey[] | PortcullisError
  /** True when the token's kid is ignored (a single configured key without an id). */
  readonly kidless: boolean
  /** Bumped whenever the key set changes (invalidates caches). */
  readonly generation: number
  /**
   * Asks for a fresh key set: a token named an unknown kid or no keys are loaded
   * (rate-limited by the kid cooldown), or an operator asked for it ('manual': not
   * rate-limited). One fetch in flight at a time, shared. A failed fetch follows the rules
   * of a scheduled one: the last good set is kept through the grace period. Resolves true
   * when a new key set arrived.
   */
  refresh?(reason: KeyRefreshReason): Promise<boolean>
  start?(): Promise<void>
  close?(): Promise<void>
  status(): KeySourceStatus
}

export class StaticKeySource implements KeySource {
  readonly kidless: boolean
  readonly generation = 0
  readonly #keys: readonly VerifyKey[]
  readonly #loadedAt = clock.now()

  constructor(keys: readonly VerifyKey[], kidless: boolean) {
    this.#keys = Object.freeze([...keys])
    this.kidless = kidless
  }

  current(): readonly VerifyKey[] {
    return this.#keys
  }

  status(): KeySourceStatus {
    return {
      state: 'ok',
      lastSuccessAt: this.#loadedAt,
      lastError: null,
      consecutiveFailures: 0,
      kids: this.#keys.flatMap((k) => (k.kid === undefined ? [] : [k.kid])),
      keyCount: this.#keys.length,
      nextRefreshAt: null,
    }
  }
}
