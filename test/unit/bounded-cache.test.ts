import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BoundedCache, ENTRY_OVERHEAD_BYTES } from '../../src/bounded-cache.js'

describe('BoundedCache: bounded by bytes and entries', () => {
  it('never holds more than its byte budget, whatever the keys', () => {
    const c = new BoundedCache<number>(1_000_000, 64 * 1024)
    for (let i = 0; i < 10_000; i++) c.set(`${i}-${'x'.repeat(i % 2000)}`, i, 8)
    assert.ok(c.usage.bytes <= 64 * 1024, String(c.usage.bytes))
    assert.ok(c.usage.entries > 0)
  })
  it('never holds more than its entry budget', () => {
    const c = new BoundedCache<number>(100, 1 << 30)
    for (let i = 0; i < 1000; i++) c.set(String(i), i, 8)
    assert.ok(c.usage.entries <= 100)
    assert.equal(c.get('999'), 999)
  })
  it('an entry over an eighth of the budget is not kept', () => {
    const c = new BoundedCache<string>(100, 8000)
    const fits = (1000 - ENTRY_OVERHEAD_BYTES) / 2 // 1,000 bytes with the key as UTF-16 and the entry overhead
    assert.equal(c.set('k'.repeat(fits), 'v', 0), true)
    assert.equal(c.set('k'.repeat(fits + 1), 'v', 0), false)
    assert.equal(c.get('k'.repeat(fits + 1)), undefined)
    assert.deepEqual(c.usage, { entries: 1, bytes: 1000 })
  })
  it('the entries used last that fit in half the budget are always there; a hit in the old generation moves back', () => {
    const c = new BoundedCache<number>(20, 1 << 20)
    for (let i = 0; i < 30; i++) c.set(String(i), i, 8)
    for (let i = 20; i < 30; i++) assert.equal(c.get(String(i)), i)
    c.clear()
    for (let i = 0; i < 10; i++) c.set(String(i), i, 8)
    c.set('10', 10, 8) // the first ten become the old generation
    assert.equal(c.get('0'), 0) // moved back to the current one
    for (let i = 11; i < 20; i++) c.set(String(i), i, 8) // the old generation (1..9) is dropped
    assert.equal(c.get('0'), 0)
    assert.equal(c.get('1'), undefined)
    assert.ok(c.usage.entries <= 20)
  })
  it('overwriting a key does not count it twice; clear() empties both generations', () => {
    const c = new BoundedCache<number>(10, 1 << 20)
    c.set('a', 1, 8)
    c.set('a', 2, 8)
    assert.equal(c.get('a'), 2)
    assert.deepEqual(c.usage, { entries: 1, bytes: 2 + 8 + ENTRY_OVERHEAD_BYTES })
    c.clear()
    assert.deepEqual(c.usage, { entries: 0, bytes: 0 })
  })
})
