/**
 * Group commit, as the SQLite state database and the cluster's Redis state both do it: stores
 * record their changes as they happen (operations to run, nothing read), and every change
 * recorded during one turn of the event loop is committed together on the next (setImmediate).
 * `afterCommit` callbacks run once the group holding every change recorded before them is
 * committed, or failed; groups answer in order. A failed group is counted and its waiters are
 * told; the backend's `failed` hears of the first failure of a burst and `recovered` of the
 * next success, so a failing backend logs once, not once per group.
 *
 * A change not committed yet can be cancelled (a message acknowledged before the commit that
 * would have stored it needs no row at all), and can hold its group's commit for at most
 * `holdMs` (a QoS 1 message sent to a connected subscriber before its commit: its PUBACK usually
 * arrives within a round trip, and then neither it nor its deletion is ever written). A group
 * answers after every group before it; one whose changes were all cancelled costs no commit.
 * With `serialAfterFailureMs`, a commit that fails makes the next ones go one at a time (each
 * sent once the one before it answered) until that long after the last failure.
 */
import type { CommitBarrier } from './types.js'

export interface CommitStats {
  commits: number
  failures: number
  /** Changes committed in all groups. */
  changes: number
  /** Changes recorded and then cancelled before their commit (never written). */
  cancelled: number
  /** Seconds the last commit took. */
  lastCommitSeconds: number
  lastBatchSize: number
  /** Observers of commit latency (s) and batch size (changes). */
  observe?: (seconds: number, changes: number) => void
}

/**
 * Changes refused on purpose (a cluster node writing for a session another node holds now) in a
 * group that committed everything else: only the waiters whose own changes they were are told.
 */
export interface RefusedChanges<Change> {
  readonly error: Error
  readonly changes: ReadonlySet<Change>
}

/** How a group ended when it was not simply committed (a throw or a rejection is `failed`). */
export interface CommitOutcome<Op = unknown> {
  /** The backend could not commit: counted and reported as a failure; the waiters are told. */
  readonly failed?: Error | undefined
  /** Committed, but these of its changes were refused (see RefusedChanges). */
  readonly refused?: RefusedChanges<Op> | undefined
  /** Runs once the group's waiters were told. */
  readonly after?: () => void
}

export interface CommitBackend<Op> {
  /** Commit one group: return once it is stored (synchronously, or as a promise); throw or reject when it is not. */
  commit(ops: readonly Op[]): void | CommitOutcome<Op> | Promise<void | CommitOutcome<Op>>
  /** The first failed group after a success (or since start). */
  failed(error: Error, changes: number): void
  /** A group committed after failures. */
  recovered(): void
}

/** `refused`: the RecordedChange numbers of the group's refused changes, and the error. */
type Waiter = (err: Error | undefined, refused: RefusedChanges<RecordedChange> | undefined) => void

interface Group<Op> {
  /** The RecordedChange of ops[0]: the group holds changes first … first + ops.length - 1. */
  readonly first: number
  ops: Array<Op | undefined>
  /** Ops not cancelled. */
  live: number
  waiters: Waiter[]
  /** Changes holding the commit back (see `hold`). */
  holds: number
  /** performance.now() after which the group commits, held or not. */
  deadline: number
}

/**
 * A recorded change, as `record` returns it, to cancel it or hold its group: its number in the
 * order of recording (from 1; 0 for a change not recorded). A number, not an object: a stored
 * delivery keeps one for each of its changes, and one is recorded per message.
 */
export type RecordedChange = number

/** How long a held group may wait for its holds to be released, by default (ms). */
export const DEFAULT_HOLD_MS = 10


export interface GroupCommitOptions {
  /** How long a held group may wait (ms; DEFAULT_HOLD_MS). */
  readonly holdMs?: number
  /**
   * After a failed commit, one commit unanswered at a time until this long (ms) after the last
   * failure; the groups sealed meanwhile go together in the next. 0 (default): never. For a
   * backend that, while it fails over, may apply a commit after one sent later (a Redis
   * Cluster: redis-state.ts says why).
   */
  readonly serialAfterFailureMs?: number
}

export class GroupCommitter<Op> implements Omit<CommitBarrier, 'available'> {
  readonly stats: CommitStats = { commits: 0, failures: 0, changes: 0, cancelled: 0, lastCommitSeconds: 0, lastBatchSize: 0 }
  readonly #backend: CommitBackend<Op>
  readonly #holdMs: number
  readonly #serialAfterFailureMs: number
  /** performance.now() of the last failed commit. */
  #lastFailure = Number.NEGATIVE_INFINITY
  #open: Group<Op> = newGroup(1)
  /** Groups closed for new changes, oldest first, waiting for their commit (or their holds). */
  readonly #sealed: Array<Group<Op>> = []
  /** Waiters of the group sent last whose commit has not answered yet. */
  #sending: Waiter[] | undefined
  /** Commits sent (each one's turn), and commits told to their waiters: the next to tell is turn #answered. */
  #turns = 0
  #answered = 0
  /**
   * Commits that answered before an earlier one, by turn: told once every earlier one was (see
   * #send). Empty on one Redis or SQLite, whose commits answer in order: nothing is kept per
   * commit then (a queue pushed and shifted per commit made the sending node of a QoS 1 crossing
   * run full mark-compacts about four times as often).
   */
  readonly #early = new Map<number, () => void>()
  #scheduled = false
  #timer: NodeJS.Timeout | undefined
  #recorded = 0
  /** A failure was reported and no commit has succeeded since. */
  #failing = false
  #closed = false
  readonly #flushBound = (): void => {
    this.#scheduled = false
    this.#seal()
    this.#pump()
  }

  readonly #timerBound = (): void => {
    this.#timer = undefined
    this.#pump()
  }

  constructor(backend: CommitBackend<Op>, options: GroupCommitOptions = {}) {
    this.#backend = backend
    this.#holdMs = options.holdMs ?? DEFAULT_HOLD_MS
    this.#serialAfterFailureMs = options.serialAfterFailureMs ?? 0
  }

  /** Changes recorded and not committed yet, or a group whose commit has not answered. */
  get pending(): boolean {
    return this.#open.ops.length > 0 || this.#sealed.length > 0 || this.#sending !== undefined
  }

  get recorded(): number {
    return this.#recorded
  }

  /** A change to commit with the next group (ignored once closed: 0). */
  record(op: Op): RecordedChange {
    if (this.#closed) return 0
    const g = this.#open
    g.ops.push(op)
    g.live++
    this.#schedule()
    return ++this.#recorded
  }

  /** Drop a change not committed yet; false when it is committed (or being committed) already. */
  cancel(change: RecordedChange): boolean {
    const g = this.#groupOf(change)
    if (g === undefined) return false
    const i = change - g.first
    if (g.ops[i] === undefined) return false
    g.ops[i] = undefined
    g.live--
    this.stats.cancelled++
    return true
  }

  /** True while `change` is recorded and neither committed (nor being committed) nor cancelled. */
  uncommitted(change: RecordedChange): boolean {
    const g = this.#groupOf(change)
    return g !== undefined && g.ops[change - g.first] !== undefined
  }

  /**
   * Hold the commit of the group holding `change` (at most holdMs after the group closes) until
   * `release(change)`: false (nothing to release) when that group is committed already. The
   * caller releases each hold it took once.
   */
  hold(change: RecordedChange): boolean {
    const g = this.#groupOf(change)
    if (g === undefined) return false
    g.holds++
    return true
  }

  /** Let go of a hold taken with `hold(change)` (nothing when its group went meanwhile: its deadline passed). */
  release(change: RecordedChange): void {
    const g = this.#groupOf(change)
    if (g !== undefined && --g.holds === 0) this.#schedule()
  }

  /** The group (open or sealed, not sent) that holds `change`, if any. */
  #groupOf(change: RecordedChange): Group<Op> | undefined {
    if (change <= 0) return undefined
    const open = this.#open
    if (change >= open.first) return change < open.first + open.ops.length ? open : undefined
    const sealed = this.#sealed
    for (let k = sealed.length - 1; k >= 0; k--) {
      const g = sealed[k]
      if (change >= g.first) return change < g.first + g.ops.length ? g : undefined
    }
    return undefined
  }

  /**
   * `done` runs once the group holding every change recorded so far has answered: `err` when it
   * failed, or when one of the changes recorded after `since` (the `recorded` count before the
   * caller's own changes) was refused — another's refused change is not the caller's concern.
   */
  afterCommit(done: (err: Error | undefined) => void, since?: RecordedChange): void {
    const until = this.#recorded
    if (since === undefined || since >= until) this.#wait(done)
    else this.#wait((err, refused) => done(err ?? (refused !== undefined && refusedWithin(refused.changes, since, until) ? refused.error : undefined)))
  }

  #wait(done: Waiter): void {
    if (this.#open.ops.length > 0) this.#open.waiters.push(done)
    else if (this.#sealed.length > 0) this.#sealed[this.#sealed.length - 1]?.waiters.push(done)
    else if (this.#sending !== undefined) this.#sending.push(done)
    else done(undefined, undefined)
  }

  /**
   * Commit what is pending now, holds or not, and record nothing more; resolves once every
   * group has answered (at once for a synchronous backend). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#seal()
    return new Promise((resolve) => this.#send(this.#sealed.splice(0), resolve))
  }

  #schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flushBound)
    }
  }

  /** The open group takes no more changes: it commits once its holds are released or expire. */
  #seal(): void {
    const g = this.#open
    if (g.ops.length === 0) return
    g.deadline = performance.now() + this.#holdMs
    this.#sealed.push(g)
    this.#open = newGroup(this.#recorded + 1)
  }

  /** Commit the sealed groups that are ready, oldest first, in one go; wait for the first that is not. */
  #pump(): void {
    const sealed = this.#sealed
    if (sealed.length === 0) return
    const now = performance.now()
    // One at a time after a failure: pumped again once the commit in flight has answered.
    if (this.#turns > this.#answered && now - this.#lastFailure < this.#serialAfterFailureMs) return
    let ready = 0
    for (const g of sealed) {
      if (g.holds > 0 && now < g.deadline && !this.#closed) break
      ready++
    }
    if (ready > 0) this.#send(sealed.splice(0, ready), () => {})
    const head = sealed[0]
    if (head !== undefined && this.#timer === undefined) this.#timer = setTimeout(this.#timerBound, Math.max(0, head.deadline - now))
  }

  /** One commit for every change of `groups`; `sent` runs once it (or the group before it) answered. */
  #send(groups: Array<Group<Op>>, sent: () => void): void {
    const waiters: Waiter[] = []
    let ops: Op[]
    const first = groups[0]
    if (groups.length === 1 && first !== undefined && first.live === first.ops.length) {
      ops = first.ops as Op[]
      waiters.push(...first.waiters)
    } else {
      ops = []
      for (const g of groups) {
        for (const op of g.ops) if (op !== undefined) ops.push(op)
        for (const w of g.waiters) waiters.push(w)
      }
    }
    if (ops.length === 0) {
      // Nothing left to write: its waiters answer with (after) the group before it.
      if (this.#sending !== undefined) {
        for (const w of waiters) this.#sending.push(w)
        this.#sending.push(() => sent())
      } else {
        for (const done of waiters) done(undefined, undefined)
        sent()
      }
      return
    }
    this.#sending = waiters
    const started = process.hrtime.bigint()
    // Groups answer in the order they were sent, whatever order the backend answers them in: on
    // a Redis Cluster a group is a MULTI per slot, and a later group that touches fewer masters
    // can answer first — its waiters would then send (a QoS 2 delivery goes out once its packet
    // identifier is committed) ahead of an earlier group's.
    const turn = this.#turns++
    const finish = (outcome: void | CommitOutcome<Op>): void => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      if (turn !== this.#answered) {
        this.#early.set(turn, () => this.#finish(groups, ops.length, waiters, outcome, seconds, sent))
        return
      }
      this.#answered++
      this.#finish(groups, ops.length, waiters, outcome, seconds, sent)
      const early = this.#early
      for (let next = early.get(this.#answered); next !== undefined; next = early.get(this.#answered)) {
        early.delete(this.#answered)
        this.#answered++
        next()
      }
      // (Groups held back while one commit at a time go now: see #pump.)
      if (this.#serialAfterFailureMs > 0) this.#pump()
    }
    let result: void | CommitOutcome<Op> | Promise<void | CommitOutcome<Op>>
    try {
      result = this.#backend.commit(ops)
    } catch (err) {
      finish({ failed: asError(err) })
      return
    }
    if (result instanceof Promise) result.then(finish, (err: unknown) => finish({ failed: asError(err) }))
    else finish(result)
  }

  /** Tell a commit's waiters how it went (in the order commits were sent). */
  #finish(groups: Array<Group<Op>>, changes: number, waiters: Waiter[], outcome: void | CommitOutcome<Op>, seconds: number, sent: () => void): void {
    if (this.#sending === waiters) this.#sending = undefined
    this.#count(changes, outcome ?? {}, seconds)
    const failed = outcome?.failed
    const refused = outcome?.refused === undefined ? undefined : numbered(groups, outcome.refused)
    for (const done of waiters) done(failed, refused)
    outcome?.after?.()
    sent()
  }

  #count(changes: number, outcome: CommitOutcome<Op>, seconds: number): void {
    const s = this.stats
    if (outcome.failed !== undefined) {
      s.failures++
      this.#lastFailure = performance.now()
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

/** The refused changes of a commit of these groups, by their RecordedChange numbers. */
function numbered<Op>(groups: ReadonlyArray<Group<Op>>, refused: RefusedChanges<Op>): RefusedChanges<RecordedChange> {
  const changes = new Set<RecordedChange>()
  for (const g of groups) {
    for (const [i, op] of g.ops.entries()) if (op !== undefined && refused.changes.has(op)) changes.add(g.first + i)
  }
  return { error: refused.error, changes }
}

/** True when a change numbered after `since`, up to `until`, is among `refused`. */
function refusedWithin(refused: ReadonlySet<RecordedChange>, since: RecordedChange, until: RecordedChange): boolean {
  for (const n of refused) if (n > since && n <= until) return true
  return false
}

function newGroup<Op>(first: number): Group<Op> {
  return { first, ops: [], live: 0, waiters: [], holds: 0, deadline: 0 }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
