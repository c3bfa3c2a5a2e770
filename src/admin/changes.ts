/**
 * What the admin concerns share: changes run one at a time (validation sees the state the
 * previous change left), and each change is written to the configuration store whole.
 */
import type { AuthenticatorConfig } from '../auth/create.js'
import type { AuthorizationConfig } from '../authz/config.js'
import type { SqliteConfigStore } from '../store/sqlite/config-store.js'
import { noteChanges } from './audit.js'
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
  #queue: Promise<unknown> = Promise.resolve()

  /** `current` reads the state now in force; a persisted change replaces part of it. */
  constructor(store: SqliteConfigStore | undefined, current: () => ManagedState) {
    this.#store = store
    this.#current = current
  }

  /** Run `fn` after every change queued before it. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  /** Store the state with `next` in place of its current parts (and note what changed for the audit trail). */
  persist(next: Partial<ManagedState>): void {
    const current = this.#current()
    const state = { ...current, ...next }
    noteChanges(diffManagedState(current, state))
    if (this.#store === undefined) return
    this.#store.save({ authenticators: state.authenticators.map(authenticatorToRaw), authorization: authorizationToRaw(state.authorization) })
  }
}
