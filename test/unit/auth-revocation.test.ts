/** The revocation list: requests, expiry of entries, O(1) matching, the store written first. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseRevocationRequest, revocationExpiry, revocationFromRequest, RevocationInputError, RevocationList, type Revocation, type RevocationStore } from '../../src/auth/revocation.js'

class MemoryStore implements RevocationStore {
  readonly rows = new Map<string, Revocation>()
  loadRevocations(): Revocation[] { return [...this.rows.values()] }
  addRevocation(e: Revocation): void { this.rows.set(e.id, e) }
  removeRevocations(ids: readonly string[]): void { for (const id of ids) this.rows.delete(id) }
}

const NOW = 1_800_000_000_000

describe('revocation requests', () => {
  it('jti (with exp), sub, sub + issuedBefore (seconds, ISO 8601, now)', () => {
    assert.deepEqual(parseRevocationRequest({ jti: 'a', exp: 10 }), { kind: 'jti', value: 'a', exp: 10 })
    assert.deepEqual(parseRevocationRequest({ sub: 's', reason: 'r' }), { kind: 'sub', value: 's', reason: 'r' })
    assert.deepEqual(parseRevocationRequest({ sub: 's', issuedBefore: '2027-01-15T08:00:00Z' }), { kind: 'issuedBefore', value: 's', issuedBefore: 1800000000 })
    assert.equal(parseRevocationRequest({ sub: 's', issuedBefore: 'now' }, NOW).issuedBefore, NOW / 1000)
  })
  it('mistakes name the field', () => {
    for (const [body, path] of [[null, 'body'], [{ jti: 1 }, 'jti'], [{ sub: 's', issuedBefore: -1 }, 'issuedBefore'], [{ x: 1 }, 'x']] as const) {
      assert.throws(() => parseRevocationRequest(body), (e: unknown) => e instanceof RevocationInputError && e.path === path, JSON.stringify(body))
    }
  })
  it('entries end when no token they cover can be valid', () => {
    assert.equal(revocationExpiry({ kind: 'jti', value: 'a', exp: 100 }, 3600, NOW), 100_000)
    assert.equal(revocationExpiry({ kind: 'jti', value: 'a' }, 3600, NOW), NOW + 3_600_000)
    assert.equal(revocationExpiry({ kind: 'jti', value: 'a' }, undefined, NOW), undefined)
    assert.equal(revocationExpiry({ kind: 'issuedBefore', value: 's', issuedBefore: 1000 }, 60, NOW), 1_060_000)
    assert.equal(revocationExpiry({ kind: 'sub', value: 's' }, 60, NOW), undefined)
  })
})

describe('revocation list', () => {
  it('matches by jti, by sub, and by iat before the cut-off (a token without iat counts as before)', () => {
    const list = new RevocationList()
    list.add(revocationFromRequest({ kind: 'jti', value: 'j1' }, undefined, NOW))
    list.add(revocationFromRequest({ kind: 'sub', value: 'banned' }, undefined, NOW))
    list.add(revocationFromRequest({ kind: 'issuedBefore', value: 'bob', issuedBefore: 1000 }, undefined, NOW))
    assert.equal(list.match({ jti: 'j1', sub: 'x' }, NOW)?.kind, 'jti')
    assert.equal(list.match({ sub: 'banned', iat: 5000 }, NOW)?.kind, 'sub')
    assert.equal(list.match({ sub: 'bob', iat: 999 }, NOW)?.kind, 'issuedBefore')
    assert.equal(list.match({ sub: 'bob' }, NOW)?.kind, 'issuedBefore')
    assert.equal(list.match({ sub: 'bob', iat: 1000 }, NOW), undefined)
    assert.equal(list.match({ jti: 'j2', sub: 'alice' }, NOW), undefined)
    assert.equal(list.match(undefined, NOW), undefined)
  })
  it('an expired entry no longer matches and is pruned from the store', () => {
    const store = new MemoryStore()
    const list = new RevocationList(store)
    list.add(revocationFromRequest({ kind: 'jti', value: 'j', exp: NOW / 1000 + 10 }, undefined, NOW))
    assert.ok(list.match({ jti: 'j' }, NOW) !== undefined)
    assert.equal(list.match({ jti: 'j' }, NOW + 10_001), undefined)
    assert.equal(list.prune(NOW + 10_001), 1)
    assert.equal(store.rows.size, 0)
  })
  it('a second revocation of one jti replaces the first; entries load from the store', () => {
    const store = new MemoryStore()
    const list = new RevocationList(store)
    list.add(revocationFromRequest({ kind: 'jti', value: 'j' }, undefined, NOW))
    list.add(revocationFromRequest({ kind: 'jti', value: 'j', reason: 'again' }, undefined, NOW))
    assert.equal(list.size, 1)
    assert.equal(store.rows.size, 1)
    const reloaded = new RevocationList(store)
    assert.equal(reloaded.match({ jti: 'j' })?.reason, 'again')
  })
  it("replaceAll puts a cluster's list in place: new entries added, gone ones removed, in the store too", () => {
    const store = new MemoryStore()
    const list = new RevocationList(store)
    const kept = revocationFromRequest({ kind: 'sub', value: 'kept' }, undefined, NOW)
    const gone = revocationFromRequest({ kind: 'jti', value: 'gone' }, undefined, NOW)
    list.add(kept)
    list.add(gone)
    const added = revocationFromRequest({ kind: 'jti', value: 'new' }, undefined, NOW)
    assert.equal(list.replaces(revocationFromRequest({ kind: 'jti', value: 'gone' }, undefined, NOW))?.id, gone.id)
    assert.equal(list.replaceAll([kept, added]), 1)
    assert.deepEqual(list.list().map((e) => e.id).sort(), [kept.id, added.id].sort())
    assert.equal(list.match({ jti: 'gone', sub: 'x' }), undefined)
    assert.equal(list.match({ jti: 'new', sub: 'x' })?.id, added.id)
    assert.equal(list.match({ sub: 'kept' })?.id, kept.id)
    assert.deepEqual([...store.rows.keys()].sort(), [kept.id, added.id].sort())
    // an entry of the cluster's list past its expiry is not taken
    const old = revocationFromRequest({ kind: 'jti', value: 'old', exp: NOW / 1000 - 1 }, undefined, NOW)
    assert.equal(list.replaceAll([kept, added, old], NOW), 0)
    assert.equal(list.get(old.id), undefined)
    assert.equal(store.rows.has(old.id), false)
    assert.deepEqual(list.expired(NOW + 1).map((e) => e.id), [])
  })
})
