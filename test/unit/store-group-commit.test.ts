/** GroupCommitter (src/store/group-commit.ts): the group commit the SQLite and Redis state stores share. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
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

  /** Answer the oldest group still waiting. */
  answer(): void {
    this.#answers.shift()?.()
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
    c.record('too late')
    await nextTurn()
    assert.deepEqual(backend.groups, [['last']])
    assert.equal(c.recorded, 1)
    await c.close()
  })
})
