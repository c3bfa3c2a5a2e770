/**
 * Write coalescing per turn of the event loop (src/broker/write-batch.ts): connections corked
 * by several I/O callbacks of one turn are flushed once each, together, after those callbacks
 * and within the same turn (before the next turn's timers).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { flushThisTurn } from '../../src/broker/write-batch.js'

describe('write batch', () => {
  test('flushes each corked connection once, after every callback of the turn has run', async () => {
    const log: string[] = []
    const a = { flush: () => log.push('a') }
    const b = { flush: () => log.push('b') }
    // three "read callbacks" of one turn
    flushThisTurn(a)
    log.push('cb1')
    flushThisTurn(b)
    log.push('cb2')
    await Promise.resolve()
    log.push('microtasks')
    assert.deepEqual(log, ['cb1', 'cb2', 'microtasks'])
    await new Promise<void>((resolve) => setImmediate(resolve))
    assert.deepEqual(log, ['cb1', 'cb2', 'microtasks', 'a', 'b'])
  })

  test('a flush that writes again is flushed in the next turn, not lost', async () => {
    let n = 0
    const c = { flush: () => { n++; if (n === 1) flushThisTurn(c) } }
    flushThisTurn(c)
    await new Promise<void>((resolve) => setImmediate(resolve))
    assert.equal(n, 1)
    await new Promise<void>((resolve) => setImmediate(resolve))
    assert.equal(n, 2)
  })
})
