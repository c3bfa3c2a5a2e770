/**
 * `persistence.sessions: false`: sessions live in memory only (the SessionManager holds
 * them), so this store records nothing and every change is "committed" at once. Callers
 * check `durable` and skip recording altogether, so the memory-only path costs nothing.
 */
import type { CommitBarrier, SessionStore, StoredSession } from '../types.js'

/** A barrier with nothing ever pending: acknowledgements go out at once. */
export const NO_COMMITS: CommitBarrier = Object.freeze({
  pending: false,
  recorded: 0,
  available: true,
  afterCommit(done: (err: Error | undefined) => void, _since?: number): void {
    done(undefined)
  },
})

export class MemorySessionStore implements SessionStore {
  readonly durable = false
  readonly commits = NO_COMMITS

  recover(): Promise<StoredSession[]> {
    return Promise.resolve([])
  }

  saveSession(): void {}
  endSession(): void {}
  addSubscription(): void {}
  removeSubscription(): void {}
  queueDelivery(): number {
    return 0
  }
  deliverySent(): void {}
  deliveryReleased(): void {}
  deliveryDone(): void {}
  addIncomingQos2(): void {}
  removeIncomingQos2(): void {}
  async close(): Promise<void> {}
}
