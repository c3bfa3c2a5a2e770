/**
 * GroupCommitter (src/store/group-commit.ts): the group commit the SQLite and Redis state stores
 * share — groups per turn, in order; cancelled changes never written; holds bounded in time.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as delay, setImmediate as nextTurn } from 'node:timers/promises'
import { GroupCommitter, type CommitBackend } from '../../src/store/group-commit.js'

/** A backend that records the groups it was given, fails while `failing`, and answers when told (async) or at once (sync). */
class Backend implements CommitBackend<string> {
  readonly groups: string[][] = []
  readonly events: string[] = []
  failing = false
  readonly #answers: Array<() => void> = []

  constructor(readonly async: boolean) {}

  commit(ops: readonly string[]): void | Promise<void> {
    this.groups.push([...ops])
    const fail = this.failing
    if (!this.async) {
      if (fail) throw new Error('disk full')
      return
    }
    return new Promise((resolve, reject) => this.#answers.push(() => (fail ? reject(new Error('EXEC failed')) : resolve())))
  }

  /** Answer the oldest group still waiting (`newest`: the newest one, as a Redis Cluster may). */
  answer(newest = false): void {
    ;(newest ? this.#answers.pop() : this.#answers.shift())?.()
  }

  failed(error: Error, changes: number): void {
    this.events.push(`failed ${error.message} (${changes})`)
  }

  recovered(): void {
    this.events.push('recovered')
  }
}

function waiter(log: string[], name: string): (err: Error | undefined) => void {
  return (err) => log.push(err === undefined ? name : `${name}: ${err.message}`)
}

describe('GroupCommitter', () => {
  test('every change recorded in one turn goes in one group on the next turn; afterCommit runs once it is committed', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend)
    const log: string[] = []
    c.afterCommit(waiter(log, 'nothing pending'))
    assert.deepEqual(log, ['nothing pending'], 'with nothing pending a waiter runs at once')
    c.record('a')
    c.record('b')
    c.afterCommit(waiter(log, 'after a, b'))
    assert.equal(c.pending, true)
    assert.deepEqual(backend.groups, [], 'nothing is committed in the turn that records')
    await nextTurn()
    assert.deepEqual(backend.groups, [['a', 'b']])
    assert.deepEqual(log, ['nothing pending', 'after a, b'])
    assert.equal(c.pending, false)
    assert.equal(c.recorded, 2)
    assert.deepEqual({ commits: c.stats.commits, changes: c.stats.changes, lastBatchSize: c.stats.lastBatchSize }, { commits: 1, changes: 2, lastBatchSize: 2 })
  })

  test('asynchronous commits answer in order; a waiter while a group is in flight waits for that group', async () => {
    const backend = new Backend(true)
    const c = new GroupCommitter(backend)
    const log: string[] = []
    c.record('a')
    await nextTurn()
    assert.equal(c.pending, true, 'the group is sent but not answered')
    c.afterCommit(waiter(log, 'waits for a'))
    c.record('b')
    c.afterCommit(waiter(log, 'waits for b'))
    await nextTurn()
    assert.deepEqual(backend.groups, [['a'], ['b']])
    assert.deepEqual(log, [])
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['waits for a'])
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['waits for a', 'waits for b'])
    assert.equal(c.pending, false)
  })

  test('a group the backend answers before an earlier one waits for it: waiters are told in the order groups were sent', async () => {
    // (A Redis Cluster sends a group as a MULTI per slot: a later group on fewer masters can answer first.)
    const backend = new Backend(true)
    const c = new GroupCommitter(backend)
    const log: string[] = []
    for (const name of ['a', 'b', 'c']) {
      c.record(name)
      c.afterCommit(waiter(log, name))
      await nextTurn()
    }
    assert.deepEqual(backend.groups, [['a'], ['b'], ['c']])
    backend.answer(true)
    await nextTurn()
    assert.deepEqual(log, [], 'c answered first: told once a and b are')
    assert.equal(c.pending, true)
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['a'])
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['a', 'b', 'c'])
    assert.equal(c.pending, false)
    assert.equal(c.stats.commits, 3)
  })

  for (const async of [false, true]) {
    test(`a failed group tells its waiters; the backend hears once per burst of failures, then of the recovery (${async ? 'async' : 'sync'})`, async () => {
      const backend = new Backend(async)
      const c = new GroupCommitter(backend)
      const log: string[] = []
      backend.failing = true
      for (const name of ['x', 'y']) {
        c.record(name)
        c.afterCommit(waiter(log, name))
        await nextTurn()
        backend.answer()
        await nextTurn()
      }
      backend.failing = false
      c.record('z')
      c.afterCommit(waiter(log, 'z'))
      await nextTurn()
      backend.answer()
      await nextTurn()
      const reason = async ? 'EXEC failed' : 'disk full'
      assert.deepEqual(log, [`x: ${reason}`, `y: ${reason}`, 'z'])
      assert.deepEqual(backend.events, [`failed ${reason} (1)`, 'recovered'])
      assert.deepEqual({ commits: c.stats.commits, failures: c.stats.failures, changes: c.stats.changes }, { commits: 1, failures: 2, changes: 1 })
    })
  }

  test('serialAfterFailureMs: after a failed commit, one commit at a time (the groups sealed meanwhile together) until that long after the last failure', async () => {
    // (A Redis Cluster failing over may apply a commit after one sent later: redis-state.ts.)
    const backend = new Backend(true)
    const c = new GroupCommitter(backend, { serialAfterFailureMs: 100 })
    const log: string[] = []
    for (const name of ['a', 'b']) {
      backend.failing = name === 'a'
      c.record(name)
      c.afterCommit(waiter(log, name))
      await nextTurn()
    }
    assert.deepEqual(backend.groups, [['a'], ['b']], 'no failure yet: each group is sent at once')
    backend.answer()
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['a: EXEC failed', 'b'])
    for (const name of ['c', 'd', 'e']) {
      c.record(name)
      c.afterCommit(waiter(log, name))
      await nextTurn()
    }
    assert.deepEqual(backend.groups.slice(2), [['c']], 'after the failure, d and e wait for c to answer')
    backend.answer()
    await nextTurn()
    assert.deepEqual(backend.groups.slice(2), [['c'], ['d', 'e']], 'then go together')
    backend.answer()
    await nextTurn()
    assert.deepEqual(log.slice(2), ['c', 'd', 'e'])
    await delay(120)
    for (const name of ['f', 'g']) {
      c.record(name)
      c.afterCommit(waiter(log, name))
      await nextTurn()
    }
    assert.deepEqual(backend.groups.slice(4), [['f'], ['g']], 'long enough after the failure: each at once again')
    backend.answer()
    backend.answer()
    await nextTurn()
    assert.deepEqual(log.slice(5), ['f', 'g'])
    assert.equal(c.pending, false)
  })

  test('a cancelled change is never committed; a group whose changes were all cancelled costs no commit and still answers in order', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend)
    const log: string[] = []
    const a = c.record('a')
    c.record('b')
    assert.equal(c.cancel(a), true)
    assert.equal(c.cancel(a), false, 'cancelled once')
    c.afterCommit(waiter(log, 'after b'))
    await nextTurn()
    assert.deepEqual(backend.groups, [['b']])
    assert.equal(c.cancel(a), false)
    const x = c.record('x')
    c.afterCommit(waiter(log, 'after x (cancelled)'))
    assert.equal(c.uncommitted(x), true)
    c.cancel(x)
    assert.equal(c.uncommitted(x), false)
    await nextTurn()
    assert.deepEqual(backend.groups, [['b']], 'nothing left to write: no commit')
    assert.deepEqual(log, ['after b', 'after x (cancelled)'])
    assert.deepEqual({ commits: c.stats.commits, changes: c.stats.changes, cancelled: c.stats.cancelled }, { commits: 1, changes: 1, cancelled: 2 })
  })

  test('a committed change can no longer be cancelled or hold its group', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend)
    const a = c.record('a')
    await nextTurn()
    assert.equal(c.cancel(a), false)
    assert.equal(c.uncommitted(a), false)
    assert.equal(c.hold(a), false, 'nothing to hold (or release)')
    assert.equal(c.cancel(0), false, '0: no change')
  })

  test('a held group commits once its holds are released, and its waiters (and later groups) wait for it', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend, { holdMs: 60_000 })
    const log: string[] = []
    const sent = c.record('sent early')
    assert.equal(c.hold(sent), true)
    c.afterCommit(waiter(log, 'first'))
    await nextTurn()
    c.record('later')
    c.afterCommit(waiter(log, 'second'))
    await nextTurn()
    await nextTurn()
    assert.deepEqual(backend.groups, [], 'held: nothing committed, not even the later group')
    assert.deepEqual(log, [])
    assert.equal(c.pending, true)
    // the acknowledgement came: the change needs no writing, the hold goes
    assert.equal(c.uncommitted(sent), true, 'a change of a sealed, held group is found behind a later group')
    c.cancel(sent)
    c.release(sent)
    await nextTurn()
    assert.deepEqual(backend.groups, [['later']], 'both groups in one commit, without the cancelled change')
    assert.deepEqual(log, ['first', 'second'])
    assert.equal(c.pending, false)
    // Its hold timer (armed for the 60 s deadline) goes with it: the file ends when its tests do
    await c.close()
  })

  test('a hold lasts at most holdMs', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend, { holdMs: 20 })
    const log: string[] = []
    c.hold(c.record('never acknowledged'))
    c.afterCommit(waiter(log, 'waited'))
    await nextTurn()
    assert.deepEqual(backend.groups, [])
    await delay(200)
    assert.deepEqual(backend.groups, [['never acknowledged']])
    assert.deepEqual(log, ['waited'])
  })

  test('an emptied group behind an asynchronous commit still in flight answers after it', async () => {
    const backend = new Backend(true)
    const c = new GroupCommitter(backend)
    const log: string[] = []
    c.record('a')
    c.afterCommit(waiter(log, 'a'))
    await nextTurn()
    c.cancel(c.record('gone'))
    c.afterCommit(waiter(log, 'after gone'))
    await nextTurn()
    assert.deepEqual(log, [], 'the emptied group does not overtake the one in flight')
    backend.answer()
    await nextTurn()
    assert.deepEqual(log, ['a', 'after gone'])
  })

  test('close commits held groups at once', async () => {
    const backend = new Backend(false)
    const c = new GroupCommitter(backend, { holdMs: 60_000 })
    c.hold(c.record('held'))
    await nextTurn()
    assert.deepEqual(backend.groups, [])
    await c.close()
    assert.deepEqual(backend.groups, [['held']])
  })

  test('close commits what is pending, resolves once it is answered, and records nothing after', async () => {
    const backend = new Backend(true)
    const c = new GroupCommitter(backend)
    c.record('last')
    let closed = false
    const closing = c.close().then(() => {
      closed = true
    })
    assert.deepEqual(backend.groups, [['last']], 'close sends at once')
    await nextTurn()
    assert.equal(closed, false)
    backend.answer()
    await closing
    assert.equal(c.record('too late'), 0)
    await nextTurn()
    assert.deepEqual(backend.groups, [['last']])
    assert.equal(c.recorded, 1)
    await c.close()
  })
})
