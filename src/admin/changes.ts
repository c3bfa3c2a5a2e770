/**
 * What the admin concerns share: changes run one at a time (validation sees the state the
 * previous change left), and each change is written to the configuration store whole.
 */
import type { AuthenticatorConfig } from '../auth/create.js'
import type { AuthorizationConfig } from '../authz/config.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import type { SharedConfig } from '../cluster/shared-config.js'
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

  /** Run `fn` after every change queued before it. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  /**
   * Store the state with `next` in place of its current parts (and note what changed for the
   * audit trail). In a cluster the change is first written to Redis for every node (a change
   * another node made first, or a Redis that cannot be reached, refuses it: nothing applies);
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
        if (err instanceof SharedConfigError) throw new ApiError(err.code, err.message)
        throw err
      }
    }
    if (options.fromCluster !== true) noteChanges(diffManagedState(current, state))
    this.#store?.save(raw)
  }
}
