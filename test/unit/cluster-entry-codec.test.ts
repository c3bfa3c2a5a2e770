/**
 * The bytes of a cluster stream entry (src/cluster/entry-codec.ts): every field of every
 * message comes back as it was recorded, payload bytes untouched; bytes that are not an entry
 * are refused with an error (the stream reader logs and acknowledges such an entry).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { EntryWriter, decodeEntry, encodeEntry, type ForwardEntry } from '../../src/cluster/entry-codec.js'

const full: ForwardEntry = {
  message: {
    topic: 'sensors/\u00e9t\u00e9/\u{1F600}', payload: Buffer.from([0, 0xff, 0xc0, 0xaf, 10]), qos: 2, retain: true,
    properties: { correlationData: Buffer.from([1, 2, 3]), userProperties: { k: ['a', 'b'] }, contentType: 'text/plain' },
    expiresAt: 1_790_000_000_123, origin: 'pub-\u00fc', encoded: undefined, clusterId: undefined,
  },
  forwarded: { all: false, groups: ['$share/g1/sensors/#', '$share/\u00e7/+/+/+'] },
  mirror: true,
  passedOn: true,
}
const bare: ForwardEntry = {
  message: { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, properties: undefined, expiresAt: undefined, origin: undefined, encoded: undefined, clusterId: undefined },
  forwarded: { all: true, groups: [] },
  mirror: false,
  passedOn: false,
}

describe('cluster stream entry bytes', () => {
  test('several messages come back in order with every field', () => {
    const big = { ...bare, message: { ...bare.message, topic: 'b/c', payload: Buffer.alloc(70_000, 7), qos: 1 as const } }
    const out = decodeEntry(encodeEntry([full, bare, big]))
    assert.deepEqual(out, [full, bare, big])
    assert.ok(Buffer.isBuffer(out[0].message.properties?.correlationData))
  })

  test('a message\'s cluster id and a restriction to some clients (a client that moved) come back', () => {
    const moved: ForwardEntry = {
      ...bare,
      message: { ...bare.message, qos: 2, clusterId: 7 * 2 ** 32 + 12345 },
      forwarded: { all: true, groups: [], clients: new Set(['x-\u00fc', 'y']) },
    }
    const idOnly: ForwardEntry = { ...full, message: { ...full.message, clusterId: 1 } }
    assert.deepEqual(decodeEntry(encodeEntry([moved, idOnly, bare])), [moved, idOnly, bare])
  })

  test('a writer emptied after its bytes were taken (reset) writes an entry of only what comes after, in its grown buffer', () => {
    const w = new EntryWriter()
    const big = { ...bare, message: { ...bare.message, topic: 'b/c', payload: Buffer.alloc(9000, 7) } }
    w.add(big.message, big.forwarded, big.mirror, big.passedOn)
    w.add(full.message, full.forwarded, full.mirror, full.passedOn)
    assert.deepEqual(decodeEntry(Buffer.from(w.bytes())), [big, full])
    const capacity = w.capacity
    w.reset()
    assert.equal(w.count, 0)
    assert.equal(w.length, 1)
    w.add(bare.message, bare.forwarded, bare.mirror, bare.passedOn)
    assert.equal(w.count, 1)
    assert.equal(w.capacity, capacity)
    assert.deepEqual(decodeEntry(w.bytes()), [bare])
    assert.deepEqual(w.bytes(), encodeEntry([bare]))
  })

  test('an entry of version 1 (written before cluster ids) is still read', () => {
    // Version 1: no `more` byte after each message's flags.
    const v2 = encodeEntry([bare])
    const v1 = Buffer.concat([Buffer.from([1, v2[1]]), v2.subarray(3)])
    assert.deepEqual(decodeEntry(v1), [bare])
  })

  test('bytes that are not an entry are refused, never read past their end', () => {
    const bytes = encodeEntry([full])
    assert.throws(() => decodeEntry(Buffer.alloc(0)), /unknown version/)
    assert.throws(() => decodeEntry(Buffer.concat([Buffer.from([9]), bytes.subarray(1)])), /unknown version/)
    for (const cut of [2, 5, bytes.length - 1]) assert.throws(() => decodeEntry(bytes.subarray(0, cut)), /cut short/, `cut at ${cut}`)
  })
})
