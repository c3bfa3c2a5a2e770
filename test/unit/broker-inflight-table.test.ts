/**
 * The session's table of messages in flight: lookup by packet identifier and the order that
 * resending relies on — insertion order [MQTT-4.6.0-1], a message whose PUBREC came moved to
 * the end [MQTT-4.6.0-4] — checked against a Map (which keeps insertion order) through long
 * random sequences, with identifiers that collide in the table and that wrap at 65535.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InflightTable, type InflightLinks } from '../../src/broker/inflight-table.js'

interface Entry extends InflightLinks { readonly packetId: number; readonly tag: number }

const entry = (packetId: number, tag = packetId): Entry => ({ packetId, tag, prev: undefined, next: undefined })
const ids = (t: InflightTable<Entry>): number[] => [...t.values()].map((e) => e.packetId)

/** Deterministic pseudo-random numbers (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

describe('InflightTable: messages in flight by packet identifier, in resend order', () => {
  it('keeps insertion order through deletes, and a re-added id goes to the end [MQTT-4.6.0-1]', () => {
    const t = new InflightTable<Entry>()
    for (const id of [5, 1, 9, 3]) t.set(entry(id))
    assert.deepEqual(ids(t), [5, 1, 9, 3])
    assert.equal(t.delete(1), true)
    assert.equal(t.delete(1), false, 'deleting twice finds nothing')
    t.set(entry(1))
    assert.deepEqual(ids(t), [5, 9, 3, 1])
    assert.equal(t.size, 4)
    assert.equal(t.get(9)?.packetId, 9)
    assert.equal(t.get(2), undefined)
  })

  it('moves a message whose PUBREC came to the end, so PUBRELs are resent in PUBREC order [MQTT-4.6.0-4]', () => {
    const t = new InflightTable<Entry>()
    const e = [1, 2, 3, 4].map((id) => entry(id))
    for (const x of e) t.set(x)
    t.moveToEnd(e[2])
    t.moveToEnd(e[0])
    t.moveToEnd(e[0]) // already last: nothing changes
    assert.deepEqual(ids(t), [2, 4, 3, 1])
    t.delete(4)
    assert.deepEqual(ids(t), [2, 3, 1])
  })

  it('replacing the entry of an id takes the new one and puts it last', () => {
    const t = new InflightTable<Entry>()
    t.set(entry(1, 10))
    t.set(entry(2, 20))
    t.set(entry(1, 11))
    assert.equal(t.size, 2)
    assert.equal(t.get(1)?.tag, 11)
    assert.deepEqual(ids(t), [2, 1])
  })

  it('allows deleting the entry just visited while iterating', () => {
    const t = new InflightTable<Entry>()
    for (let id = 1; id <= 10; id++) t.set(entry(id))
    const seen: number[] = []
    for (const e of t.values()) {
      seen.push(e.packetId)
      if (e.packetId % 2 === 0) t.delete(e.packetId)
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert.deepEqual(ids(t), [1, 3, 5, 7, 9])
  })

  it('finds every id when many share a slot (ids a multiple of the table size apart) and after deletes in the middle of a run', () => {
    const t = new InflightTable<Entry>()
    const colliding = [7, 7 + 1024, 7 + 2048, 8, 7 + 4096, 7 + 8192, 9]
    for (const id of colliding) t.set(entry(id))
    for (const id of colliding) assert.equal(t.get(id)?.packetId, id)
    t.delete(7 + 1024)
    t.delete(7)
    for (const id of [7 + 2048, 8, 7 + 4096, 7 + 8192, 9]) assert.equal(t.get(id)?.packetId, id, `id ${id} after deletes`)
    assert.equal(t.get(7), undefined)
    assert.deepEqual(ids(t), [7 + 2048, 8, 7 + 4096, 7 + 8192, 9])
  })

  it('matches a Map (insertion order, moves as delete + set) over 90,000 random operations, ids wrapping at 65535', () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed)
      const t = new InflightTable<Entry>()
      const model = new Map<number, Entry>()
      let next = 65_000 + seed * 100
      for (let step = 0; step < 30_000; step++) {
        const x = r()
        // Sizes drift between empty and about a thousand (the table grows, never shrinks).
        const bias = step % 10_000 < 5_000 ? 0.55 : 0.42
        if (x < bias) {
          // a new message: the next free id in sequence, as Session.allocatePacketId hands them out
          while (model.has(next)) next = next === 65535 ? 1 : next + 1
          const e = entry(next, step)
          t.set(e)
          model.set(next, e)
          next = next === 65535 ? 1 : next + 1
        } else if (x < 0.9) {
          // an acknowledgement for a random id in flight (or one that is not)
          const keys = [...model.keys()]
          const id = keys.length > 0 && x < 0.88 ? keys[Math.floor(r() * keys.length)] : 1 + Math.floor(r() * 65535)
          assert.equal(t.delete(id), model.delete(id), `seed ${seed} step ${step}: delete ${id}`)
        } else if (model.size > 0) {
          // a PUBREC: to the end
          const keys = [...model.keys()]
          const e = model.get(keys[Math.floor(r() * keys.length)])!
          t.moveToEnd(e)
          model.delete(e.packetId)
          model.set(e.packetId, e)
        }
        assert.equal(t.size, model.size)
        if (step % 997 === 0) {
          assert.deepEqual(ids(t), [...model.keys()], `seed ${seed} step ${step}: order`)
          for (const [id, e] of model) assert.equal(t.get(id), e)
        }
      }
      assert.deepEqual(ids(t), [...model.keys()])
    }
  })
})
