/**
 * Group commit, as the SQLite state database and the cluster's Redis state both do it: stores
 * record their changes as they happen (operations to run, nothing read), and every change
 * recorded during one turn of the event loop is committed together on the next (setImmediate).
 * `afterCommit` callbacks run once the group holding every change recorded before them is
 * committed, or failed; groups answer in order. A failed group is counted and its waiters are
 * told; the backend's `failed` hears of the first failure of a burst and `recovered` of the
 * next success, so a failing backend logs once, not once per group.
 */
import type { CommitBarrier } from './types.js'

export interface CommitStats {
  commits: number
  failures: number
  /** Changes committed in all groups. */
  changes: number
  /** Seconds the last commit took. */
  lastCommitSeconds: number
  lastBatchSize: number
  /** Observers of commit latency (s) and batch size (changes). */
  observe?: (seconds: number, changes: number) => void
}

/** How a group ended when it was not simply committed (a throw or a rejection is `failed`). */
export interface CommitOutcome {
  /** The backend could not commit: counted and reported as a failure; the waiters are told. */
  readonly failed?: Error | undefined
  /** Committed, but changes were refused on purpose (not a failure of the backend): the waiters are told. */
  readonly refused?: Error | undefined
  /** Runs once the group's waiters were told. */
  readonly after?: () => void
}

export interface CommitBackend<Op> {
  /** Commit one group: return once it is stored (synchronously, or as a promise); throw or reject when it is not. */
  commit(ops: readonly Op[]): void | CommitOutcome | Promise<void | CommitOutcome>
  /** The first failed group after a success (or since start). */
  failed(error: Error, changes: number): void
  /** A group committed after failures. */
  recovered(): void
}

type Waiter = (err: Error | undefined) => void

export class GroupCommitter<Op> implements Omit<CommitBarrier, 'available'> {
  readonly stats: CommitStats = { commits: 0, failures: 0, changes: 0, lastCommitSeconds: 0, lastBatchSize: 0 }
  readonly #backend: CommitBackend<Op>
  #ops: Op[] = []
  #waiters: Waiter[] = []
  /** Waiters of the group sent last whose commit has not answered yet. */
  #sending: Waiter[] | undefined
  #scheduled = false
  #recorded = 0
  /** A failure was reported and no commit has succeeded since. */
  #failing = false
  #closed = false
  readonly #flushBound = (): void => {
    this.#scheduled = false
    this.#send(() => {})
  }

  constructor(backend: CommitBackend<Op>) {
    this.#backend = backend
  }

  /** Changes recorded and not committed yet, or a group whose commit has not answered. */
  get pending(): boolean {
    return this.#ops.length > 0 || this.#sending !== undefined
  }

  get recorded(): number {
    return this.#recorded
  }

  /** A change to commit with the next group (ignored once closed). */
  record(op: Op): void {
    if (this.#closed) return
    this.#recorded++
    this.#ops.push(op)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flushBound)
    }
  }

  afterCommit(done: Waiter): void {
    if (this.#ops.length > 0) this.#waiters.push(done)
    else if (this.#sending !== undefined) this.#sending.push(done)
    else done(undefined)
  }

  /**
   * Commit what is pending now and record nothing more; resolves once every group has answered
   * (at once for a synchronous backend). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    return new Promise((resolve) => this.#send(resolve))
  }

  /** One commit for every change pending; `sent` runs once it (or the group before it) answered. */
  #send(sent: () => void): void {
    if (this.#ops.length === 0) {
      this.afterCommit(() => sent())
      return
    }
    const ops = this.#ops
    const waiters = this.#waiters
    this.#ops = []
    this.#waiters = []
    this.#sending = waiters
    const started = process.hrtime.bigint()
    const finish = (outcome: void | CommitOutcome): void => {
      if (this.#sending === waiters) this.#sending = undefined
      this.#count(ops.length, outcome ?? {}, Number(process.hrtime.bigint() - started) / 1e9)
      const error = outcome?.failed ?? outcome?.refused
      for (const done of waiters) done(error)
      outcome?.after?.()
      sent()
    }
    let result: void | CommitOutcome | Promise<void | CommitOutcome>
    try {
      result = this.#backend.commit(ops)
    } catch (err) {
      finish({ failed: asError(err) })
      return
    }
    if (result instanceof Promise) result.then(finish, (err: unknown) => finish({ failed: asError(err) }))
    else finish(result)
  }

  #count(changes: number, outcome: CommitOutcome, seconds: number): void {
    const s = this.stats
    if (outcome.failed !== undefined) {
      s.failures++
      if (!this.#failing) {
        this.#failing = true
        this.#backend.failed(outcome.failed, changes)
      }
      return
    }
    s.commits++
    s.changes += changes
    s.lastCommitSeconds = seconds
    s.lastBatchSize = changes
    s.observe?.(seconds, changes)
    if (this.#failing) {
      this.#failing = false
      this.#backend.recovered()
    }
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
