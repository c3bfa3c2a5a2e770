/**
 * GET /clients orders (src/admin/client-order.ts): picking the first `limit` entries with a
 * bounded heap gives exactly the first `limit` of the whole list sorted, in every order, with
 * ties and entries without a key; keys missing come last in both directions.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compareKeyed, firstInOrder, type Keyed } from '../../src/admin/client-order.js'

/** A small deterministic pseudo-random sequence (no flaky seeds). */
function lcg(seed: number): () => number {
  let x = seed
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
}

describe('client order', () => {
  it('entries without a key come last in both directions; ties go by id', () => {
    const a: Keyed = { id: 'a', key: 5 }, b: Keyed = { id: 'b', key: 5 }, c: Keyed = { id: 'c', key: undefined }, d: Keyed = { id: 'd', key: 9 }
    assert.deepEqual([c, d, b, a].sort((x, y) => compareKeyed(x, y, 1)).map((k) => k.id), ['a', 'b', 'd', 'c'])
    assert.deepEqual([a, c, b, d].sort((x, y) => compareKeyed(x, y, -1)).map((k) => k.id), ['d', 'b', 'a', 'c'])
  })

  it('firstInOrder(limit) is the sorted list cut at limit, for every limit, key kind and direction', () => {
    const next = lcg(42)
    for (const kind of ['number', 'string', 'none'] as const) {
      const items: Keyed[] = Array.from({ length: 300 }, (_, i) => {
        const r = next()
        const key = r < 0.15 ? undefined : kind === 'number' ? Math.floor(r * 40) : kind === 'string' ? `127.0.0.${Math.floor(r * 40)}` : undefined
        return { id: `id-${Math.floor(next() * 1e6)}-${i}`, key }
      })
      for (const direction of [1, -1] as const) {
        const compare = (x: Keyed, y: Keyed): number => compareKeyed(x, y, direction)
        const sorted = [...items].sort(compare)
        for (const limit of [1, 2, 7, 50, 299, 300, 1000]) {
          assert.deepEqual(firstInOrder(items, limit, compare), sorted.slice(0, limit), `${kind} ${direction} ${limit}`)
        }
      }
    }
  })
})
