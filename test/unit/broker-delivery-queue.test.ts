/**
 * DeliveryQueue: oldest first through wrap-around and growth, at any depth, and usable again
 * once drained (its storage released).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DeliveryQueue } from '../../src/broker/delivery-queue.js'
import type { Delivery } from '../../src/mqtt/types.js'

const d = (n: number): Delivery => ({
  message: { topic: `t/${n}`, payload: Buffer.alloc(0), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: undefined },
  qos: 1, retain: false, subscriptionIds: undefined,
})
const topic = (x: Delivery | undefined): string | undefined => x?.message.topic

describe('DeliveryQueue', () => {
  test('keeps order through wrap-around and growth; peek leaves the oldest in place', () => {
    const q = new DeliveryQueue()
    assert.equal(q.peek(), undefined)
    assert.equal(q.shift(), undefined)
    let next = 0
    let expect = 0
    // interleave so the ring wraps before and after growing
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7 + round; i++) q.push(d(next++))
      for (let i = 0; i < 5; i++) assert.equal(topic(q.shift()), `t/${expect++}`)
      assert.equal(topic(q.peek()), `t/${expect}`)
      assert.equal(q.length, next - expect)
    }
    assert.deepEqual([...q].map(topic), Array.from({ length: next - expect }, (_, i) => `t/${expect + i}`))
    while (q.length > 0) assert.equal(topic(q.shift()), `t/${expect++}`)
    assert.equal(expect, next)
    q.push(d(1))
    q.clear()
    assert.equal(q.length, 0)
    assert.deepEqual([...q], [])
  })

  test('a 100,000-deep queue drains in order and lets its storage go', () => {
    const q = new DeliveryQueue()
    for (let i = 0; i < 100_000; i++) q.push(d(i))
    for (let i = 0; i < 100_000; i++) assert.equal(topic(q.shift()), `t/${i}`)
    assert.equal(q.length, 0)
    q.push(d(7))
    assert.equal(topic(q.peek()), 't/7')
  })
})
