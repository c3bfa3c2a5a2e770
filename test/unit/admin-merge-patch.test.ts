/** JSON merge patch (RFC 7396) as the admin API's PATCH applies it. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { mergePatch } from '../../src/admin/merge-patch.js'

describe('mergePatch', () => {
  test('RFC 7396 appendix A: every example gives the RFC\'s result', () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ]
    for (const [target, patch, expected] of cases) {
      assert.deepEqual(mergePatch(target, patch), expected, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`)
    }
  })

  test('the target is left as it was', () => {
    const target = { claims: { issuer: ['a'], audience: ['b'] } }
    mergePatch(target, { claims: { issuer: null } })
    assert.deepEqual(target, { claims: { issuer: ['a'], audience: ['b'] } })
  })

  test('__proto__ in a patch is a plain key, never the prototype', () => {
    const patched = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>
    assert.equal(Object.getPrototypeOf(patched), Object.prototype)
    assert.ok(Object.hasOwn(patched, '__proto__'))
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
  })

  test('a patch nested 200,000 levels deep is applied without exhausting the stack', () => {
    let patch: Record<string, unknown> = { leaf: 1 }
    for (let i = 0; i < 200_000; i++) patch = { n: patch }
    let node = mergePatch({ kept: true }, patch) as Record<string, unknown>
    assert.equal(node['kept'], true)
    let depth = 0
    while (node['n'] !== undefined) { node = node['n'] as Record<string, unknown>; depth++ }
    assert.equal(depth, 200_000)
    assert.equal(node['leaf'], 1)
  })
})
