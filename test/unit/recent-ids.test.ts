/**
 * The cluster ids a persistent session had delivered lately (broker/recent-ids.ts): a second copy
 * of a message is recognised for at least RECENT_IDS_MS, ids handed over by another node count as
 * delivered, and nothing is kept for ever.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RECENT_IDS_MS } from '../../src/cluster/bus.js'
import { RecentIds } from '../../src/broker/recent-ids.js'

describe('recent cluster ids of a session', () => {
  test('a copy of a message delivered lately is recognised; another message is not [MQTT-4.3.3]', () => {
    const r = new RecentIds(0)
    assert.equal(r.first(7, 10), true)
    assert.equal(r.first(7, 20), false)
    assert.equal(r.first(8, 20), true)
  })

  test('ids handed over by the node the client left count as delivered', () => {
    const r = new RecentIds(1000, [1, 2, 3])
    assert.equal(r.first(2, 1001), false)
    assert.equal(r.first(4, 1001), true)
    assert.deepEqual(r.ids().sort(), [1, 2, 3, 4])
  })

  test('an id is remembered at least RECENT_IDS_MS and forgotten after twice that', () => {
    const r = new RecentIds(0)
    r.first(1, 0)
    // Just past one period: the id is in the previous generation, still recognised.
    assert.equal(r.first(1, RECENT_IDS_MS + 1), false)
    r.first(2, RECENT_IDS_MS + 1)
    // Two periods later both generations turned over: nothing of then is kept.
    assert.equal(r.first(3, 3 * RECENT_IDS_MS + 2), true)
    assert.deepEqual(r.ids(), [3])
  })
})
