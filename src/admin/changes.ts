/**
 * What the admin concerns share: changes run one at a time (validation sees the state the
 * previous change left), and each change is written to the configuration store whole.
 *
 * Cluster: a change is worked out from the copy this node runs; when another node stored a
 * newer one first (two nodes changing at once, or this node's copy a moment behind), nothing is
 * written, the newer copy is applied here and the change is worked out again from it — so a
 * PATCH of one policy's topics on one node and of its clientId on another both hold. After
 * CHANGE_TRIES such refusals the API answers 409.
 */
import type { AuthenticatorConfig } from '../auth/create.js'
import type { AuthorizationConfig } from '../authz/config.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { StaleConfigError, type SharedConfig } from '../cluster/shared-config.js'
import { SharedConfigError } from '../cluster/shared-versioned.js'
import { noteChanges } from './audit.js'
import { ApiError } from './errors.js'
import { diffManagedState } from './audit-diff.js'
import { authenticatorToRaw, authorizationToRaw } from './config-views.js'

/** The configuration the admin API manages. */
export interface ManagedState {
  readonly authenticators: readonly AuthenticatorConfig[]
  readonly authorization: AuthorizationConfig
}

/** Tries of a change that another node's change keeps overtaking, before the API answers 409. */
const CHANGE_TRIES = 5

export class AdminChanges {
  readonly #store: SqliteConfigStore | undefined
  readonly #current: () => ManagedState
  readonly #shared: SharedConfig | undefined
  #queue: Promise<unknown> = Promise.resolve()

  /**
   * `current` reads the state now in force; a persisted change replaces part of it. `shared`:
   * the cluster's copy in Redis, written before a change applies anywhere.
   */
  constructor(store: SqliteConfigStore | undefined, current: () => ManagedState, shared?: SharedConfig) {
    this.#store = store
    this.#current = current
    this.#shared = shared
  }

  /**
   * Run `fn` after every change queued before it. Cluster: when what it persisted was worked out
   * from a copy older than the cluster's, run it again (queued anew) once the newer copy applies here.
   */
  async serial<T>(fn: () => Promise<T> | T): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.#queued(fn)
      } catch (err) {
        if (!(err instanceof StaleConfigError) || this.#shared === undefined) throw err
        if (tries >= CHANGE_TRIES) throw new ApiError(err.code, `${err.message} (${CHANGE_TRIES} tries)`)
        // Outside the queue: applying the newer copy is itself a queued change.
        await this.#shared.catchUp(err.version)
      }
    }
  }

  #queued<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  /**
   * Store the state with `next` in place of its current parts (and note what changed for the
   * audit trail). In a cluster the change is first written to Redis for every node (a change
   * another node made first — StaleConfigError, for `serial` — or a Redis that cannot be
   * reached refuses it: nothing applies);
   * `fromCluster`: it came from there, it is only stored here.
   */
  async persist(next: Partial<ManagedState>, options: { readonly fromCluster?: boolean } = {}): Promise<void> {
    const current = this.#current()
    const state = { ...current, ...next }
    const raw = { authenticators: state.authenticators.map(authenticatorToRaw), authorization: authorizationToRaw(state.authorization) }
    if (this.#shared !== undefined && options.fromCluster !== true) {
      try {
        await this.#shared.publish(raw)
      } catch (err) {
        if (err instanceof StaleConfigError) throw err // `serial` applies the newer copy and runs the change again
        if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
        throw err
      }
    }
    if (options.fromCluster !== true) noteChanges(diffManagedState(current, state))
    this.#store?.save(raw)
  }
}
